//! Live events: `GET /api/v1/events` as Server-Sent Events and `GET /api/v1/events/ws`
//! as a WebSocket. Both take `?types=` (comma-separated type prefixes) and deliver only
//! the events the caller's role may see; both resume after an id (`Last-Event-ID` or
//! `?last_event_id=`) by replaying the `events` table first. The bus lives in
//! `vigil_core::events`; a WebSocket upgrade's `Origin` is checked by the access layer.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use utoipa::IntoParams;
use vigil_core::events::{Delivery, EventError, Filter, Subscription};

use crate::auth::middleware::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Comment lines sent on an idle stream, so proxies and clients see it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Longest `types` filter accepted.
const MAX_TYPES_LEN: usize = 500;

/// Which events to receive.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Comma-separated type prefixes (`audit.,camera.`); all types when absent.
    pub types: Option<String>,
    /// Resume after this event id: replay what was missed, then continue live. The
    /// `Last-Event-ID` header (sent by browsers' `EventSource` on reconnect) wins.
    pub last_event_id: Option<i64>,
}

/// The subscription a request asks for.
async fn subscribe(
    state: &AppState,
    caller: &Caller,
    query: EventsQuery,
    headers: &HeaderMap,
) -> ApiResult<Subscription> {
    if query
        .types
        .as_ref()
        .is_some_and(|t| t.len() > MAX_TYPES_LEN)
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("types is longer than {MAX_TYPES_LEN} characters"),
        ));
    }
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::BadRequest, "Last-Event-ID must be an event id")
                })
        })
        .transpose()?;
    let after = header.or(query.last_event_id);
    let filter = Filter::new(query.types.as_deref(), caller.role());
    state
        .events
        .subscribe(filter, after)
        .await
        .map_err(event_error)
}

fn event_error(e: EventError) -> ApiError {
    ApiError::internal(anyhow::Error::new(e).context("subscribing to events"))
}

/// Subscribe to live events (Server-Sent Events).
///
/// Each event is a `message` whose `id` is the event id and whose data is the event as
/// JSON (`{"id", "at", "type", "min_role", "payload"}`). A subscriber that falls behind
/// gets an `event: gap` message with `{"last_id"}`: reconnect with that id as
/// `Last-Event-ID` to replay what was skipped.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad filter or id", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let sub = subscribe(&state, &caller, query, &headers).await?;
    let events = futures::stream::unfold(sub, |mut sub| async move {
        let delivery = sub.next().await?;
        Some((Ok(sse_event(&delivery)), sub))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn sse_event(delivery: &Delivery) -> SseEvent {
    match delivery {
        // Transient events (id 0) carry no SSE id: a reconnect must resume after the
        // last stored event, which they are not.
        Delivery::Event(event) if event.id == 0 => SseEvent::default().data(json_text(delivery)),
        Delivery::Event(event) => SseEvent::default()
            .id(event.id.to_string())
            .data(json_text(delivery)),
        Delivery::Gap { .. } => SseEvent::default().event("gap").data(json_text(delivery)),
    }
}

/// A delivery as one JSON text: the event itself, or `{"type": "gap", "last_id": N}`.
fn json_text(delivery: &Delivery) -> String {
    let value = match delivery {
        Delivery::Event(event) => serde_json::to_value(&**event),
        Delivery::Gap { last_id } => Ok(serde_json::json!({"type": "gap", "last_id": last_id})),
    };
    // Serialising a `Value`-backed struct cannot fail; an empty object is the safe fallback.
    value.map_or_else(|_| "{}".to_string(), |v| v.to_string())
}

/// Subscribe to live events (WebSocket).
///
/// The same events and filters as `GET /api/v1/events`, one JSON text message each
/// (gaps as `{"type": "gap", "last_id"}`). Browsers send cookies with cross-site
/// handshakes, so an upgrade whose `Origin` is not ours is refused (403 `csrf_failed`).
#[utoipa::path(get, path = "/api/v1/events/ws", tag = "events",
    params(EventsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake, or a bad filter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Foreign Origin", body = ErrorBody)))]
pub async fn websocket(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("this route needs a WebSocket handshake: {}", e.body_text()),
        )
    })?;
    let sub = subscribe(&state, &caller, query, &headers).await?;
    Ok(upgrade
        .on_upgrade(move |socket| forward(socket, sub))
        .into_response())
}

/// Sends deliveries until the client leaves or the bus stops.
async fn forward(mut socket: WebSocket, mut sub: Subscription) {
    loop {
        tokio::select! {
            delivery = sub.next() => {
                let Some(delivery) = delivery else {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                };
                if socket.send(Message::Text(json_text(&delivery).into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                // Pings are answered by axum; anything else from the client is ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
