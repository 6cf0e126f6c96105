//! Security headers on every response (including errors, static files and panics),
//! set in this one place. A route may set its own value for a header first; it is kept.
//! Routes do so through their row in `routes/table.rs` ([`route_headers`]): served media
//! get a sandboxing CSP, capture pages a Permissions-Policy that allows the camera.

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

/// Every powerful feature denied, camera and microphone included: the default for every
/// response. A page that captures (declared with `Route::media_capture` in
/// `routes/table.rs`) gets [`PERMISSIONS_POLICY_CAPTURE`] instead.
pub const PERMISSIONS_POLICY: &str =
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
serial=(), bluetooth=(), hid=(), midi=(), magnetometer=(), gyroscope=(), accelerometer=(), \
display-capture=(), publickey-credentials-get=(), interest-cohort=()";

/// [`PERMISSIONS_POLICY`] with camera and microphone allowed for our own origin (never a
/// frame from elsewhere): for the pages that call `getUserMedia`.
pub const PERMISSIONS_POLICY_CAPTURE: &str =
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

/// The headers a route's row in `routes/table.rs` gives all its responses, in place of
/// the defaults: media downloads ([`BodyClass::Download`](crate::routes::table::BodyClass))
/// the sandboxing [`MEDIA_CSP`](crate::routes::media::MEDIA_CSP), pages declared with
/// `media_capture` [`PERMISSIONS_POLICY_CAPTURE`]. Empty for most routes.
pub fn route_headers(route: &crate::routes::table::Route) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::new();
    if route.body == crate::routes::table::BodyClass::Download {
        headers.push((
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(crate::routes::media::MEDIA_CSP),
        ));
    }
    if route.media_capture {
        headers.push((
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY_CAPTURE),
        ));
    }
    headers
}

/// Route middleware: sets the route's own headers ([`route_headers`]) on every answer,
/// errors included, before [`layer`] fills in the rest.
pub async fn route_layer(
    State(headers): State<Arc<Vec<(HeaderName, HeaderValue)>>>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    for (name, value) in headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;
    use crate::auth::access::Access;
    use crate::routes::table::{BodyClass, Route};

    /// A router serving `route`'s row as `/x` the way `api_routes` does, behind the global
    /// headers; returns the answer's headers.
    async fn headers_of(route: Route) -> HeaderMap {
        let own = Arc::new(route_headers(&route));
        let app = Router::new()
            .route(
                "/x",
                get(|| async { "page" })
                    .layer(axum::middleware::from_fn_with_state(own, route_layer)),
            )
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(SecurityHeaders::new(false)),
                layer,
            ));
        let req = axum::http::Request::builder()
            .uri("/x")
            .body(Body::empty())
            .expect("request");
        app.oneshot(req).await.expect("answer").headers().clone()
    }

    fn page() -> Route {
        Route::page("/x", Access::PublicPage, || get(|| async { "" }))
    }

    #[tokio::test]
    async fn camera_and_microphone_are_denied_unless_the_page_declares_capture() {
        let plain = headers_of(page()).await;
        let pp = plain["permissions-policy"].to_str().expect("ascii");
        assert!(
            pp.contains("camera=()") && pp.contains("microphone=()"),
            "{pp}"
        );
        let capture = headers_of(page().media_capture()).await;
        let pp = capture["permissions-policy"].to_str().expect("ascii");
        assert!(
            pp.contains("camera=(self)") && pp.contains("microphone=(self)"),
            "{pp}"
        );
        assert!(pp.contains("geolocation=()"), "{pp}");
        assert_eq!(capture["content-security-policy"], CSP);
    }

    #[tokio::test]
    async fn media_downloads_get_the_sandboxing_csp_instead_of_the_page_csp() {
        let media = headers_of(page().body(BodyClass::Download)).await;
        assert_eq!(
            media["content-security-policy"],
            crate::routes::media::MEDIA_CSP
        );
        assert_eq!(media.get_all("content-security-policy").iter().count(), 1);
        assert!(media["permissions-policy"]
            .to_str()
            .expect("ascii")
            .contains("camera=()"));
    }
}
