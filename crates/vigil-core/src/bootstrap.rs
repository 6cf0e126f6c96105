//! The first admin: on a server with no users, a one-time token (valid one hour) is
//! issued at start and shown to the operator as a setup link; `POST
//! /api/v1/auth/bootstrap` (or the `/setup` page) spends it to create the admin.
//! `vigil user add NAME --admin` is the other way in.

use std::time::Duration;

use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::tokens::{self, Purpose};
use vigil_auth::users::{self, User};
use vigil_auth::Role;

use crate::error::{Error, Result};
use crate::identity::Identity;

/// How long a bootstrap token lives.
pub const BOOTSTRAP_TTL: Duration = Duration::from_secs(3600);

impl Identity {
    /// Whether any user exists (then there is nothing to set up).
    pub async fn is_set_up(&self) -> Result<bool> {
        Ok(users::count(&self.db).await? > 0)
    }

    /// On a server with no users, issues the one-time first-admin token (replacing any
    /// earlier unused one) and returns the setup link, based on `auth.public_url` or
    /// else `fallback_base`. `None` once any user exists. The link is a secret: show it
    /// to the operator, never log it (log files outlive the hour).
    pub async fn bootstrap_link(&self, fallback_base: &str) -> Result<Option<String>> {
        if self.is_set_up().await? {
            return Ok(None);
        }
        let (token, _) =
            tokens::issue(&self.db, Purpose::Bootstrap, None, None, BOOTSTRAP_TTL).await?;
        Ok(Some(format!(
            "{}/setup?token={token}",
            self.base_url(fallback_base)
        )))
    }

    /// Creates the first admin with the bootstrap token. The username and password are
    /// checked before the token is spent.
    pub async fn bootstrap_admin(
        &self,
        token: &str,
        username: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<User> {
        let name = users::normalise_username(username)?;
        self.passwords.check_policy(password, &name)?;
        if tokens::consume(&self.db, Purpose::Bootstrap, token)
            .await?
            .is_none()
        {
            return Err(Error::InvalidToken);
        }
        if self.is_set_up().await? {
            return Err(Error::AlreadySetUp);
        }
        let user = users::create(&self.db, &self.passwords, &name, password, Role::Admin).await?;
        self.record(
            &Actor::anonymous(Some(user.username.clone()), ip),
            Event::new(AuditAction::UserBootstrap)
                .target("user", user.id.clone())
                .detail("role", "admin"),
        )
        .await;
        Ok(user)
    }
}
