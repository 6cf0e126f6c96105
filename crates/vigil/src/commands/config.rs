//! `vigil config show|check`.

use clap::Subcommand;
use vigil_config::load::load_unvalidated;
use vigil_config::Overrides;

/// `vigil config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets masked. Safe any time.
    Show,
    /// Check the configuration and exit non-zero with every problem listed. Safe any time.
    Check,
}

/// Prints the effective configuration with secrets masked, then any rule it breaks.
pub fn show(overrides: &Overrides) -> anyhow::Result<()> {
    let settings = load_unvalidated(overrides)?;
    print!("{}", settings.to_masked_toml());
    if let Err(errors) = settings.validate() {
        eprintln!("\n# warning: {errors}");
    }
    Ok(())
}

/// Exits non-zero, listing every problem, when the configuration would not start.
pub fn check(overrides: &Overrides) -> anyhow::Result<()> {
    let settings = load_unvalidated(overrides)?;
    settings.validate()?;
    println!(
        "configuration is valid (profile {})",
        settings.profile.as_str()
    );
    Ok(())
}
