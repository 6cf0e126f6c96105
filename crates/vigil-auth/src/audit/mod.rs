//! The audit log: who did what, when, from where, chained by MAC so that `vigil verify`
//! finds the first record that was altered, removed or reordered.
//!
//! Each record's `hash` is `HMAC-SHA256(keys.derive(AUDIT), canonical)` where `canonical`
//! is the JSON array of every other column, including `prev_hash`, the previous record's
//! `hash` (64 zeros for record 1). Sequence numbers are dense from 1, so a removed record
//! leaves a gap, a reordered one breaks the `prev_hash` link, and an edited one no longer
//! matches its own hash. Because the MAC is keyed by `secret_key`, someone with write
//! access to the database but not the key cannot forge a consistent chain; by the same
//! token, changing `secret_key` makes every existing record fail verification.
//!
//! Limits: removing the newest records (truncating the tail) leaves a valid shorter
//! chain, which only a copy of the head kept elsewhere can reveal ([`head`]: every
//! append logs the head under target `vigil::audit_head`, every backup manifest holds
//! it, and [`AuditLog::check_head`] compares the chain with a saved one); and anyone
//! holding `secret_key` can rewrite the whole chain.
//!
//! Concurrency: appends are serialised by the database itself, so several tasks, several
//! servers on one PostgreSQL, or the CLI next to a server on one SQLite file all extend
//! one chain. PostgreSQL takes a transaction-scoped advisory lock; SQLite takes its write
//! lock up front (`BEGIN IMMEDIATE`). A unique-key violation on `seq` (someone appended
//! without the lock) is retried a bounded number of times; when that is exhausted the
//! caller gets an error, never a silently dropped event.
//!
//! Files: [`event`] (what a record says: actor, [`AuditAction`], outcome), `record` (the
//! stored row and its MAC), `append`, `query` (listing), `verify`, `csv` (export).
//! An [`AuditObserver`] set with [`AuditLog::with_observer`] hears of every record once
//! it is committed; the application core uses it to publish audit events.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use vigil_store::Database;

use crate::Keys;

mod append;
mod csv;
pub mod event;
pub mod head;
mod query;
mod record;
mod verify;

pub use csv::{write_csv_header, write_csv_records, CSV_COLUMNS};
pub use event::{Actor, ActorKind, AuditAction, Event, Outcome};
pub use head::{read_head, ChainHead, HeadMismatch, HEAD_LOG_TARGET};
pub use query::{AuditFilter, MAX_LIST_LIMIT};
pub use record::AuditRecord;
pub use verify::{Problem, ProblemKind, VerifyReport};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Hears of every record appended through an [`AuditLog`], after it is committed.
///
/// Called inline by [`AuditLog::record`] before it returns, so whatever the observer does
/// (publish an event, drop cached credentials) has happened by the time the action's
/// caller answers. It must not fail the append: the record is already stored.
pub trait AuditObserver: Send + Sync {
    /// `record` was appended.
    fn recorded<'a>(
        &'a self,
        record: &'a AuditRecord,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// The audit log.
#[derive(Clone)]
pub struct AuditLog {
    db: Database,
    keys: Keys,
    observer: Option<Arc<dyn AuditObserver>>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("db", &self.db)
            .field("keys", &self.keys)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl AuditLog {
    /// The log stored in `db`, chained with a key derived from `keys`.
    pub fn new(db: Database, keys: Keys) -> AuditLog {
        AuditLog {
            db,
            keys,
            observer: None,
        }
    }

    /// The same log, telling `observer` of every record appended from now on.
    pub fn with_observer(mut self, observer: Arc<dyn AuditObserver>) -> AuditLog {
        self.observer = Some(observer);
        self
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A fresh log on a real SQLite file and a few records to fill it with.

    use vigil_store::db::DbOptions;

    use super::*;

    /// A migrated SQLite database in a temporary folder (kept alive by the returned dir).
    pub(crate) async fn log() -> (AuditLog, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        let db = Database::connect(&url, &DbOptions::default())
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let keys = Keys::from_secret(b"unit-test secret unit-test secret");
        (AuditLog::new(db, keys), dir)
    }

    pub(crate) fn alice() -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some("u1".into()),
            name: Some("alice".into()),
            ip: Some("192.0.2.1".into()),
        }
    }

    /// Records `n` varied events.
    pub(crate) async fn fill(log: &AuditLog, n: usize) {
        for i in 0..n {
            let event = match i % 3 {
                0 => Event::new(AuditAction::AuthLogin).detail("method", "password"),
                1 => Event::new(AuditAction::UserCreate).target("user", format!("u{i}")),
                _ => Event::new(AuditAction::AuthLogin).failed(),
            };
            log.record(&alice(), event).await.unwrap();
        }
    }

    pub(crate) async fn exec(log: &AuditLog, sql: &str) {
        sqlx::raw_sql(sql).execute(log.db.pool()).await.unwrap();
    }
}
