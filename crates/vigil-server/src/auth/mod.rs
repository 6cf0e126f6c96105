//! Identity and access on the HTTP side: who is calling (sessions, API keys), whether
//! they may call this route (one declarative table, [`access`]), CSRF for cookie writes,
//! and the auth, user and API-key routes.

pub mod access;
pub mod cache;
pub mod cookie;
pub mod middleware;

use std::time::Duration;

use vigil_auth::audit::AuditLog;
use vigil_auth::password::Passwords;
use vigil_auth::sessions::Lifetimes;
use vigil_auth::{throttle, Keys};
use vigil_config::Settings;
use vigil_store::Database;

/// Everything identity needs, built once at start-up.
#[derive(Debug, Clone)]
pub struct Identity {
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
    /// Recently verified credentials (`auth.cache_secs`).
    pub cache: std::sync::Arc<cache::AuthCache>,
}

impl Identity {
    /// Builds identity from settings over `db`.
    pub fn new(settings: &Settings, db: &Database) -> anyhow::Result<Identity> {
        let a = &settings.auth;
        let keys = Keys::from_settings(settings)?;
        Ok(Identity {
            passwords: Passwords::new(
                a.argon2_memory_kib,
                a.argon2_iterations,
                a.min_password_length,
            )?,
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
            },
            cache: std::sync::Arc::new(cache::AuthCache::new(Duration::from_secs(a.cache_secs))),
        })
    }
}
