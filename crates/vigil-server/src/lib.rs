//! Vigil's HTTP layer: the router, its middleware, the handlers, and the listeners
//! (plain HTTP, native TLS with hot certificate reload, an HTTP→HTTPS redirector and an
//! optional separate metrics port).
//!
//! Seams: [`router`] builds the complete `Router` from an [`AppState`] (tests may call it
//! directly); [`Application::build`] opens storage and binds the listeners (port 0 gives
//! a random port); [`Application::run_until_stopped`] serves until a shutdown future
//! resolves, then drains in-flight requests within the configured grace period.
//!
//! No inference or SQL lives here: handlers call `vigil-store` (and later the engine).

pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
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
use axum::routing::get;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult, ErrorCode};
pub use serve::{shutdown_signal, Application};
pub use state::AppState;
pub use tls::install_crypto_provider;

use middleware::client_ip::ProxyTrust;
use middleware::security_headers::SecurityHeaders;
use routes::{
    analyze, apikeys, assets, audit, auth as auth_routes, console, docs, events, health, uploads,
    users,
};

/// The OpenAPI document's fixed parts; paths are collected from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Vigil API", description = "Self-hosted AI server for cameras and media."),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "auth", description = "Sign-in, sessions, TOTP, one's own account, access policy"),
        (name = "users", description = "User administration (admins)"),
        (name = "apikeys", description = "API keys for applications (admins)"),
        (name = "uploads", description = "Uploaded media (images, video, audio, documents)"),
        (name = "vision", description = "Face detection, mask classification, embeddings, liveness"),
        (name = "audit", description = "The tamper-evident audit log: listing and CSV export (admins)"),
        (name = "events", description = "Live events over Server-Sent Events and WebSocket, resumable"),
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, error::ErrorCode))
)]
struct ApiDoc;

/// The API routes with their OpenAPI description, before state and global layers.
pub fn api_routes(state: &AppState) -> OpenApiRouter<AppState> {
    let limits = &state.settings.limits;
    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    // Media uploads may be large and slow; they get their own limits.
    let media_timeout = timeout.max(Duration::from_secs(600));

    let small = ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.json_body_bytes))
        .layer(DefaultBodyLimit::max(limits.json_body_bytes));
    let media_limit = limits.media_upload_bytes.max(limits.image_upload_bytes);
    let media = ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            media_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(media_limit))
        .layer(DefaultBodyLimit::max(media_limit));
    // Transfers of media (in and out) pass the media gate; see `middleware::media_gate`.
    let gate =
        || axum::middleware::from_fn_with_state(state.clone(), middleware::media_gate::layer);

    let operations = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz));
    let operations = if state.settings.server.metrics_listen.is_none() {
        operations.routes(routes!(health::metrics))
    } else {
        operations
    };
    let identity = OpenApiRouter::new()
        .routes(routes!(auth_routes::login))
        .routes(routes!(auth_routes::logout))
        .routes(routes!(auth_routes::me))
        .routes(routes!(auth_routes::change_password))
        .routes(routes!(auth_routes::totp_enroll))
        .routes(routes!(auth_routes::totp_confirm))
        .routes(routes!(auth_routes::totp_disable))
        .routes(routes!(auth_routes::my_sessions))
        .routes(routes!(auth_routes::revoke_my_session))
        .routes(routes!(auth_routes::bootstrap))
        .routes(routes!(auth_routes::reset))
        .routes(routes!(auth_routes::get_policy, auth_routes::put_policy))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get_one, users::update, users::delete))
        .routes(routes!(users::reset_link))
        .routes(routes!(users::list_sessions, users::revoke_sessions))
        .routes(routes!(users::revoke_session))
        .routes(routes!(apikeys::list, apikeys::create))
        .routes(routes!(apikeys::revoke));
    let small_routes = operations
        .merge(identity)
        .routes(routes!(uploads::list))
        .routes(routes!(uploads::get_one, uploads::update, uploads::delete))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export_csv))
        .layer(small);
    let media_routes = OpenApiRouter::new()
        .routes(routes!(uploads::create))
        .layer(media)
        .layer(gate());
    // Downloads stream after the handler returns, so the timeout covers only finding
    // and opening the file; the gate's permit rides in the body until it is sent.
    let media_reads = OpenApiRouter::new()
        .routes(routes!(uploads::content))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(gate());
    let image_limit = limits.image_upload_bytes;
    let image_routes = OpenApiRouter::new()
        .routes(routes!(analyze::analyze))
        .layer(
            ServiceBuilder::new()
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    timeout,
                ))
                .layer(RequestBodyLimitLayer::new(image_limit))
                .layer(DefaultBodyLimit::max(image_limit)),
        );

    // Event streams are long-lived by design: no request timeout, no body.
    let stream_routes = OpenApiRouter::new()
        .routes(routes!(events::stream))
        .routes(routes!(events::websocket))
        .layer(DefaultBodyLimit::max(0));

    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(small_routes)
        .merge(stream_routes)
        .merge(media_routes)
        .merge(media_reads)
        .merge(image_routes)
}

/// The complete application router with every global layer.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = api_routes(&state).split_for_parts();
    openapi.info.version = env!("CARGO_PKG_VERSION").to_string();
    let openapi = Arc::new(openapi);

    let console = Router::new()
        .route("/", get(console::home))
        .route("/login", get(console::login))
        .route("/setup", get(console::setup))
        .route("/reset", get(console::reset))
        .route("/account", get(console::account))
        .route("/admin/users", get(console::admin_users))
        .route("/admin/apikeys", get(console::admin_apikeys))
        .route("/admin/audit", get(console::admin_audit))
        .with_state(state.clone());
    let pages = Router::new()
        .merge(console)
        .route("/assets/{*path}", get(assets::asset))
        .route("/api/v1/docs", get(docs::page))
        .route(
            "/api/v1/openapi.json",
            get(docs::openapi).with_state(openapi),
        )
        .layer(
            ServiceBuilder::new()
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(state.settings.server.request_timeout_secs),
                ))
                .layer(RequestBodyLimitLayer::new(
                    state.settings.limits.json_body_bytes,
                )),
        );

    let app = api
        .with_state(state.clone())
        .merge(pages)
        // Route layers run only for matched routes, so the route template is known. The
        // one added last runs first: access (`auth::access::RULES`) decides who is
        // calling, then rate limiting charges that caller's budget. Unknown paths fall
        // through to the 404 below without either.
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
