//! Subcommand implementations; each returns `anyhow::Result` with context that tells the
//! operator what was being done. Each command module defines its own arguments and calls
//! `vigil-core` for the work; `crate::cli` dispatches to them (never the other way).

pub mod analyze;
pub mod backup;
pub mod bench;
mod bench_http;
pub mod camera;
pub mod config;
pub mod eval;
pub mod serve;
pub mod tls;
pub mod users;
pub mod verify;
mod vision_flags;

use anyhow::Context;
use vigil_config::{Overrides, Settings};

use crate::telemetry;

/// Loads and validates the settings.
pub(crate) fn load(overrides: &Overrides) -> anyhow::Result<Settings> {
    vigil_config::load(overrides).context("cannot start with this configuration")
}

/// Runs a CPU-bound vision command off the async workers, with logging configured and
/// the settings of every layer (file, `.env`, environment; secrets are not needed, so
/// the cross-field rules are not applied).
pub(crate) async fn vision_command(
    overrides: &Overrides,
    job: impl FnOnce(Settings) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = vigil_config::load::load_unvalidated(overrides)?;
    let _guard = telemetry::init(&settings)?;
    tokio::task::spawn_blocking(move || job(settings))
        .await
        .context("the command's worker thread failed")?
}
