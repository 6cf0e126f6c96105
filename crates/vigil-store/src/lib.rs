//! Vigil's persistence: the relational database (SQLite by default, PostgreSQL by URL),
//! the blob store (local folder or S3-compatible), and consistent backup/restore of both.
//!
//! Data flow and guarantees:
//! - Blobs are written first and are immutable; the row that references a blob is
//!   committed after the blob is durable. A crash between the two leaves an unreferenced
//!   blob, never a row pointing at a missing or half-written one.
//! - The local blob backend writes to a temporary file, fsyncs it, renames it into place
//!   and fsyncs the directory, so a blob is either absent or complete.
//! - SQLite runs in WAL mode with `synchronous=FULL`: a committed transaction survives a
//!   process kill and a power cut.
//! - One set of migrations (`migrations/`) written in the SQL both databases accept.
//!
//! Nothing here knows about HTTP.

pub mod backup;
pub mod blob;
pub mod db;
mod error;
pub mod uploads;

pub use blob::{open_blob_store, BlobError, BlobKey, BlobStore};
pub use db::{Backend, Database, MigrationStatus};
pub use error::StoreError;

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
