//! Violations (one per person seen without a mask) and compliance statistics. Viewers
//! read, operators acknowledge and delete. The use cases are `vigil_core::cameras`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_core::cameras::{StatsQuery, StatsReport, ViolationPage, ViolationQuery, ViolationView};
use vigil_core::Actor;

use super::cameras::cameras;
use crate::auth::middleware::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::state::AppState;

/// Most rows in one CSV export.
const EXPORT_CAP: i64 = 100_000;

/// Violations, newest first, with filters; page with `before` = the previous page's
/// `next_before`.
#[utoipa::path(get, path = "/api/v1/violations", tag = "violations", params(ViolationQuery),
    responses((status = 200, description = "A page of violations", body = ViolationPage),
              (status = 422, description = "Bad filter", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ViolationQuery>,
) -> ApiResult<Json<ViolationPage>> {
    Ok(Json(cameras(&state)?.violations(&query).await?))
}

/// The same filters as the listing, as CSV (at most 100 000 rows, newest first).
#[utoipa::path(get, path = "/api/v1/violations/export.csv", tag = "violations", params(ViolationQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String),
              (status = 422, description = "Bad filter", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ViolationQuery>,
) -> ApiResult<Response> {
    let items = cameras(&state)?
        .violations_for_export(&query, EXPORT_CAP)
        .await?;
    let mut out = Vec::new();
    vigil_core::cameras::write_csv(&mut out, &items);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"violations.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// One violation.
#[utoipa::path(get, path = "/api/v1/violations/{id}", tag = "violations",
    params(("id" = String, Path, description = "Violation id")),
    responses((status = 200, description = "The violation", body = ViolationView),
              (status = 404, description = "No such violation", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ViolationView>> {
    Ok(Json(cameras(&state)?.violation(&id).await?))
}

async fn picture(state: &AppState, id: &str, face: bool) -> ApiResult<Response> {
    let jpeg = cameras(state)?.violation_picture(id, face).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}

/// The frame that raised the violation, with the face's box drawn.
#[utoipa::path(get, path = "/api/v1/violations/{id}/frame.jpg", tag = "violations",
    params(("id" = String, Path, description = "Violation id")),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg", body = crate::routes::body::Binary),
              (status = 404, description = "No such violation or picture", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn frame(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    picture(&state, &id, false).await
}

/// The face, cropped with a margin.
#[utoipa::path(get, path = "/api/v1/violations/{id}/face.jpg", tag = "violations",
    params(("id" = String, Path, description = "Violation id")),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg", body = crate::routes::body::Binary),
              (status = 404, description = "No such violation or picture", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn face(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    picture(&state, &id, true).await
}

/// An acknowledgement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// What was done about it (up to 1000 characters).
    #[serde(default)]
    pub note: String,
}

/// Acknowledge a violation (by the caller, now, with a note).
#[utoipa::path(post, path = "/api/v1/violations/{id}/acknowledge", tag = "violations",
    request_body = AckRequest,
    params(("id" = String, Path, description = "Violation id")),
    responses((status = 200, description = "Acknowledged", body = ViolationView),
              (status = 404, description = "No such violation", body = ErrorBody),
              (status = 422, description = "Note too long", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn acknowledge(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AckRequest>,
) -> ApiResult<Json<ViolationView>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    Ok(Json(
        cameras(&state)?
            .acknowledge(&actor, &id, &request.note)
            .await?,
    ))
}

/// Delete a violation and its pictures.
#[utoipa::path(delete, path = "/api/v1/violations/{id}", tag = "violations",
    params(("id" = String, Path, description = "Violation id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such violation", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    cameras(&state)?.delete_violation(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Compliance statistics per camera and minute, hour or day (UTC): frames, faces,
/// mask / no mask, people, violations, compliance rate; totals over the range. Answers
/// are reused for about a second.
#[utoipa::path(get, path = "/api/v1/stats", tag = "violations", params(StatsQuery),
    responses((status = 200, description = "Statistics", body = StatsReport),
              (status = 422, description = "Bad range", body = ErrorBody),
              (status = 503, description = "Cameras unavailable", body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> ApiResult<Json<StatsReport>> {
    Ok(Json(cameras(&state)?.stats(&query).await?))
}
