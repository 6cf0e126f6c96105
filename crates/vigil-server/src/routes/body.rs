//! Reading an uploaded file from a request: a multipart form's `file` field, or the raw
//! body. Shared by every route that takes a file.
//!
//! Two ways: [`read_file`] buffers the file (for small, capped bodies such as an image
//! to analyse); [`file_body`] + [`field_chunks`]/[`raw_chunks`] hand it on as a stream
//! of chunks, for media of any size.

use axum::body::{Body, Bytes};
use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use futures::{Stream, TryStreamExt};
use utoipa::ToSchema;
use vigil_core::uploads::BodyError;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

pub use vigil_core::uploads::sanitise_name;

/// OpenAPI schema of a file sent or answered as the raw body: any bytes.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

/// OpenAPI schema of a `multipart/form-data` body carrying one file.
#[derive(Debug, ToSchema)]
pub struct FileForm {
    /// The file; its file name, if any, is kept (sanitised) for display.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A request body that carries one file, not yet read.
#[derive(Debug)]
pub enum FileBody {
    /// A `multipart/form-data` form; the file is its `file` field ([`field_chunks`]).
    Multipart(Multipart),
    /// The raw body is the file ([`raw_chunks`]).
    Raw(Body),
}

/// Decides how `req` carries its file, without reading it.
pub async fn file_body(state: &AppState, req: Request) -> ApiResult<FileBody> {
    if is_multipart(&req) {
        let form = Multipart::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("bad multipart body: {}", e.body_text()),
            )
        })?;
        Ok(FileBody::Multipart(form))
    } else {
        Ok(FileBody::Raw(req.into_body()))
    }
}

/// The form's next field (callers look for the one named `file`).
pub async fn next_field(form: &mut Multipart) -> ApiResult<Option<Field<'_>>> {
    form.next_field().await.map_err(multipart_error)
}

/// The error for a form without a `file` field.
pub fn no_file_field() -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, "the form has no `file` field")
}

/// A multipart field as a stream of chunks (read with `Field::chunk`); the body limit's
/// refusal becomes [`BodyError::TooLarge`].
pub fn field_chunks(field: Field<'_>) -> impl Stream<Item = Result<Bytes, BodyError>> + Send + '_ {
    futures::stream::try_unfold(field, |mut field| async move {
        match field.chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, field))),
            Ok(None) => Ok(None),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(BodyError::TooLarge),
            Err(e) => Err(BodyError::Malformed(format!(
                "bad multipart body: {}",
                e.body_text()
            ))),
        }
    })
}

/// A raw body as a stream of chunks; a body-limit layer's refusal becomes
/// [`BodyError::TooLarge`].
pub fn raw_chunks(body: Body) -> impl Stream<Item = Result<Bytes, BodyError>> + Send {
    body.into_data_stream().map_err(|e| {
        let inner = e.into_inner();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
        while let Some(err) = cause {
            if err.is::<http_body_util::LengthLimitError>() {
                return BodyError::TooLarge;
            }
            cause = err.source();
        }
        BodyError::Malformed("the body could not be read".into())
    })
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The file's bytes and its sanitised display name (multipart only).
pub async fn read_file(state: &AppState, req: Request) -> ApiResult<(Bytes, Option<String>)> {
    if is_multipart(&req) {
        let mut form = Multipart::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("bad multipart body: {}", e.body_text()),
            )
        })?;
        while let Some(field) = form.next_field().await.map_err(multipart_error)? {
            if field.name() == Some("file") {
                let name = field.file_name().and_then(sanitise_name);
                let data = field.bytes().await.map_err(multipart_error)?;
                return Ok((data, name));
            }
        }
        Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "the form has no `file` field",
        ))
    } else {
        let data = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the body is larger than this route accepts",
                )
            } else {
                ApiError::new(ErrorCode::BadRequest, "the body could not be read")
            }
        })?;
        Ok((data, None))
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the upload is larger than this route accepts",
        )
    } else {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("bad multipart body: {}", e.body_text()),
        )
    }
}
