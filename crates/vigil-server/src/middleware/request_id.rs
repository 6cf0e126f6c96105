//! A request id on every request and response (`X-Request-Id`). A well-formed id sent by
//! a client or a proxy is kept so logs can be joined across hops; anything else is
//! replaced by a fresh UUID.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The header carrying the id.
pub const HEADER: &str = "x-request-id";

/// The request's id, in request and response extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Middleware: assigns the id and echoes it in the response.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert(HEADER, value.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    response.headers_mut().insert(HEADER, value);
    response.extensions_mut().insert(RequestId(id));
    response
}
