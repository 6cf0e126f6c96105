//! One access-log line and the HTTP metrics per request, inside a span that carries the
//! request id so every log line of the request can be found by it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use http_body::Body as _;
use tracing::Instrument;

use super::client_ip::ClientAddr;
use super::request_id::RequestId;
use crate::metrics::{Metrics, RequestLabels, RouteLabels};

/// Middleware: logs and measures the request.
pub async fn layer(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let client = req
        .extensions()
        .get::<ClientAddr>()
        .and_then(|c| c.ip)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "-".into());
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);

    metrics.http_in_flight.inc();
    let response = next.run(req).instrument(span.clone()).await;
    metrics.http_in_flight.dec();

    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    let bytes = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| response.body().size_hint().exact());
    metrics
        .http_requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .http_latency
        .get_or_create(&RouteLabels { method, route })
        .observe(elapsed.as_secs_f64());
    if status >= 500 {
        metrics.http_server_errors.inc();
    }
    span.in_scope(|| {
        tracing::info!(
            target: "vigil::access",
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            bytes = bytes.map(|b| b as i64).unwrap_or(-1),
            client_ip = %client,
            "request finished"
        );
    });
    response
}
