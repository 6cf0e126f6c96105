//! The OpenAPI document (generated from the handlers' annotations) and the interactive
//! reference page (vendored Swagger UI, started from an external script so it runs
//! under our CSP).

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::assets;

/// `GET /api/v1/openapi.json`. The document is built from the router itself, so
/// [`crate::router`] hands it in as an extension once the router exists.
pub async fn openapi(Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>) -> Response {
    Json(doc.as_ref().clone()).into_response()
}

/// `GET /api/v1/docs`.
pub async fn page(headers: HeaderMap) -> Response {
    assets::serve("pages/docs.html", &headers)
}
