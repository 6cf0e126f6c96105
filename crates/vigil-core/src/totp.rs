//! The TOTP second factor and the policy that requires it for some roles: enrol
//! (confirmed with the password or a recent sign-in, see [`crate::reauth`]), confirm
//! (which rotates the session and ends the user's other sessions), turn off (password
//! always), read and change the policy. The rule "this role must enrol first" is
//! [`Identity::must_enroll_totp`] in [`crate::login`].

use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::sessions;
use vigil_auth::totp::{self, Enrolment};
use vigil_auth::{policy, Principal, Role};

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::ids::UserId;
use crate::login::{ClientInfo, StartedSession};
use crate::reauth::Confirm;

/// A confirmed enrolment.
#[derive(Debug, Clone)]
pub struct TotpEnabled {
    /// Single-use recovery codes, shown once.
    pub recovery_codes: Vec<String>,
    /// The session that replaces the request's (enabling TOTP is a privilege change).
    pub started: StartedSession,
    /// How many other sessions of the user were ended.
    pub ended_sessions: u64,
}

impl Identity {
    /// Starts (or restarts) enrolment: a new seed, inactive until confirmed. Needs the
    /// caller's `password`, or a sign-in within the re-authentication window.
    pub async fn begin_totp(
        &self,
        caller: &Principal,
        actor: &Actor,
        password: Option<&str>,
    ) -> Result<Enrolment> {
        self.confirm_sensitive(
            caller,
            actor,
            password,
            AuditAction::TotpEnrollStart,
            Confirm::PasswordOrRecentSignIn,
        )
        .await?;
        let user_id = UserId::from_stored(caller.id.clone());
        let enrolment = totp::begin(&self.db, &self.keys, user_id.as_str()).await?;
        self.record(
            actor,
            Event::new(AuditAction::TotpEnrollStart).target("user", user_id.to_string()),
        )
        .await;
        Ok(enrolment)
    }

    /// Confirms enrolment with a current code (from the seed [`Identity::begin_totp`]
    /// issued under confirmation): TOTP turns on, recovery codes are issued, the session
    /// is replaced (keeping its sign-in time) and every other session of the user ends,
    /// since they were signed in without the second factor.
    pub async fn confirm_totp(
        &self,
        caller: &Principal,
        actor: &Actor,
        code: &str,
        client: &ClientInfo,
    ) -> Result<TotpEnabled> {
        let user_id = UserId::from_stored(caller.id.clone());
        let recovery_codes = totp::confirm(&self.db, &self.keys, user_id.as_str(), code).await?;
        let authenticated_at = match Identity::session_of(caller) {
            Some(session) => sessions::authenticated_at(&self.db, session.as_str()).await?,
            None => None,
        };
        let started = self
            .rotate_session(&user_id, client, authenticated_at)
            .await?;
        let ended_sessions =
            sessions::revoke_all(&self.db, user_id.as_str(), Some(&started.session.id)).await?;
        // The record names the user, so every instance drops the user's cached sessions.
        self.record(
            actor,
            Event::new(AuditAction::TotpEnable)
                .target("user", user_id.to_string())
                .detail("other_sessions_ended", ended_sessions),
        )
        .await;
        Ok(TotpEnabled {
            recovery_codes,
            started,
            ended_sessions,
        })
    }

    /// Turns TOTP off after checking the password (always asked for); refused with
    /// [`Error::TotpRequiredByPolicy`] when the policy requires it for the caller's role.
    pub async fn disable_totp(
        &self,
        caller: &Principal,
        actor: &Actor,
        password: &str,
    ) -> Result<()> {
        self.confirm_sensitive(
            caller,
            actor,
            Some(password),
            AuditAction::TotpDisable,
            Confirm::PasswordAlways,
        )
        .await?;
        if self.totp_policy().await?.contains(&caller.role) {
            return Err(Error::TotpRequiredByPolicy);
        }
        let user_id = UserId::from_stored(caller.id.clone());
        totp::disable(&self.db, user_id.as_str()).await?;
        self.record(
            actor,
            Event::new(AuditAction::TotpDisable).target("user", user_id.to_string()),
        )
        .await;
        Ok(())
    }

    /// Roles whose members must use TOTP.
    pub async fn totp_policy(&self) -> Result<Vec<Role>> {
        Ok(policy::require_totp(&self.db).await?)
    }

    /// Sets the roles that must use TOTP; returns the stored policy.
    pub async fn set_totp_policy(&self, actor: &Actor, roles: &[Role]) -> Result<Vec<Role>> {
        policy::set_require_totp(&self.db, roles).await?;
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        self.record(
            actor,
            Event::new(AuditAction::PolicyUpdate).detail("require_totp", names),
        )
        .await;
        self.totp_policy().await
    }
}
