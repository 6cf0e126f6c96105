//! The config loader: the text of a `vigil.toml` and of a `.env` file (the input split at
//! its first NUL byte; without one, all TOML) through `vigil_config::load_from_text`, the
//! same layering and validation as `vigil serve` uses. It may refuse, never panic, and a
//! configuration it accepts can be shown (`vigil config show`) as valid TOML.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml_text, dotenv) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(settings) = vigil_config::load_from_text(toml_text, dotenv) else {
        return;
    };
    let shown = settings.to_masked_toml();
    assert!(
        toml::from_str::<toml::Table>(&shown).is_ok(),
        "`config show` printed invalid TOML:\n{shown}"
    );
    // The derived values every command reads.
    let _ = settings.database_url();
    let _ = settings.blob_dir();
    let _ = settings.log_filter();
});
