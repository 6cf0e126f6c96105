//! Errors of the storage layer.

use crate::blob::BlobError;

/// A storage operation failed. "Not found" is never an error here: lookups return
/// `Ok(None)`, so a database failure can never be mistaken for a missing row.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database rejected or failed a query.
    #[error("database error while {context}")]
    Database {
        /// What Vigil was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database has migrations this binary does not know (it is newer than us), or
    /// pending migrations while automatic migration is off.
    #[error("{0}")]
    Schema(String),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A file operation failed.
    #[error("{context}")]
    Io {
        /// What Vigil was doing, including the path.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A backup archive is malformed or does not match its manifest.
    #[error("backup archive rejected: {0}")]
    Archive(String),
    /// An external tool (`pg_dump`, `pg_restore`) failed.
    #[error("{0}")]
    Tool(String),
}

impl StoreError {
    /// Wraps a driver error with what Vigil was doing.
    pub fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context, source }
    }

    /// Wraps an I/O error with what Vigil was doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Io { context, source }
    }
}
