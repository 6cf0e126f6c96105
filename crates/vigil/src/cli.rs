//! Command-line definitions (clap derive). Each subcommand's help says whether it is
//! safe to run while a server uses the same data.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vigil_config::{Overrides, Profile};

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
    Config(ConfigCommand),
    /// Write a consistent backup archive (database + blobs + checksums). Safe while a server runs.
    Backup(BackupArgs),
    /// Restore a backup archive after verifying it. Stop the server first.
    Restore(RestoreArgs),
    /// Check stored data for tampering (the audit log's hash chain); exits 1 on a problem.
    /// Needs the server's secret_key. Safe while a server runs.
    Verify,
    /// TLS helpers.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Analyse image files: faces, masks, embeddings, liveness. Safe while the server runs.
    Analyze(crate::commands::analyze::AnalyzeArgs),
    /// Evaluate detection or mask accuracy on labelled test images. Safe while the server runs.
    Eval(crate::commands::eval::EvalArgs),
    /// Measure model latency per engine and thread count, with --http a running server's /api/v1/analyze (throughput, p50/p99), or with --lanes interactive latency alone and under batch + live load. Safe while the server runs (numbers skewed if busy).
    Bench(crate::commands::bench::BenchArgs),
    /// Manage users: add, set passwords, list, disable (safe while the server runs).
    #[command(subcommand)]
    User(crate::commands::users::UserCommand),
    /// Manage API keys for applications (safe while the server runs).
    #[command(subcommand)]
    Apikey(crate::commands::users::ApiKeyCommand),
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
}

/// `vigil config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets masked. Safe any time.
    Show,
    /// Check the configuration and exit non-zero with every problem listed. Safe any time.
    Check,
}

/// `vigil backup` options.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Archive to write (a .tar file); refused if it exists unless --force.
    pub file: PathBuf,
    /// Overwrite an existing archive.
    #[arg(long)]
    pub force: bool,
}

/// `vigil restore` options.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Archive written by `vigil backup`.
    pub file: PathBuf,
    /// Replace existing data (otherwise the target must be empty).
    #[arg(long)]
    pub force: bool,
    /// Only verify the archive's checksums; change nothing.
    #[arg(long)]
    pub verify_only: bool,
}

/// `vigil tls …`.
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Generate a self-signed certificate and key for LAN use (browsers allow the camera
    /// only over HTTPS or on localhost). Safe any time.
    SelfSigned(SelfSignedArgs),
}

/// `vigil tls self-signed` options.
#[derive(Debug, Args)]
pub struct SelfSignedArgs {
    /// Host names or IP addresses the certificate is for (repeatable).
    #[arg(long = "host", value_name = "NAME|IP", required = true)]
    pub hosts: Vec<String>,
    /// Folder for cert.pem and key.pem [default: <data-dir>/tls].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Validity in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=825))]
    pub days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}
