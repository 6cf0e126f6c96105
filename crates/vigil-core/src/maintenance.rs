//! Operator tasks on the server's data, for the command line: opening the database for
//! a command, migrations, backup and restore, and the integrity checks of `vigil
//! verify`. The CLI prints what these return; nothing here prints.
//!
//! These return `anyhow::Result` with context naming what was being done: their only
//! caller is a person at a terminal, who reads the whole chain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use vigil_auth::audit::{AuditLog, ChainHead};
use vigil_auth::Keys;
use vigil_config::Settings;
use vigil_store::backup::{
    create_backup, extract_verified, read_manifest, restore_backup, AuditHead, RestoreTarget,
};
use vigil_store::db::{sqlite_path_from_url, DbOptions};
use vigil_store::{open_blob_store, private_fs, Backend, Database};

use crate::identity::Identity;

pub use vigil_store::backup::Manifest;

/// What a command needs from the schema before it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Leave it alone (the command inspects or migrates it itself).
    AsIs,
    /// Migrate when `database.auto_migrate` is on, else require it up to date.
    AsConfigured,
    /// It must already be up to date.
    UpToDate,
}

/// Opens the database for a command: a small pool (a command does one thing at a time)
/// and the schema as `schema` asks. The one place a CLI command connects.
pub async fn open_database(settings: &Settings, schema: Schema) -> anyhow::Result<Database> {
    secure_data_dir(settings)?;
    let db = Database::connect(
        &settings.database_url(),
        &DbOptions {
            max_connections: 2,
            busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
        },
    )
    .await
    .context("opening the database")?;
    match schema {
        Schema::AsIs => {}
        Schema::AsConfigured => db
            .prepare_schema(settings.database.auto_migrate)
            .await
            .context("checking the database schema")?,
        Schema::UpToDate => db
            .prepare_schema(false)
            .await
            .context("the database schema is not up to date")?,
    }
    Ok(db)
}

impl Identity {
    /// Identity over a freshly opened database, for a command (`vigil user`, `vigil
    /// apikey`). Call [`Identity::close`] when done.
    pub async fn open(settings: &Settings) -> anyhow::Result<Identity> {
        let db = open_database(settings, Schema::AsConfigured).await?;
        let mut identity = Identity::new(settings, &db).context("setting up identity")?;
        // A command's audit records are published too (into the shared `events` table;
        // no Redis relay runs in a command), so running servers drop credentials it
        // revoked from their caches at once.
        let options = crate::events::BusOptions {
            redis: None,
            ..crate::events::BusOptions::from_settings(settings)
        };
        match crate::events::EventBus::open(db, options).await {
            Ok(bus) => {
                identity.audit = identity
                    .audit
                    .with_observer(std::sync::Arc::new(crate::events::AuditPublisher::new(bus)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit records of this command will not be published as events")
            }
        }
        Ok(identity)
    }

    /// Closes the database (commands call this before exiting).
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Creates the data folder 0700, or tightens one an older Vigil left readable to others
/// (see [`vigil_store::private_fs`]). Every command that opens the data calls this first.
pub fn secure_data_dir(settings: &Settings) -> anyhow::Result<()> {
    private_fs::private_dir(&settings.data_dir).with_context(|| {
        format!(
            "making the data folder {} private (mode 700)",
            settings.data_dir.display()
        )
    })
}

/// What `migrate` did.
#[derive(Debug, Clone)]
pub struct MigrateReport {
    /// The database kind.
    pub backend: &'static str,
    /// The migrations applied now.
    pub applied: Vec<i64>,
}

/// Applies pending migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<MigrateReport> {
    let db = open_database(settings, Schema::AsIs).await?;
    let before = db.migration_status().await?;
    db.prepare_schema(true).await?;
    db.close().await;
    Ok(MigrateReport {
        backend: db.backend().as_str(),
        applied: before.pending,
    })
}

/// What `backup` wrote.
#[derive(Debug, Clone)]
pub struct BackupDone {
    /// The archive.
    pub path: PathBuf,
    /// Archive size in bytes.
    pub bytes: u64,
    /// Blobs archived.
    pub blobs: usize,
    /// The database kind.
    pub backend: &'static str,
    /// The audit chain's head written into the manifest (`None`: empty log).
    pub audit_head: Option<ChainHead>,
}

/// Writes a backup archive of the database and blobs to `file` (refused if it exists
/// unless `force`). The audit chain's head, read just before the snapshot, goes into
/// the manifest: a copy of it outside the database (see `vigil verify --head-from`).
pub async fn backup(settings: &Settings, file: &Path, force: bool) -> anyhow::Result<BackupDone> {
    if file.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", file.display());
    }
    let db = open_database(settings, Schema::AsIs).await?;
    db.prepare_schema(false)
        .await
        .context("the database is not ready for a backup")?;
    let blobs = open_blob_store(settings).await?;
    // Read before the snapshot, so the archived chain reaches it.
    let audit_head = vigil_auth::audit::read_head(&db)
        .await
        .context("reading the audit chain's head")?;
    let manifest_head = audit_head.as_ref().map(|h| AuditHead {
        seq: h.seq,
        mac: h.mac.clone(),
    });
    let report = create_backup(
        &db,
        &settings.database_url(),
        blobs.as_ref(),
        file,
        manifest_head,
    )
    .await
    .context("writing the backup")?;
    db.close().await;
    Ok(BackupDone {
        path: report.path,
        bytes: report.bytes,
        blobs: report.blobs,
        backend: db.backend().as_str(),
        audit_head,
    })
}

/// Checks an archive's checksums without changing anything.
pub fn verify_archive(settings: &Settings, file: &Path) -> anyhow::Result<Manifest> {
    let staging_parent = &settings.data_dir;
    secure_data_dir(settings)?;
    let staging = tempfile::Builder::new()
        .prefix(".vigil-verify-")
        .tempdir_in(staging_parent)?;
    Ok(extract_verified(file, staging.path())?)
}

/// What `restore` did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Blobs restored.
    pub blobs: usize,
    /// The database kind, in words.
    pub database: &'static str,
}

/// Verifies and restores an archive. Without `force` the target must hold no data.
pub async fn restore(settings: &Settings, file: &Path, force: bool) -> anyhow::Result<Restored> {
    secure_data_dir(settings)?;
    let staging_parent: PathBuf = settings.data_dir.clone();
    let url = settings.database_url();
    let blobs = open_blob_store(settings).await?;
    let sqlite_file = sqlite_path_from_url(&url);
    if !force {
        let has_blobs = !blobs.list().await?.is_empty();
        let has_db = if let Some(path) = &sqlite_file {
            path.exists()
        } else {
            let db = open_database(settings, Schema::AsIs).await?;
            let status = db.migration_status().await?;
            db.close().await;
            !status.applied.is_empty()
        };
        if has_blobs || has_db {
            bail!("the target already holds data; stop the server and pass --force to replace it");
        }
    }
    let target = match &sqlite_file {
        Some(db_path) => RestoreTarget::Sqlite(db_path),
        None => RestoreTarget::Postgres(&url),
    };
    let report = restore_backup(file, target, blobs.as_ref(), &staging_parent).await?;
    Ok(Restored {
        blobs: report.blobs,
        database: match report.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        },
    })
}

/// The audit chain head saved in a backup archive's manifest; an error when the archive
/// has none (written before Vigil recorded it, or with an empty log).
pub fn head_from_archive(file: &Path) -> anyhow::Result<ChainHead> {
    let manifest = read_manifest(file)
        .with_context(|| format!("reading the manifest of {}", file.display()))?;
    let Some(head) = manifest.audit_head else {
        bail!(
            "{} records no audit chain head (an empty audit log, or written by an older Vigil)",
            file.display()
        );
    };
    Ok(ChainHead {
        seq: head.seq,
        mac: head.mac,
    })
}

/// One integrity check of `vigil verify`. A new check is a variant plus its arm in
/// [`Check::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The audit log's MAC chain: no record altered, removed or reordered, and, given a
    /// saved head, not cut short or rewritten before it.
    AuditLog,
}

/// The result of a check that could look.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Whether the data is intact.
    pub ok: bool,
    /// One line for the operator.
    pub message: String,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: &'static [Check] = &[Check::AuditLog];

    /// What the check covers, as the start of its output line.
    pub fn label(self) -> &'static str {
        match self {
            Check::AuditLog => "audit log",
        }
    }

    /// Runs the check: `Ok(Finding)` when it could look (intact or not), `Err` when it
    /// could not (database unreachable…).
    pub async fn run(self, inputs: &VerifyInputs) -> anyhow::Result<Finding> {
        match self {
            Check::AuditLog => {
                let log = AuditLog::new(inputs.db.clone(), inputs.keys.clone());
                let report = log.verify().await.context("reading the audit log")?;
                if let Some(problem) = report.problem {
                    return Ok(Finding {
                        ok: false,
                        message: problem.to_string(),
                    });
                }
                let records = format!(
                    "{} record{}, chain intact",
                    report.records,
                    if report.records == 1 { "" } else { "s" }
                );
                let Some(saved) = &inputs.head else {
                    return Ok(Finding {
                        ok: true,
                        message: records,
                    });
                };
                Ok(
                    match log
                        .check_head(saved)
                        .await
                        .context("reading the audit log")?
                    {
                        None => Finding {
                            ok: true,
                            message: format!("{records}, reaches the saved head #{}", saved.seq),
                        },
                        Some(mismatch) => Finding {
                            ok: false,
                            message: mismatch.to_string(),
                        },
                    },
                )
            }
        }
    }
}

/// What the checks share: the database, the keys the data was sealed with, and a saved
/// audit chain head to compare with, if any.
#[derive(Debug)]
pub struct VerifyInputs {
    db: Database,
    keys: Keys,
    head: Option<ChainHead>,
}

impl VerifyInputs {
    /// Opens the database (read-only use) and loads the secret key; the audit check
    /// compares the chain with `head` when given. Refuses to run without a configured or
    /// stored key: a fresh one would report every record as altered.
    pub async fn open(
        settings: &Settings,
        head: Option<ChainHead>,
    ) -> anyhow::Result<VerifyInputs> {
        if settings.secret_key.is_none() && !vigil_auth::keys::key_file(&settings.data_dir).exists()
        {
            bail!(
                "no secret key: set secret_key (VIGIL_SECRET_KEY) to the one the server uses; \
                 the audit chain is keyed by it"
            );
        }
        let keys = Keys::from_settings(settings).context("loading the secret key")?;
        let db = open_database(settings, Schema::AsIs).await?;
        db.prepare_schema(false)
            .await
            .context("the database is not ready to verify")?;
        Ok(VerifyInputs { db, keys, head })
    }

    /// Closes the database.
    pub async fn close(self) {
        self.db.close().await;
    }
}
