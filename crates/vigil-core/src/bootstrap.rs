//! The first admin: on a server with no users, a one-time token (valid one hour) is
//! issued at start and shown to the operator as a setup link; `POST
//! /api/v1/auth/bootstrap` (or the `/setup` page) spends it to create the admin.
//! `vigil user add NAME --admin` is the other way in.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::tokens::{self, Purpose};
use vigil_auth::users::{self, User};
use vigil_auth::Role;

use crate::error::{Error, Result};
use crate::identity::Identity;

/// How long a bootstrap token lives.
pub const BOOTSTRAP_TTL: Duration = Duration::from_secs(3600);

/// The file in the data folder holding the first-start setup link until it is used.
pub const SETUP_LINK_FILE: &str = "setup-link.txt";

/// Writes `link` to [`SETUP_LINK_FILE`] in `data_dir`, readable by the owner only (0600,
/// whatever the umask), replacing an earlier one; returns its path. The data folder is
/// made (0700) if missing. A file rather than the log: logs are kept and shipped where
/// more people read them, and outlive the token's hour.
pub fn write_setup_link(data_dir: &Path, link: &str) -> std::io::Result<PathBuf> {
    if !data_dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)?;
    }
    let path = data_dir.join(SETUP_LINK_FILE);
    // Removed and created anew (O_EXCL, which also refuses to follow a planted symlink), so
    // the mode is ours even if an older file had another.
    if let Err(e) = fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(e);
        }
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(
        file,
        "{link}\n\nOpen this link within one hour to create Vigil's first administrator.\n\
         It works once; this file is removed when it has been used."
    )?;
    file.sync_all()?;
    Ok(path)
}

/// Removes the setup-link file (once the first admin exists, the link is spent).
/// Missing is fine; another failure is logged, as the token in it no longer works anyway.
pub fn remove_setup_link(data_dir: &Path) {
    let path = data_dir.join(SETUP_LINK_FILE);
    match fs::remove_file(&path) {
        Ok(()) => tracing::info!(file = %path.display(), "removed the spent setup link"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove the spent setup link")
        }
    }
}

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
        // In the fragment, which browsers never send (see `accounts::reset_link`).
        Ok(Some(format!(
            "{}/setup#token={token}",
            self.base_url(fallback_base)
        )))
    }

    /// Creates the first admin with the bootstrap token. The token is checked first (so
    /// anyone without it costs no password-strength estimate), then the username and
    /// password, before the token is spent (a refused password leaves it usable).
    pub async fn bootstrap_admin(
        &self,
        token: &str,
        username: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<User> {
        if tokens::peek(&self.db, Purpose::Bootstrap, token)
            .await?
            .is_none()
        {
            return Err(Error::InvalidToken);
        }
        if self.is_set_up().await? {
            return Err(Error::AlreadySetUp);
        }
        let name = users::normalise_username(username)?;
        self.passwords
            .check_policy_off_thread(password, &name)
            .await?;
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
