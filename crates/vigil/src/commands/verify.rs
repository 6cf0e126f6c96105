//! `vigil verify`: integrity checks over stored data. Each check reads, never writes, so
//! it is safe while a server runs. The checks live in `vigil_core::maintenance`
//! ([`Check`]); this prints one line per check and fails when any finds a problem.

use anyhow::bail;
use vigil_config::Settings;
use vigil_core::maintenance::{Check, VerifyInputs};

/// Runs every check, printing one line each; fails when any check finds a problem or
/// cannot run.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let inputs = VerifyInputs::open(settings).await?;
    let mut failed = Vec::new();
    for check in Check::ALL {
        match check.run(&inputs).await {
            Ok(finding) => {
                println!("{}: {}", check.label(), finding.message);
                if !finding.ok {
                    failed.push(check.label());
                }
            }
            Err(e) => {
                println!("{}: could not be checked: {e:#}", check.label());
                failed.push(check.label());
            }
        }
    }
    inputs.close().await;
    if !failed.is_empty() {
        bail!("verification failed: {}", failed.join(", "));
    }
    Ok(())
}
