//! The OpenAPI document (generated from the handlers' annotations) and the interactive
//! reference page (vendored Swagger UI, started from an external script so it runs
//! under our CSP).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::assets;

/// `GET /api/v1/openapi.json`.
pub async fn openapi(State(doc): State<Arc<utoipa::openapi::OpenApi>>) -> Response {
    Json(doc.as_ref().clone()).into_response()
}

/// `GET /api/v1/docs`.
pub async fn page(headers: HeaderMap) -> Response {
    assets::serve("pages/docs.html", &headers)
}
