//! Reading an uploaded file from a request: a multipart form's `file` field, or the raw
//! body. Shared by every route that takes a file.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// The file's bytes and its sanitised display name (multipart only).
pub async fn read_file(state: &AppState, req: Request) -> ApiResult<(Bytes, Option<String>)> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
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

/// Keeps a display name printable and path-free.
pub fn sanitise_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::sanitise_name;

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(sanitise_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            sanitise_name("C:\\x\\photo.jpg").as_deref(),
            Some("photo.jpg")
        );
        assert_eq!(sanitise_name("a\u{0}b\nc.png").as_deref(), Some("abc.png"));
        assert_eq!(sanitise_name(".."), None);
        assert_eq!(sanitise_name("dir/"), None);
    }
}
