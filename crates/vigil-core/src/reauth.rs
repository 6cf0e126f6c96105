//! Re-authentication before sensitive changes (ASVS 3.7.1): enrolling or turning off
//! TOTP, creating API keys, issuing password reset links and changing the password.
//!
//! A person confirms with their current password, unless they proved who they are in
//! this session less than `auth.reauth_window_secs` ago (5 minutes by default: signing
//! in, or an earlier confirmation, counts). A confirmation with the right password
//! restarts that window (like GitHub's "sudo mode"), so a flow of several sensitive
//! steps asks once. Some changes always want the password, whatever the window
//! ([`Confirm::PasswordAlways`]: changing the password, turning TOTP off).
//!
//! A wrong password counts as a failed login for the user's name and the client address
//! (so repeated guesses through a stolen session meet the same throttle as the login
//! form, 429) and against the account's confirmation budget (see
//! [`vigil_auth::throttle`]; failed logins from elsewhere do not block confirmations),
//! and is audited as `auth.reauth` (failure). It is counted before the hash is checked,
//! so simultaneous guesses cannot overrun the budget.
//!
//! API keys are machine principals with no password to re-enter: they may do none of
//! these changes. The account routes (password, TOTP) do not accept them at all; API-key
//! creation and reset links refuse them with `reauth_required`. A leaked admin key must
//! not be able to mint itself successors that outlive its revocation, nor take over a
//! person's account through a reset link. The command line (`vigil apikey create`,
//! `vigil user passwd`) runs with access to the server's files and needs no confirmation.

use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::throttle::{self, Failure};
use vigil_auth::{sessions, users, Principal, PrincipalKind};
use vigil_store::now_ms;

use crate::error::{Error, Result};
use crate::identity::Identity;

/// How a change is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The current password, or a sign-in within the re-authentication window.
    PasswordOrRecentSignIn,
    /// The current password, always.
    PasswordAlways,
}

/// Why a change was refused for want of a confirmation.
const NEEDS_PASSWORD: &str =
    "enter your current password to confirm this change (send it as `current_password`)";
const NOT_FOR_KEYS: &str =
    "this change needs a person who confirms it with their password; API keys cannot make it \
     (sign in to the console, or use the `vigil` command on the server)";

impl Identity {
    /// Checks that `caller` may make the sensitive change `action` now: see the module
    /// docs. `password` is what the request carried as the current password; `actor`
    /// names the caller and their address for the throttle and the audit record.
    pub async fn confirm_sensitive(
        &self,
        caller: &Principal,
        actor: &Actor,
        password: Option<&str>,
        action: AuditAction,
        confirm: Confirm,
    ) -> Result<()> {
        let PrincipalKind::Session { session_id, .. } = &caller.kind else {
            return Err(Error::ReauthRequired(NOT_FOR_KEYS));
        };
        let password = password.filter(|p| !p.is_empty());
        let Some(password) = password else {
            if confirm == Confirm::PasswordOrRecentSignIn
                && self.recently_signed_in(session_id).await?
            {
                return Ok(());
            }
            return Err(Error::ReauthRequired(NEEDS_PASSWORD));
        };
        self.check_password(caller, actor, password, action).await?;
        sessions::mark_authenticated(&self.db, session_id, now_ms()).await?;
        Ok(())
    }

    /// Whether the person behind session `session_id` proved who they are within the
    /// re-authentication window.
    pub async fn recently_signed_in(&self, session_id: &str) -> Result<bool> {
        let Some(at) = sessions::authenticated_at(&self.db, session_id).await? else {
            return Ok(false);
        };
        let window = i64::try_from(self.reauth_window.as_millis()).unwrap_or(i64::MAX);
        Ok(now_ms().saturating_sub(at) < window)
    }

    /// Checks `password` against the caller's own, under the login throttle: a
    /// throttled pair waits (429) without a hash being computed; a wrong password is
    /// counted and audited.
    async fn check_password(
        &self,
        caller: &Principal,
        actor: &Actor,
        password: &str,
        action: AuditAction,
    ) -> Result<()> {
        let ip_key = actor.ip.clone().unwrap_or_else(|| "unknown".into());
        let name = caller.name.as_str();
        let refuse = |reason: &'static str| {
            Event::new(AuditAction::AuthReauth)
                .failed()
                .target("user", caller.id.clone())
                .detail("for", action.as_str())
                .detail("reason", reason)
        };
        let who = throttle::Attempt {
            username: name,
            ip: &ip_key,
            device: None,
        };
        // Counted as a failure before the hash is computed and forgotten if right, as
        // for the login form: simultaneous guesses cannot overrun the budget.
        let pending = match throttle::begin(&self.db, &self.throttle, &who, Failure::Reauth).await?
        {
            Ok(pending) => pending,
            Err(lockout) => {
                self.record(actor, refuse("throttled")).await;
                return Err(Error::Throttled {
                    retry_after_secs: lockout.retry_after_secs,
                });
            }
        };
        let creds = users::credentials(&self.db, &caller.id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if !self
            .passwords
            .verify(password, Some(&creds.password_hash))
            .await?
        {
            drop(pending); // stays counted
            self.record(actor, refuse("wrong password")).await;
            return Err(Error::ReauthFailed);
        }
        pending.succeeded(&self.db).await?;
        Ok(())
    }
}
