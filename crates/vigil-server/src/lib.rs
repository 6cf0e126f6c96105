//! Vigil's HTTP layer: the router, its middleware, the handlers, and the listeners
//! (plain HTTP, native TLS with hot certificate reload, an HTTP→HTTPS redirector and an
//! optional separate metrics port).
//!
//! Routes are declared once, in [`routes::table`] (`routes/table.rs`: method, path,
//! handler, access rule, rate-limit class, body class, nav entry); the router, the access
//! rules, the rate-limit classes and the console nav are derived from it.
//!
//! Seams: [`router`] builds the complete `Router` from an [`AppState`] (tests may call it
//! directly); [`Application::build`] opens storage and binds the listeners (port 0 gives
//! a random port); [`Application::run_until_stopped`] serves until a shutdown future
//! resolves, then drains in-flight requests within the configured grace period.
//!
//! No inference or SQL lives here: handlers call `vigil-store` (and later the engine).

pub mod apidoc;
pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod ratelimits;
pub mod routes;
mod serve;
pub mod state;
mod tls;
pub mod vision;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, MethodRouter};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use vigil_config::Settings;

pub use error::{ApiError, ApiResult, ErrorCode};
pub use serve::{shutdown_signal, Application};
pub use state::AppState;
pub use tls::install_crypto_provider;

use apidoc::ApiDoc;
use middleware::client_ip::ProxyTrust;
use middleware::security_headers::SecurityHeaders;
use routes::health;
use routes::table::{BodyClass, Handler, ROUTES};

/// Every route of [`routes::table::ROUTES`] enabled by the settings, each behind its body
/// limit and timeout, with the OpenAPI description of the API rows; before state, the
/// access and rate-limit layers and the global layers.
pub fn api_routes(state: &AppState) -> OpenApiRouter<AppState> {
    let settings = &state.settings;
    let mut app = OpenApiRouter::with_openapi(ApiDoc::openapi());
    for route in ROUTES.iter().filter(|r| r.enabled(settings)) {
        let (bytes, timeout) = body_limits(route.body, settings);
        let own_headers = middleware::security_headers::route_headers(route);
        let limited = |handler: MethodRouter<AppState>| {
            let handler = with_body_limits(handler, bytes, timeout);
            let handler = if own_headers.is_empty() {
                handler
            } else {
                handler.layer(axum::middleware::from_fn_with_state(
                    Arc::new(own_headers.clone()),
                    middleware::security_headers::route_layer,
                ))
            };
            if route.body.gated() {
                handler.layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    middleware::media_gate::layer,
                ))
            } else {
                handler
            }
        };
        app = match route.handler {
            Handler::Api(make) => app.routes(make().map(limited)),
            Handler::Page(make) => app.route(route.path, limited(make())),
        };
    }
    app
}

/// The body limit (bytes) and timeout (none: unlimited) of a [`BodyClass`].
fn body_limits(class: BodyClass, settings: &Settings) -> (usize, Option<Duration>) {
    let limits = &settings.limits;
    let timeout = Duration::from_secs(settings.server.request_timeout_secs);
    match class {
        BodyClass::Small => (limits.json_body_bytes, Some(timeout)),
        // Media uploads may be large and slow; they get their own limits.
        BodyClass::Media => (
            limits.media_upload_bytes.max(limits.image_upload_bytes),
            Some(timeout.max(Duration::from_secs(600))),
        ),
        BodyClass::Image => (limits.image_upload_bytes, Some(timeout)),
        // A download's body streams after the handler returns, so the timeout covers
        // only finding and opening the file; the gate's permit rides in the body.
        BodyClass::Download => (0, Some(timeout)),
        // Event streams are long-lived by design.
        BodyClass::Stream => (0, None),
    }
}

/// `handler` behind a timeout (408) and a body limit (413).
fn with_body_limits(
    handler: MethodRouter<AppState>,
    bytes: usize,
    timeout: Option<Duration>,
) -> MethodRouter<AppState> {
    // Bodiless routes (downloads, event streams and their WebSocket upgrade) only get
    // the extractor limit: wrapping the body would gain nothing.
    let handler = if bytes == 0 {
        handler.layer(DefaultBodyLimit::max(0))
    } else {
        handler.layer(
            ServiceBuilder::new()
                .layer(RequestBodyLimitLayer::new(bytes))
                .layer(DefaultBodyLimit::max(bytes)),
        )
    };
    match timeout {
        Some(timeout) => handler.layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        )),
        None => handler,
    }
}

/// The complete application router with every global layer.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = api_routes(&state).split_for_parts();
    openapi.info.version = env!("CARGO_PKG_VERSION").to_string();
    apidoc::describe_shared_layers(&mut openapi);
    let openapi = Arc::new(openapi);

    let app = api
        .with_state(state.clone())
        // The document describes the router just built, so it is handed to its route
        // (`docs::openapi`) afterwards.
        .layer(Extension(openapi))
        // Route layers run only for matched routes, so the route template is known. The
        // one added last runs first: access (each row's rule in `routes/table.rs`) decides
        // who is calling, then rate limiting charges that caller's budget. Unknown paths
        // fall through to the 404 below without either.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit::layer,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware::layer,
        ))
        // A bare 404: the error envelope renders it with the method and path.
        .fallback(|| async { StatusCode::NOT_FOUND });
    with_global_layers(app, &state)
}

/// The router served on a separate metrics listener.
pub fn metrics_router(state: AppState) -> Router {
    let app = Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(state.clone())
        .fallback(|| async {
            ApiError::new(ErrorCode::NotFound, "only /metrics is served here").into_response()
        });
    with_global_layers(app, &state)
}

/// Wraps `app` in the layers every Vigil response goes through (request id, security
/// headers, client address, access log and metrics, error envelope, panic catcher, CORS).
pub fn with_global_layers(app: Router, state: &AppState) -> Router {
    let settings = &state.settings;
    let security = Arc::new(SecurityHeaders::new(settings.hsts_enabled()));
    let trust = Arc::new(ProxyTrust {
        trusted: settings.server.trusted_proxies.clone(),
        tls: settings.tls.enabled(),
    });
    let metrics = state.metrics.clone();
    let panics = state.metrics.clone();

    let cors = (!settings.server.cors_origins.is_empty()).then(|| {
        let origins = settings
            .server
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect::<Vec<_>>();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("x-csrf-token"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderName::from_static("x-ratelimit-reset"),
                header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(600))
    });

    app.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn(middleware::request_id::layer))
            .layer(axum::middleware::from_fn_with_state(
                security,
                middleware::security_headers::layer,
            ))
            .layer(axum::middleware::from_fn_with_state(
                trust,
                middleware::client_ip::layer,
            ))
            .layer(axum::middleware::from_fn_with_state(
                metrics,
                middleware::access_log::layer,
            ))
            .layer(axum::middleware::from_fn(middleware::error_envelope::layer))
            .layer(CatchPanicLayer::custom(
                move |panic: Box<dyn std::any::Any + Send>| {
                    let detail = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("non-string panic payload");
                    panics.panics.inc();
                    ApiError::internal(anyhow::anyhow!("handler panicked: {detail}"))
                        .into_response()
                },
            ))
            .option_layer(cors),
    )
}
