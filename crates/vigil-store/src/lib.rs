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
pub mod cameras;
pub mod db;
mod error;
pub mod private_fs;
pub mod uploads;

pub use blob::{open_blob_store, BlobError, BlobKey, BlobStore, BlobStream};
pub use db::{Backend, Database, MigrationStatus};
pub use error::StoreError;

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// A UTC calendar time, split into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// Month, 1–12.
    pub month: i64,
    /// Day of the month, 1–31.
    pub day: i64,
    /// Hour, 0–23.
    pub hour: i64,
    /// Minute, 0–59.
    pub minute: i64,
    /// Second, 0–59.
    pub second: i64,
    /// Millisecond, 0–999.
    pub milli: i64,
}

impl UtcTime {
    /// From Unix milliseconds. Howard Hinnant's `civil_from_days`: exact for every
    /// date, and spares a date-time dependency for the few places that print times.
    pub fn from_unix_ms(ms: i64) -> UtcTime {
        let secs = ms.div_euclid(1000);
        let rem = secs.rem_euclid(86_400);
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        UtcTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day: doy - (153 * mp + 2) / 5 + 1,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            milli: ms.rem_euclid(1000),
        }
    }
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
