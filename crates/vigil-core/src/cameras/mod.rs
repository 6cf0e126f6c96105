//! Live mask compliance: cameras as resources, one supervised worker per running camera,
//! one violation per person without a mask, live frames for the stream endpoints, and
//! statistics per minute.
//!
//! ```text
//!  source (ffmpeg child │ HTTP MJPEG/snapshot │ browser WebSocket)
//!     │  reader task: every frame replaces the one waiting ("latest frame wins";
//!     ▼  the ones replaced are counted as skipped, so lag never grows)
//!  worker: motion gate ─▶ live inference lane (detect + mask) ─▶ Tracker
//!     │        │                                                  │ Violation
//!     │        └▶ LiveHub (latest annotated frame: /stream, /snapshot.jpg)
//!     ▼                                                           ▼
//!  events: camera.state, camera.detections (transient)     violations: blobs first,
//!  stats: per-minute counters, flushed every few seconds    then row + stats, then event
//! ```
//!
//! [`Cameras`] is the use case the server and the CLI call; it owns the map of running
//! workers. Each worker is a tokio task tracked by the application's [`Runtime`], so
//! shutdown drains it; CPU work (decoding, inference, JPEG encoding) runs on the
//! inference lanes or the blocking pool, never on the async workers.
//!
//! Camera URLs hold secrets: stored sealed ([`crate::net::seal`]), shown redacted, never
//! logged; every network source passes the SSRF guard after DNS resolution, at each
//! (re)connection, and the connection goes to the address that was checked.

pub mod live_bench;
pub mod model;
mod process;
mod source;
mod stats;
mod violations;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use vigil_auth::audit::{Actor, AuditAction, AuditLog, Event as AuditEvent};
use vigil_auth::Keys;
use vigil_config::Settings;
use vigil_store::cameras::{self as store, CameraRow};
use vigil_store::{now_ms, BlobStore, Database};

use crate::events::{EventBus, EventKind};
use crate::net::{NetPolicy, SourceRules, SourceUrl};
use crate::runtime::{CancellationToken, Runtime};
use crate::vision::VisionService;
use crate::{Error, Result};

pub use model::{
    Acknowledgement, CameraId, CameraSettings, CameraState, CameraStatus, CameraView, Detections,
    LiveFace, StateChange, ViolationId, ViolationView, ZoneSpec,
};
pub use process::LiveFrame;
pub use source::{MediaTools, TestReport};
pub use stats::{StatsBucket, StatsQuery, StatsReport, StatsRow};
/// The MJPEG stream format (one module knows it: the HTTP camera reader and the
/// server's `/stream` both use it).
pub use vigil_media::mjpeg;
pub use violations::{write_csv, ViolationPage, ViolationQuery};
pub use worker::{BrowserFrame, FrameReply, WorkerMetrics};

/// A new camera, as the API and CLI give it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCamera {
    /// Unique display name (1–80 characters).
    pub name: String,
    /// `rtsp://…`, `rtsps://…`, `http(s)://…` (MJPEG or JPEG snapshot), `file:NAME`
    /// (under `cameras.files_dir`), `device:/dev/videoN` or `browser`.
    pub url: String,
    /// Runs whenever the server runs (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Analysis settings; each missing field takes its default.
    #[serde(flatten)]
    pub settings: SettingsPatch,
}

fn yes() -> bool {
    true
}

/// Changes to a camera; missing fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraPatch {
    /// New name.
    pub name: Option<String>,
    /// New source (the stored credentials are kept only if the new URL repeats them).
    pub url: Option<String>,
    /// Run or not.
    pub enabled: Option<bool>,
    /// Analysis settings to change.
    #[serde(flatten)]
    pub settings: SettingsPatch,
}

/// Analysis settings to set; `None` keeps the current (or default) value.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct SettingsPatch {
    /// Frames analysed per second.
    pub detect_fps: Option<f32>,
    /// Analysis width in pixels.
    pub detect_width: Option<u32>,
    /// Smoothed no-mask score for a violation.
    pub confidence: Option<f32>,
    /// Face detector (`res10`, `blazeface`, `mtcnn`).
    #[schema(value_type = Option<String>)]
    pub detector: Option<vigil_vision::DetectorKind>,
    /// Motion gating on or off.
    pub motion_gating: Option<bool>,
    /// Zones (replaces the list).
    pub zones: Option<Vec<ZoneSpec>>,
    /// Days to keep violations.
    pub retention_days: Option<u32>,
}

impl SettingsPatch {
    fn apply(self, mut s: CameraSettings) -> CameraSettings {
        if let Some(v) = self.detect_fps {
            s.detect_fps = v;
        }
        if let Some(v) = self.detect_width {
            s.detect_width = v;
        }
        if let Some(v) = self.confidence {
            s.confidence = v;
        }
        if let Some(v) = self.detector {
            s.detector = Some(v);
        }
        if let Some(v) = self.motion_gating {
            s.motion_gating = v;
        }
        if let Some(v) = self.zones {
            s.zones = v;
        }
        if let Some(v) = self.retention_days {
            s.retention_days = v;
        }
        s
    }
}

/// A camera as the worker needs it: the opened source and the validated settings.
#[derive(Debug, Clone)]
pub(crate) struct CameraSpec {
    pub id: CameraId,
    pub name: String,
    pub source: SourceUrl,
    pub settings: CameraSettings,
    pub zones: Vec<vigil_vision::track::Zone>,
}

/// What running workers share with the service.
pub(crate) struct Running {
    /// The row version it runs (`updated_at`), to notice changes made elsewhere.
    updated_at: i64,
    stop: CancellationToken,
    status: watch::Receiver<CameraStatus>,
    live: watch::Receiver<Option<Arc<LiveFrame>>>,
    browser: Option<mpsc::Sender<BrowserFrame>>,
    metrics: Arc<WorkerMetrics>,
    done: oneshot::Receiver<()>,
}

/// Everything the camera use cases and workers need; built once by the server.
#[derive(Clone)]
pub struct CameraDeps {
    /// The database.
    pub db: Database,
    /// Where violation pictures go.
    pub blobs: Arc<dyn BlobStore>,
    /// Where state changes, detections and violations are published.
    pub bus: EventBus,
    /// The models and inference lanes; `None` when `vision.enabled = false`.
    pub vision: Option<Arc<VisionService>>,
    /// Seals and opens camera URLs.
    pub keys: Keys,
    /// Camera changes are audited here.
    pub audit: Option<AuditLog>,
    /// The application's runtime (workers are tracked by it and stop with it).
    pub runtime: Runtime,
    /// Which URLs are accepted.
    pub rules: SourceRules,
    /// Which addresses may be connected to.
    pub net: NetPolicy,
    /// ffmpeg and ffprobe.
    pub media: MediaTools,
    /// Stream viewers allowed per camera.
    pub max_viewers: usize,
}

impl std::fmt::Debug for CameraDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraDeps")
            .field("vision", &self.vision.is_some())
            .field("media", &self.media)
            .finish_non_exhaustive()
    }
}

impl CameraDeps {
    /// The dependencies `settings` ask for, around the server's shared parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: &Settings,
        db: Database,
        blobs: Arc<dyn BlobStore>,
        bus: EventBus,
        vision: Option<Arc<VisionService>>,
        keys: Keys,
        audit: Option<AuditLog>,
        runtime: Runtime,
    ) -> CameraDeps {
        CameraDeps {
            db,
            blobs,
            bus,
            vision,
            keys,
            audit,
            runtime,
            rules: SourceRules::from_settings(settings),
            net: NetPolicy::from_settings(settings),
            media: MediaTools::from_settings(settings),
            max_viewers: settings.cameras.max_viewers,
        }
    }
}

/// The cameras use case; cheap to clone.
#[derive(Clone)]
pub struct Cameras {
    inner: Arc<Inner>,
}

struct Inner {
    deps: CameraDeps,
    running: Mutex<HashMap<CameraId, Running>>,
    /// Stream viewers per camera, for the cap.
    viewers: Mutex<HashMap<CameraId, usize>>,
    stats_cache: stats::StatsCache,
    /// Counters per camera, kept across restarts of its worker (Prometheus counters
    /// must not go back).
    counters: Mutex<HashMap<CameraId, Arc<WorkerMetrics>>>,
    /// "Test connection" runs ffprobe and ffmpeg: at most this many at once.
    tests: tokio::sync::Semaphore,
}

/// Connection tests at once (each is an ffprobe and an ffmpeg child for up to ~20 s).
const CONCURRENT_TESTS: usize = 2;

impl std::fmt::Debug for Cameras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cameras")
            .field("deps", &self.inner.deps)
            .finish_non_exhaustive()
    }
}

/// A stream viewer's place; the count drops when it is dropped.
#[derive(Debug)]
pub struct ViewerSlot {
    cameras: Cameras,
    id: CameraId,
}

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        let mut viewers = lock(&self.cameras.inner.viewers);
        if let Some(n) = viewers.get_mut(&self.id) {
            *n = n.saturating_sub(1);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cameras {
    /// The use case over `deps`; no camera runs until [`Cameras::start_enabled`].
    pub fn new(deps: CameraDeps) -> Cameras {
        Cameras {
            inner: Arc::new(Inner {
                deps,
                running: Mutex::new(HashMap::new()),
                viewers: Mutex::new(HashMap::new()),
                stats_cache: stats::StatsCache::default(),
                counters: Mutex::new(HashMap::new()),
                tests: tokio::sync::Semaphore::new(CONCURRENT_TESTS),
            }),
        }
    }

    pub(crate) fn deps(&self) -> &CameraDeps {
        &self.inner.deps
    }

    async fn record(&self, actor: &Actor, event: AuditEvent) {
        if let Some(audit) = &self.inner.deps.audit {
            let action = event.action.as_str();
            if let Err(e) = audit.record(actor, event).await {
                tracing::error!(error = %e, action, "could not write the audit record");
            }
        }
    }

    async fn publish(&self, kind: EventKind) {
        if let Err(e) = self.inner.deps.bus.publish(&kind).await {
            tracing::warn!(error = %e, event = %kind.type_name(), "could not publish an event");
        }
    }

    /// The live status of camera `id` (stopped when no worker runs).
    fn status_of(&self, id: &CameraId, updated_at: i64) -> CameraStatus {
        lock(&self.inner.running)
            .get(id)
            .map(|r| r.status.borrow().clone())
            .unwrap_or_else(|| CameraStatus::stopped(updated_at))
    }

    fn view(&self, row: &CameraRow) -> Result<CameraView> {
        let id = CameraId::from_stored(row.id.clone());
        let settings: CameraSettings = serde_json::from_str(&row.settings).map_err(|e| {
            Error::Internal(format!("camera {} has unreadable settings: {e}", row.id))
        })?;
        Ok(CameraView {
            status: self.status_of(&id, row.updated_at),
            id,
            name: row.name.clone(),
            kind: row.kind.clone(),
            url: row.url_redacted.clone(),
            enabled: row.enabled,
            settings,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// Opens a stored camera for a worker (URL unsealed and validated under today's rules).
    fn spec(&self, row: &CameraRow) -> Result<CameraSpec> {
        let deps = &self.inner.deps;
        let source = crate::net::open(&row.url_sealed, &deps.keys, &deps.rules)
            .map_err(|e| Error::Invalid(format!("camera `{}`: {e}", row.name)))?;
        let settings: CameraSettings = serde_json::from_str(&row.settings).map_err(|e| {
            Error::Internal(format!("camera {} has unreadable settings: {e}", row.id))
        })?;
        let zones = settings.validate().map_err(Error::Invalid)?;
        Ok(CameraSpec {
            id: CameraId::from_stored(row.id.clone()),
            name: row.name.clone(),
            source,
            settings,
            zones,
        })
    }

    async fn row(&self, id: &str) -> Result<CameraRow> {
        let id = CameraId::parse(id)?;
        store::get_camera(&self.inner.deps.db, id.as_str())
            .await?
            .ok_or(Error::NotFound("camera"))
    }

    /// Every camera with its live status.
    pub async fn list(&self) -> Result<Vec<CameraView>> {
        let rows = store::list_cameras(&self.inner.deps.db).await?;
        rows.iter().map(|r| self.view(r)).collect()
    }

    /// One camera (id, or name for the CLI's convenience).
    pub async fn get(&self, id_or_name: &str) -> Result<CameraView> {
        let row = match CameraId::parse(id_or_name) {
            Ok(id) => store::get_camera(&self.inner.deps.db, id.as_str()).await?,
            Err(_) => store::get_camera_by_name(&self.inner.deps.db, id_or_name).await?,
        };
        self.view(&row.ok_or(Error::NotFound("camera"))?)
    }

    fn check_name(name: &str) -> Result<String> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > model::MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(Error::Invalid(format!(
                "a camera name has 1 to {} printable characters",
                model::MAX_NAME_CHARS
            )));
        }
        Ok(name.to_string())
    }

    /// Parses and guards a URL: validated, and for network sources resolved and checked
    /// against the SSRF guard now, so a refused address is a 422 at once rather than a
    /// camera that never connects.
    async fn check_url(&self, url: &str) -> Result<SourceUrl> {
        let deps = &self.inner.deps;
        let source =
            SourceUrl::parse(url, &deps.rules).map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(network) = source.network() {
            crate::net::resolve_and_check(network, &deps.net)
                .await
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        Ok(source)
    }

    /// Adds a camera; starts it when enabled.
    pub async fn create(&self, actor: &Actor, new: NewCamera) -> Result<CameraView> {
        let name = Self::check_name(&new.name)?;
        let source = self.check_url(&new.url).await?;
        let settings = new.settings.apply(CameraSettings::default());
        settings.validate().map_err(Error::Invalid)?;
        let now = now_ms();
        let row = CameraRow {
            id: CameraId::generate().to_string(),
            name: name.clone(),
            kind: source.kind().to_string(),
            url_sealed: crate::net::seal(&source, &self.inner.deps.keys)
                .map_err(|e| Error::Internal(e.to_string()))?,
            url_redacted: source.redacted(),
            enabled: new.enabled,
            settings: serde_json::to_string(&settings)
                .map_err(|e| Error::Internal(e.to_string()))?,
            created_at: now,
            updated_at: now,
        };
        if !store::insert_camera(&self.inner.deps.db, &row).await? {
            return Err(Error::Conflict(format!(
                "a camera named `{name}` already exists"
            )));
        }
        self.record(
            actor,
            AuditEvent::new(AuditAction::CameraCreate)
                .target("camera", &row.id)
                .detail("name", name)
                .detail("kind", row.kind.clone()),
        )
        .await;
        if row.enabled {
            self.launch(&row)?;
        }
        let view = self.view(&row)?;
        self.publish(EventKind::CameraChanged {
            action: "created",
            camera: Box::new(view.clone()),
        })
        .await;
        Ok(view)
    }

    /// Changes a camera; a running camera restarts with the new settings.
    pub async fn update(&self, actor: &Actor, id: &str, patch: CameraPatch) -> Result<CameraView> {
        let mut row = self.row(id).await?;
        let mut changed: Vec<&str> = Vec::new();
        if let Some(name) = &patch.name {
            row.name = Self::check_name(name)?;
            changed.push("name");
        }
        if let Some(url) = &patch.url {
            let source = self.check_url(url).await?;
            row.kind = source.kind().to_string();
            row.url_sealed = crate::net::seal(&source, &self.inner.deps.keys)
                .map_err(|e| Error::Internal(e.to_string()))?;
            row.url_redacted = source.redacted();
            changed.push("url");
        }
        if let Some(enabled) = patch.enabled {
            row.enabled = enabled;
            changed.push("enabled");
        }
        let current: CameraSettings = serde_json::from_str(&row.settings).map_err(|e| {
            Error::Internal(format!("camera {} has unreadable settings: {e}", row.id))
        })?;
        let settings = patch.settings.apply(current.clone());
        settings.validate().map_err(Error::Invalid)?;
        if settings != current {
            changed.push("settings");
        }
        row.settings =
            serde_json::to_string(&settings).map_err(|e| Error::Internal(e.to_string()))?;
        row.updated_at = now_ms();
        match store::update_camera(&self.inner.deps.db, &row).await? {
            None => return Err(Error::NotFound("camera")),
            Some(false) => {
                return Err(Error::Conflict(format!(
                    "a camera named `{}` already exists",
                    row.name
                )))
            }
            Some(true) => {}
        }
        self.record(
            actor,
            AuditEvent::new(AuditAction::CameraUpdate)
                .target("camera", &row.id)
                .detail("changed", changed.join(",")),
        )
        .await;
        // A running camera restarts with the change; a disabled one stops.
        let id = CameraId::from_stored(row.id.clone());
        self.halt(&id).await;
        if row.enabled {
            self.launch(&row)?;
        }
        let view = self.view(&row)?;
        self.publish(EventKind::CameraChanged {
            action: "updated",
            camera: Box::new(view.clone()),
        })
        .await;
        Ok(view)
    }

    /// Removes a camera, its violations (pictures first) and its statistics.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<()> {
        let row = self.row(id).await?;
        let cid = CameraId::from_stored(row.id.clone());
        self.halt(&cid).await;
        let view = self.view(&row)?;
        violations::delete_all_of(self, &row.id).await?;
        if !store::delete_camera(&self.inner.deps.db, &row.id).await? {
            return Err(Error::NotFound("camera"));
        }
        self.record(
            actor,
            AuditEvent::new(AuditAction::CameraDelete)
                .target("camera", &row.id)
                .detail("name", row.name.clone()),
        )
        .await;
        self.publish(EventKind::CameraChanged {
            action: "deleted",
            camera: Box::new(view),
        })
        .await;
        Ok(())
    }

    /// Starts a stopped camera (by hand; it need not be enabled).
    pub async fn start(&self, actor: &Actor, id: &str) -> Result<CameraView> {
        let row = self.row(id).await?;
        let cid = CameraId::from_stored(row.id.clone());
        if !self.is_running(&cid) {
            self.launch(&row)?;
            self.record(
                actor,
                AuditEvent::new(AuditAction::CameraControl)
                    .target("camera", &row.id)
                    .detail("action", "start"),
            )
            .await;
        }
        self.view(&row)
    }

    /// Stops a running camera until it is started again (or the server restarts and it
    /// is enabled).
    pub async fn stop(&self, actor: &Actor, id: &str) -> Result<CameraView> {
        let row = self.row(id).await?;
        let cid = CameraId::from_stored(row.id.clone());
        if self.halt(&cid).await {
            self.record(
                actor,
                AuditEvent::new(AuditAction::CameraControl)
                    .target("camera", &row.id)
                    .detail("action", "stop"),
            )
            .await;
        }
        self.view(&row)
    }

    /// Starts every enabled camera (server start).
    pub async fn start_enabled(&self) -> Result<usize> {
        let rows = store::list_cameras(&self.inner.deps.db).await?;
        let mut started = 0;
        for row in rows.iter().filter(|r| r.enabled) {
            match self.launch(row) {
                Ok(()) => started += 1,
                Err(e) => tracing::error!(camera = %row.name, error = %e, "camera not started"),
            }
        }
        Ok(started)
    }

    fn is_running(&self, id: &CameraId) -> bool {
        lock(&self.inner.running).contains_key(id)
    }

    /// Starts the worker of `row` (no-op when it runs).
    fn launch(&self, row: &CameraRow) -> Result<()> {
        let spec = self.spec(row)?;
        let mut running = lock(&self.inner.running);
        if running.contains_key(&spec.id) {
            return Ok(());
        }
        let id = spec.id.clone();
        let metrics = Arc::clone(
            lock(&self.inner.counters)
                .entry(id.clone())
                .or_insert_with(|| Arc::new(WorkerMetrics::default())),
        );
        let mut handle = worker::spawn(self.clone(), spec, metrics);
        handle.updated_at = row.updated_at;
        running.insert(id, handle);
        Ok(())
    }

    /// Stops the worker of `id` and waits for it to finish (its stats flushed, its
    /// ffmpeg child killed); `false` when none ran.
    async fn halt(&self, id: &CameraId) -> bool {
        let handle = lock(&self.inner.running).remove(id);
        let Some(handle) = handle else { return false };
        handle.stop.cancel();
        // A worker that does not finish in time is left to the runtime's drain.
        let _ = tokio::time::timeout(Duration::from_secs(10), handle.done).await;
        true
    }

    /// The latest analysed frame of a running camera (for `/snapshot.jpg`).
    pub fn latest(&self, id: &CameraId) -> Option<Arc<LiveFrame>> {
        lock(&self.inner.running)
            .get(id)
            .and_then(|r| r.live.borrow().clone())
    }

    /// Follows the analysed frames of a running camera (for `/stream`), holding one of
    /// the camera's viewer places; `Err` when the camera is not running or the cap is
    /// reached.
    pub async fn watch(
        &self,
        id: &str,
    ) -> Result<(watch::Receiver<Option<Arc<LiveFrame>>>, ViewerSlot)> {
        let row = self.row(id).await?;
        let cid = CameraId::from_stored(row.id.clone());
        let rx = lock(&self.inner.running)
            .get(&cid)
            .map(|r| r.live.clone())
            .ok_or_else(|| Error::Conflict("the camera is not running; start it first".into()))?;
        let mut viewers = lock(&self.inner.viewers);
        let n = viewers.entry(cid.clone()).or_insert(0);
        if *n >= self.inner.deps.max_viewers {
            return Err(Error::Conflict(format!(
                "this camera already has {} viewers (cameras.max_viewers)",
                self.inner.deps.max_viewers
            )));
        }
        *n += 1;
        Ok((
            rx,
            ViewerSlot {
                cameras: self.clone(),
                id: cid,
            },
        ))
    }

    /// The channel a browser page pushes frames into, for a running `browser` camera.
    pub async fn browser_input(
        &self,
        id: &str,
    ) -> Result<(CameraView, mpsc::Sender<BrowserFrame>)> {
        let row = self.row(id).await?;
        if row.kind != "browser" {
            return Err(Error::Invalid("this camera is not a browser camera".into()));
        }
        let cid = CameraId::from_stored(row.id.clone());
        if !self.is_running(&cid) {
            self.launch(&row)?;
        }
        let tx = lock(&self.inner.running)
            .get(&cid)
            .and_then(|r| r.browser.clone())
            .ok_or_else(|| Error::Conflict("the camera is not running; start it first".into()))?;
        Ok((self.view(&row)?, tx))
    }

    /// Per-camera counters of every camera run since start, with its state, for
    /// `/metrics`.
    pub fn metrics(&self) -> Vec<(CameraId, String, CameraState, Arc<WorkerMetrics>)> {
        let running = lock(&self.inner.running);
        lock(&self.inner.counters)
            .iter()
            .map(|(id, m)| {
                let state = running
                    .get(id)
                    .map_or(CameraState::Stopped, |r| r.status.borrow().state);
                (id.clone(), lock(&m.name).clone(), state, Arc::clone(m))
            })
            .collect()
    }

    /// Every running camera's status, by name, for `/readyz`.
    pub fn statuses(&self) -> Vec<(CameraId, String, CameraStatus)> {
        let mut out: Vec<_> = lock(&self.inner.running)
            .iter()
            .map(|(id, r)| {
                (
                    id.clone(),
                    lock(&r.metrics.name).clone(),
                    r.status.borrow().clone(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// ffmpeg's version line, or why it cannot run (plain words), for `/readyz`.
    pub async fn media_check(&self) -> std::result::Result<String, String> {
        self.inner.deps.media.check().await
    }

    /// Stops every worker (shutdown); their stats are flushed.
    pub async fn stop_all(&self) {
        let ids: Vec<CameraId> = lock(&self.inner.running).keys().cloned().collect();
        for id in ids {
            self.halt(&id).await;
        }
    }

    /// The cameras use case for a command (`vigil camera …`): the database, blob store
    /// and event bus opened for it (events are stored, so running servers pick the
    /// change up through [`Cameras::run_sync`]); `vision` for `vigil camera test`.
    /// Call [`Cameras::close`] when done.
    pub async fn open_for_command(
        settings: &Settings,
        vision: Option<Arc<VisionService>>,
    ) -> anyhow::Result<Cameras> {
        use anyhow::Context;
        let identity = crate::Identity::open(settings).await?;
        let blobs = vigil_store::open_blob_store(settings)
            .await
            .context("opening the blob store")?;
        let options = crate::events::BusOptions {
            redis: None,
            ..crate::events::BusOptions::from_settings(settings)
        };
        let bus = EventBus::open(identity.db.clone(), options)
            .await
            .context("opening the event bus")?;
        Ok(Cameras::new(CameraDeps::new(
            settings,
            identity.db.clone(),
            blobs,
            bus,
            vision,
            identity.keys.clone(),
            Some(identity.audit.clone()),
            Runtime::default(),
        )))
    }

    /// Stops what runs and closes the database (commands).
    pub async fn close(&self) {
        self.stop_all().await;
        self.inner.deps.db.close().await;
    }

    /// Brings this server's workers in line with the stored cameras whenever a camera is
    /// created, changed or deleted elsewhere (the CLI, another instance's API), until
    /// `stop`. Changes made through this instance are already applied; applying them
    /// again finds nothing to do.
    pub async fn run_sync(&self, stop: CancellationToken) -> anyhow::Result<()> {
        let filter = crate::events::Filter::new(
            Some("camera.created,camera.updated,camera.deleted"),
            vigil_auth::Role::Admin,
        );
        let mut sub = self.inner.deps.bus.subscribe(filter, None).await?;
        loop {
            let delivery = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                d = sub.next() => d,
            };
            let Some(delivery) = delivery else {
                return Ok(());
            };
            let crate::events::Delivery::Event(event) = delivery else {
                // Missed some: reconcile every camera.
                self.reconcile_all().await?;
                continue;
            };
            let Some(id) = event.payload["camera"]["id"].as_str() else {
                continue;
            };
            if let Ok(id) = CameraId::parse(id) {
                self.reconcile(&id).await?;
            }
        }
    }

    async fn reconcile_all(&self) -> Result<()> {
        let stored = store::list_cameras(&self.inner.deps.db).await?;
        let running: Vec<CameraId> = lock(&self.inner.running).keys().cloned().collect();
        for id in running {
            if !stored.iter().any(|r| r.id == id.as_str()) {
                self.halt(&id).await;
            }
        }
        for row in stored {
            self.reconcile(&CameraId::from_stored(row.id)).await?;
        }
        Ok(())
    }

    /// Starts, restarts or stops the worker of `id` to match its stored row.
    async fn reconcile(&self, id: &CameraId) -> Result<()> {
        let row = store::get_camera(&self.inner.deps.db, id.as_str()).await?;
        let running_at = lock(&self.inner.running).get(id).map(|r| r.updated_at);
        match (row, running_at) {
            (None, Some(_)) => {
                self.halt(id).await;
            }
            (Some(row), Some(at)) if at != row.updated_at => {
                self.halt(id).await;
                if row.enabled {
                    self.launch(&row)?;
                }
            }
            (Some(row), None) if row.enabled => self.launch(&row)?,
            _ => {}
        }
        Ok(())
    }

    /// Tries a URL the way a camera would use it, without storing anything: what the
    /// source is (resolution, codec, frame rate) and the first frame's faces, or what
    /// went wrong in plain words.
    pub async fn test(&self, url: &str) -> Result<TestReport> {
        let _permit = self.inner.tests.try_acquire().map_err(|_| {
            Error::Conflict(format!(
                "{CONCURRENT_TESTS} connection tests are already running; try again in a moment"
            ))
        })?;
        let source = self.check_url(url).await?;
        Ok(source::test(self, &source).await)
    }
}
