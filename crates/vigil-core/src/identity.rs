//! [`Identity`]: the context every identity use case runs in (database, keys, password
//! hashing, audit log, session lifetimes, login throttling, link settings), built once
//! from the settings by the server at start-up and by a CLI command when it opens the
//! database.
//!
//! The use cases themselves are methods on [`Identity`], one file per subject:
//! [`crate::accounts`] (users), [`crate::login`] (sign-in, sign-out, password change
//! and reset, who is calling), [`crate::sessions`], [`crate::totp`] (second factor and
//! its policy), [`crate::apikeys`], [`crate::bootstrap`] (the first admin),
//! [`crate::reauth`] (the password re-entered before sensitive changes),
//! [`crate::denials`] (sampled records of refused requests) and [`crate::audit`]
//! (reading the log). Each method does the whole flow: validation,
//! the change, the audit record, the policy check.

use std::sync::Arc;
use std::time::Duration;

use vigil_auth::audit::{Actor, AuditLog, Event};
use vigil_auth::password::Passwords;
use vigil_auth::sessions::Lifetimes;
use vigil_auth::{throttle, Keys};
use vigil_config::Settings;
use vigil_store::Database;

use crate::error::{Error, Result};
use crate::lockouts::LockoutSampler;

/// Everything identity needs, built once at start-up.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The database users, sessions, keys and the audit log live in.
    pub db: Database,
    /// Master and derived keys.
    pub keys: Keys,
    /// Password hashing.
    pub passwords: Passwords,
    /// The audit log.
    pub audit: AuditLog,
    /// Session timeouts.
    pub lifetimes: Lifetimes,
    /// Failed-login thresholds.
    pub throttle: throttle::Limits,
    /// Which login lockouts were audited lately (one record per budget and window).
    pub lockouts: Arc<LockoutSampler>,
    /// How long an admin-issued password reset link works.
    pub reset_link_ttl: Duration,
    /// `auth.public_url` without a trailing slash: the base of links we hand out.
    pub public_url: Option<String>,
    /// How long after signing in (or re-entering the password) sensitive changes need
    /// no password again (`auth.reauth_window_secs`).
    pub reauth_window: Duration,
    /// Sampling of access-denial records (see [`crate::denials`]).
    pub denials: std::sync::Arc<crate::denials::DenialSampler>,
}

impl Identity {
    /// Builds identity from settings over `db`.
    pub fn new(settings: &Settings, db: &Database) -> Result<Identity> {
        let a = &settings.auth;
        let keys = Keys::from_settings(settings)?;
        Ok(Identity {
            db: db.clone(),
            passwords: Passwords::new(
                a.argon2_memory_kib,
                a.argon2_iterations,
                a.min_password_length,
            )?
            .with_min_score(a.min_password_score),
            audit: AuditLog::new(db.clone(), keys.clone()),
            keys,
            lifetimes: Lifetimes {
                idle: Duration::from_secs(a.session_idle_minutes * 60),
                absolute: Duration::from_secs(a.session_lifetime_hours * 3600),
            },
            throttle: throttle::Limits {
                per_pair: a.max_failures,
                per_ip: a.max_failures_per_ip,
                window: Duration::from_secs(a.failure_window_minutes * 60),
                per_account: a.max_failures_per_account,
                account_window: Duration::from_secs(a.account_failure_window_minutes * 60),
                second_factor: a.max_second_factor_failures,
            },
            lockouts: Arc::new(LockoutSampler::default()),
            reset_link_ttl: Duration::from_secs(a.reset_link_minutes * 60),
            public_url: a
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            reauth_window: Duration::from_secs(a.reauth_window_secs),
            denials: std::sync::Arc::new(crate::denials::DenialSampler::default()),
        })
    }

    /// Writes an audit record. A failure is logged loudly but does not undo the
    /// action, which has already been committed.
    pub(crate) async fn record(&self, actor: &Actor, event: Event) {
        let action = event.action.as_str();
        if let Err(e) = self.audit.record(actor, event).await {
            tracing::error!(error = %e, action, "could not write the audit record");
        }
    }

    /// The user named `id`, or [`Error::NotFound`].
    pub(crate) async fn user(&self, id: &crate::UserId) -> Result<vigil_auth::users::User> {
        vigil_auth::users::get(&self.db, id.as_str())
            .await?
            .ok_or(Error::NotFound("user"))
    }
}
