//! Request extractors whose rejections speak our error shape.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::error::{ApiError, ErrorCode};

/// `axum::Json` with rejections mapped to our codes: syntax errors → 400 `invalid_json`,
/// wrong types or missing fields → 422 `validation_failed`, wrong content type → 415.
///
/// Every body we take is a JSON object (the OpenAPI document says so); anything else is
/// 422. serde alone would also read a struct from an array of its fields in order, so
/// `[]` passed for a body whose fields are all optional (found by schemathesis).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // axum checks the content type, the size and the syntax.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "the JSON does not fit: the body must be a JSON object",
            ));
        }
        serde_json::from_value(value).map(ApiJson).map_err(|e| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                format!("the JSON does not fit: {e}"),
            )
        })
    }
}

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

/// A JSON body that may be left out: no body at all gives `T::default()`, anything else
/// is read like [`ApiJson`] (same codes). For routes whose body holds only optional
/// fields, such as a confirmation password (`POST /api/v1/auth/totp/enroll`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let declared_empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            == Some("0");
        let no_type = !req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        if declared_empty || no_type {
            // Without a content type, only an empty body is acceptable.
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(OptionalJson(value))
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
