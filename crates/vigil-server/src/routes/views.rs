//! How identity records appear in the API (with their OpenAPI schemas).

use serde::Serialize;
use utoipa::ToSchema;
use vigil_core::Session;

/// An API key as listed (never the key itself after creation).
pub use vigil_core::ApiKey as ApiKeyView;
/// A user account as listed (no password hash, no TOTP seed).
pub use vigil_core::User as UserView;

/// A session (never its cookie value).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Public id.
    pub id: String,
    /// Started, Unix ms.
    pub created_at: i64,
    /// Last request, Unix ms (to within 30 s).
    pub last_seen_at: i64,
    /// Absolute end, Unix ms.
    pub expires_at: i64,
    /// Address at sign-in.
    pub ip: Option<String>,
    /// Browser at sign-in.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl SessionView {
    /// The view of `s`; `current` is the caller's own session id, if any.
    pub fn new(s: Session, current: Option<&str>) -> Self {
        SessionView {
            current: current == Some(s.id.as_str()),
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}
