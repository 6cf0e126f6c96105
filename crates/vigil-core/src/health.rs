//! Readiness probes of the storage Vigil depends on: the database answers, the blob
//! store accepts writes, and (reported, not required) the shared rate-limit store
//! answers.
//!
//! The probes run in the background ([`Health::run`], a supervised task started by the
//! server) every `server.readiness_interval_secs`, and their latest [`Report`] is kept
//! here; `/readyz` only reads it. So calling `/readyz`, which anyone may, costs no I/O:
//! a flood of calls writes no blob and opens no connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vigil_auth::ratelimit::RateLimiter;
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

/// One round of probes.
#[derive(Debug, Clone)]
pub struct Report {
    /// The database ping.
    pub database: Probe,
    /// The blob store write, read back and delete.
    pub storage: Probe,
    /// The rate-limit store's ping, when it is Redis.
    pub redis: Option<Probe>,
    /// ffmpeg (`ffmpeg -version`), when cameras are set up: reported, not required
    /// (without it server-side cameras are offline, the rest works).
    pub ffmpeg: Option<Probe>,
    /// When the round finished.
    pub at: Instant,
}

impl Report {
    /// The required parts that failed, by their `/readyz` names (`database`, `storage`).
    /// Redis is not required: while it is down requests are still served.
    pub fn failing(&self) -> Vec<&'static str> {
        let mut failing = Vec::new();
        if !self.database.ok {
            failing.push("database");
        }
        if !self.storage.ok {
            failing.push("storage");
        }
        failing
    }
}

/// The probes, over the application's database, blob store and rate-limit store, and the
/// latest [`Report`]. Cheap to clone; clones share the report.
#[derive(Debug, Clone)]
pub struct Health {
    db: Database,
    blobs: Arc<dyn BlobStore>,
    limiter: Option<Arc<RateLimiter>>,
    cameras: Option<Arc<crate::cameras::Cameras>>,
    latest: Arc<watch::Sender<Option<Arc<Report>>>>,
}

impl Health {
    /// Probes over `db` and `blobs`, with no report yet.
    pub fn new(db: Database, blobs: Arc<dyn BlobStore>) -> Self {
        Health {
            db,
            blobs,
            limiter: None,
            cameras: None,
            latest: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Also probes `limiter` when it counts in Redis (reported, not required).
    pub fn with_rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Also checks that ffmpeg runs, for `cameras` (reported, not required).
    pub fn with_cameras(mut self, cameras: Arc<crate::cameras::Cameras>) -> Self {
        self.cameras = Some(cameras);
        self
    }

    /// Runs `ffmpeg -version` when cameras are set up.
    pub async fn ffmpeg(&self) -> Option<Probe> {
        let cameras = self.cameras.as_ref()?;
        let t = Instant::now();
        let result = cameras.media_check().await;
        Some(Probe {
            ok: result.is_ok(),
            detail: result
                .as_ref()
                .map_or_else(|_| "ffmpeg".to_string(), Clone::clone),
            latency_ms: t.elapsed().as_secs_f64() * 1000.0,
            error: result.err(),
        })
    }

    /// The cameras this server runs, for `/readyz`'s details.
    pub fn cameras(&self) -> Option<&Arc<crate::cameras::Cameras>> {
        self.cameras.as_ref()
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

    /// Checks that the blob store accepts a write (writes, reads back and deletes a
    /// small blob).
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

    /// Pings the rate-limit store when it is Redis; `None` for the in-memory store.
    pub async fn redis(&self) -> Option<Probe> {
        let limiter = self.limiter.as_ref().filter(|l| l.backend() == "redis")?;
        let t = Instant::now();
        let pong = limiter.ping().await;
        Some(Probe {
            ok: pong.is_ok(),
            detail: limiter.describe(),
            latency_ms: t.elapsed().as_secs_f64() * 1000.0,
            error: pong.err().map(|e| {
                tracing::warn!(error = %e, "readiness: redis check failed");
                "redis does not answer; rate limits other than login and recovery are not enforced"
                    .to_string()
            }),
        })
    }

    /// Runs every probe (at once) and keeps the result as the latest report.
    pub async fn refresh(&self) -> Arc<Report> {
        let (database, storage, redis, ffmpeg) =
            tokio::join!(self.database(), self.storage(), self.redis(), self.ffmpeg());
        let report = Arc::new(Report {
            database,
            storage,
            redis,
            ffmpeg,
            at: Instant::now(),
        });
        self.latest.send_replace(Some(report.clone()));
        report
    }

    /// The latest report; before the first round has finished, waits up to `wait` for
    /// it (`None` if it does not come), so a probe asked right after start-up is answered
    /// truthfully rather than "not ready".
    pub async fn latest(&self, wait: Duration) -> Option<Arc<Report>> {
        let mut rx = self.latest.subscribe();
        let found = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match found {
            Ok(Ok(report)) => report.clone(),
            _ => None,
        }
    }

    /// The background task: a round of probes now and then every `interval`, until
    /// `stop` is cancelled. Start it through the supervised runtime.
    pub async fn run(self, interval: Duration, stop: CancellationToken) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.refresh() => {}
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        tracing::debug!("readiness probes stopped");
        Ok(())
    }

    /// The database pool's (open, idle) connection counts, for `/metrics`.
    pub fn pool_stats(&self) -> (u32, usize) {
        self.db.pool_stats()
    }
}
