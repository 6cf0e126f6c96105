//! Sign-in and one's own account: login, logout, who am I, password change, TOTP,
//! own sessions, first-admin setup, password reset, and the TOTP policy.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::tokens::{self, Purpose};
use vigil_auth::{policy, sessions, throttle, totp, users, PrincipalKind, Role};

use crate::auth::cookie;
use crate::auth::middleware::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiJson;
use crate::middleware::client_ip::ClientAddr;
use crate::routes::views::{SessionView, UserView};
use crate::state::AppState;

/// The client's address as text (`unknown` for in-process requests without a socket).
pub(crate) fn ip_of(client: Option<&Extension<ClientAddr>>) -> Option<String> {
    client.and_then(|c| c.ip).map(|ip| ip.to_string())
}

/// Writes an audit record; a failure is logged loudly but does not undo the action,
/// which has already been committed.
pub(crate) async fn audit(state: &AppState, actor: Actor, event: Event) {
    let action = event.action.as_str();
    if let Err(e) = state.identity.audit.record(&actor, event).await {
        tracing::error!(error = %e, action, "could not write the audit record");
    }
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username (any case).
    pub username: String,
    /// Password.
    pub password: String,
    /// Current TOTP code or an unused recovery code, when the account has TOTP.
    #[serde(default)]
    pub totp: Option<String>,
}

/// A started session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The signed-in user.
    pub user: UserView,
    /// Send as `X-CSRF-Token` on every state-changing request of this session.
    pub csrf_token: String,
    /// Absolute end of the session, Unix ms.
    pub expires_at: i64,
    /// The role must use TOTP and the user has none yet: only the account routes work.
    pub must_enroll_totp: bool,
}

const BAD_LOGIN: &str = "invalid username or password";

/// Sign in with username and password (and TOTP when enrolled). Sets the session cookie.
/// Unknown usernames and wrong passwords get the same answer in about the same time;
/// repeated failures from one address wait (`429` with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; cookie set", body = LoginResponse),
        (status = 401, description = "Wrong credentials (`unauthorized`) or TOTP needed (`totp_required`)", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let identity = &state.identity;
    let ip = ip_of(client.as_ref());
    let ip_key = ip.clone().unwrap_or_else(|| "unknown".into());
    let typed: String = body
        .username
        .trim()
        .to_lowercase()
        .chars()
        .take(128)
        .collect();
    let failed = |reason: &'static str| {
        Event::new(AuditAction::AuthLogin)
            .failed()
            .detail("reason", reason)
            .detail("username", typed.clone())
    };

    if let Err(wait) = throttle::check(&state.db, &identity.throttle, &typed, &ip_key).await? {
        audit(
            &state,
            Actor::anonymous(Some(typed.clone()), ip.clone()),
            failed("throttled"),
        )
        .await;
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "too many failed sign-ins; wait before trying again",
        )
        .with_retry_after(wait));
    }

    let creds = match users::normalise_username(&typed) {
        Ok(name) => users::by_username(&state.db, &name).await?,
        Err(_) => None,
    };
    let password_ok = identity
        .passwords
        .verify(
            &body.password,
            creds.as_ref().map(|c| c.password_hash.as_str()),
        )
        .await?;
    let creds = match creds {
        Some(c) if password_ok && !c.user.disabled => c,
        _ => {
            throttle::record_failure(&state.db, &identity.throttle, &typed, &ip_key).await?;
            audit(
                &state,
                Actor::anonymous(Some(typed.clone()), ip.clone()),
                failed("bad credentials"),
            )
            .await;
            return Err(ApiError::new(ErrorCode::Unauthorized, BAD_LOGIN));
        }
    };
    let user = creds.user.clone();
    if user.totp_enabled {
        let code = body.totp.as_deref().map(str::trim).unwrap_or("");
        if code.is_empty() {
            return Err(ApiError::new(
                ErrorCode::TotpRequired,
                "enter the code from your authenticator app (or a recovery code)",
            ));
        }
        if !totp::verify(&state.db, &identity.keys, &creds, code).await? {
            throttle::record_failure(&state.db, &identity.throttle, &typed, &ip_key).await?;
            audit(
                &state,
                Actor::anonymous(Some(typed.clone()), ip.clone()),
                failed("bad second factor"),
            )
            .await;
            return Err(ApiError::new(
                ErrorCode::TotpRequired,
                "the code is not valid",
            ));
        }
    }
    throttle::clear(&state.db, &typed, &ip_key).await?;

    let must_enroll_totp =
        !user.totp_enabled && policy::require_totp(&state.db).await?.contains(&user.role);
    let (response_headers, csrf_token, session) =
        start_session(&state, &user.id, &headers, client.as_ref()).await?;
    let actor = Actor {
        kind: vigil_auth::audit::ActorKind::User,
        id: Some(user.id.clone()),
        name: Some(user.username.clone()),
        ip,
    };
    audit(
        &state,
        actor,
        Event::new(AuditAction::AuthLogin).target("session", session.id.clone()),
    )
    .await;
    tracing::info!(user = %user.username, session = %session.id, "signed in");
    let body = LoginResponse {
        user,
        csrf_token,
        expires_at: session.expires_at,
        must_enroll_totp,
    };
    Ok((StatusCode::OK, response_headers, Json(body)).into_response())
}

/// Starts a session for `user_id`, ending the one the request came with (a new id at
/// every login and privilege change defeats session fixation). Returns the `Set-Cookie`
/// headers, the CSRF token and the session.
pub(crate) async fn start_session(
    state: &AppState,
    user_id: &str,
    headers: &HeaderMap,
    client: Option<&Extension<ClientAddr>>,
) -> ApiResult<(HeaderMap, String, sessions::Session)> {
    if let Some(old) = cookie::read(headers) {
        sessions::end(&state.db, &old).await?;
    }
    let ip = ip_of(client);
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let lifetimes = state.identity.lifetimes;
    let (value, session) =
        sessions::create(&state.db, user_id, lifetimes, ip.as_deref(), user_agent).await?;
    let mut out = HeaderMap::new();
    let secure = cookie::secure(&state.settings, client.map(|c| &c.0));
    cookie::set(&mut out, &value, secure, lifetimes.absolute.as_secs());
    let csrf = sessions::csrf_token(&state.identity.keys, &value);
    Ok((out, csrf, session))
}

/// Sign out: the session is deleted on the server and the cookie cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(value) = cookie::read(&headers) {
        sessions::end(&state.db, &value).await?;
    }
    let session_id = match &caller.kind {
        PrincipalKind::Session { session_id, .. } => session_id.clone(),
        PrincipalKind::ApiKey => String::new(),
    };
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::AuthLogout).target("session", session_id),
    )
    .await;
    let mut out = HeaderMap::new();
    cookie::clear(&mut out);
    Ok((StatusCode::NO_CONTENT, out).into_response())
}

/// Who is calling.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user` (a session) or `apikey`.
    pub kind: &'static str,
    /// User or key id.
    pub id: String,
    /// Username or key name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The session's CSRF token (sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// The session's public id (sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Whether the user must enrol TOTP before anything else.
    pub must_enroll_totp: bool,
    /// Whether the user has TOTP.
    pub totp_enabled: bool,
}

/// The caller: user or API key, role, and for sessions the CSRF token.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = Me),
              (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Me>> {
    Ok(Json(match &caller.kind {
        PrincipalKind::Session {
            session_id,
            csrf_token,
            must_enroll_totp,
        } => {
            let user = users::get(&state.db, &caller.id)
                .await?
                .ok_or_else(|| ApiError::not_found("user"))?;
            Me {
                kind: "user",
                id: caller.id.clone(),
                name: caller.name.clone(),
                role: caller.role,
                csrf_token: Some(csrf_token.clone()),
                session_id: Some(session_id.clone()),
                must_enroll_totp: *must_enroll_totp,
                totp_enabled: user.totp_enabled,
            }
        }
        PrincipalKind::ApiKey => Me {
            kind: "apikey",
            id: caller.id.clone(),
            name: caller.name.clone(),
            role: caller.role,
            csrf_token: None,
            session_id: None,
            must_enroll_totp: false,
            totp_enabled: false,
        },
    }))
}

/// Password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// A rotated session's new CSRF token.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rotated {
    /// Use this token from now on (the session cookie changed too).
    pub csrf_token: String,
}

/// Checks the signed-in user's password (for sensitive account changes).
async fn confirm_password(
    state: &AppState,
    user_id: &str,
    password: &str,
) -> ApiResult<users::Credentials> {
    let creds = users::credentials(&state.db, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if !state
        .identity
        .passwords
        .verify(password, Some(&creds.password_hash))
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "the current password is not correct",
        ));
    }
    Ok(creds)
}

/// Change one's own password. Every other session of the user ends and this one gets a
/// new id (new cookie and CSRF token).
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, description = "Changed", body = Rotated),
              (status = 422, description = "Wrong current password or weak new one", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<Response> {
    confirm_password(&state, &caller.id, &body.current_password).await?;
    users::set_password(
        &state.db,
        &state.identity.passwords,
        &caller.id,
        &body.new_password,
    )
    .await?;
    let (out, csrf_token, session) =
        start_session(&state, &caller.id, &headers, client.as_ref()).await?;
    sessions::revoke_all(&state.db, &caller.id, Some(&session.id)).await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::UserPasswordChange).target("user", caller.id.clone()),
    )
    .await;
    Ok((StatusCode::OK, out, Json(Rotated { csrf_token })).into_response())
}

/// TOTP enrolment data.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// `otpauth://` URI for authenticator apps.
    pub otpauth_uri: String,
    /// Seed in base32 for manual entry.
    pub secret_base32: String,
    /// QR code of the URI, as SVG markup.
    pub qr_svg: String,
}

/// Start TOTP enrolment: returns the seed as URI, base32 and QR code. Not active until
/// confirmed with a code.
#[utoipa::path(post, path = "/api/v1/auth/totp/enroll", tag = "auth",
    responses((status = 200, description = "Scan this", body = TotpEnrolment),
              (status = 409, description = "TOTP is already on", body = ErrorBody)))]
pub async fn totp_enroll(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
) -> ApiResult<Json<TotpEnrolment>> {
    let e = totp::begin(&state.db, &state.identity.keys, &caller.id).await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::TotpEnrollStart).target("user", caller.id.clone()),
    )
    .await;
    Ok(Json(TotpEnrolment {
        otpauth_uri: e.otpauth_uri,
        secret_base32: e.secret_base32,
        qr_svg: e.qr_svg,
    }))
}

/// A TOTP or password confirmation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// The 6-digit code.
    pub code: String,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpConfirmed {
    /// Single-use codes for when the device is lost. Store them safely; they are not
    /// shown again.
    pub recovery_codes: Vec<String>,
    /// The rotated session's CSRF token.
    pub csrf_token: String,
}

/// Confirm TOTP enrolment with a current code. Turns TOTP on, returns recovery codes
/// (once) and rotates the session.
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", request_body = TotpCode,
    responses((status = 200, description = "TOTP is on", body = TotpConfirmed),
              (status = 401, description = "Wrong code", body = ErrorBody)))]
pub async fn totp_confirm(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TotpCode>,
) -> ApiResult<Response> {
    let codes = totp::confirm(&state.db, &state.identity.keys, &caller.id, &body.code).await?;
    let (out, csrf_token, _) = start_session(&state, &caller.id, &headers, client.as_ref()).await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::TotpEnable).target("user", caller.id.clone()),
    )
    .await;
    Ok((
        StatusCode::OK,
        out,
        Json(TotpConfirmed {
            recovery_codes: codes,
            csrf_token,
        }),
    )
        .into_response())
}

/// Password confirmation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    /// The current password.
    pub password: String,
}

/// Turn TOTP off (password required). Refused when the policy requires TOTP for the role.
#[utoipa::path(post, path = "/api/v1/auth/totp/disable", tag = "auth", request_body = PasswordConfirm,
    responses((status = 204, description = "TOTP is off"),
              (status = 409, description = "The role must use TOTP", body = ErrorBody)))]
pub async fn totp_disable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<PasswordConfirm>,
) -> ApiResult<StatusCode> {
    confirm_password(&state, &caller.id, &body.password).await?;
    if policy::require_totp(&state.db)
        .await?
        .contains(&caller.role)
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "your role must use two-factor sign-in",
        ));
    }
    totp::disable(&state.db, &caller.id).await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::TotpDisable).target("user", caller.id.clone()),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// One's own live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    responses((status = 200, description = "Sessions", body = [SessionView])))]
pub async fn my_sessions(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<SessionView>>> {
    let current = match &caller.kind {
        PrincipalKind::Session { session_id, .. } => Some(session_id.as_str()),
        PrincipalKind::ApiKey => None,
    };
    let list = sessions::list(&state.db, &caller.id).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionView::new(s, current))
            .collect(),
    ))
}

/// End one of one's own sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Ended"), (status = 404, description = "No such session", body = ErrorBody)))]
pub async fn revoke_my_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !sessions::revoke(&state.db, &id, Some(&caller.id)).await? {
        return Err(ApiError::not_found("session"));
    }
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::SessionRevoke).target("session", id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// First-admin setup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// The one-time token printed at first start.
    pub token: String,
    /// The admin's username.
    pub username: String,
    /// The admin's password.
    pub password: String,
}

const BAD_TOKEN: &str = "the link is not valid, has expired or was already used";

/// Create the first admin with the one-time token printed when Vigil first started with
/// no users (valid one hour, single use).
#[utoipa::path(post, path = "/api/v1/auth/bootstrap", tag = "auth", request_body = Bootstrap,
    responses((status = 201, description = "Admin created", body = UserView),
              (status = 401, description = "Bad or used token", body = ErrorBody)))]
pub async fn bootstrap(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<Bootstrap>,
) -> ApiResult<Response> {
    let name = users::normalise_username(&body.username)?;
    state
        .identity
        .passwords
        .check_policy(&body.password, &name)?;
    if tokens::consume(&state.db, Purpose::Bootstrap, &body.token)
        .await?
        .is_none()
    {
        return Err(ApiError::new(ErrorCode::Unauthorized, BAD_TOKEN));
    }
    if users::count(&state.db).await? > 0 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Vigil already has users; sign in instead",
        ));
    }
    let user = users::create(
        &state.db,
        &state.identity.passwords,
        &name,
        &body.password,
        Role::Admin,
    )
    .await?;
    audit(
        &state,
        Actor::anonymous(Some(user.username.clone()), ip_of(client.as_ref())),
        Event::new(AuditAction::UserBootstrap)
            .target("user", user.id.clone())
            .detail("role", "admin"),
    )
    .await;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// Password reset with an admin-issued link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reset {
    /// The token from the reset link.
    pub token: String,
    /// The new password.
    pub password: String,
}

/// Set a new password with a one-time reset token. Every session of the user ends.
#[utoipa::path(post, path = "/api/v1/auth/reset", tag = "auth", request_body = Reset,
    responses((status = 204, description = "Password set"),
              (status = 401, description = "Bad, used or expired token", body = ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<Reset>,
) -> ApiResult<StatusCode> {
    let Some(user_id) = tokens::peek(&state.db, Purpose::Reset, &body.token).await? else {
        return Err(ApiError::new(ErrorCode::Unauthorized, BAD_TOKEN));
    };
    let user = users::get(&state.db, &user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, BAD_TOKEN))?;
    // Check the password before spending the token, so a weak choice can be corrected.
    state
        .identity
        .passwords
        .check_policy(&body.password, &user.username)?;
    if tokens::consume(&state.db, Purpose::Reset, &body.token)
        .await?
        .as_deref()
        != Some(user_id.as_str())
    {
        return Err(ApiError::new(ErrorCode::Unauthorized, BAD_TOKEN));
    }
    users::set_password(
        &state.db,
        &state.identity.passwords,
        &user.id,
        &body.password,
    )
    .await?;
    sessions::revoke_all(&state.db, &user.id, None).await?;
    audit(
        &state,
        Actor::anonymous(Some(user.username.clone()), ip_of(client.as_ref())),
        Event::new(AuditAction::UserPasswordReset).target("user", user.id.clone()),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Access policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Roles whose members must use TOTP (they can only enrol until they do).
    pub require_totp: Vec<Role>,
}

/// The access policy.
#[utoipa::path(get, path = "/api/v1/auth/policy", tag = "auth",
    responses((status = 200, description = "Policy", body = Policy)))]
pub async fn get_policy(State(state): State<AppState>) -> ApiResult<Json<Policy>> {
    Ok(Json(Policy {
        require_totp: policy::require_totp(&state.db).await?,
    }))
}

/// Change the access policy.
#[utoipa::path(put, path = "/api/v1/auth/policy", tag = "auth", request_body = Policy,
    responses((status = 200, description = "Policy", body = Policy)))]
pub async fn put_policy(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<Policy>,
) -> ApiResult<Json<Policy>> {
    policy::set_require_totp(&state.db, &body.require_totp).await?;
    let roles: Vec<&str> = body.require_totp.iter().map(|r| r.as_str()).collect();
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::PolicyUpdate).detail("require_totp", roles),
    )
    .await;
    get_policy(State(state)).await
}

/// How long a bootstrap token lives.
pub const BOOTSTRAP_TTL: Duration = Duration::from_secs(3600);
