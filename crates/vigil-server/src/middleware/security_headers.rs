//! Security headers on every response (including errors, static files and panics),
//! set in this one place. A route may set its own value for a header first; it is kept.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The Content-Security-Policy: no inline script or style, no eval, nothing framed,
/// everything from our own origin. `blob:`/`data:` images are for camera snapshots.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
font-src 'self'; connect-src 'self'; media-src 'self' blob:; worker-src 'self' blob:; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Camera and microphone for our own origin only; every other powerful feature denied.
pub const PERMISSIONS_POLICY: &str =
    "camera=(self), microphone=(self), geolocation=(), payment=(), usb=(), \
serial=(), bluetooth=(), hid=(), midi=(), magnetometer=(), gyroscope=(), accelerometer=(), \
display-capture=(), publickey-credentials-get=(), interest-cohort=()";

/// The headers, computed once from the settings.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// Builds the set; HSTS only when `hsts` (production or TLS).
    pub fn new(hsts: bool) -> Self {
        let mut headers = vec![
            (
                HeaderName::from_static("content-security-policy"),
                HeaderValue::from_static(CSP),
            ),
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
            (
                HeaderName::from_static("referrer-policy"),
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static(PERMISSIONS_POLICY),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("x-permitted-cross-domain-policies"),
                HeaderValue::from_static("none"),
            ),
        ];
        if hsts {
            headers.push((
                HeaderName::from_static("strict-transport-security"),
                HeaderValue::from_static("max-age=63072000; includeSubDomains"),
            ));
        }
        SecurityHeaders { headers }
    }

    /// Adds every header the response does not already have.
    pub fn apply(&self, map: &mut HeaderMap) {
        for (name, value) in &self.headers {
            if !map.contains_key(name) {
                map.insert(name.clone(), value.clone());
            }
        }
    }
}

/// Middleware: applies the headers.
pub async fn layer(
    State(headers): State<Arc<SecurityHeaders>>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    headers.apply(response.headers_mut());
    response
}
