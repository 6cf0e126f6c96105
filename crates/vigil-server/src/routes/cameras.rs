//! Cameras: CRUD, start/stop, "test connection", the annotated live stream and snapshot,
//! and the WebSocket a browser page pushes its camera's frames into. Viewers watch,
//! operators manage (see `routes::table`). The use cases are `vigil_core::cameras`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::oneshot;
use utoipa::ToSchema;
use vigil_core::cameras::{
    mjpeg, BrowserFrame, CameraPatch, CameraView, Cameras, FrameReply, NewCamera, TestReport,
};
use vigil_core::Actor;

use crate::auth::middleware::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiJson;
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::state::AppState;

/// Largest frame a browser page may send (a 1920×1080 JPEG is well under this).
const MAX_BROWSER_FRAME: usize = 4 * 1024 * 1024;
/// The MJPEG boundary of `/stream`.
const BOUNDARY: &str = "vigil-frame";

/// The cameras use case, or 503 when the server runs without it.
pub(crate) fn cameras(state: &AppState) -> ApiResult<&Cameras> {
    state.cameras.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "cameras are not available on this server",
        )
    })
}

fn actor(caller: &vigil_core::Principal, client: Option<&Extension<ClientAddr>>) -> Actor {
    Actor::principal(caller, ip_of(client))
}

/// Every camera with its live status.
#[utoipa::path(get, path = "/api/v1/cameras", tag = "cameras",
    responses((status = 200, description = "Cameras, by name", body = [CameraView]),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<CameraView>>> {
    Ok(Json(cameras(&state)?.list().await?))
}

/// Add a camera. The URL is checked (scheme, folder, and for network sources the
/// address after DNS resolution); credentials in it are stored encrypted and never
/// shown again. An enabled camera starts at once.
#[utoipa::path(post, path = "/api/v1/cameras", tag = "cameras", request_body = NewCamera,
    responses((status = 201, description = "Created", body = CameraView),
              (status = 409, description = "Name taken", body = ErrorBody),
              (status = 422, description = "Bad URL or setting, or an address that is refused", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(new): ApiJson<NewCamera>,
) -> ApiResult<Response> {
    let camera = cameras(&state)?
        .create(&actor(&caller, client.as_ref()), new)
        .await?;
    Ok((StatusCode::CREATED, Json(camera)).into_response())
}

/// One camera.
#[utoipa::path(get, path = "/api/v1/cameras/{id}", tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 200, description = "The camera", body = CameraView),
              (status = 404, description = "No such camera", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<CameraView>> {
    let cameras = cameras(&state)?;
    // Ids only here: names are for the CLI.
    vigil_core::cameras::CameraId::parse(&id).map_err(|_| ApiError::not_found("camera"))?;
    Ok(Json(cameras.get(&id).await?))
}

/// Change a camera; a running camera restarts with the change.
#[utoipa::path(patch, path = "/api/v1/cameras/{id}", tag = "cameras", request_body = CameraPatch,
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 200, description = "Changed", body = CameraView),
              (status = 404, description = "No such camera", body = ErrorBody),
              (status = 409, description = "Name taken", body = ErrorBody),
              (status = 422, description = "Bad URL or setting", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<CameraPatch>,
) -> ApiResult<Json<CameraView>> {
    Ok(Json(
        cameras(&state)?
            .update(&actor(&caller, client.as_ref()), &id, patch)
            .await?,
    ))
}

/// Remove a camera with its violations, their pictures and its statistics.
#[utoipa::path(delete, path = "/api/v1/cameras/{id}", tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such camera", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cameras(&state)?
        .delete(&actor(&caller, client.as_ref()), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a camera (until stopped or the server restarts).
#[utoipa::path(post, path = "/api/v1/cameras/{id}/start", tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 200, description = "Started (or already running)", body = CameraView),
              (status = 404, description = "No such camera", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<Json<CameraView>> {
    Ok(Json(
        cameras(&state)?
            .start(&actor(&caller, client.as_ref()), &id)
            .await?,
    ))
}

/// Stop a camera (its ffmpeg child ends; enabled cameras start again with the server).
#[utoipa::path(post, path = "/api/v1/cameras/{id}/stop", tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 200, description = "Stopped (or already stopped)", body = CameraView),
              (status = 404, description = "No such camera", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<Json<CameraView>> {
    Ok(Json(
        cameras(&state)?
            .stop(&actor(&caller, client.as_ref()), &id)
            .await?,
    ))
}

/// What to test.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// A camera URL, as for a new camera.
    pub url: String,
}

/// Test a camera URL without saving it: resolution, codec and frame rate, the first
/// frame's faces, or what went wrong in plain words (`ok: false`, still a 200). A URL
/// that is refused outright (scheme, folder, address) is a 422.
#[utoipa::path(post, path = "/api/v1/cameras/test", tag = "cameras", request_body = TestRequest,
    responses((status = 200, description = "What the test found", body = TestReport),
              (status = 409, description = "Too many tests running at once", body = ErrorBody),
              (status = 422, description = "URL refused", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TestRequest>,
) -> ApiResult<Json<TestReport>> {
    Ok(Json(cameras(&state)?.test(&request.url).await?))
}

/// The latest analysed frame with boxes and labels, as JPEG.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/snapshot.jpg", tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg", body = crate::routes::body::Binary),
              (status = 404, description = "No such camera, or no frame yet", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn snapshot(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let cameras = cameras(&state)?;
    let camera = cameras.get(&id).await?;
    let frame = cameras
        .latest(&camera.id)
        .ok_or_else(|| ApiError::not_found("frame (the camera is not running yet)"))?;
    let jpeg = frame
        .annotated_jpeg()
        .await
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the frame could not be encoded")))?;
    Ok(jpeg_response(jpeg))
}

fn jpeg_response(jpeg: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg,
    )
        .into_response()
}

/// The annotated live feed as MJPEG (`multipart/x-mixed-replace`), one part per
/// analysed frame; works in an `<img>` and behind proxies (no buffering:
/// `X-Accel-Buffering: no`). Viewers per camera are capped (`cameras.max_viewers`, 409).
#[utoipa::path(get, path = "/api/v1/cameras/{id}/stream", tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 200, description = "MJPEG stream", content_type = "multipart/x-mixed-replace", body = crate::routes::body::Binary),
              (status = 404, description = "No such camera", body = ErrorBody),
              (status = 409, description = "Not running, or too many viewers", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn stream(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let (mut frames, slot) = cameras(&state)?.watch(&id).await?;
    let body = async_stream(move |tx| async move {
        let _slot = slot; // the viewer's place, released when the stream ends
        let mut last_at = None;
        loop {
            let frame = frames.borrow_and_update().clone();
            if let Some(frame) = frame.filter(|f| Some(f.at) != last_at) {
                last_at = Some(frame.at);
                if let Some(jpeg) = frame.annotated_jpeg().await {
                    let head = mjpeg::part_header(BOUNDARY, "image/jpeg", jpeg.len());
                    if tx.send(Bytes::from(head)).await.is_err()
                        || tx.send(jpeg).await.is_err()
                        || tx.send(Bytes::from_static(b"\r\n")).await.is_err()
                    {
                        return;
                    }
                }
            }
            // A camera that stops ends its channel: the stream ends too.
            if frames.changed().await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, mjpeg::content_type(BOUNDARY))
        .header(header::CACHE_CONTROL, "no-store")
        .header("X-Accel-Buffering", "no")
        .body(body)
        .map_err(ApiError::internal)
}

/// A body fed by a task through a small channel (the task stops when the client
/// leaves: its next send fails).
fn async_stream<F, Fut>(produce: F) -> Body
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(produce(tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
    });
    Body::from_stream(stream)
}

/// A browser camera's frames (WebSocket). The server first sends
/// `{"type":"hello","detect_fps","width"}`; the page then sends one JPEG per binary
/// message, the next only after the reply `{"type":"result",…}` to the previous one.
/// Frames that arrive faster than the camera's detect rate are answered with
/// `skipped: true`. Errors come as `{"type":"error","message"}`.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/ws", tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 400, description = "Not a WebSocket handshake", body = ErrorBody),
              (status = 404, description = "No such camera", body = ErrorBody),
              (status = 422, description = "Not a browser camera", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn websocket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("this route needs a WebSocket handshake: {}", e.body_text()),
        )
    })?;
    let cameras = cameras(&state)?.clone();
    let (camera, input) = cameras.browser_input(&id).await?;
    Ok(upgrade
        .max_message_size(MAX_BROWSER_FRAME)
        .on_upgrade(move |socket| browser_session(socket, cameras, camera, input))
        .into_response())
}

async fn browser_session(
    mut socket: WebSocket,
    cameras: Cameras,
    camera: CameraView,
    mut input: tokio::sync::mpsc::Sender<BrowserFrame>,
) {
    let hello = serde_json::json!({
        "type": "hello",
        "detect_fps": camera.settings.detect_fps,
        "width": camera.settings.detect_width,
    });
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let message = match socket.recv().await {
            Some(Ok(m)) => m,
            Some(Err(_)) | None => return,
        };
        let jpeg = match message {
            Message::Binary(data) => data,
            Message::Close(_) => return,
            // Pings are answered by axum; text is not part of the protocol.
            _ => continue,
        };
        if input.is_closed() {
            // The camera restarted (its settings changed): follow it to its new worker.
            match cameras.browser_input(camera.id.as_str()).await {
                Ok((_, fresh)) => input = fresh,
                Err(e) => {
                    let error = serde_json::json!({"type": "error", "message": e.to_string()});
                    let _ = socket.send(Message::Text(error.to_string().into())).await;
                    return;
                }
            }
        }
        let (reply_tx, reply_rx) = oneshot::channel::<FrameReply>();
        let reply = if input
            .try_send(BrowserFrame {
                jpeg,
                reply: reply_tx,
            })
            .is_err()
        {
            // The camera is busy with earlier frames (or stopping): tell the page to
            // carry on with the next one.
            None
        } else {
            tokio::time::timeout(Duration::from_secs(10), reply_rx)
                .await
                .ok()
                .and_then(Result::ok)
        };
        let text = match reply {
            Some(r) => {
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                v["type"] = "result".into();
                v.to_string()
            }
            None => serde_json::json!({"type": "result", "skipped": true, "faces": []}).to_string(),
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}
