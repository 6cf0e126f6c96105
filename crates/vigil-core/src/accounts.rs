//! User accounts: create, list, change role or disable, delete, set a password, issue a
//! reset link. Used by the admin API (`/api/v1/users`), the console and `vigil user`.
//!
//! A change of role and a disable end the user's sessions, so new rights apply from the
//! next sign-in; the API keys the user made follow their state at once (they act with at
//! most the user's current role and stop while the user is disabled), and deleting the
//! user revokes them. The last enabled admin can be neither demoted, disabled nor deleted
//! (`vigil-auth` enforces that inside the update).

use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::tokens::{self, Purpose};
use vigil_auth::users::{self, User};
use vigil_auth::{apikeys, sessions, Principal, Role};

use crate::error::Result;
use crate::identity::Identity;
use crate::ids::UserId;
use crate::reauth::Confirm;

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// As typed; normalised to lowercase and checked.
    pub username: String,
    /// Initial password (the policy applies).
    pub password: String,
    /// Role.
    pub role: Role,
}

/// A change to a user; `None` leaves the field as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
}

/// A one-time password reset link.
#[derive(Debug, Clone)]
pub struct ResetLink {
    /// The link to hand to the user; it works once.
    pub url: String,
    /// Expiry, Unix ms.
    pub expires_at: i64,
}

impl Identity {
    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        Ok(users::list(&self.db).await?)
    }

    /// One user.
    pub async fn get_user(&self, id: &UserId) -> Result<User> {
        self.user(id).await
    }

    /// The user named `name` (any case), if there is one.
    pub async fn user_named(&self, name: &str) -> Result<Option<User>> {
        Ok(users::by_username(&self.db, name).await?.map(|c| c.user))
    }

    /// Creates a user for the signed-in admin `caller`, who confirms with `password` or a
    /// recent sign-in (see [`crate::reauth`]): a new account may be an admin the caller
    /// can then sign in as, so an API key or an old hijacked session must not make one.
    pub async fn create_user_confirmed(
        &self,
        caller: &Principal,
        actor: &Actor,
        password: Option<&str>,
        new: NewUser,
    ) -> Result<User> {
        self.confirm_sensitive(
            caller,
            actor,
            password,
            AuditAction::UserCreate,
            Confirm::PasswordOrRecentSignIn,
        )
        .await?;
        self.create_user(actor, new).await
    }

    /// Changes a user for the signed-in admin `caller`, who confirms with `password` or
    /// a recent sign-in (every change: a role change can make an admin, and enabling
    /// can revive one), then as [`Identity::update_user`].
    pub async fn update_user_confirmed(
        &self,
        caller: &Principal,
        actor: &Actor,
        password: Option<&str>,
        id: &UserId,
        change: UserChange,
    ) -> Result<User> {
        self.confirm_sensitive(
            caller,
            actor,
            password,
            AuditAction::UserUpdate,
            Confirm::PasswordOrRecentSignIn,
        )
        .await?;
        self.update_user(actor, id, change).await
    }

    /// Creates a user (username and password policy checked) and records it, on an
    /// operator's authority (`vigil user add`; people use
    /// [`Identity::create_user_confirmed`]).
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User> {
        let user = users::create(
            &self.db,
            &self.passwords,
            &new.username,
            &new.password,
            new.role,
        )
        .await?;
        self.record(
            actor,
            Event::new(AuditAction::UserCreate)
                .target("user", user.id.clone())
                .detail("username", user.username.clone())
                .detail("role", user.role.as_str()),
        )
        .await;
        Ok(user)
    }

    /// Changes a user's role and/or disabled flag. A new role or a disable ends their
    /// sessions. Refused with [`Error::LastAdmin`] when no enabled admin would remain. On
    /// an operator's authority (`vigil user`; people use
    /// [`Identity::update_user_confirmed`]).
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: &UserId,
        change: UserChange,
    ) -> Result<User> {
        let before = self.user(id).await?;
        let after = users::update(&self.db, id.as_str(), change.role, change.disabled).await?;
        let privilege_changed = before.role != after.role || (!before.disabled && after.disabled);
        if privilege_changed {
            sessions::revoke_all(&self.db, id.as_str(), None).await?;
        }
        let mut event = Event::new(AuditAction::UserUpdate).target("user", id.to_string());
        if before.role != after.role {
            event = event.detail("role", format!("{} -> {}", before.role, after.role));
        }
        if before.disabled != after.disabled {
            event = event.detail("disabled", after.disabled);
        }
        self.record(actor, event).await;
        Ok(after)
    }

    /// Deletes a user with their sessions, and revokes the API keys they made (each
    /// revocation audited); the audit log keeps their name.
    pub async fn delete_user(&self, actor: &Actor, id: &UserId) -> Result<User> {
        let user = users::delete(&self.db, id.as_str()).await?;
        // After the delete: the keys already stopped with their creator's row; revoking
        // marks them so in listings (and a failure here leaves them dead anyway).
        let revoked = apikeys::revoke_created_by(&self.db, id.as_str()).await?;
        self.record(
            actor,
            Event::new(AuditAction::UserDelete)
                .target("user", id.to_string())
                .detail("username", user.username.clone())
                .detail("api_keys_revoked", revoked.len()),
        )
        .await;
        for key in revoked {
            self.record(
                actor,
                Event::new(AuditAction::ApiKeyRevoke)
                    .target("apikey", key.id.clone())
                    .detail("name", key.name)
                    .detail("reason", "creator deleted"),
            )
            .await;
        }
        Ok(user)
    }

    /// Sets a user's password on an operator's authority (`vigil user passwd`): every
    /// session of the user ends. Returns how many ended.
    pub async fn set_password(&self, actor: &Actor, id: &UserId, password: &str) -> Result<u64> {
        users::set_password(&self.db, &self.passwords, id.as_str(), password).await?;
        let ended = sessions::revoke_all(&self.db, id.as_str(), None).await?;
        self.record(
            actor,
            Event::new(AuditAction::UserPasswordReset).target("user", id.to_string()),
        )
        .await;
        Ok(ended)
    }

    /// Issues a one-time password reset link for a user, replacing any earlier one.
    /// The admin `caller` confirms with `password` or a recent sign-in (a link takes
    /// over the account, so API keys cannot issue one; see [`crate::reauth`]). The link
    /// starts with `auth.public_url`, else `fallback_base` (how this request reached us).
    pub async fn issue_reset_link(
        &self,
        caller: &Principal,
        actor: &Actor,
        id: &UserId,
        password: Option<&str>,
        fallback_base: &str,
    ) -> Result<ResetLink> {
        self.confirm_sensitive(
            caller,
            actor,
            password,
            AuditAction::UserResetLink,
            Confirm::PasswordOrRecentSignIn,
        )
        .await?;
        let user = self.user(id).await?;
        let (token, expires_at) = tokens::issue(
            &self.db,
            Purpose::Reset,
            Some(&user.id),
            actor.id.as_deref(),
            self.reset_link_ttl,
        )
        .await?;
        self.record(
            actor,
            Event::new(AuditAction::UserResetLink).target("user", user.id.clone()),
        )
        .await;
        Ok(ResetLink {
            // In the fragment, which browsers never send: the token stays out of request
            // lines, access logs and Referer headers; the page reads it with script.
            url: format!("{}/reset#token={token}", self.base_url(fallback_base)),
            expires_at,
        })
    }

    /// The URL people reach Vigil at: `auth.public_url`, else `fallback`.
    pub fn base_url(&self, fallback: &str) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| fallback.trim_end_matches('/').to_string())
    }
}
