//! Shared application state handed to every handler.

use std::sync::Arc;
use std::time::Instant;

use vigil_config::Settings;
use vigil_core::runtime::Runtime;
use vigil_core::vision::VisionService;
use vigil_store::{BlobStore, Database};

use crate::auth::Identity;
use crate::metrics::Metrics;
use crate::ratelimits::RateLimits;

/// Everything a handler may need; cheap to clone (all `Arc`s).
#[derive(Clone, Debug)]
pub struct AppState {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// The database.
    pub db: Database,
    /// The blob store.
    pub blobs: Arc<dyn BlobStore>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// The vision engine, when enabled.
    pub vision: Option<Arc<VisionService>>,
    /// Keys, password hashing, audit log and session settings.
    pub identity: std::sync::Arc<Identity>,
    /// Rate-limit budgets and the store that counts them.
    pub rate_limits: Arc<RateLimits>,
    /// The uploads use case (streamed media in and out, and the media transfer gate).
    pub uploads: Arc<vigil_core::uploads::Uploads>,
    /// The event bus (`GET /api/v1/events`, audit events, cross-instance fan-out).
    pub events: vigil_core::events::EventBus,
    /// Recently verified credentials (`auth.cache_secs`), dropped through the event bus.
    pub auth_cache: Arc<crate::auth::cache::AuthCache>,
    /// Readiness probes of the database and blob store.
    pub health: vigil_core::health::Health,
    /// When the process started serving.
    pub started: Instant,
    /// The supervised background tasks and the shutdown token (start every background
    /// task through it: see `vigil_core::runtime`).
    pub runtime: Runtime,
    /// Cameras, violations and statistics; `None` in servers built without them (tests
    /// of other parts).
    pub cameras: Option<Arc<vigil_core::cameras::Cameras>>,
}
