//! What an audit record says: who acted ([`Actor`]), what they did ([`AuditAction`]),
//! to what and with which outcome ([`Event`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Principal, PrincipalKind};

/// What kind of caller acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A signed-in person.
    User,
    /// An application key.
    ApiKey,
    /// The command line on the server (`vigil user add`…).
    Cli,
    /// Vigil itself (start-up, retention…).
    System,
    /// Nobody authenticated (for example a failed login).
    Anonymous,
}

impl ActorKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "apikey",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// Who acted and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Kind of caller.
    pub kind: ActorKind,
    /// User or key id.
    pub id: Option<String>,
    /// Username or key name (kept even if the user is later deleted).
    pub name: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

impl Actor {
    /// The actor for an authenticated principal.
    pub fn principal(p: &Principal, ip: Option<String>) -> Actor {
        Actor {
            kind: match p.kind {
                PrincipalKind::Session { .. } => ActorKind::User,
                PrincipalKind::ApiKey => ActorKind::ApiKey,
            },
            id: Some(p.id.clone()),
            name: Some(p.name.clone()),
            ip,
        }
    }

    /// An unauthenticated caller, optionally naming who they claimed to be.
    pub fn anonymous(claimed_name: Option<String>, ip: Option<String>) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: None,
            name: claimed_name,
            ip,
        }
    }

    /// The command line.
    pub fn cli() -> Actor {
        let name = std::env::var("USER").ok();
        Actor {
            kind: ActorKind::Cli,
            id: None,
            name,
            ip: None,
        }
    }

    /// Vigil itself.
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: None,
            ip: None,
        }
    }
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and refused or failed.
    Failure,
}

impl Outcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Outcome::Success),
            "failure" => Ok(Outcome::Failure),
            other => Err(format!("unknown outcome {other:?}; use success or failure")),
        }
    }
}

/// Every action the audit log records. The stored name ([`AuditAction::as_str`], also
/// the serde form) is part of each record's MAC, so a name, once shipped, never changes:
/// records written before this enum existed still verify. Adding an action is one
/// variant here and one line in each `match` below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    /// A password (and possibly TOTP) login, successful or not.
    #[serde(rename = "auth.login")]
    AuthLogin,
    /// A session ended by its owner.
    #[serde(rename = "auth.logout")]
    AuthLogout,
    /// A user account was created.
    #[serde(rename = "user.create")]
    UserCreate,
    /// A user's role or enabled state changed.
    #[serde(rename = "user.update")]
    UserUpdate,
    /// A user was deleted.
    #[serde(rename = "user.delete")]
    UserDelete,
    /// A password was set through a reset link or by an administrator.
    #[serde(rename = "user.password_reset")]
    UserPasswordReset,
    /// A user changed their own password.
    #[serde(rename = "user.password_change")]
    UserPasswordChange,
    /// The first administrator was created with the bootstrap token.
    #[serde(rename = "user.bootstrap")]
    UserBootstrap,
    /// An administrator issued a password-reset link.
    #[serde(rename = "user.reset_link")]
    UserResetLink,
    /// An API key was created.
    #[serde(rename = "apikey.create")]
    ApiKeyCreate,
    /// An API key was revoked.
    #[serde(rename = "apikey.revoke")]
    ApiKeyRevoke,
    /// TOTP enrolment was started (a secret issued, not yet confirmed).
    #[serde(rename = "totp.enroll_start")]
    TotpEnrollStart,
    /// TOTP was confirmed and switched on.
    #[serde(rename = "totp.enable")]
    TotpEnable,
    /// TOTP was switched off.
    #[serde(rename = "totp.disable")]
    TotpDisable,
    /// One session was revoked.
    #[serde(rename = "session.revoke")]
    SessionRevoke,
    /// Every session of a user was revoked.
    #[serde(rename = "session.revoke_all")]
    SessionRevokeAll,
    /// The access policy (which roles must use TOTP) changed.
    #[serde(rename = "policy.update")]
    PolicyUpdate,
    /// A password re-entered to confirm a sensitive change (recorded when wrong).
    #[serde(rename = "auth.reauth")]
    AuthReauth,
    /// A file was uploaded.
    #[serde(rename = "upload.create")]
    UploadCreate,
    /// An upload was deleted.
    #[serde(rename = "upload.delete")]
    UploadDelete,
    /// A request was refused with 403 (role, CSRF, re-authentication…); sampled: the
    /// first per caller, route and minute, then one record counting the rest.
    #[serde(rename = "access.denied")]
    AccessDenied,
    /// The audit log was read (a page of the listing).
    #[serde(rename = "audit.read")]
    AuditRead,
    /// The audit log was exported as CSV.
    #[serde(rename = "audit.export")]
    AuditExport,
    /// A camera was added.
    #[serde(rename = "camera.create")]
    CameraCreate,
    /// A camera's settings or URL changed.
    #[serde(rename = "camera.update")]
    CameraUpdate,
    /// A camera was removed (with its violations).
    #[serde(rename = "camera.delete")]
    CameraDelete,
    /// A camera was started or stopped by hand.
    #[serde(rename = "camera.control")]
    CameraControl,
    /// A violation was acknowledged.
    #[serde(rename = "violation.acknowledge")]
    ViolationAcknowledge,
    /// A violation was deleted.
    #[serde(rename = "violation.delete")]
    ViolationDelete,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: [AuditAction; 29] = [
        AuditAction::AuthLogin,
        AuditAction::AuthLogout,
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::UserDelete,
        AuditAction::UserPasswordReset,
        AuditAction::UserPasswordChange,
        AuditAction::UserBootstrap,
        AuditAction::UserResetLink,
        AuditAction::ApiKeyCreate,
        AuditAction::ApiKeyRevoke,
        AuditAction::TotpEnrollStart,
        AuditAction::TotpEnable,
        AuditAction::TotpDisable,
        AuditAction::SessionRevoke,
        AuditAction::SessionRevokeAll,
        AuditAction::PolicyUpdate,
        AuditAction::AuthReauth,
        AuditAction::UploadCreate,
        AuditAction::UploadDelete,
        AuditAction::AccessDenied,
        AuditAction::AuditRead,
        AuditAction::AuditExport,
        AuditAction::CameraCreate,
        AuditAction::CameraUpdate,
        AuditAction::CameraDelete,
        AuditAction::CameraControl,
        AuditAction::ViolationAcknowledge,
        AuditAction::ViolationDelete,
    ];

    /// The stored, dotted name (`auth.login`); what filters and events match on.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::AuthLogin => "auth.login",
            AuditAction::AuthLogout => "auth.logout",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserUpdate => "user.update",
            AuditAction::UserDelete => "user.delete",
            AuditAction::UserPasswordReset => "user.password_reset",
            AuditAction::UserPasswordChange => "user.password_change",
            AuditAction::UserBootstrap => "user.bootstrap",
            AuditAction::UserResetLink => "user.reset_link",
            AuditAction::ApiKeyCreate => "apikey.create",
            AuditAction::ApiKeyRevoke => "apikey.revoke",
            AuditAction::TotpEnrollStart => "totp.enroll_start",
            AuditAction::TotpEnable => "totp.enable",
            AuditAction::TotpDisable => "totp.disable",
            AuditAction::SessionRevoke => "session.revoke",
            AuditAction::SessionRevokeAll => "session.revoke_all",
            AuditAction::PolicyUpdate => "policy.update",
            AuditAction::AuthReauth => "auth.reauth",
            AuditAction::UploadCreate => "upload.create",
            AuditAction::UploadDelete => "upload.delete",
            AuditAction::AccessDenied => "access.denied",
            AuditAction::AuditRead => "audit.read",
            AuditAction::AuditExport => "audit.export",
            AuditAction::CameraCreate => "camera.create",
            AuditAction::CameraUpdate => "camera.update",
            AuditAction::CameraDelete => "camera.delete",
            AuditAction::CameraControl => "camera.control",
            AuditAction::ViolationAcknowledge => "violation.acknowledge",
            AuditAction::ViolationDelete => "violation.delete",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown audit action {s:?}"))
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What was done.
    pub action: AuditAction,
    /// Kind of thing acted on (`user`, `apikey`, `session`…).
    pub target_kind: Option<&'static str>,
    /// Its id.
    pub target_id: Option<String>,
    /// Success or failure.
    pub outcome: Outcome,
    /// Extra facts (never secrets), as a JSON object.
    pub detail: serde_json::Value,
}

impl Event {
    /// A successful `action` with no target.
    pub fn new(action: AuditAction) -> Event {
        Event {
            action,
            target_kind: None,
            target_id: None,
            outcome: Outcome::Success,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// Sets the target.
    pub fn target(mut self, kind: &'static str, id: impl Into<String>) -> Event {
        self.target_kind = Some(kind);
        self.target_id = Some(id.into());
        self
    }

    /// Marks the event a failure.
    pub fn failed(mut self) -> Event {
        self.outcome = Outcome::Failure;
        self
    }

    /// Adds a detail field.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Event {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(key.to_string(), value.into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_through_as_str_serde_and_from_str() {
        for action in AuditAction::ALL {
            let name = action.as_str();
            assert_eq!(name.parse::<AuditAction>().unwrap(), action);
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::json!(name)
            );
            assert_eq!(action.to_string(), name);
        }
        assert!("user.nope".parse::<AuditAction>().is_err());
    }

    /// These names are inside the MAC of every stored record: renaming one would make
    /// old chains fail `vigil verify`.
    #[test]
    fn stored_names_never_change() {
        let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "auth.login",
                "auth.logout",
                "user.create",
                "user.update",
                "user.delete",
                "user.password_reset",
                "user.password_change",
                "user.bootstrap",
                "user.reset_link",
                "apikey.create",
                "apikey.revoke",
                "totp.enroll_start",
                "totp.enable",
                "totp.disable",
                "session.revoke",
                "session.revoke_all",
                "policy.update",
                "auth.reauth",
                "upload.create",
                "upload.delete",
                "access.denied",
                "audit.read",
                "audit.export",
                "camera.create",
                "camera.update",
                "camera.delete",
                "camera.control",
                "violation.acknowledge",
                "violation.delete",
            ]
        );
    }
}
