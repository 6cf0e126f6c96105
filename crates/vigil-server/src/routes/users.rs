//! User administration (admins only): accounts, roles, reset links and sessions.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::tokens::{self, Purpose};
use vigil_auth::{sessions, users, Role};

use crate::auth::middleware::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::middleware::client_ip::ClientAddr;
use crate::routes::auth::{audit, ip_of};
use crate::routes::views::{SessionView, UserView};
use crate::state::AppState;

/// Every user, by username.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, description = "Users", body = [UserView])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<UserView>>> {
    let all = users::list(&state.db).await?;
    Ok(Json(all))
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
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "Created", body = UserView),
              (status = 409, description = "Username taken", body = ErrorBody),
              (status = 422, description = "Invalid username or weak password", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<Response> {
    let user = users::create(
        &state.db,
        &state.identity.passwords,
        &body.username,
        &body.password,
        body.role,
    )
    .await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::UserCreate)
            .target("user", user.id.clone())
            .detail("username", user.username.clone())
            .detail("role", user.role.as_str()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn find(state: &AppState, id: &str) -> ApiResult<users::User> {
    users::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
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
    Ok(Json(find(&state, &id).await?))
}

/// Changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
}

/// Change a user's role or disable/enable them. A change of role or a disable ends the
/// user's sessions, so the new rights apply from their next sign-in. The last enabled
/// admin cannot be demoted or disabled.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserChange,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "Updated", body = UserView),
              (status = 409, description = "Would leave no admin", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserChange>,
) -> ApiResult<Json<UserView>> {
    let before = find(&state, &id).await?;
    let after = users::update(&state.db, &id, body.role, body.disabled).await?;
    let privilege_changed = before.role != after.role || (!before.disabled && after.disabled);
    if privilege_changed {
        sessions::revoke_all(&state.db, &id, None).await?;
    }
    let mut event = Event::new(AuditAction::UserUpdate).target("user", id.clone());
    if before.role != after.role {
        event = event.detail("role", format!("{} -> {}", before.role, after.role));
    }
    if before.disabled != after.disabled {
        event = event.detail("disabled", after.disabled);
    }
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        event,
    )
    .await;
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
    let user = users::delete(&state.db, &id).await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::UserDelete)
            .target("user", id)
            .detail("username", user.username),
    )
    .await;
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

/// Issue a one-time password reset link for a user (replaces any earlier one).
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-link", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The link (shown once)", body = ResetLink)))]
pub async fn reset_link(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<ResetLink>> {
    let user = find(&state, &id).await?;
    let ttl = Duration::from_secs(state.settings.auth.reset_link_minutes * 60);
    let (token, expires_at) = tokens::issue(
        &state.db,
        Purpose::Reset,
        Some(&user.id),
        Some(&caller.id),
        ttl,
    )
    .await?;
    let base = base_url(&state, &headers, client.as_ref());
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::UserResetLink).target("user", user.id.clone()),
    )
    .await;
    Ok(Json(ResetLink {
        url: format!("{base}/reset?token={token}"),
        expires_at,
    }))
}

/// The URL users reach Vigil at: `auth.public_url`, else this request's scheme and host.
pub(crate) fn base_url(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<&Extension<ClientAddr>>,
) -> String {
    if let Some(url) = &state.settings.auth.public_url {
        return url.trim_end_matches('/').to_string();
    }
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
    find(&state, &id).await?;
    let list = sessions::list(&state.db, &id).await?;
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
    find(&state, &id).await?;
    let revoked = sessions::revoke_all(&state.db, &id, None).await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::SessionRevokeAll)
            .target("user", id)
            .detail("count", revoked),
    )
    .await;
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
    if !sessions::revoke(&state.db, &session_id, Some(&id)).await? {
        return Err(ApiError::not_found("session"));
    }
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::SessionRevoke)
            .target("session", session_id)
            .detail("user", id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
