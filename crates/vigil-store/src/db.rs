//! The database handle: one pool over SQLite or PostgreSQL, chosen by URL.
//!
//! sqlx's `Any` driver lets every query be written once: queries use `$1`-style
//! placeholders (both SQLite and PostgreSQL accept them) and only portable types
//! (TEXT, BIGINT, BOOLEAN, DOUBLE PRECISION).

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::{private_fs, StoreError};

/// The migrations compiled into this binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The file an `sqlite:` URL points at (`sqlite://data/vigil.db`, `sqlite:///abs/x.db?mode=rwc`);
/// `None` for any other URL.
pub fn sqlite_path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.trim_start_matches("//");
    Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

/// Makes the SQLite file at `path` private before SQLite opens it: a missing folder is
/// created 0700 and a missing file created empty with mode 0600 (SQLite gives its `-wal`
/// and `-shm` files the database file's mode); an existing database and its `-wal` and
/// `-shm` files from an older Vigil are tightened to 0600.
fn prepare_sqlite_file(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        private_fs::create_missing_dirs(parent).map_err(StoreError::io(format!(
            "creating the database folder {}",
            parent.display()
        )))?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(private_fs::FILE_MODE)
        .open(path)
    {
        Ok(file) => file
            .set_permissions(Permissions::from_mode(private_fs::FILE_MODE))
            .map_err(StoreError::io(format!("creating {}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io(format!("creating {}", path.display()))(e)),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        // A file we cannot chmod belongs to another user; SQLite reports what matters.
        if let Err(e) = private_fs::tighten_file(&file) {
            tracing::warn!(path = %file.display(), error = %e, "cannot make a database file private (mode 600)");
        }
    }
    Ok(())
}

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Lower-case name for logs, metrics and `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Migration state of a database compared with this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied to the database.
    pub applied: Vec<i64>,
    /// Versions this binary knows and the database lacks.
    pub pending: Vec<i64>,
    /// Versions in the database this binary does not know (a newer Vigil wrote them).
    pub unknown: Vec<i64>,
}

/// Pool options that matter to Vigil.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Maximum connections in the pool.
    pub max_connections: u32,
    /// SQLite busy timeout.
    pub busy_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A pooled database connection; cheap to clone.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`). For SQLite the file and its
    /// folder are created when missing, and every connection gets WAL mode, a busy
    /// timeout, foreign keys and `synchronous=FULL`.
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite_path = sqlite_path_from_url(url);
        let backend = if sqlite_path.is_some() {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };

        let mut url = url.to_string();
        if let Some(path) = &sqlite_path {
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
            if path.as_os_str() != ":memory:" && url.contains("mode=rwc") {
                prepare_sqlite_file(path)?;
            }
        }

        let connect_options: AnyConnectOptions = url
            .parse()
            .map_err(StoreError::db("parsing the database URL"))?;
        let busy_ms = options.busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = {busy_ms}; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
                        );
                        conn.execute(sqlx::raw_sql(&pragmas)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await
            .map_err(StoreError::db("connecting to the database"))?;
        Ok(Database { pool, backend })
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Compares the applied migrations with the ones compiled in.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let table_exists = match self.backend {
            Backend::Sqlite => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            ),
            Backend::Postgres => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations' \
                 AND table_schema = current_schema()",
            ),
        }
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::db("reading the migration table"))?
            > 0;
        let applied: Vec<i64> = if table_exists {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading applied migrations"))?
        } else {
            Vec::new()
        };
        let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        Ok(MigrationStatus {
            pending: known
                .iter()
                .copied()
                .filter(|v| !applied.contains(v))
                .collect(),
            unknown: applied
                .iter()
                .copied()
                .filter(|v| !known.contains(v))
                .collect(),
            applied,
        })
    }

    /// Migrates when `auto` is set, then refuses a schema that is not exactly the one
    /// this binary expects (newer migrations, or pending ones left unapplied).
    pub async fn prepare_schema(&self, auto: bool) -> Result<(), StoreError> {
        let status = self.migration_status().await?;
        if !status.unknown.is_empty() {
            return Err(StoreError::Schema(format!(
                "the database has migrations {:?} that this Vigil does not know: it was used by a newer \
                 version; run that version or restore a backup",
                status.unknown
            )));
        }
        if !status.pending.is_empty() {
            if !auto {
                return Err(StoreError::Schema(format!(
                    "the database needs migrations {:?}; run `vigil migrate` (or set database.auto_migrate = true)",
                    status.pending
                )));
            }
            self.migrate().await?;
        }
        Ok(())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("pinging the database"))?;
        Ok(())
    }

    /// Pool size and idle connections, for metrics.
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Closes every connection (at shutdown; SQLite checkpoints its WAL on last close).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
