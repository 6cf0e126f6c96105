use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a caller may do. Roles are ordered: each includes everything below it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads dashboards, results and history.
    Viewer,
    /// Also runs the system: uploads, analysis, cameras, sessions, jobs.
    Operator,
    /// Also manages users, API keys, policy and the audit log.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`: use admin, operator or viewer"
            )),
        }
    }
}

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person with a browser session (cookie).
    Session {
        /// The session's public id (safe to show and log; not the cookie value).
        session_id: String,
        /// The CSRF token that state-changing requests must echo.
        csrf_token: String,
        /// The session may only enrol TOTP until it does (policy requires TOTP).
        must_enroll_totp: bool,
    },
    /// An application with an API key.
    ApiKey,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id for sessions, key id for API keys.
    pub id: String,
    /// Username, or the key's name.
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// Session or API key.
    pub kind: PrincipalKind,
}

impl Principal {
    /// Whether this is a signed-in person (not an application key).
    pub fn is_user(&self) -> bool {
        matches!(self.kind, PrincipalKind::Session { .. })
    }

    /// The user id when this is a person.
    pub fn user_id(&self) -> Option<&str> {
        self.is_user().then_some(self.id.as_str())
    }
}
