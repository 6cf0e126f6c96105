//! API keys for applications (admins only). A key is shown once, at creation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::{apikeys, Role};

use crate::auth::middleware::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiJson;
use crate::middleware::client_ip::ClientAddr;
use crate::routes::auth::{audit, ip_of};
use crate::routes::views::ApiKeyView;
use crate::state::AppState;

/// Every key, newest first (revoked ones included, marked).
#[utoipa::path(get, path = "/api/v1/apikeys", tag = "apikeys",
    responses((status = 200, description = "Keys", body = [ApiKeyView])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ApiKeyView>>> {
    let all = apikeys::list(&state.db).await?;
    Ok(Json(all))
}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for.
    pub name: String,
    /// Role the key acts with.
    pub role: Role,
    /// Days until it stops working (none: until revoked).
    pub expires_in_days: Option<u32>,
}

/// A created key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key. Shown only now: store it in the application's secret store.
    pub key: String,
    /// Its record.
    pub api_key: ApiKeyView,
}

/// Create a key. The response is the only time the key is shown.
#[utoipa::path(post, path = "/api/v1/apikeys", tag = "apikeys", request_body = NewApiKey,
    responses((status = 201, description = "Created (key shown once)", body = CreatedApiKey),
              (status = 422, description = "Invalid name or expiry", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<NewApiKey>,
) -> ApiResult<Response> {
    if body.role > caller.role {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "a key cannot have a higher role than its creator",
        ));
    }
    let expires_at = match body.expires_in_days {
        Some(days) if !(1..=3650).contains(&days) => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "expires_in_days must be between 1 and 3650",
            ))
        }
        Some(days) => Some(vigil_store::now_ms().saturating_add(i64::from(days) * 86_400_000)),
        None => None,
    };
    let creator = caller.user_id().map(str::to_string);
    let (key, row) = apikeys::create(
        &state.db,
        &body.name,
        body.role,
        creator.as_deref(),
        expires_at,
    )
    .await?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::ApiKeyCreate)
            .target("apikey", row.id.clone())
            .detail("name", row.name.clone())
            .detail("role", row.role.as_str())
            .detail("prefix", row.prefix.clone()),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey { key, api_key: row }),
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
    let key = apikeys::revoke(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    audit(
        &state,
        Actor::principal(&caller, ip_of(client.as_ref())),
        Event::new(AuditAction::ApiKeyRevoke)
            .target("apikey", id)
            .detail("name", key.name.clone()),
    )
    .await;
    Ok(Json(key))
}
