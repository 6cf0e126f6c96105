//! Webhooks (admins only: they send data out of Vigil). The URL is shown redacted and
//! the signing secret only once, in the answer to the creation. See
//! `vigil_core::integrations` for delivery, signatures and retries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use vigil_core::integrations::webhooks::{
    CreatedWebhook, DeliveryView, NewWebhook, TestResult, WebhookPatch, WebhookView,
};
use vigil_core::integrations::WebhookId;
use vigil_core::Actor;

use crate::auth::middleware::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::state::AppState;

fn parse_id(id: &str) -> ApiResult<WebhookId> {
    WebhookId::parse(id).map_err(|_| ApiError::not_found("webhook"))
}

/// Every webhook, oldest first.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "Webhooks", body = [WebhookView])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<WebhookView>>> {
    Ok(Json(state.webhooks.list().await?))
}

/// Register a webhook. The answer holds the signing secret: the only time it is shown.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, description = "Created (secret shown once)", body = CreatedWebhook),
              (status = 422, description = "Invalid name, URL, secret or event types, or a URL the network guard refuses (loopback, link-local, cloud metadata, Vigil itself)", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<NewWebhook>,
) -> ApiResult<Response> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let created = state.webhooks.create(&actor, body).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// One webhook.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "The webhook", body = WebhookView),
              (status = 404, description = "No such webhook", body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(state.webhooks.get(&parse_id(&id)?).await?))
}

/// Change a webhook's name, URL, secret, event types or state.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookPatch,
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "Changed", body = WebhookView),
              (status = 404, description = "No such webhook", body = ErrorBody),
              (status = 422, description = "Invalid value or refused URL", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> ApiResult<Json<WebhookView>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let id = parse_id(&id)?;
    Ok(Json(state.webhooks.update(&actor, &id, patch).await?))
}

/// Delete a webhook and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such webhook", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    state.webhooks.delete(&actor, &parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Post a signed `webhook.test` event to the webhook now (once, not logged) and report
/// how the receiver answered.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "The attempt's outcome (`ok` false when the receiver failed)", body = TestResult),
              (status = 404, description = "No such webhook", body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<TestResult>> {
    Ok(Json(state.webhooks.test(&parse_id(&id)?).await?))
}

/// Delivery log filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Most deliveries, 1–200 (default 50), newest first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A webhook's latest deliveries: attempts, last status, next attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id"), DeliveriesQuery),
    responses((status = 200, description = "Deliveries, newest first", body = [DeliveryView]),
              (status = 404, description = "No such webhook", body = ErrorBody),
              (status = 422, description = "`limit` outside 1–200 (`invalid_filter`)", body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    let id = parse_id(&id)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::from(vigil_core::Error::InvalidFilter(
            "limit must be between 1 and 200".into(),
        )));
    }
    Ok(Json(state.webhooks.deliveries(&id, limit).await?))
}
