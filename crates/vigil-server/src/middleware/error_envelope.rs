//! Gives every error response our JSON shape and logs server errors once.
//!
//! Errors from handlers ([`crate::error::ApiError`]) carry an [`ErrorInfo`]; errors from
//! other layers (router 404/405, body limit 413, timeout 408, panic 500) arrive with
//! whatever body their layer wrote and are replaced by the canonical shape.

use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::request_id::RequestId;
use crate::error::{render, ErrorCode, ErrorInfo, FinalBody};

/// Middleware: rewrites error responses into the JSON envelope.
pub async fn layer(req: Request, next: Next) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<FinalBody>().is_some()
    {
        return response;
    }

    let (mut parts, body) = response.into_parts();
    let info = parts.extensions.remove::<ErrorInfo>();
    let (code, message) = match &info {
        Some(info) => (info.code, info.message.clone()),
        None => {
            let code = ErrorCode::for_status(status);
            (
                code,
                default_message(status, method.as_str(), &path, parts.headers.get(ALLOW)),
            )
        }
    };
    if status.is_server_error() {
        let cause = info
            .as_ref()
            .and_then(|i| i.cause.as_ref())
            .map(|c| format!("{c:#}"));
        // 503s (overload, a dependency down) are expected under pressure: warn, and keep
        // ERROR for failures someone must look at.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(status = status.as_u16(), cause, message = %message, "request refused");
        } else {
            tracing::error!(status = status.as_u16(), cause, message = %message, "request failed");
        }
    }
    drop(body);

    let mut rendered = (status, render(code, &message, request_id.as_deref())).into_response();
    // Keep headers the error's producer set on purpose (Retry-After, Allow, rate-limit
    // counters); the body-describing ones now belong to the new body.
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    for (name, value) in parts.headers.iter() {
        rendered.headers_mut().insert(name.clone(), value.clone());
    }
    rendered.extensions_mut().extend(parts.extensions);
    rendered
}

fn default_message(
    status: StatusCode,
    method: &str,
    path: &str,
    allow: Option<&axum::http::HeaderValue>,
) -> String {
    match status.as_u16() {
        404 => format!("no route for {method} {}", truncate(path)),
        405 => match allow.and_then(|v| v.to_str().ok()) {
            Some(allowed) if !allowed.is_empty() => {
                format!(
                    "{method} is not allowed on {}; allowed: {allowed}",
                    truncate(path)
                )
            }
            _ => format!("{method} is not allowed on {}", truncate(path)),
        },
        408 => "the request took too long and was stopped".into(),
        413 => "the request body is larger than this route accepts".into(),
        415 => "this content type is not accepted here".into(),
        500 => "an internal error occurred; the request id identifies it in the server log".into(),
        503 => "the service is temporarily unavailable; try again shortly".into(),
        _ => status
            .canonical_reason()
            .map(|r| r.to_ascii_lowercase())
            .unwrap_or_else(|| "request failed".into()),
    }
}

/// Paths are echoed for orientation only; a very long one is cut.
fn truncate(path: &str) -> String {
    if path.len() <= 200 {
        path.to_string()
    } else {
        let mut end = 200;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &path[..end])
    }
}
