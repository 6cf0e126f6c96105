//! Operator tasks on the server's data, for the command line: opening the database for
//! a command, migrations, backup and restore, and the integrity checks of `vigil
//! verify`. The CLI prints what these return; nothing here prints.
//!
//! These return `anyhow::Result` with context naming what was being done: their only
//! caller is a person at a terminal, who reads the whole chain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use vigil_auth::audit::AuditLog;
use vigil_auth::Keys;
use vigil_config::Settings;
use vigil_store::backup::{create_backup, extract_verified, restore_backup, RestoreTarget};
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
}

/// Writes a backup archive of the database and blobs to `file` (refused if it exists
/// unless `force`).
pub async fn backup(settings: &Settings, file: &Path, force: bool) -> anyhow::Result<BackupDone> {
    if file.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", file.display());
    }
    let db = open_database(settings, Schema::AsIs).await?;
    db.prepare_schema(false)
        .await
        .context("the database is not ready for a backup")?;
    let blobs = open_blob_store(settings).await?;
    let report = create_backup(&db, &settings.database_url(), blobs.as_ref(), file)
        .await
        .context("writing the backup")?;
    db.close().await;
    Ok(BackupDone {
        path: report.path,
        bytes: report.bytes,
        blobs: report.blobs,
        backend: db.backend().as_str(),
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

/// One integrity check of `vigil verify`. A new check is a variant plus its arm in
/// [`Check::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The audit log's MAC chain: no record altered, removed or reordered.
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
                Ok(match report.problem {
                    None => Finding {
                        ok: true,
                        message: format!(
                            "{} record{}, chain intact",
                            report.records,
                            if report.records == 1 { "" } else { "s" }
                        ),
                    },
                    Some(problem) => Finding {
                        ok: false,
                        message: problem.to_string(),
                    },
                })
            }
        }
    }
}

/// What the checks share: the database and the keys the data was sealed with.
#[derive(Debug)]
pub struct VerifyInputs {
    db: Database,
    keys: Keys,
}

impl VerifyInputs {
    /// Opens the database (read-only use) and loads the secret key. Refuses to run
    /// without a configured or stored key: a fresh one would report every record as
    /// altered.
    pub async fn open(settings: &Settings) -> anyhow::Result<VerifyInputs> {
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
        Ok(VerifyInputs { db, keys })
    }

    /// Closes the database.
    pub async fn close(self) {
        self.db.close().await;
    }
}
