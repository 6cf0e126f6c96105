//! Uploaded media: images, video, audio and documents, stored as blobs under generated
//! names. The type is decided by sniffing the bytes; the client's file name is kept for
//! display only.
//!
//! Viewers may read, operators may write (see `auth::access`). Creating and deleting
//! are audited with the caller (`upload.create`, `upload.delete`). Bodies stream in and out
//! (see `vigil_core::uploads`); content downloads answer `Range` (see [`super::media`]).
//! Both transfer routes pass the media gate (`middleware::media_gate`).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_core::uploads::{sanitise_name, Read, Upload, UploadError, UploadId};
use vigil_core::Actor;

use crate::auth::middleware::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::routes::body::{
    field_chunks, file_body, next_field, no_file_field, raw_chunks, Binary, FileBody, FileForm,
};
use crate::routes::media;
use crate::state::AppState;

/// An upload as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    /// Id.
    pub id: String,
    /// Content type sniffed from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the bytes, lowercase hex (also the content's `ETag`).
    pub sha256: String,
    /// Display name sent by the client, sanitised.
    pub name: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl From<Upload> for UploadView {
    fn from(u: Upload) -> Self {
        UploadView {
            id: u.id.as_str().to_string(),
            content_type: u.content_type,
            size_bytes: u.size_bytes,
            sha256: u.sha256,
            name: u.name,
            created_at: u.created_at,
        }
    }
}

fn parse_id(id: &str) -> ApiResult<UploadId> {
    UploadId::parse(id).map_err(|_| ApiError::not_found("upload"))
}

/// Store a file: multipart field `file`, or the raw body, streamed to storage as it
/// arrives. The type is sniffed from the first bytes; images have the image size limit,
/// everything else the media limit. Returns its metadata.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads",
    request_body(description = "A form with a `file` field, or the file as the raw body (any type; the bytes decide)",
        content((FileForm = "multipart/form-data"), (Binary = "application/octet-stream"))),
    responses(
        (status = 201, description = "Stored", body = UploadView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Type not accepted", body = ErrorBody),
        (status = 422, description = "Empty, or a form without a `file` field", body = ErrorBody),
        (status = 429, description = "Too many media transfers for this caller", body = ErrorBody),
        (status = 503, description = "Too many media transfers on the server", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    req: Request,
) -> ApiResult<Response> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let upload = match file_body(&state, req).await? {
        FileBody::Raw(body) => state.uploads.create(&actor, raw_chunks(body), None).await?,
        FileBody::Multipart(mut form) => loop {
            let Some(field) = next_field(&mut form).await? else {
                return Err(no_file_field());
            };
            if field.name() == Some("file") {
                let name = field.file_name().and_then(sanitise_name);
                break state
                    .uploads
                    .create(&actor, field_chunks(field), name)
                    .await?;
            }
        },
    };
    tracing::info!(upload = %upload.id, size = upload.size_bytes, kind = %upload.content_type, "upload stored");
    Ok((StatusCode::CREATED, Json(UploadView::from(upload))).into_response())
}

/// Listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// At most this many (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Only uploads created before this time (Unix ms), for paging.
    pub before: Option<i64>,
}

/// Newest uploads first.
#[utoipa::path(get, path = "/api/v1/uploads", tag = "uploads", params(ListParams),
    responses((status = 200, description = "Uploads", body = [UploadView]),
              (status = 422, description = "`limit` is outside 1–500", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Vec<UploadView>>> {
    let rows = state.uploads.list(params.limit, params.before).await?;
    Ok(Json(rows.into_iter().map(UploadView::from).collect()))
}

/// One upload's metadata.
#[utoipa::path(get, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    responses((status = 200, description = "The upload", body = UploadView),
              (status = 404, description = "No such upload", body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadView>> {
    let upload = state.uploads.get(&parse_id(&id)?).await?;
    Ok(Json(upload.into()))
}

/// The stored bytes, streamed: the whole file (200) or one byte range (206, `Range:
/// bytes=a-b`, `a-` or `-n`); 416 with `Content-Range: bytes */LEN` for a range outside
/// the file; a multi-range request gets the whole file. `ETag` is the SHA-256;
/// `If-None-Match` answers 304.
#[utoipa::path(get, path = "/api/v1/uploads/{id}/content", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    responses((status = 200, description = "The bytes, with the upload's content type", content((Binary = "*/*"))),
              (status = 206, description = "The requested range", content((Binary = "*/*"))),
              (status = 304, description = "Not modified"),
              (status = 404, description = "No such upload", body = ErrorBody),
              (status = 416, description = "Range not satisfiable", body = ErrorBody),
              (status = 429, description = "Too many media transfers for this caller", body = ErrorBody),
              (status = 503, description = "Too many media transfers on the server", body = ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let request = media::read_request(&method, &headers);
    match state.uploads.read(&parse_id(&id)?, request).await {
        Ok(Read::Content(content)) => Ok(media::content_response(content)),
        Ok(Read::NotModified(upload)) => Ok(media::not_modified(&upload)),
        Err(e @ UploadError::RangeNotSatisfiable { size }) => {
            Ok(media::unsatisfiable(size, e.into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Changes to an upload's metadata.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadPatch {
    /// New display name (1–200 printable characters), or null to clear it.
    pub name: Option<String>,
}

/// Renames an upload (display name only).
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    request_body = UploadPatch,
    responses((status = 200, description = "Updated", body = UploadView),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 404, description = "No such upload", body = ErrorBody),
              (status = 422, description = "Invalid name", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UploadPatch>,
) -> ApiResult<Json<UploadView>> {
    let id = parse_id(&id)?;
    let name = patch.name.as_deref().map(str::trim);
    let upload = state.uploads.rename(&id, name).await?;
    Ok(Json(upload.into()))
}

/// Deletes an upload and its bytes.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such upload", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    state.uploads.delete(&actor, &parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
