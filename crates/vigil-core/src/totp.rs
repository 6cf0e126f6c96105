//! The TOTP second factor and the policy that requires it for some roles: enrol,
//! confirm (which rotates the session), turn off, read and change the policy. The rule
//! "this role must enrol first" is [`Identity::must_enroll_totp`] in [`crate::login`].

use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::totp::{self, Enrolment};
use vigil_auth::{policy, Role};

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::ids::UserId;
use crate::login::{ClientInfo, StartedSession};

/// A confirmed enrolment.
#[derive(Debug, Clone)]
pub struct TotpEnabled {
    /// Single-use recovery codes, shown once.
    pub recovery_codes: Vec<String>,
    /// The session that replaces the request's (enabling TOTP is a privilege change).
    pub started: StartedSession,
}

impl Identity {
    /// Starts (or restarts) enrolment: a new seed, inactive until confirmed.
    pub async fn begin_totp(&self, actor: &Actor, user_id: &UserId) -> Result<Enrolment> {
        let enrolment = totp::begin(&self.db, &self.keys, user_id.as_str()).await?;
        self.record(
            actor,
            Event::new(AuditAction::TotpEnrollStart).target("user", user_id.to_string()),
        )
        .await;
        Ok(enrolment)
    }

    /// Confirms enrolment with a current code: TOTP turns on, recovery codes are issued
    /// and the session is replaced.
    pub async fn confirm_totp(
        &self,
        actor: &Actor,
        user_id: &UserId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<TotpEnabled> {
        let recovery_codes = totp::confirm(&self.db, &self.keys, user_id.as_str(), code).await?;
        let started = self.start_session(user_id, client).await?;
        self.record(
            actor,
            Event::new(AuditAction::TotpEnable).target("user", user_id.to_string()),
        )
        .await;
        Ok(TotpEnabled {
            recovery_codes,
            started,
        })
    }

    /// Turns TOTP off after checking the password; refused with
    /// [`Error::TotpRequiredByPolicy`] when the policy requires it for `role`.
    pub async fn disable_totp(
        &self,
        actor: &Actor,
        user_id: &UserId,
        role: Role,
        password: &str,
    ) -> Result<()> {
        self.confirm_password(user_id, password).await?;
        if self.totp_policy().await?.contains(&role) {
            return Err(Error::TotpRequiredByPolicy);
        }
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
