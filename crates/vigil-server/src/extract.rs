//! Request extractors whose rejections speak our error shape.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::error::{ApiError, ErrorCode};

/// `axum::Json` with rejections mapped to our codes: syntax errors → 400 `invalid_json`,
/// wrong types or missing fields → 422 `validation_failed`, wrong content type → 415.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {}", inner(&e.body_text())),
            ),
            JsonRejection::JsonDataError(e) => ApiError::new(
                ErrorCode::ValidationFailed,
                format!("the JSON does not fit: {}", inner(&e.body_text())),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e)
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the body is larger than this route accepts",
                )
            }
            other => ApiError::new(
                ErrorCode::BadRequest,
                format!("cannot read the body: {}", other.body_text()),
            ),
        }
    }
}

/// `axum::extract::Query` with a 400 `bad_request` rejection in our shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("bad query string: {}", inner(&rejection.body_text())),
        )
    }
}

/// axum's rejection text repeats a generic prefix before the serde message; keep the
/// part that tells the client what to fix.
fn inner(text: &str) -> String {
    text.rsplit_once(": ")
        .map(|(_, tail)| tail)
        .unwrap_or(text)
        .to_string()
}
