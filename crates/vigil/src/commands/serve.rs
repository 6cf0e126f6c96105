//! `vigil serve`.

use vigil_config::Settings;
use vigil_server::{shutdown_signal, Application};

/// Builds the application and serves until SIGINT/SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await
}
