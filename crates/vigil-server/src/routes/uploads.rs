//! Uploaded media: images, video, audio and documents, stored as blobs under generated
//! names. The type is decided by sniffing the bytes; the client's file name is kept for
//! display only.
//!
//! Viewers may read, operators may write (see `auth::access`).

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_store::uploads::{self, NewUpload, Upload};

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::body::{read_file, sanitise_name};
use crate::state::AppState;

/// Content types accepted, by sniffed MIME type.
const ACCEPTED: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/webm",
    "video/x-matroska",
    "video/quicktime",
    "video/x-msvideo",
    "audio/x-wav",
    "audio/mpeg",
    "audio/ogg",
    "audio/x-flac",
    "audio/m4a",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
];

/// An upload as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    /// Id.
    pub id: String,
    /// Content type sniffed from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Display name sent by the client, sanitised.
    pub name: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl From<Upload> for UploadView {
    fn from(u: Upload) -> Self {
        UploadView {
            id: u.id,
            content_type: u.content_type,
            size_bytes: u.size_bytes,
            sha256: u.sha256,
            name: u.original_name,
            created_at: u.created_at,
        }
    }
}

fn valid_id(id: &str) -> ApiResult<()> {
    if vigil_store::BlobKey::parse(id).is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found("upload"))
    }
}

fn sniff(data: &[u8], limit_image: usize) -> ApiResult<String> {
    if data.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "the upload is empty",
        ));
    }
    let Some(kind) = infer::get(data) else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the file type could not be recognised; send an image, video, audio file, PDF or DOCX",
        ));
    };
    let mime = kind.mime_type();
    if !ACCEPTED.contains(&mime) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("files of type {mime} are not accepted"),
        ));
    }
    if mime.starts_with("image/") && data.len() > limit_image {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("images may be at most {limit_image} bytes"),
        ));
    }
    Ok(mime.to_string())
}

/// Store a file: multipart field `file`, or the raw body. Returns its metadata.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads",
    request_body(content_type = "multipart/form-data", description = "A `file` field, or any raw body"),
    responses(
        (status = 201, description = "Stored", body = UploadView),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Type not accepted", body = ErrorBody),
    ))]
pub async fn create(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    let (data, name) = read_file(&state, req).await?;
    let content_type = sniff(&data, state.settings.limits.image_upload_bytes)?;
    let upload = uploads::create(
        &state.db,
        state.blobs.as_ref(),
        NewUpload {
            data,
            content_type,
            original_name: name,
        },
    )
    .await?;
    tracing::info!(upload = %upload.id, size = upload.size_bytes, kind = %upload.content_type, "upload stored");
    Ok((StatusCode::CREATED, Json(UploadView::from(upload))).into_response())
}

/// Listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// At most this many (1–500, default 50).
    pub limit: Option<i64>,
    /// Only uploads created before this time (Unix ms), for paging.
    pub before: Option<i64>,
}

/// Newest uploads first.
#[utoipa::path(get, path = "/api/v1/uploads", tag = "uploads", params(ListParams),
    responses((status = 200, description = "Uploads", body = [UploadView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Vec<UploadView>>> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "limit must be between 1 and 500",
        ));
    }
    let rows = uploads::list(&state.db, limit, params.before).await?;
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
    valid_id(&id)?;
    let upload = uploads::get(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    Ok(Json(upload.into()))
}

/// The stored bytes, as an attachment with the sniffed type.
#[utoipa::path(get, path = "/api/v1/uploads/{id}/content", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    responses((status = 200, description = "The bytes"),
              (status = 404, description = "No such upload", body = ErrorBody)))]
pub async fn content(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    valid_id(&id)?;
    let upload = uploads::get(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    let data = state
        .blobs
        .get(&upload.blob_key)
        .await
        .map_err(|e| ApiError::unavailable("storage", e))?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "blob {} of upload {} is missing",
                upload.blob_key,
                upload.id
            ))
        })?;
    let content_type = HeaderValue::from_str(&upload.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        data,
    )
        .into_response())
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
    valid_id(&id)?;
    let name = match patch.name.as_deref() {
        None => None,
        Some(raw) => {
            let clean = sanitise_name(raw)
                .filter(|c| c == raw.trim() && raw.chars().count() <= 200)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ValidationFailed,
                        "name must be 1–200 printable characters without slashes",
                    )
                })?;
            Some(clean)
        }
    };
    let upload = uploads::rename(&state.db, &id, name.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    Ok(Json(upload.into()))
}

/// Deletes an upload and its bytes.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such upload", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    valid_id(&id)?;
    if uploads::delete(&state.db, state.blobs.as_ref(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("upload"))
    }
}
