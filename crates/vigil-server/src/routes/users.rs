//! User administration (admins only): accounts, roles, reset links and sessions.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_core::{accounts, Actor, Role, SessionId, UserId};

use crate::auth::middleware::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, OptionalJson};
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::routes::auth::Reauth;
use crate::routes::views::{SessionView, UserView};
use crate::state::AppState;

/// Every user, by username.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, description = "Users", body = [UserView])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(state.identity.list_users().await?))
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1–64 letters, digits, `.`, `_`, `-`, `@`; stored lowercase.
    pub username: String,
    /// Initial password (the policy applies).
    pub password: String,
    /// Role.
    pub role: Role,
    /// The caller's current password (optional within the re-authentication window).
    #[serde(default)]
    pub current_password: Option<String>,
}

/// Create a user. The password must pass the policy: long enough, not the username,
/// and not guessable (`password_too_weak` says why). Only a signed-in admin may, who
/// confirms with `current_password` unless they signed in recently; an API key gets
/// 403 `reauth_required`.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "Created", body = UserView),
              (status = 403, description = "The current password is needed (`reauth_required`; always for API keys) or wrong (`reauth_failed`)", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
              (status = 409, description = "Username taken", body = ErrorBody),
              (status = 422, description = "Invalid username or weak password", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<Response> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let new = accounts::NewUser {
        username: body.username,
        password: body.password,
        role: body.role,
    };
    let user = state
        .identity
        .create_user_confirmed(&caller, &actor, body.current_password.as_deref(), new)
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView),
              (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(state.identity.get_user(&UserId::parse(&id)?).await?))
}

/// Changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
    /// The caller's current password (optional within the re-authentication window).
    #[serde(default)]
    pub current_password: Option<String>,
}

/// Change a user's role or disable/enable them. A change of role or a disable ends the
/// user's sessions, so the new rights apply from their next sign-in. The last enabled
/// admin cannot be demoted or disabled. Only a signed-in admin may, who confirms with
/// `current_password` unless they signed in recently; an API key gets 403
/// `reauth_required`.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserChange,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "Updated", body = UserView),
              (status = 403, description = "The current password is needed (`reauth_required`; always for API keys) or wrong (`reauth_failed`)", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
              (status = 409, description = "Would leave no admin", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserChange>,
) -> ApiResult<Json<UserView>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let change = accounts::UserChange {
        role: body.role,
        disabled: body.disabled,
    };
    let after = state
        .identity
        .update_user_confirmed(
            &caller,
            &actor,
            body.current_password.as_deref(),
            &UserId::parse(&id)?,
            change,
        )
        .await?;
    Ok(Json(after))
}

/// Delete a user (their sessions go too). The audit log keeps their name.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deleted"),
              (status = 409, description = "Would leave no admin", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    state
        .identity
        .delete_user(&actor, &UserId::parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time password reset link.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetLink {
    /// Give this to the user over a trusted channel; it works once.
    pub url: String,
    /// Expiry, Unix ms.
    pub expires_at: i64,
}

/// Issue a one-time password reset link for a user (replaces any earlier one). The
/// link takes over the account, so only a signed-in admin can issue one, confirming
/// with the current password unless they signed in recently (the body may then be
/// left out); an API key gets 403 `reauth_required`.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-link", tag = "users",
    params(("id" = String, Path, description = "User id")),
    request_body(content = Option<Reauth>, description = "The admin's current password (optional within the re-authentication window)"),
    responses((status = 200, description = "The link (shown once)", body = ResetLink),
              (status = 403, description = "The current password is needed (`reauth_required`; always for API keys) or wrong (`reauth_failed`)", body = ErrorBody),
              (status = 404, description = "No such user", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody)))]
pub async fn reset_link(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Reauth>,
) -> ApiResult<Json<ResetLink>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let link = state
        .identity
        .issue_reset_link(
            &caller,
            &actor,
            &UserId::parse(&id)?,
            body.current_password.as_deref(),
            &request_base(&state, &headers, client.as_ref()),
        )
        .await?;
    Ok(Json(ResetLink {
        url: link.url,
        expires_at: link.expires_at,
    }))
}

/// This request's scheme and host (the base of links when `auth.public_url` is unset).
fn request_base(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<&Extension<ClientAddr>>,
) -> String {
    let scheme = if client.is_some_and(|c| c.https) {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .map_or_else(|| state.settings.server.listen.to_string(), str::to_string);
    format!("{scheme}://{host}")
}

/// A user's live sessions.
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "Sessions", body = [SessionView])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<SessionView>>> {
    let list = state.identity.list_sessions(&UserId::parse(&id)?).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionView::new(s, None))
            .collect(),
    ))
}

/// How many sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Count.
    pub revoked: u64,
}

/// End every session of a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "Ended", body = Revoked)))]
pub async fn revoke_sessions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Revoked>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let revoked = state
        .identity
        .revoke_all_sessions(&actor, &UserId::parse(&id)?)
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// End one session of a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{session_id}", tag = "users",
    params(("id" = String, Path, description = "User id"), ("session_id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Ended"), (status = 404, description = "No such session", body = ErrorBody)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path((id, session_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let owner = UserId::parse(&id).map_err(|_| vigil_core::Error::NotFound("session"))?;
    state
        .identity
        .revoke_user_session(&actor, &owner, &SessionId::parse(&session_id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
