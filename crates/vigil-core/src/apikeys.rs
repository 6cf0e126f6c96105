//! API keys for applications: create (shown once), list, revoke. Used by the admin API,
//! the console and `vigil apikey`.

use vigil_auth::apikeys::{self, ApiKey};
use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::{Principal, Role};

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::ids::ApiKeyId;
use crate::reauth::Confirm;

/// Longest key lifetime, in days.
pub const MAX_KEY_DAYS: u32 = 3650;

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// What the key is for (1–100 printable characters).
    pub name: String,
    /// Role the key acts with.
    pub role: Role,
    /// Days until it stops working, 1–[`MAX_KEY_DAYS`] (none: until revoked).
    pub expires_in_days: Option<u32>,
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

    /// Creates a key. `creator` is the principal asking (none on the command line): a
    /// key may not get a higher role than its creator, and a creator confirms with
    /// `password` or a recent sign-in; API keys cannot create keys (see
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
        let expires_at = match new.expires_in_days {
            Some(days) if !(1..=MAX_KEY_DAYS).contains(&days) => {
                return Err(Error::InvalidExpiry(format!(
                    "expires_in_days must be between 1 and {MAX_KEY_DAYS}"
                )))
            }
            Some(days) => Some(vigil_store::now_ms().saturating_add(i64::from(days) * 86_400_000)),
            None => None,
        };
        let created_by = creator.and_then(|c| c.user_id());
        let (key, row) =
            apikeys::create(&self.db, &new.name, new.role, created_by, expires_at).await?;
        self.record(
            actor,
            Event::new(AuditAction::ApiKeyCreate)
                .target("apikey", row.id.clone())
                .detail("name", row.name.clone())
                .detail("role", row.role.as_str())
                .detail("prefix", row.prefix.clone()),
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
