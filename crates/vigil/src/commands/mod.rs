//! Subcommand implementations; each returns `anyhow::Result` with context that tells the
//! operator what was being done.

pub mod analyze;
pub(crate) mod backup;
pub mod bench;
mod bench_http;
mod config;
pub mod eval;
mod serve;
mod tls;
pub mod users;
mod verify;
mod vision_flags;

use anyhow::Context;
use vigil_config::{Overrides, Settings};

use crate::cli::{Cli, Command, ConfigCommand, TlsCommand};
use crate::telemetry;

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = cli.global.overrides();
    match cli.command {
        Command::Serve(args) => {
            let overrides = Overrides {
                listen: args.listen,
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                ..overrides
            };
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            serve::run(settings).await
        }
        Command::Migrate => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            backup::migrate(&settings).await
        }
        Command::Config(ConfigCommand::Show) => config::show(&overrides),
        Command::Config(ConfigCommand::Check) => config::check(&overrides),
        Command::Backup(args) => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            backup::backup(&settings, &args).await
        }
        Command::Restore(args) => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            backup::restore(&settings, &args).await
        }
        Command::Verify => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            verify::run(&settings).await
        }
        Command::Analyze(args) => vision_command(&overrides, move |s| analyze::run(&s, args)).await,
        Command::Eval(args) => vision_command(&overrides, move |s| eval::run(&s, args)).await,
        Command::Bench(args) if args.http.is_some() => {
            let settings = vigil_config::load::load_unvalidated(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            bench::run_http(args).await
        }
        Command::Bench(args) if args.lanes => {
            let settings = vigil_config::load::load_unvalidated(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            bench::run_lanes(&settings, args).await
        }
        Command::Bench(args) => vision_command(&overrides, move |s| bench::run(&s, args)).await,
        Command::User(cmd) => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            users::user(&settings, cmd).await
        }
        Command::Apikey(cmd) => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            users::apikey(&settings, cmd).await
        }
        Command::Tls(TlsCommand::SelfSigned(args)) => {
            let settings = vigil_config::load::load_unvalidated(&overrides)?;
            tls::self_signed(&settings, &args)
        }
    }
}

/// Loads and validates the settings.
fn load(overrides: &Overrides) -> anyhow::Result<Settings> {
    vigil_config::load(overrides).context("cannot start with this configuration")
}

/// Runs a CPU-bound vision command off the async workers, with logging configured and
/// the settings of every layer (file, `.env`, environment; secrets are not needed, so
/// the cross-field rules are not applied).
async fn vision_command(
    overrides: &Overrides,
    job: impl FnOnce(Settings) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = vigil_config::load::load_unvalidated(overrides)?;
    let _guard = telemetry::init(&settings)?;
    tokio::task::spawn_blocking(move || job(settings))
        .await
        .context("the command's worker thread failed")?
}
