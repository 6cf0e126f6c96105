//! Readiness probes of the storage Vigil depends on: the database answers, the blob
//! store accepts writes. `/readyz` and `/metrics` ask here rather than holding the
//! database or blob handles themselves.

use std::sync::Arc;
use std::time::Instant;

use vigil_store::{BlobStore, Database};

/// The result of one probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Whether the dependency answered as it should.
    pub ok: bool,
    /// What was probed (backend name, storage location).
    pub detail: String,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// Why it failed, in words fit for a client (the cause is logged, not returned).
    pub error: Option<String>,
}

/// The probes, over the application's database and blob store.
#[derive(Debug, Clone)]
pub struct Health {
    db: Database,
    blobs: Arc<dyn BlobStore>,
}

impl Health {
    /// Probes over `db` and `blobs`.
    pub fn new(db: Database, blobs: Arc<dyn BlobStore>) -> Self {
        Health { db, blobs }
    }

    /// Pings the database.
    pub async fn database(&self) -> Probe {
        let t = Instant::now();
        let result = self.db.ping().await;
        Probe {
            ok: result.is_ok(),
            detail: self.db.backend().as_str().to_string(),
            latency_ms: t.elapsed().as_secs_f64() * 1000.0,
            error: result.err().map(|e| {
                tracing::warn!(error = format!("{e:#}"), "readiness: database check failed");
                "the database does not answer".to_string()
            }),
        }
    }

    /// Checks that the blob store accepts a write.
    pub async fn storage(&self) -> Probe {
        let t = Instant::now();
        let result = self.blobs.check_writable().await;
        Probe {
            ok: result.is_ok(),
            detail: self.blobs.describe(),
            latency_ms: t.elapsed().as_secs_f64() * 1000.0,
            error: result.err().map(|e| {
                tracing::warn!(error = format!("{e:#}"), "readiness: storage check failed");
                "the blob store is not writable".to_string()
            }),
        }
    }

    /// The database pool's (open, idle) connection counts, for `/metrics`.
    pub fn pool_stats(&self) -> (u32, usize) {
        self.db.pool_stats()
    }
}
