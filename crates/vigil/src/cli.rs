//! Command-line definitions (clap derive) and the dispatch to `commands`. Each
//! subcommand's help says whether it is safe to run while a server uses the same data.
//!
//! Layering: this module knows every command; a command module (`commands/*`) defines
//! its own arguments and never imports this one, so the two do not depend on each other
//! in a cycle.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vigil_config::{Overrides, Profile};

use crate::commands::config::ConfigCommand;
use crate::commands::tls::TlsCommand;
use crate::commands::vision_command;
use crate::commands::{analyze, backup, bench, config, eval, load, serve, tls, users, verify};
use crate::telemetry;

/// Vigil: a self-hosted AI server for cameras and media.
///
/// Zero-config start: `vigil serve` runs in the development profile on
/// http://127.0.0.1:8000 with its data (SQLite database and blobs) in ./data.
/// Settings come from defaults, a TOML file, .env, VIGIL_* environment variables and
/// flags, the later winning. See `vigil config show`.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, propagate_version = true)]
pub struct Cli {
    /// Global options honoured by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand honours, so all of them act on the same data.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// TOML config file (default: ./vigil.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding the SQLite database and blobs [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Profile: development, staging or production [env: VIGIL_PROFILE].
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<Profile>,
}

impl GlobalArgs {
    /// The overrides these flags imply.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            profile: self.profile,
            data_dir: self.data_dir.clone(),
            ..Overrides::default()
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP API, console, metrics).
    Serve(ServeArgs),
    /// Apply pending database migrations. Safe while a server runs (it migrates on start too).
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(crate::commands::config::ConfigCommand),
    /// Write a consistent backup archive (database + blobs + checksums). Safe while a server runs.
    Backup(crate::commands::backup::BackupArgs),
    /// Restore a backup archive after verifying it. Stop the server first.
    Restore(crate::commands::backup::RestoreArgs),
    /// Check stored data for tampering (the audit log's hash chain, and with --head or
    /// --head-from that its newest records were not cut off); exits 1 on a problem.
    /// Needs the server's secret_key. Safe while a server runs.
    Verify(crate::commands::verify::VerifyArgs),
    /// TLS helpers.
    #[command(subcommand)]
    Tls(crate::commands::tls::TlsCommand),
    /// Analyse image files: faces, masks, embeddings, liveness. Safe while the server runs.
    Analyze(crate::commands::analyze::AnalyzeArgs),
    /// Evaluate detection or mask accuracy on labelled test images. Safe while the server runs.
    Eval(crate::commands::eval::EvalArgs),
    /// Measure model latency per engine and thread count, with --http a running server's /api/v1/analyze (throughput, p50/p99), or with --lanes interactive latency alone and under batch + live load. Safe while the server runs (numbers skewed if busy).
    Bench(Box<crate::commands::bench::BenchArgs>),
    /// Manage users: add, set passwords, list, disable (safe while the server runs).
    #[command(subcommand)]
    User(crate::commands::users::UserCommand),
    /// Manage API keys for applications (safe while the server runs).
    #[command(subcommand)]
    Apikey(crate::commands::users::ApiKeyCommand),
    /// Manage cameras: add, list, remove, test a URL (safe while the server runs).
    #[command(subcommand)]
    Camera(crate::commands::camera::CameraCommand),
}

/// `vigil serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8000].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain; serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Development profile: allow plain HTTP on a non-loopback --listen address
    /// (passwords cross the network in clear; prefer `vigil tls self-signed`).
    #[arg(long)]
    pub insecure_lan: bool,
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = cli.global.overrides();
    match cli.command {
        Command::Serve(args) => {
            let overrides = Overrides {
                listen: args.listen,
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                insecure_lan: args.insecure_lan,
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
        Command::Verify(args) => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            verify::run(&settings, &args).await
        }
        Command::Analyze(args) => vision_command(&overrides, move |s| analyze::run(&s, args)).await,
        Command::Eval(args) => vision_command(&overrides, move |s| eval::run(&s, args)).await,
        Command::Bench(args) if args.http.is_some() => {
            let settings = vigil_config::load::load_unvalidated(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            bench::run_http(*args).await
        }
        Command::Bench(args) if args.lanes => {
            let settings = vigil_config::load::load_unvalidated(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            bench::run_lanes(&settings, *args).await
        }
        Command::Bench(args) if args.live => {
            let settings = vigil_config::load::load_unvalidated(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            bench::run_live(&settings, *args).await
        }
        Command::Bench(args) => vision_command(&overrides, move |s| bench::run(&s, *args)).await,
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
        Command::Camera(cmd) => {
            let settings = load(&overrides)?;
            let _guard = telemetry::init(&settings)?;
            crate::commands::camera::run(&settings, cmd).await
        }
        Command::Tls(TlsCommand::SelfSigned(args)) => {
            let settings = vigil_config::load::load_unvalidated(&overrides)?;
            tls::self_signed(&settings, &args)
        }
    }
}
