//! Prometheus metrics, kept in a registry owned by the application state (no global
//! recorder), rendered as OpenMetrics text at `/metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use vigil_core::runtime::{TaskState, TaskStatus};

/// Labels of a finished HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Route template (`/api/v1/uploads/{id}`), never the raw path, to bound cardinality.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
}

/// Labels of the build-info gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Vigil version.
    pub version: String,
    /// Database backend.
    pub database: String,
    /// Profile.
    pub profile: String,
}

/// Labels of an inference-stage observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// Engine (`onnxruntime` or `rten`).
    pub engine: String,
    /// Stage (`decode`, `detect`, `mask`, `embed`, `liveness`, `total`).
    pub stage: String,
}

/// Labels of a detection count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DetectionLabels {
    /// `mask`, `no_mask`, or `unclassified`.
    pub result: String,
}

/// Labels of an inference-lane gauge.
/// Labels of a camera's series: its id (stable) and name (readable).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CameraLabels {
    /// Camera id.
    pub camera: String,
    /// Camera name.
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabels {
    /// `interactive`, `live` or `batch`.
    pub lane: String,
}

/// Labels of a rate-limit refusal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    /// The exceeded budget: `default`, `login`, `recovery` or `route:METHOD /path` (only
    /// routes named in the configuration, so the label set stays small).
    pub scope: String,
}

/// Labels of a supervised background task's metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// The task's name (`purge`, `tls-watcher`, …): a fixed set chosen in code.
    pub task: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric Vigil exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Per camera: frames received.
    pub camera_frames_in: Family<CameraLabels, Counter>,
    /// Per camera: frames analysed.
    pub camera_frames_analysed: Family<CameraLabels, Counter>,
    /// Per camera: frames not analysed for lack of motion.
    pub camera_frames_gated: Family<CameraLabels, Counter>,
    /// Per camera: frames dropped while busy.
    pub camera_frames_dropped: Family<CameraLabels, Counter>,
    /// Per camera: source restarts.
    pub camera_restarts: Family<CameraLabels, Counter>,
    /// Per camera: violations.
    pub camera_violations: Family<CameraLabels, Counter>,
    /// Per camera: inference microseconds.
    pub camera_inference_us: Family<CameraLabels, Counter>,
    /// Per camera: online or not.
    pub camera_online: Family<CameraLabels, Gauge>,
    /// Finished requests.
    pub http_requests: Family<RequestLabels, Counter>,
    /// Request latency in seconds.
    pub http_latency: HistogramFamily<RouteLabels>,
    /// Requests being served now.
    pub http_in_flight: Gauge,
    /// Connections in the database pool.
    pub db_pool_connections: Gauge,
    /// Idle connections in the database pool.
    pub db_pool_idle: Gauge,
    /// Responses with status 500 or more.
    pub http_server_errors: Counter,
    /// Handler panics caught.
    pub panics: Counter<u64, AtomicU64>,
    /// Constant 1 with build labels.
    pub build_info: Family<BuildLabels, Gauge>,
    /// Inference latency per stage, in seconds.
    pub inference_latency: HistogramFamily<StageLabels>,
    /// Faces detected, by mask result.
    pub detections: Family<DetectionLabels, Counter>,
    /// Inference jobs waiting for a worker, per lane.
    pub inference_queue_depth: Family<LaneLabels, Gauge>,
    /// Inference jobs running, per lane.
    pub inference_running: Family<LaneLabels, Gauge>,
    /// Live frames replaced by a newer frame of the same source before they ran.
    pub inference_superseded: Gauge,
    /// Requests refused because the inference queue was full.
    pub inference_rejected: Counter,
    /// Requests refused with 429, by exceeded budget.
    pub rate_limited: Family<ScopeLabels, Counter>,
    /// Requests served without rate limiting because the limiter's store failed.
    pub rate_limit_store_errors: Counter,
    /// Restarts of each supervised background task (`vigil_task_restarts_total`).
    pub task_restarts: Family<TaskLabels, Counter>,
    /// 1 while a supervised background task runs, else 0 (`vigil_task_up`).
    pub task_up: Family<TaskLabels, Gauge>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vigil");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        let http_latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            http_latency.clone(),
        );
        let http_in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served",
            http_in_flight.clone(),
        );
        let http_server_errors = Counter::default();
        registry.register(
            "http_server_errors",
            "HTTP responses with a 5xx status",
            http_server_errors.clone(),
        );
        let panics = Counter::default();
        registry.register(
            "http_panics",
            "Request handler panics caught",
            panics.clone(),
        );
        let db_pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Open database connections",
            db_pool_connections.clone(),
        );
        let db_pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            db_pool_idle.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "Build and runtime information",
            build_info.clone(),
        );
        let inference_latency: HistogramFamily<StageLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "inference_duration_seconds",
            "Vision inference latency by engine and stage",
            inference_latency.clone(),
        );
        let detections = Family::<DetectionLabels, Counter>::default();
        registry.register(
            "detections",
            "Faces detected, by mask result",
            detections.clone(),
        );
        let inference_queue_depth = Family::<LaneLabels, Gauge>::default();
        registry.register(
            "inference_queue_depth",
            "Inference jobs waiting for a worker, by lane (interactive, live, batch)",
            inference_queue_depth.clone(),
        );
        let inference_running = Family::<LaneLabels, Gauge>::default();
        registry.register(
            "inference_running",
            "Inference jobs running, by lane",
            inference_running.clone(),
        );
        // A gauge mirroring the pool's own counter (read at scrape time), so it is not
        // a Prometheus counter that could be reset by a second writer.
        let inference_superseded = Gauge::default();
        registry.register(
            "inference_live_superseded",
            "Live frames replaced by a newer frame of the same source before they ran (since start)",
            inference_superseded.clone(),
        );
        let inference_rejected = Counter::default();
        registry.register(
            "inference_rejected",
            "Requests refused because the inference queue was full",
            inference_rejected.clone(),
        );
        let rate_limited = Family::<ScopeLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429, by exceeded budget",
            rate_limited.clone(),
        );
        let rate_limit_store_errors = Counter::default();
        registry.register(
            "rate_limit_store_errors",
            "Requests served without rate limiting because the rate-limit store failed",
            rate_limit_store_errors.clone(),
        );
        let task_restarts = Family::<TaskLabels, Counter>::default();
        registry.register(
            "task_restarts",
            "Restarts of each supervised background task after a failure or panic",
            task_restarts.clone(),
        );
        let task_up = Family::<TaskLabels, Gauge>::default();
        registry.register(
            "task_up",
            "1 while a supervised background task runs, 0 while it waits to restart or has stopped",
            task_up.clone(),
        );
        let camera = |name: &str, help: &str, registry: &mut Registry| {
            let family = Family::<CameraLabels, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let camera_frames_in = camera(
            "camera_frames_in",
            "Frames received from each camera's source",
            &mut registry,
        );
        let camera_frames_analysed = camera(
            "camera_frames_analysed",
            "Frames each camera ran detection on",
            &mut registry,
        );
        let camera_frames_gated = camera(
            "camera_frames_gated",
            "Frames not analysed because nothing moved (motion gating)",
            &mut registry,
        );
        let camera_frames_dropped = camera(
            "camera_frames_dropped",
            "Frames replaced by a newer one while the camera's analysis was busy (the machine cannot keep up)",
            &mut registry,
        );
        let camera_restarts = camera(
            "camera_restarts",
            "Reconnections of each camera's source after a failure (ffmpeg restarts)",
            &mut registry,
        );
        let camera_violations = camera(
            "camera_violations",
            "Violations raised by each camera",
            &mut registry,
        );
        let camera_inference_us = camera(
            "camera_inference_microseconds",
            "Inference time spent on each camera's frames (divide by frames analysed for the mean latency)",
            &mut registry,
        );
        let camera_online = Family::<CameraLabels, Gauge>::default();
        registry.register(
            "camera_online",
            "1 while a running camera is online, 0 while starting or offline",
            camera_online.clone(),
        );
        Metrics {
            camera_frames_in,
            camera_frames_analysed,
            camera_frames_gated,
            camera_frames_dropped,
            camera_restarts,
            camera_violations,
            camera_inference_us,
            camera_online,
            task_restarts,
            task_up,
            rate_limited,
            rate_limit_store_errors,
            inference_latency,
            detections,
            inference_queue_depth,
            inference_running,
            inference_superseded,
            inference_rejected,
            registry,
            http_requests,
            http_latency,
            http_in_flight,
            db_pool_connections,
            db_pool_idle,
            http_server_errors,
            panics,
            build_info,
        }
    }

    /// Copies the supervised runtime's task states into `task_restarts` and `task_up`
    /// (called before each scrape: the runtime keeps the counts, these mirror them).
    pub fn observe_tasks(&self, tasks: &[TaskStatus]) {
        for task in tasks {
            let labels = TaskLabels {
                task: task.name.clone(),
            };
            let restarts = self.task_restarts.get_or_create(&labels);
            let seen = restarts.get();
            if task.restarts > seen {
                restarts.inc_by(task.restarts - seen);
            }
            self.task_up
                .get_or_create(&labels)
                .set(i64::from(task.state == TaskState::Running));
        }
    }

    /// Copies the inference lanes' depths and counters into the gauges (called when
    /// `/metrics` is scraped, so the values are current whatever changed them).
    pub fn observe_lanes(&self, stats: &vigil_vision::PoolStats) {
        for lane in &stats.lanes {
            let labels = LaneLabels {
                lane: lane.lane.as_str().into(),
            };
            self.inference_queue_depth
                .get_or_create(&labels)
                .set(i64::try_from(lane.waiting).unwrap_or(i64::MAX));
            self.inference_running
                .get_or_create(&labels)
                .set(i64::try_from(lane.running).unwrap_or(i64::MAX));
        }
        self.inference_superseded
            .set(i64::try_from(stats.superseded).unwrap_or(i64::MAX));
    }

    /// Mirrors the camera workers' counters (called before each scrape).
    pub fn observe_cameras(&self, cameras: &vigil_core::cameras::Cameras) {
        use std::sync::atomic::Ordering::Relaxed;
        for (id, name, state, m) in cameras.metrics() {
            let labels = CameraLabels {
                camera: id.into_string(),
                name,
            };
            let pairs = [
                (&self.camera_frames_in, &m.frames_in),
                (&self.camera_frames_analysed, &m.frames_analysed),
                (&self.camera_frames_gated, &m.frames_gated),
                (&self.camera_frames_dropped, &m.frames_dropped),
                (&self.camera_restarts, &m.restarts),
                (&self.camera_violations, &m.violations),
                (&self.camera_inference_us, &m.inference_us),
            ];
            for (family, value) in pairs {
                let counter = family.get_or_create(&labels);
                let (now, seen) = (value.load(Relaxed), counter.get());
                if now > seen {
                    counter.inc_by(now - seen);
                }
            }
            self.camera_online
                .get_or_create(&labels)
                .set(i64::from(state == vigil_core::cameras::CameraState::Online));
        }
    }

    /// Renders the registry as OpenMetrics text.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
