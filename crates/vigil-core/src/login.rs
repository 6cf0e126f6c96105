//! Signing in and out, and who is calling: the login flow (throttling, password, second
//! factor, the TOTP-enrolment rule, session rotation, audit), logout, password change
//! and reset, and turning a presented API key or session cookie into a [`Principal`].
//!
//! Sessions are started only here ([`Identity::start_session`]): a new id at every login
//! and privilege change (password, TOTP) defeats session fixation.

use vigil_auth::audit::{Actor, ActorKind, AuditAction, Event};
use vigil_auth::sessions::{self, Session};
use vigil_auth::throttle::{self, Failure, Scope};
use vigil_auth::tokens::{self, Purpose};
use vigil_auth::users::{self, User};
use vigil_auth::{apikeys, device, totp, Principal, PrincipalKind};
use vigil_store::now_ms;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::ids::{SessionId, UserId};
use crate::reauth::Confirm;

/// A verified credential and when it stops working at the latest (Unix ms; `None` for
/// a key without expiry), so a cache of it never outlives it.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who is calling.
    pub principal: Principal,
    /// The key's expiry, or the session's idle or absolute end, whichever is first.
    pub valid_until: Option<i64>,
    /// The user whose state the credential depends on: the session's user, or the
    /// person who made the key (none for a key made on the command line). A change to
    /// that user (disabled, deleted, new role) must drop any cached copy.
    pub user_id: Option<String>,
}

/// Where a request comes from, as far as sessions care.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address, if known.
    pub ip: Option<String>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The session cookie the request came with, if any (ended when a new one starts).
    pub cookie: Option<String>,
    /// The device cookie the request came with, if any: a browser that signed in as the
    /// same user before gets its own login budget.
    pub device_cookie: Option<String>,
}

/// How long a browser keeps the device cookie a sign-in gives it.
pub const DEVICE_COOKIE_MAX_AGE: std::time::Duration = device::MAX_AGE;

/// A session just started: what to hand to the browser.
#[derive(Debug, Clone)]
pub struct StartedSession {
    /// The cookie value (a secret: set it as the cookie, never log it).
    pub cookie_value: String,
    /// The CSRF token bound to it.
    pub csrf_token: String,
    /// The session record.
    pub session: Session,
}

/// A sign-in attempt.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// Username as typed.
    pub username: String,
    /// Password.
    pub password: String,
    /// TOTP or recovery code, when the account has TOTP.
    pub totp: Option<String>,
}

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// Their new session.
    pub started: StartedSession,
    /// The role must use TOTP and the user has none yet: only account routes work.
    pub must_enroll_totp: bool,
    /// A new device cookie for this browser (a secret: set it as a cookie, never log it).
    pub device_cookie: String,
}

/// What a caller may learn about themselves.
#[derive(Debug, Clone)]
pub struct Me {
    /// The principal.
    pub principal: Principal,
    /// Whether the person has TOTP (false for API keys).
    pub totp_enabled: bool,
}

impl Identity {
    /// Whether `user` must enrol TOTP before anything else: the policy requires it for
    /// their role and they have none. The one place this rule is written.
    pub async fn must_enroll_totp(&self, user: &User) -> Result<bool> {
        Ok(!user.totp_enabled && self.totp_policy().await?.contains(&user.role))
    }

    /// Signs in: the login budgets (checked before any Argon2 run), the password
    /// (unknown names cost the same time), the second factor (its own budget), then a
    /// new session (ending the one the request came with) and a fresh device cookie.
    /// Refusals are audited (lockouts once per budget and window); unknown names, wrong
    /// passwords and disabled accounts get the same [`Error::BadCredentials`].
    pub async fn login(&self, attempt: LoginAttempt, client: ClientInfo) -> Result<SignedIn> {
        let ip_key = client.ip.clone().unwrap_or_else(|| "unknown".into());
        // The name as typed, for the throttle and the audit record. Control characters
        // become U+FFFD: no username has them (so the attempt still fails as an unknown
        // name), and PostgreSQL refuses a NUL in text, which would turn the refusal into
        // a storage error.
        let typed: String = attempt
            .username
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .take(128)
            .collect();
        let refuse = |reason: &'static str| {
            (
                Actor::anonymous(Some(typed.clone()), client.ip.clone()),
                Event::new(AuditAction::AuthLogin)
                    .failed()
                    .detail("reason", reason)
                    .detail("username", typed.clone()),
            )
        };
        // A device cookie counts only for the user it was issued to.
        let device = client
            .device_cookie
            .as_deref()
            .and_then(|c| device::verify(&self.keys, &typed, c));
        let who = throttle::Attempt {
            username: &typed,
            ip: &ip_key,
            device: device.as_deref(),
        };

        // Counted as a failure before the password is verified (no Argon2 run over
        // budget), and forgotten if it turns out right.
        let pending =
            match throttle::begin(&self.db, &self.throttle, &who, Failure::Password).await? {
                Ok(pending) => pending,
                Err(lockout) => return Err(self.locked_out(&who, lockout, &client).await),
            };

        let creds = match users::normalise_username(&typed) {
            Ok(name) => users::by_username(&self.db, &name).await?,
            Err(_) => None,
        };
        let password_ok = self
            .passwords
            .verify(
                &attempt.password,
                creds.as_ref().map(|c| c.password_hash.as_str()),
            )
            .await?;
        let creds = match creds {
            Some(c) if password_ok && !c.user.disabled => c,
            _ => {
                drop(pending); // stays counted
                let (actor, event) = refuse("bad credentials");
                self.record(&actor, event).await;
                return Err(Error::BadCredentials);
            }
        };
        // The password was right: it does not spend the account's password budget.
        pending.succeeded(&self.db).await?;
        if creds.user.totp_enabled {
            let code = attempt.totp.as_deref().map(str::trim).unwrap_or("");
            if code.is_empty() {
                return Err(Error::TotpRequired);
            }
            let pending =
                match throttle::begin(&self.db, &self.throttle, &who, Failure::SecondFactor).await?
                {
                    Ok(pending) => pending,
                    Err(lockout) => return Err(self.locked_out(&who, lockout, &client).await),
                };
            if !totp::verify(&self.db, &self.keys, &creds, code).await? {
                drop(pending); // stays counted
                let (actor, event) = refuse("bad second factor");
                self.record(&actor, event).await;
                return Err(Error::InvalidTotpCode("the code is not valid"));
            }
            pending.succeeded(&self.db).await?;
        }
        throttle::clear(&self.db, &who).await?;

        let user = creds.user;
        let must_enroll_totp = self.must_enroll_totp(&user).await?;
        let started = self
            .start_session(&UserId::from_stored(user.id.clone()), &client)
            .await?;
        let actor = Actor {
            kind: ActorKind::User,
            id: Some(user.id.clone()),
            name: Some(user.username.clone()),
            ip: client.ip.clone(),
        };
        self.record(
            &actor,
            Event::new(AuditAction::AuthLogin).target("session", started.session.id.clone()),
        )
        .await;
        tracing::info!(user = %user.username, session = %started.session.id, "signed in");
        Ok(SignedIn {
            device_cookie: device::issue(&self.keys, &user.username),
            user,
            started,
            must_enroll_totp,
        })
    }

    /// The refusal of an attempt over a login budget, audited once per budget and window
    /// (a flood of refused attempts must not fill the audit log).
    async fn locked_out(
        &self,
        who: &throttle::Attempt<'_>,
        lockout: throttle::Lockout,
        client: &ClientInfo,
    ) -> Error {
        let counted = match lockout.scope {
            Scope::Pair => format!("{}\0{}", who.username, throttle::address_key(who.ip)),
            Scope::Address => throttle::address_key(who.ip),
            Scope::Account | Scope::SecondFactor => who.username.to_string(),
            Scope::Device => who.device.unwrap_or_default().to_string(),
        };
        let key = format!("{}\0{counted}", lockout.scope.as_str());
        let window = match lockout.scope {
            Scope::Account => self.throttle.account_window,
            _ => self.throttle.window,
        };
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        if self.lockouts.should_record(&key, now_ms(), window_ms) {
            tracing::warn!(
                scope = lockout.scope.as_str(),
                user = who.username,
                "login budget exhausted"
            );
            self.record(
                &Actor::anonymous(Some(who.username.to_string()), client.ip.clone()),
                Event::new(AuditAction::AuthLogin)
                    .failed()
                    .detail("reason", "throttled")
                    .detail("scope", lockout.scope.as_str())
                    .detail("username", who.username.to_string())
                    .detail("retry_after_secs", lockout.retry_after_secs),
            )
            .await;
        }
        Error::Throttled {
            retry_after_secs: lockout.retry_after_secs,
        }
    }

    /// Starts a session for `user_id` (just signed in), ending the one the request came
    /// with.
    pub async fn start_session(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> Result<StartedSession> {
        self.rotate_session(user_id, client, None).await
    }

    /// Replaces the request's session with a new one (a new id after a privilege
    /// change). `authenticated_at` carries over when the person last proved who they
    /// are; `None` means now.
    pub(crate) async fn rotate_session(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
        authenticated_at: Option<i64>,
    ) -> Result<StartedSession> {
        if let Some(old) = &client.cookie {
            sessions::end(&self.db, old).await?;
        }
        let (cookie_value, session) = sessions::create(
            &self.db,
            user_id.as_str(),
            self.lifetimes,
            client.ip.as_deref(),
            client.user_agent.as_deref(),
            authenticated_at,
        )
        .await?;
        let csrf_token = sessions::csrf_token(&self.keys, &cookie_value);
        Ok(StartedSession {
            cookie_value,
            csrf_token,
            session,
        })
    }

    /// Signs out: the session behind `cookie` ends on the server.
    pub async fn logout(
        &self,
        caller: &Principal,
        actor: &Actor,
        cookie: Option<&str>,
    ) -> Result<()> {
        if let Some(value) = cookie {
            sessions::end(&self.db, value).await?;
        }
        let session_id = match &caller.kind {
            PrincipalKind::Session { session_id, .. } => session_id.clone(),
            PrincipalKind::ApiKey => String::new(),
        };
        self.record(
            actor,
            Event::new(AuditAction::AuthLogout).target("session", session_id),
        )
        .await;
        Ok(())
    }

    /// The caller, with what only the database knows (whether TOTP is on).
    pub async fn me(&self, caller: &Principal) -> Result<Me> {
        let totp_enabled = match caller.kind {
            PrincipalKind::Session { .. } => {
                self.user(&UserId::from_stored(caller.id.clone()))
                    .await?
                    .totp_enabled
            }
            PrincipalKind::ApiKey => false,
        };
        Ok(Me {
            principal: caller.clone(),
            totp_enabled,
        })
    }

    /// Changes one's own password: the current one is required (see [`crate::reauth`]),
    /// every other session of the user ends and this one is replaced by a new one
    /// (returned).
    pub async fn change_password(
        &self,
        caller: &Principal,
        actor: &Actor,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> Result<StartedSession> {
        self.confirm_sensitive(
            caller,
            actor,
            Some(current),
            AuditAction::UserPasswordChange,
            Confirm::PasswordAlways,
        )
        .await?;
        let user_id = UserId::from_stored(caller.id.clone());
        users::set_password(&self.db, &self.passwords, user_id.as_str(), new).await?;
        let started = self.start_session(&user_id, client).await?;
        sessions::revoke_all(&self.db, user_id.as_str(), Some(&started.session.id)).await?;
        self.record(
            actor,
            Event::new(AuditAction::UserPasswordChange).target("user", user_id.to_string()),
        )
        .await;
        Ok(started)
    }

    /// Sets a new password with a one-time reset token; every session of the user ends.
    /// The password is checked before the token is spent, so a weak choice can be
    /// corrected with the same link.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<()> {
        let Some(user_id) = tokens::peek(&self.db, Purpose::Reset, token).await? else {
            return Err(Error::InvalidToken);
        };
        let user = users::get(&self.db, &user_id)
            .await?
            .ok_or(Error::InvalidToken)?;
        self.passwords.check_policy(password, &user.username)?;
        if tokens::consume(&self.db, Purpose::Reset, token)
            .await?
            .as_deref()
            != Some(user_id.as_str())
        {
            return Err(Error::InvalidToken);
        }
        users::set_password(&self.db, &self.passwords, &user.id, password).await?;
        sessions::revoke_all(&self.db, &user.id, None).await?;
        self.record(
            &Actor::anonymous(Some(user.username.clone()), ip),
            Event::new(AuditAction::UserPasswordReset).target("user", user.id.clone()),
        )
        .await;
        Ok(())
    }

    /// Whether a reset token is currently valid, without spending it (to render the
    /// form it opens).
    pub async fn reset_token_is_valid(&self, token: &str) -> Result<bool> {
        Ok(tokens::peek(&self.db, Purpose::Reset, token)
            .await?
            .is_some())
    }

    /// The application behind an API key: `None` when the key is wrong, expired or
    /// revoked. Records the key's use.
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Option<Principal>> {
        Ok(self.verify_api_key(key).await?.map(|v| v.principal))
    }

    /// [`Identity::authenticate_api_key`], with when the key stops working anyway. The
    /// principal's role is the key's effective role (at most its creator's current one).
    pub async fn verify_api_key(&self, key: &str) -> Result<Option<Verified>> {
        Ok(apikeys::authenticate(&self.db, key)
            .await?
            .map(|found| Verified {
                valid_until: found.key.expires_at,
                user_id: found.key.created_by,
                principal: Principal {
                    id: found.key.id,
                    name: found.key.name,
                    role: found.role,
                    kind: PrincipalKind::ApiKey,
                },
            }))
    }

    /// The person behind a session cookie: `None` when the session is unknown, expired
    /// or the user disabled. Refreshes the idle timer.
    pub async fn authenticate_session(&self, cookie_value: &str) -> Result<Option<Principal>> {
        Ok(self
            .verify_session(cookie_value)
            .await?
            .map(|v| v.principal))
    }

    /// [`Identity::authenticate_session`], with when the session ends if left idle
    /// (or at its absolute end, whichever is first).
    pub async fn verify_session(&self, cookie_value: &str) -> Result<Option<Verified>> {
        let Some((session, user)) =
            sessions::authenticate(&self.db, cookie_value, self.lifetimes).await?
        else {
            return Ok(None);
        };
        let must_enroll_totp = self.must_enroll_totp(&user).await?;
        let idle_ms = i64::try_from(self.lifetimes.idle.as_millis()).unwrap_or(i64::MAX);
        Ok(Some(Verified {
            user_id: Some(user.id.clone()),
            valid_until: Some(
                session
                    .expires_at
                    .min(session.last_seen_at.saturating_add(idle_ms)),
            ),
            principal: Principal {
                id: user.id,
                name: user.username,
                role: user.role,
                kind: PrincipalKind::Session {
                    session_id: session.id,
                    csrf_token: sessions::csrf_token(&self.keys, cookie_value),
                    must_enroll_totp,
                },
            },
        }))
    }

    /// The public id of the caller's own session, if the caller is a session.
    pub fn session_of(caller: &Principal) -> Option<SessionId> {
        match &caller.kind {
            PrincipalKind::Session { session_id, .. } => {
                Some(SessionId::from_stored(session_id.clone()))
            }
            PrincipalKind::ApiKey => None,
        }
    }
}
