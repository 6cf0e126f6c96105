//! `vigil migrate`, `vigil backup`, `vigil restore`: argument definitions and output;
//! the work is in `vigil_core::maintenance`.

use std::path::PathBuf;

use clap::Args;
use vigil_config::Settings;
use vigil_core::maintenance;

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

/// Applies pending migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let report = maintenance::migrate(settings).await?;
    println!(
        "database ({}) is up to date; applied now: {:?}",
        report.backend, report.applied
    );
    Ok(())
}

/// Writes a backup archive.
pub async fn backup(settings: &Settings, args: &BackupArgs) -> anyhow::Result<()> {
    let report = maintenance::backup(settings, &args.file, args.force).await?;
    println!(
        "backup written: {} ({} bytes, {} blobs, database {})",
        report.path.display(),
        report.bytes,
        report.blobs,
        report.backend
    );
    if let Some(head) = &report.audit_head {
        println!("audit chain head: {head} (check later with `vigil verify --head {head}`)");
    }
    Ok(())
}

/// Verifies and restores a backup archive.
pub async fn restore(settings: &Settings, args: &RestoreArgs) -> anyhow::Result<()> {
    if args.verify_only {
        let manifest = maintenance::verify_archive(settings, &args.file)?;
        println!(
            "archive is intact: {} entries, {} database, written by Vigil {}",
            manifest.entries.len(),
            manifest.backend,
            manifest.vigil_version
        );
        return Ok(());
    }
    let restored = maintenance::restore(settings, &args.file, args.force).await?;
    println!(
        "restored {} blobs and the {} database",
        restored.blobs, restored.database
    );
    Ok(())
}
