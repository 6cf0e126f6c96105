//! `vigil serve`.

use std::io::IsTerminal;

use vigil_config::Settings;
use vigil_core::bootstrap::{remove_setup_link, write_setup_link};
use vigil_server::{shutdown_signal, Application};

/// Builds the application and serves until SIGINT/SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings).await?;
    match app.bootstrap_link().await? {
        Some(link) => show_setup_link(&data_dir, &link),
        // Set up already: a link file left from before is spent.
        None => remove_setup_link(&data_dir),
    }
    app.run_until_stopped(shutdown).await
}

/// Hands the first-admin link to the operator: always in a 0600 file in the data folder,
/// and on the terminal only when stderr is one. Under systemd or Docker stderr is kept in
/// the journal or container log, readable by more people and for longer than the hour
/// the token lives, so there only the file's path is printed. Never through the logger.
fn show_setup_link(data_dir: &std::path::Path, link: &str) {
    let file = write_setup_link(data_dir, link);
    let terminal = std::io::stderr().is_terminal();
    let alternative = "(or run `vigil user add NAME --role admin`). A restart issues a new link.";
    match (&file, terminal) {
        (_, true) => eprintln!(
            "\n  Vigil has no users yet. Create the first admin within one hour at:\n\n    {link}\n\n  \
             {alternative}\n"
        ),
        (Ok(path), false) => eprintln!(
            "\n  Vigil has no users yet. The one-time link to create the first admin (valid one\n  \
             hour) is in {}, readable by this user only\n  {alternative}\n",
            path.display()
        ),
        (Err(_), false) => eprintln!(
            "\n  Vigil has no users yet, and the setup link could not be written to the data\n  \
             folder; create the first admin with `vigil user add NAME --role admin`.\n"
        ),
    }
    if let Err(e) = file {
        tracing::warn!(dir = %data_dir.display(), error = %e, "cannot write the setup link file");
    }
}
