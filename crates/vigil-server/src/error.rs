//! The public error contract: one table of codes, each with an HTTP status, and one JSON
//! shape for every error response:
//! `{"error":{"code":"not_found","message":"…","request_id":"…"}}`.
//!
//! Handlers return [`ApiError`]; the error-envelope middleware adds the request id and
//! turns every other error response (unknown route, wrong method, body too large,
//! timeout, panic) into the same shape. 5xx bodies are opaque; the cause is logged once,
//! in the envelope middleware, inside the request's span.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error code Vigil returns. The machine name is stable; clients may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed (bad query string, bad multipart…).
    BadRequest,
    /// The body is not valid JSON.
    InvalidJson,
    /// Authentication is required or failed.
    Unauthorized,
    /// Authenticated but not allowed.
    Forbidden,
    /// The password was right but a TOTP code (or recovery code) is needed.
    TotpRequired,
    /// A cookie-authenticated write without a valid CSRF token or from another origin.
    CsrfFailed,
    /// The role must use TOTP; this session may only enrol it (see `/account`).
    TotpEnrollmentRequired,
    /// No such resource or route.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The request took too long.
    RequestTimeout,
    /// The request conflicts with the current state.
    Conflict,
    /// The body is larger than this route accepts.
    PayloadTooLarge,
    /// The content type (declared or sniffed) is not accepted here.
    UnsupportedMediaType,
    /// The requested byte range lies outside the resource; `Content-Range: bytes */LEN`
    /// gives its length.
    RangeNotSatisfiable,
    /// The body is well-formed but its values are not acceptable (and no more specific
    /// code below applies).
    ValidationFailed,
    /// The username has characters or a length that are not allowed.
    InvalidUsername,
    /// The password is shorter than `auth.min_password_length`.
    PasswordTooShort,
    /// The password is longer than hashing accepts.
    PasswordTooLong,
    /// The password equals the username.
    PasswordIsUsername,
    /// The password is too easy to guess (common, a keyboard walk, built from the
    /// username…); the message gives the estimator's reason and suggestions.
    PasswordTooWeak,
    /// A sensitive change (TOTP, API keys, reset links, password) needs the current
    /// password: the sign-in is older than `auth.reauth_window_secs`, or the caller is an
    /// API key, which cannot make such changes.
    ReauthRequired,
    /// The current password given to confirm a sensitive change is wrong (counted as a
    /// failed sign-in; repeated failures get 429).
    ReauthFailed,
    /// The API key name is empty, too long or has control characters.
    InvalidKeyName,
    /// The requested key lifetime is out of range.
    InvalidExpiry,
    /// TOTP confirmation before enrolment was started.
    TotpNotStarted,
    /// An audit-log filter value is out of range or malformed.
    InvalidFilter,
    /// The TOTP or recovery code is wrong, reused or out of time.
    InvalidTotpCode,
    /// The bootstrap or reset link is unknown, expired or already used.
    InvalidToken,
    /// An API key cannot have a higher role than its creator.
    RoleAboveCreator,
    /// Another user already has this username.
    UsernameTaken,
    /// The change would leave no enabled admin.
    LastAdmin,
    /// TOTP is already on.
    TotpAlreadyEnabled,
    /// The policy requires TOTP for this role; it cannot be turned off.
    TotpRequiredByPolicy,
    /// First-admin setup on a server that already has users.
    AlreadySetUp,
    /// Too many requests; see `Retry-After`.
    RateLimited,
    /// An unexpected server error (details are in the server log under the request id).
    Internal,
    /// A dependency (database, storage) is unavailable.
    ServiceUnavailable,
    /// The server is at capacity; retry after `Retry-After` seconds.
    Overloaded,
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidJson => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized
            | ErrorCode::TotpRequired
            | ErrorCode::InvalidTotpCode
            | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden
            | ErrorCode::CsrfFailed
            | ErrorCode::TotpEnrollmentRequired
            | ErrorCode::RoleAboveCreator
            | ErrorCode::ReauthRequired
            | ErrorCode::ReauthFailed => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Conflict
            | ErrorCode::UsernameTaken
            | ErrorCode::LastAdmin
            | ErrorCode::TotpAlreadyEnabled
            | ErrorCode::TotpRequiredByPolicy
            | ErrorCode::AlreadySetUp => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorCode::ValidationFailed
            | ErrorCode::InvalidUsername
            | ErrorCode::PasswordTooShort
            | ErrorCode::PasswordTooLong
            | ErrorCode::PasswordIsUsername
            | ErrorCode::PasswordTooWeak
            | ErrorCode::InvalidKeyName
            | ErrorCode::InvalidExpiry
            | ErrorCode::TotpNotStarted
            | ErrorCode::InvalidFilter => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServiceUnavailable | ErrorCode::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The code used for an error response some other layer produced with `status`.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            408 => ErrorCode::RequestTimeout,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            416 => ErrorCode::RangeNotSatisfiable,
            422 => ErrorCode::ValidationFailed,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::ServiceUnavailable,
            s if s >= 500 => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// The JSON error body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; never contains internals.
    pub message: String,
    /// The request id, also in the `X-Request-Id` header; quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Attached to error responses so the envelope middleware can render and log them.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// The code.
    pub code: ErrorCode,
    /// The client-facing message.
    pub message: String,
    /// The internal cause, logged, never sent.
    pub cause: Option<Arc<anyhow::Error>>,
}

/// Marks an error-status response whose body is already the intended answer (for
/// example `/readyz`'s 503 report); the error envelope leaves it untouched.
#[derive(Debug, Clone, Copy)]
pub struct FinalBody;

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    cause: Option<anyhow::Error>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a client-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            cause: None,
            retry_after: None,
        }
    }

    /// A 500 whose cause is logged and never shown.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        ApiError {
            code: ErrorCode::Internal,
            message: "an internal error occurred; the request id identifies it in the server log"
                .into(),
            cause: Some(cause.into()),
            retry_after: None,
        }
    }

    /// A 503 for a failing dependency; the cause is logged.
    pub fn unavailable(what: &str, cause: impl Into<anyhow::Error>) -> Self {
        ApiError {
            code: ErrorCode::ServiceUnavailable,
            message: format!("{what} is unavailable; try again shortly"),
            cause: Some(cause.into()),
            retry_after: Some(5),
        }
    }

    /// 404 for a named kind of resource.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl From<vigil_store::StoreError> for ApiError {
    fn from(e: vigil_store::StoreError) -> Self {
        use vigil_store::StoreError as S;
        match e {
            S::Database { .. } | S::Blob(_) => ApiError::unavailable("storage", e),
            other => ApiError::internal(other),
        }
    }
}

impl From<vigil_auth::AuthError> for ApiError {
    fn from(e: vigil_auth::AuthError) -> Self {
        vigil_core::Error::from(e).into()
    }
}

impl From<vigil_core::Error> for ApiError {
    /// The one mapping from use-case errors to the API's codes and statuses.
    fn from(e: vigil_core::Error) -> Self {
        use vigil_core::Error as E;
        let code = match &e {
            E::InvalidUsername => ErrorCode::InvalidUsername,
            E::PasswordTooShort { .. } => ErrorCode::PasswordTooShort,
            E::PasswordTooLong { .. } => ErrorCode::PasswordTooLong,
            E::PasswordIsUsername => ErrorCode::PasswordIsUsername,
            E::PasswordTooWeak(_) => ErrorCode::PasswordTooWeak,
            E::ReauthRequired(_) => ErrorCode::ReauthRequired,
            E::ReauthFailed => ErrorCode::ReauthFailed,
            E::InvalidKeyName => ErrorCode::InvalidKeyName,
            E::InvalidExpiry(_) => ErrorCode::InvalidExpiry,
            E::TotpNotStarted => ErrorCode::TotpNotStarted,
            E::InvalidFilter(_) => ErrorCode::InvalidFilter,
            E::Invalid(_) => ErrorCode::ValidationFailed,
            E::BadCredentials | E::Denied(_) => ErrorCode::Unauthorized,
            E::TotpRequired => ErrorCode::TotpRequired,
            E::InvalidTotpCode(_) => ErrorCode::InvalidTotpCode,
            E::InvalidToken => ErrorCode::InvalidToken,
            E::RoleAboveCreator => ErrorCode::RoleAboveCreator,
            E::NotFound(_) => ErrorCode::NotFound,
            E::UsernameTaken(_) => ErrorCode::UsernameTaken,
            E::LastAdmin => ErrorCode::LastAdmin,
            E::TotpAlreadyEnabled => ErrorCode::TotpAlreadyEnabled,
            E::TotpRequiredByPolicy => ErrorCode::TotpRequiredByPolicy,
            E::AlreadySetUp => ErrorCode::AlreadySetUp,
            E::Conflict(_) => ErrorCode::Conflict,
            E::Throttled { retry_after_secs } => {
                let wait = *retry_after_secs;
                return ApiError::new(ErrorCode::RateLimited, e.to_string()).with_retry_after(wait);
            }
            E::Storage(_) => return ApiError::from_store(e),
            E::Internal(_) => return ApiError::internal(e),
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<vigil_core::ids::InvalidId> for ApiError {
    /// A malformed id in a path names nothing: 404, as for an unknown one.
    fn from(e: vigil_core::ids::InvalidId) -> Self {
        vigil_core::Error::from(e).into()
    }
}

impl ApiError {
    /// A storage failure: 503 when the database or blob store is unreachable (worth a
    /// retry), else 500. Never "not found".
    fn from_store(e: vigil_core::Error) -> Self {
        match e {
            vigil_core::Error::Storage(s) => s.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<vigil_core::uploads::UploadError> for ApiError {
    fn from(e: vigil_core::uploads::UploadError) -> Self {
        use vigil_core::uploads::UploadError as U;
        let message = e.to_string();
        match e {
            U::Empty | U::InvalidName | U::InvalidLimit => {
                ApiError::new(ErrorCode::ValidationFailed, message)
            }
            U::UnrecognisedType | U::TypeNotAccepted(_) => {
                ApiError::new(ErrorCode::UnsupportedMediaType, message)
            }
            U::TooLarge { .. } => ApiError::new(ErrorCode::PayloadTooLarge, message),
            U::BadBody(_) => ApiError::new(ErrorCode::BadRequest, message),
            U::NotFound => ApiError::not_found("upload"),
            U::RangeNotSatisfiable { .. } => ApiError::new(ErrorCode::RangeNotSatisfiable, message),
            U::BlobMissing(_) => ApiError::internal(e),
            U::Staging(_) => ApiError::unavailable("storage", e),
            U::Store(s) => s.into(),
        }
    }
}

/// Renders the JSON body for `code`/`message` with an optional request id.
pub fn render(code: ErrorCode, message: &str, request_id: Option<&str>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail {
            code,
            message: message.to_string(),
            request_id: request_id.map(str::to_string),
        },
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.code.status(), render(self.code, &self.message, None)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message,
            cause: self.cause.map(Arc::new),
        });
        response
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
