//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use vigil_core::runtime::TaskState;
use vigil_core::{Principal, PrincipalKind, Role};

use crate::error::{ApiError, FinalBody};
use crate::state::AppState;

/// `/healthz` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
    /// Vigil version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_secs: u64,
}

/// The process is alive. Does no I/O, so it stays cheap under load.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
    })
}

/// One dependency's readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// Whether it works.
    pub ok: bool,
    /// What it is (backend name, location without credentials).
    pub detail: String,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// Why it failed, in general terms (the full cause is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `/readyz` body. Anyone gets `status` (and `failing` when not ready); the details are
/// for callers with a viewer credential (API key or session): they name the database
/// backend, the storage location, the engine and model checksums, which an anonymous
/// prober has no need to know.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    /// The required parts that are down: `database`, `storage`, or `probes` (no recent
    /// probe result: the probes are stuck or the server is still starting). Absent when
    /// ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<&'static str>,
    /// Details, for viewers only: when the probes last ran, in seconds ago.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_secs_ago: Option<f64>,
    /// Details: database reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Check>,
    /// Details: blob store writable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<Check>,
    /// Details: vision engine and its models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vision: Option<VisionReadiness>,
    /// Details: the shared rate-limit store, when `redis_url` is set. Reported but not
    /// required: while it is down requests are served without rate limits (fail open;
    /// login and recovery are then limited per instance), so taking every instance out
    /// of rotation would turn a limiter outage into an API outage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<Check>,
    /// Details: the supervised background tasks. Reported but not required, like
    /// `redis`: a failing task (the purge, a camera later) does not stop this instance
    /// answering requests, so it is named here (`ok: false`) and in the logs and metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<TasksReadiness>,
    /// Details: ffmpeg and each running camera's state. Reported but not required: an
    /// offline camera is its source's problem, not a reason to stop serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cameras: Option<CamerasReadiness>,
}

/// Cameras in `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CamerasReadiness {
    /// False when ffmpeg cannot run or a running camera is offline.
    pub ok: bool,
    /// `ffmpeg -version` (needed by `rtsp`, `file` and `device` cameras).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ffmpeg: Option<Check>,
    /// Each running camera.
    pub cameras: Vec<CameraReadiness>,
}

/// One camera in `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraReadiness {
    /// Camera id.
    pub id: String,
    /// Camera name.
    pub name: String,
    /// `starting`, `online`, `offline` or `stopped`.
    pub state: String,
    /// Why it is offline, in plain words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The background tasks' state in `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TasksReadiness {
    /// False when any task keeps failing (three or more failures in a row).
    pub ok: bool,
    /// Each task, in start order.
    pub tasks: Vec<TaskReadiness>,
}

/// One background task in `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskReadiness {
    /// Its name (`purge`, `tls-watcher`, …).
    pub name: String,
    /// `running`, `restarting` (failed, waiting to start again) or `stopped`.
    pub state: String,
    /// False when it keeps failing (three or more failures in a row).
    pub ok: bool,
    /// Restarts since the process started.
    pub restarts: u64,
    /// Failures since it last ran well.
    pub consecutive_failures: u32,
    /// Its latest failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl TasksReadiness {
    /// The readiness view of the runtime's task list.
    pub fn from_runtime(tasks: Vec<vigil_core::runtime::TaskStatus>) -> TasksReadiness {
        let tasks: Vec<TaskReadiness> = tasks
            .into_iter()
            .map(|t| TaskReadiness {
                ok: !t.failing(),
                state: match t.state {
                    TaskState::Running => "running",
                    TaskState::Restarting => "restarting",
                    TaskState::Stopped => "stopped",
                }
                .to_string(),
                name: t.name,
                restarts: t.restarts,
                consecutive_failures: t.consecutive_failures,
                last_error: t.last_error,
            })
            .collect();
        TasksReadiness {
            ok: tasks.iter().all(|t| t.ok),
            tasks,
        }
    }
}

impl From<vigil_core::health::Probe> for Check {
    fn from(p: vigil_core::health::Probe) -> Self {
        Check {
            ok: p.ok,
            detail: p.detail,
            latency_ms: p.latency_ms,
            error: p.error,
        }
    }
}

/// The vision engine's state in `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisionReadiness {
    /// Whether the models are configured to load (`vision.enabled`).
    pub enabled: bool,
    /// Whether they are loaded and warmed.
    pub ok: bool,
    /// `onnxruntime` or `rten`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Why ONNX Runtime is not used, when `auto` fell back to rten.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// Inference jobs waiting for a worker.
    pub queue_depth: usize,
    /// Loaded models: name, file, sha256, engine, input shape.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<vigil_vision::ModelInfo>,
}

/// How long `/readyz` waits for the first round of probes after start-up.
const FIRST_PROBE_WAIT: Duration = Duration::from_secs(5);

/// Ready to serve: the database answers and the blob store is writable, as of the latest
/// background probe (`server.readiness_interval_secs`); a call does no I/O of its own.
/// 503 names the failing part. Details with a viewer credential only.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Readiness),
              (status = 503, description = "A required part is down", body = Readiness)))]
pub async fn readyz(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Response {
    let report = state.health.latest(FIRST_PROBE_WAIT).await;
    let interval = Duration::from_secs(state.settings.server.readiness_interval_secs);
    // A result older than a few rounds means the probes are stuck: not evidence of health.
    let stale_after = (interval * 3).max(Duration::from_secs(30));
    let mut failing = match &report {
        Some(r) if r.at.elapsed() <= stale_after => r.failing(),
        _ => vec!["probes"],
    };
    let vision = vision_readiness(&state);
    if !vision.ok {
        failing.push("vision");
    }
    let ready = failing.is_empty();
    let mut body = Readiness {
        status: if ready { "ready" } else { "not ready" },
        failing,
        checked_secs_ago: None,
        database: None,
        storage: None,
        vision: None,
        redis: None,
        tasks: None,
        cameras: None,
    };
    let viewer = principal.is_some_and(|Extension(p)| {
        p.role >= Role::Viewer
            && !matches!(
                p.kind,
                PrincipalKind::Session {
                    must_enroll_totp: true,
                    ..
                }
            )
    });
    if viewer {
        if let Some(r) = &report {
            body.checked_secs_ago = Some(r.at.elapsed().as_secs_f64());
            body.database = Some(Check::from(r.database.clone()));
            body.storage = Some(Check::from(r.storage.clone()));
            body.redis = r.redis.clone().map(Check::from);
        }
        body.vision = Some(vision);
        body.tasks = Some(TasksReadiness::from_runtime(state.runtime.snapshot()));
        body.cameras = state.cameras.as_ref().map(|cameras| {
            let ffmpeg = report
                .as_ref()
                .and_then(|r| r.ffmpeg.clone())
                .map(Check::from);
            let cameras: Vec<CameraReadiness> = cameras
                .statuses()
                .into_iter()
                .map(|(id, name, status)| CameraReadiness {
                    id: id.into_string(),
                    name,
                    state: status.state.as_str().to_string(),
                    error: status.error,
                })
                .collect();
            CamerasReadiness {
                ok: ffmpeg.as_ref().is_none_or(|c| c.ok)
                    && cameras.iter().all(|c| c.state != "offline"),
                ffmpeg,
                cameras,
            }
        });
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A 503 here is the answer, not an error: the error envelope must keep this body.
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(FinalBody);
    response
}

/// The vision engine's state (no I/O: what was loaded at start).
fn vision_readiness(state: &AppState) -> VisionReadiness {
    match &state.vision {
        Some(v) => VisionReadiness {
            enabled: true,
            ok: true,
            engine: Some(v.pipeline.engine_name().to_string()),
            fallback_reason: v.pipeline.engine().fallback_reason().map(str::to_string),
            queue_depth: v.pool.queue_depth(),
            models: v.pipeline.models().to_vec(),
        },
        None => VisionReadiness {
            enabled: false,
            ok: true,
            engine: None,
            fallback_reason: None,
            queue_depth: 0,
            models: Vec::new(),
        },
    }
}

/// Prometheus metrics in OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.metrics.observe_tasks(&state.runtime.snapshot());
    if let Some(vision) = &state.vision {
        state.metrics.observe_lanes(&vision.pool.stats());
    }
    if let Some(cameras) = &state.cameras {
        state.metrics.observe_cameras(cameras);
    }
    let (size, idle) = state.health.pool_stats();
    state.metrics.db_pool_connections.set(i64::from(size));
    state
        .metrics
        .db_pool_idle
        .set(i64::try_from(idle).unwrap_or(i64::MAX));
    let text = state
        .metrics
        .render()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("encoding metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
