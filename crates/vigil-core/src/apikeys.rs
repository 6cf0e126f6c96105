//! API keys for applications: create (shown once), list, revoke. Used by the admin API,
//! the console and `vigil apikey`.
//!
//! Admin keys always expire ([`ADMIN_KEY_DEFAULT_DAYS`] unless told, at most
//! [`ADMIN_KEY_MAX_DAYS`]): a forgotten admin key must not stay a way in for ever. A key
//! depends on the person it was made by (directly, or through the key that made it):
//! see [`vigil_auth::apikeys`].

use vigil_auth::apikeys::{self, ApiKey};
use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::{Principal, Role};

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::ids::ApiKeyId;
use crate::reauth::Confirm;

/// Longest key lifetime, in days.
pub const MAX_KEY_DAYS: u32 = 3650;
/// Lifetime of an admin key when none is given, in days.
pub const ADMIN_KEY_DEFAULT_DAYS: u32 = 90;
/// Longest admin key lifetime, in days.
pub const ADMIN_KEY_MAX_DAYS: u32 = 365;

/// When a new key stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyExpiry {
    /// The role's default: [`ADMIN_KEY_DEFAULT_DAYS`] for admin keys, never for others.
    #[default]
    RoleDefault,
    /// After this many days: 1–[`MAX_KEY_DAYS`], for admin keys 1–[`ADMIN_KEY_MAX_DAYS`].
    Days(u32),
    /// Only when revoked (refused for admin keys).
    Never,
}

impl KeyExpiry {
    /// Days from `Option<u32>` (absent means the role's default).
    pub fn from_days(days: Option<u32>) -> KeyExpiry {
        days.map_or(KeyExpiry::RoleDefault, KeyExpiry::Days)
    }

    /// The lifetime in days for a key of `role` (`None`: no expiry), or why not.
    pub fn days_for(self, role: Role) -> Result<Option<u32>> {
        let max = if role == Role::Admin {
            ADMIN_KEY_MAX_DAYS
        } else {
            MAX_KEY_DAYS
        };
        match (self, role) {
            (KeyExpiry::RoleDefault, Role::Admin) => Ok(Some(ADMIN_KEY_DEFAULT_DAYS)),
            (KeyExpiry::RoleDefault, _) => Ok(None),
            (KeyExpiry::Never, Role::Admin) => Err(Error::InvalidExpiry(format!(
                "admin keys must expire: give expires_in_days from 1 to {ADMIN_KEY_MAX_DAYS}, \
                 or leave it out for {ADMIN_KEY_DEFAULT_DAYS} days"
            ))),
            (KeyExpiry::Never, _) => Ok(None),
            (KeyExpiry::Days(days), _) if (1..=max).contains(&days) => Ok(Some(days)),
            (KeyExpiry::Days(_), Role::Admin) => Err(Error::InvalidExpiry(format!(
                "admin keys expire after 1 to {ADMIN_KEY_MAX_DAYS} days"
            ))),
            (KeyExpiry::Days(_), _) => Err(Error::InvalidExpiry(format!(
                "expires_in_days must be between 1 and {MAX_KEY_DAYS}"
            ))),
        }
    }
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// What the key is for (1–100 printable characters).
    pub name: String,
    /// Role the key acts with.
    pub role: Role,
    /// When it stops working.
    pub expiry: KeyExpiry,
}

/// A created key.
#[derive(Debug, Clone)]
pub struct CreatedApiKey {
    /// The key itself: a secret, shown once and never stored.
    pub key: String,
    /// Its record.
    pub api_key: ApiKey,
}

impl Identity {
    /// Every key, newest first (revoked ones included).
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        Ok(apikeys::list(&self.db).await?)
    }

    /// Every key, newest first, with the role it acts with now (`None` while its
    /// creator is disabled or gone): what the console shows.
    pub async fn list_api_keys_in_effect(&self) -> Result<Vec<(ApiKey, Option<Role>)>> {
        Ok(apikeys::list_in_effect(&self.db).await?)
    }

    /// Creates a key. `creator` is the principal asking (none on the command line): a
    /// key may not get a higher role than its creator, and depends on the person behind
    /// it (the signed-in user, or the person who made the key asking); a creator confirms
    /// with `password` or a recent sign-in, and API keys cannot create keys (see
    /// [`crate::reauth`]).
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        creator: Option<&Principal>,
        new: NewApiKey,
        password: Option<&str>,
    ) -> Result<CreatedApiKey> {
        if let Some(creator) = creator {
            if new.role > creator.role {
                return Err(Error::RoleAboveCreator);
            }
            self.confirm_sensitive(
                creator,
                actor,
                password,
                AuditAction::ApiKeyCreate,
                Confirm::PasswordOrRecentSignIn,
            )
            .await?;
        }
        let expires_at = new
            .expiry
            .days_for(new.role)?
            .map(|days| vigil_store::now_ms().saturating_add(i64::from(days) * 86_400_000));
        let created_by = match creator {
            None => None,
            Some(c) if c.is_user() => Some(c.id.clone()),
            // A key made with a key answers to the same person, else it would outlive
            // them.
            Some(c) => apikeys::creator_of(&self.db, &c.id).await?,
        };
        let (key, row) = apikeys::create(
            &self.db,
            &new.name,
            new.role,
            created_by.as_deref(),
            expires_at,
        )
        .await?;
        self.record(
            actor,
            Event::new(AuditAction::ApiKeyCreate)
                .target("apikey", row.id.clone())
                .detail("name", row.name.clone())
                .detail("role", row.role.as_str())
                .detail("prefix", row.prefix.clone())
                .detail("expires_at", row.expires_at),
        )
        .await;
        Ok(CreatedApiKey { key, api_key: row })
    }

    /// Revokes a key: it stops working at once and stays listed.
    pub async fn revoke_api_key(&self, actor: &Actor, id: &ApiKeyId) -> Result<ApiKey> {
        let key = apikeys::revoke(&self.db, id.as_str())
            .await?
            .ok_or(Error::NotFound("API key"))?;
        self.record(
            actor,
            Event::new(AuditAction::ApiKeyRevoke)
                .target("apikey", id.to_string())
                .detail("name", key.name.clone()),
        )
        .await;
        Ok(key)
    }
}
