//! `vigil serve`.

use vigil_config::Settings;
use vigil_server::{shutdown_signal, Application};

/// Builds the application and serves until SIGINT/SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let app = Application::build(settings).await?;
    if let Some(link) = app.bootstrap_link().await? {
        // Straight to the terminal, not through the logger: the token must not end up in
        // log files or log shipping.
        eprintln!(
            "\n  Vigil has no users yet. Create the first admin within one hour at:\n\n    {link}\n\n  \
             (or run `vigil user add NAME --role admin`). This link is shown only now; restart\n  \
             Vigil for a new one.\n"
        );
    }
    app.run_until_stopped(shutdown).await
}
