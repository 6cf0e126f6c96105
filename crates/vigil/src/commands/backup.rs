//! `vigil migrate`, `vigil backup`, `vigil restore`.

use std::time::Duration;

use anyhow::{bail, Context};
use vigil_config::Settings;
use vigil_store::backup::{create_backup, extract_verified, restore_backup, RestoreTarget};
use vigil_store::db::{sqlite_path_from_url, DbOptions};
use vigil_store::{open_blob_store, Backend, Database};

use crate::cli::{BackupArgs, RestoreArgs};

pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<Database> {
    Database::connect(
        &settings.database_url(),
        &DbOptions {
            max_connections: 2,
            busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
        },
    )
    .await
    .context("opening the database")
}

/// Applies pending migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = connect(settings).await?;
    let before = db.migration_status().await?;
    db.prepare_schema(true).await?;
    println!(
        "database ({}) is up to date; applied now: {:?}",
        db.backend().as_str(),
        before.pending
    );
    db.close().await;
    Ok(())
}

/// Writes a backup archive.
pub async fn backup(settings: &Settings, args: &BackupArgs) -> anyhow::Result<()> {
    if args.file.exists() && !args.force {
        bail!(
            "{} exists; pass --force to overwrite it",
            args.file.display()
        );
    }
    let db = connect(settings).await?;
    db.prepare_schema(false)
        .await
        .context("the database is not ready for a backup")?;
    let blobs = open_blob_store(settings).await?;
    let report = create_backup(&db, &settings.database_url(), blobs.as_ref(), &args.file)
        .await
        .context("writing the backup")?;
    db.close().await;
    println!(
        "backup written: {} ({} bytes, {} blobs, database {})",
        report.path.display(),
        report.bytes,
        report.blobs,
        db.backend().as_str()
    );
    Ok(())
}

/// Verifies and restores a backup archive.
pub async fn restore(settings: &Settings, args: &RestoreArgs) -> anyhow::Result<()> {
    let staging_parent = settings.data_dir.clone();
    if args.verify_only {
        std::fs::create_dir_all(&staging_parent)?;
        let staging = tempfile::Builder::new()
            .prefix(".vigil-verify-")
            .tempdir_in(&staging_parent)?;
        let manifest = extract_verified(&args.file, staging.path())?;
        println!(
            "archive is intact: {} entries, {} database, written by Vigil {}",
            manifest.entries.len(),
            manifest.backend,
            manifest.vigil_version
        );
        return Ok(());
    }

    let url = settings.database_url();
    let blobs = open_blob_store(settings).await?;
    let sqlite_file = sqlite_path_from_url(&url);
    if !args.force {
        let has_blobs = !blobs.list().await?.is_empty();
        let has_db = if let Some(path) = &sqlite_file {
            path.exists()
        } else {
            let db = connect(settings).await?;
            let status = db.migration_status().await?;
            db.close().await;
            !status.applied.is_empty()
        };
        if has_blobs || has_db {
            bail!("the target already holds data; stop the server and pass --force to replace it");
        }
    }
    let report = if let Some(db_path) = &sqlite_file {
        restore_backup(
            &args.file,
            RestoreTarget::Sqlite(db_path),
            blobs.as_ref(),
            &staging_parent,
        )
        .await?
    } else {
        restore_backup(
            &args.file,
            RestoreTarget::Postgres(&url),
            blobs.as_ref(),
            &staging_parent,
        )
        .await?
    };
    println!(
        "restored {} blobs and the {} database",
        report.blobs,
        match report.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    );
    Ok(())
}
