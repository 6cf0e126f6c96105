//! API keys for applications (admins only). A key is shown once, at creation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_core::{apikeys, Actor, ApiKeyId, Role};

use crate::auth::middleware::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::routes::views::ApiKeyView;
use crate::state::AppState;

/// Every key, newest first (revoked ones included, marked).
#[utoipa::path(get, path = "/api/v1/apikeys", tag = "apikeys",
    responses((status = 200, description = "Keys", body = [ApiKeyView])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ApiKeyView>>> {
    Ok(Json(state.identity.list_api_keys().await?))
}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for.
    pub name: String,
    /// Role the key acts with (at most your own; it never acts above your current role).
    pub role: Role,
    /// Days until it stops working: 1–3650, for admin keys 1–365. Leave it out for the
    /// role's default (admin keys 90 days, others never); `null` means never, which is
    /// refused for admin keys (422 `invalid_expiry`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, nullable, minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<Option<u32>>,
    /// The creator's current password; may be left out within `auth.reauth_window_secs`
    /// (default 5 minutes) of signing in. API keys cannot create keys.
    #[serde(default)]
    pub current_password: Option<String>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, by default).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

impl NewApiKey {
    /// The expiry asked for.
    fn expiry(&self) -> apikeys::KeyExpiry {
        match self.expires_in_days {
            None => apikeys::KeyExpiry::RoleDefault,
            Some(None) => apikeys::KeyExpiry::Never,
            Some(Some(days)) => apikeys::KeyExpiry::Days(days),
        }
    }
}

/// A created key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key. Shown only now: store it in the application's secret store.
    pub key: String,
    /// Its record.
    pub api_key: ApiKeyView,
}

/// Create a key. The response is the only time the key is shown. Only a signed-in
/// person can create keys, confirming with the current password unless they signed in
/// recently; an API key gets 403 `reauth_required` (a leaked key must not mint its own
/// successors).
#[utoipa::path(post, path = "/api/v1/apikeys", tag = "apikeys", request_body = NewApiKey,
    responses((status = 201, description = "Created (key shown once)", body = CreatedApiKey),
              (status = 403, description = "The current password is needed (`reauth_required`; always for API keys) or wrong (`reauth_failed`), or the role is above the creator's", body = ErrorBody),
              (status = 422, description = "Invalid name or expiry (`invalid_expiry`: an admin key without expiry or beyond 365 days)", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<NewApiKey>,
) -> ApiResult<Response> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let new = apikeys::NewApiKey {
        expiry: body.expiry(),
        name: body.name,
        role: body.role,
    };
    let created = state
        .identity
        .create_api_key(&actor, Some(&caller), new, body.current_password.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: created.key,
            api_key: created.api_key,
        }),
    )
        .into_response())
}

/// Revoke a key; it stops working at once and stays listed.
#[utoipa::path(delete, path = "/api/v1/apikeys/{id}", tag = "apikeys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "Revoked", body = ApiKeyView),
              (status = 404, description = "No such key", body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyView>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let key = state
        .identity
        .revoke_api_key(&actor, &ApiKeyId::parse(&id)?)
        .await?;
    Ok(Json(key))
}
