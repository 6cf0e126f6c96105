//! Sign-in and one's own account: login, logout, who am I, password change, TOTP,
//! own sessions, first-admin setup, password reset, and the TOTP policy.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_core::login::{ClientInfo, LoginAttempt, DEVICE_COOKIE_MAX_AGE};
use vigil_core::{Actor, Identity, PrincipalKind, Role, SessionId, UserId};

use crate::auth::middleware::Caller;
use crate::auth::{cookie, device};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, OptionalJson};
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::routes::views::{SessionView, UserView};
use crate::state::AppState;

/// What the session layer needs to know about the request: address, browser, and the
/// cookie it came with (ended when a new session starts).
fn client_info(headers: &HeaderMap, client: Option<&Extension<ClientAddr>>) -> ClientInfo {
    ClientInfo {
        ip: ip_of(client),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        cookie: cookie::read(headers),
        device_cookie: device::read(headers),
    }
}

/// The `Set-Cookie` headers for a session just started.
fn session_cookie(
    state: &AppState,
    client: Option<&Extension<ClientAddr>>,
    cookie_value: &str,
) -> HeaderMap {
    let mut out = HeaderMap::new();
    let secure = cookie::secure(&state.settings, client.map(|c| &c.0));
    cookie::set(
        &mut out,
        cookie_value,
        secure,
        state.identity.lifetimes.absolute.as_secs(),
    );
    out
}

/// The signed-in caller's user id (the access layer lets only people reach account
/// routes; an API key's id is never a user id, so the lookups below find nothing).
fn user_id_of(caller: &vigil_core::Principal) -> UserId {
    UserId::from_stored(caller.id.clone())
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

/// Sign in with username and password (and TOTP when enrolled). Sets the session cookie
/// and a device cookie (this browser's own failure budget when the account is under
/// attack). Unknown usernames and wrong passwords get the same answer in about the same
/// time; too many failures for the name from one address, from one address, for the
/// account or for its second factor wait (`429` with `Retry-After`, no password check).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; cookie set", body = LoginResponse),
        (status = 401, description = "Wrong credentials (`unauthorized`), TOTP needed (`totp_required`) or a wrong code (`invalid_totp_code`)", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let attempt = LoginAttempt {
        username: body.username,
        password: body.password,
        totp: body.totp,
    };
    let signed_in = state
        .identity
        .login(attempt, client_info(&headers, client.as_ref()))
        .await?;
    let mut out = session_cookie(&state, client.as_ref(), &signed_in.started.cookie_value);
    device::set(
        &mut out,
        &signed_in.device_cookie,
        cookie::secure(&state.settings, client.as_ref().map(|c| &c.0)),
        DEVICE_COOKIE_MAX_AGE.as_secs(),
    );
    let body = LoginResponse {
        user: signed_in.user,
        csrf_token: signed_in.started.csrf_token,
        expires_at: signed_in.started.session.expires_at,
        must_enroll_totp: signed_in.must_enroll_totp,
    };
    Ok((StatusCode::OK, out, Json(body)).into_response())
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
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    state
        .identity
        .logout(&caller, &actor, cookie::read(&headers).as_deref())
        .await?;
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
    let me = state.identity.me(&caller).await?;
    let p = me.principal;
    Ok(Json(match p.kind {
        PrincipalKind::Session {
            session_id,
            csrf_token,
            must_enroll_totp,
        } => Me {
            kind: "user",
            id: p.id,
            name: p.name,
            role: p.role,
            csrf_token: Some(csrf_token),
            session_id: Some(session_id),
            must_enroll_totp,
            totp_enabled: me.totp_enabled,
        },
        PrincipalKind::ApiKey => Me {
            kind: "apikey",
            id: p.id,
            name: p.name,
            role: p.role,
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

/// Change one's own password (the current one is always required). Every other session
/// of the user ends and this one gets a new id (new cookie and CSRF token). A wrong
/// current password counts as a failed sign-in.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, description = "Changed", body = Rotated),
              (status = 403, description = "Wrong current password (`reauth_failed`)", body = ErrorBody),
              (status = 422, description = "Weak new password (`password_too_weak`, `password_too_short`…)", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<Response> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let started = state
        .identity
        .change_password(
            &caller,
            &actor,
            &body.current_password,
            &body.new_password,
            &client_info(&headers, client.as_ref()),
        )
        .await?;
    let out = session_cookie(&state, client.as_ref(), &started.cookie_value);
    let body = Rotated {
        csrf_token: started.csrf_token,
    };
    Ok((StatusCode::OK, out, Json(body)).into_response())
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

/// A confirmation of a sensitive change: the current password, which may be left out
/// within `auth.reauth_window_secs` (default 5 minutes) of signing in or of the last
/// confirmation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reauth {
    /// The caller's current password.
    #[serde(default)]
    pub current_password: Option<String>,
}

/// Start TOTP enrolment: returns the seed as URI, base32 and QR code. Not active until
/// confirmed with a code. Needs the current password unless the sign-in is recent (the
/// body may then be left out).
#[utoipa::path(post, path = "/api/v1/auth/totp/enroll", tag = "auth",
    request_body(content = Option<Reauth>, description = "The current password (optional within the re-authentication window)"),
    responses((status = 200, description = "Scan this", body = TotpEnrolment),
              (status = 403, description = "The current password is needed (`reauth_required`) or wrong (`reauth_failed`)", body = ErrorBody),
              (status = 409, description = "TOTP is already on", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody)))]
pub async fn totp_enroll(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    OptionalJson(body): OptionalJson<Reauth>,
) -> ApiResult<Json<TotpEnrolment>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let e = state
        .identity
        .begin_totp(&caller, &actor, body.current_password.as_deref())
        .await?;
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
/// (once), rotates the session and ends every other session of the user.
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
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let enabled = state
        .identity
        .confirm_totp(
            &caller,
            &actor,
            &body.code,
            &client_info(&headers, client.as_ref()),
        )
        .await?;
    let out = session_cookie(&state, client.as_ref(), &enabled.started.cookie_value);
    Ok((
        StatusCode::OK,
        out,
        Json(TotpConfirmed {
            recovery_codes: enabled.recovery_codes,
            csrf_token: enabled.started.csrf_token,
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

/// Turn TOTP off (the password is always required). Refused when the policy requires
/// TOTP for the role.
#[utoipa::path(post, path = "/api/v1/auth/totp/disable", tag = "auth", request_body = PasswordConfirm,
    responses((status = 204, description = "TOTP is off"),
              (status = 403, description = "Wrong password (`reauth_failed`)", body = ErrorBody),
              (status = 409, description = "The role must use TOTP", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody)))]
pub async fn totp_disable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<PasswordConfirm>,
) -> ApiResult<StatusCode> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    state
        .identity
        .disable_totp(&caller, &actor, &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One's own live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    responses((status = 200, description = "Sessions", body = [SessionView])))]
pub async fn my_sessions(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<SessionView>>> {
    let current = Identity::session_of(&caller);
    let list = state.identity.list_sessions(&user_id_of(&caller)).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionView::new(s, current.as_ref().map(SessionId::as_str)))
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
    let id = SessionId::parse(&id)?;
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    state
        .identity
        .revoke_own_session(&actor, &user_id_of(&caller), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// First-admin setup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// The one-time token of the setup link written at first start (in the link's
    /// fragment, `#token=…`).
    pub token: String,
    /// The admin's username.
    pub username: String,
    /// The admin's password.
    pub password: String,
}

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
    let user = state
        .identity
        .bootstrap_admin(
            &body.token,
            &body.username,
            &body.password,
            ip_of(client.as_ref()),
        )
        .await?;
    vigil_core::bootstrap::remove_setup_link(&state.settings.data_dir);
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
    state
        .identity
        .reset_password(&body.token, &body.password, ip_of(client.as_ref()))
        .await?;
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
        require_totp: state.identity.totp_policy().await?,
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
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let require_totp = state
        .identity
        .set_totp_policy(&actor, &body.require_totp)
        .await?;
    Ok(Json(Policy { require_totp }))
}
