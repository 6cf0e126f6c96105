//! Webhooks and their delivery log: the rows, and the queries the webhook use case and
//! its dispatcher run. Sealing, validation and sending live in `vigil-core`.

use sqlx::Row;

use crate::{Database, StoreError};

/// A stored webhook (URL and secret still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    /// 32 hex digits.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The full URL, sealed.
    pub url_sealed: String,
    /// The URL with credentials masked, for listings.
    pub url_redacted: String,
    /// The signing secret, sealed.
    pub secret_sealed: String,
    /// Event type prefixes, as a JSON array.
    pub event_types: String,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// One delivery of one event to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// 32 hex digits (the `X-Vigil-Delivery` header).
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The event's id on the bus.
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// The exact JSON body posted.
    pub body: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// HTTP status of the latest attempt, when one answered.
    pub last_status: Option<i64>,
    /// Why the latest attempt failed, in words.
    pub last_error: Option<String>,
    /// When the next attempt is due (Unix ms); `None` once delivered or given up.
    pub next_attempt_at: Option<i64>,
    /// When it was delivered (Unix ms).
    pub delivered_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
}

const HOOK_COLUMNS: &str = "id, name, url_sealed, url_redacted, secret_sealed, event_types, \
                            enabled, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, event_type, body, attempts, \
                                last_status, last_error, next_attempt_at, delivered_at, \
                                created_at";

fn hook_from(row: &sqlx::any::AnyRow) -> Result<WebhookRow, StoreError> {
    let e = StoreError::db;
    Ok(WebhookRow {
        id: row.try_get("id").map_err(e("reading a webhook"))?,
        name: row.try_get("name").map_err(e("reading a webhook"))?,
        url_sealed: row.try_get("url_sealed").map_err(e("reading a webhook"))?,
        url_redacted: row
            .try_get("url_redacted")
            .map_err(e("reading a webhook"))?,
        secret_sealed: row
            .try_get("secret_sealed")
            .map_err(e("reading a webhook"))?,
        event_types: row.try_get("event_types").map_err(e("reading a webhook"))?,
        enabled: row
            .try_get::<i64, _>("enabled")
            .map_err(e("reading a webhook"))?
            != 0,
        created_at: row.try_get("created_at").map_err(e("reading a webhook"))?,
        updated_at: row.try_get("updated_at").map_err(e("reading a webhook"))?,
    })
}

fn delivery_from(row: &sqlx::any::AnyRow) -> Result<DeliveryRow, StoreError> {
    let e = || StoreError::db("reading a webhook delivery");
    Ok(DeliveryRow {
        id: row.try_get("id").map_err(e())?,
        webhook_id: row.try_get("webhook_id").map_err(e())?,
        event_id: row.try_get("event_id").map_err(e())?,
        event_type: row.try_get("event_type").map_err(e())?,
        body: row.try_get("body").map_err(e())?,
        attempts: row.try_get("attempts").map_err(e())?,
        last_status: row.try_get("last_status").map_err(e())?,
        last_error: row.try_get("last_error").map_err(e())?,
        next_attempt_at: row.try_get("next_attempt_at").map_err(e())?,
        delivered_at: row.try_get("delivered_at").map_err(e())?,
        created_at: row.try_get("created_at").map_err(e())?,
    })
}

/// Stores a new webhook.
pub async fn insert(db: &Database, hook: &WebhookRow) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO webhooks ({HOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&hook.id)
    .bind(&hook.name)
    .bind(&hook.url_sealed)
    .bind(&hook.url_redacted)
    .bind(&hook.secret_sealed)
    .bind(&hook.event_types)
    .bind(i64::from(hook.enabled))
    .bind(hook.created_at)
    .bind(hook.updated_at)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("saving a webhook"))?;
    Ok(())
}

/// Writes every field of an existing webhook; `false` when it is gone.
pub async fn update(db: &Database, hook: &WebhookRow) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE webhooks SET name = $1, url_sealed = $2, url_redacted = $3, \
         secret_sealed = $4, event_types = $5, enabled = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&hook.name)
    .bind(&hook.url_sealed)
    .bind(&hook.url_redacted)
    .bind(&hook.secret_sealed)
    .bind(&hook.event_types)
    .bind(i64::from(hook.enabled))
    .bind(hook.updated_at)
    .bind(&hook.id)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("updating a webhook"))?;
    Ok(done.rows_affected() == 1)
}

/// One webhook.
pub async fn get(db: &Database, id: &str) -> Result<Option<WebhookRow>, StoreError> {
    sqlx::query(&format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::db("reading a webhook"))?
    .as_ref()
    .map(hook_from)
    .transpose()
}

/// Every webhook, oldest first.
pub async fn list(db: &Database) -> Result<Vec<WebhookRow>, StoreError> {
    sqlx::query(&format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
    ))
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::db("listing webhooks"))?
    .iter()
    .map(hook_from)
    .collect()
}

/// Deletes a webhook and its delivery log; `false` when there was none.
pub async fn delete(db: &Database, id: &str) -> Result<bool, StoreError> {
    let mut tx = db
        .pool()
        .begin()
        .await
        .map_err(StoreError::db("deleting a webhook"))?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("deleting a webhook's deliveries"))?;
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("deleting a webhook"))?;
    tx.commit()
        .await
        .map_err(StoreError::db("deleting a webhook"))?;
    Ok(done.rows_affected() == 1)
}

/// Queues a delivery unless this webhook already has one for this event; `true` when
/// queued now.
pub async fn enqueue(db: &Database, delivery: &DeliveryRow) -> Result<bool, StoreError> {
    let done = sqlx::query(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (webhook_id, event_id) DO NOTHING"
    ))
    .bind(&delivery.id)
    .bind(&delivery.webhook_id)
    .bind(delivery.event_id)
    .bind(&delivery.event_type)
    .bind(&delivery.body)
    .bind(delivery.attempts)
    .bind(delivery.last_status)
    .bind(delivery.last_error.as_deref())
    .bind(delivery.next_attempt_at)
    .bind(delivery.delivered_at)
    .bind(delivery.created_at)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("queueing a webhook delivery"))?;
    Ok(done.rows_affected() == 1)
}

/// Deliveries due at `now` (oldest due first), at most `limit`.
pub async fn due(db: &Database, now: i64, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
         WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::db("finding due webhook deliveries"))?
    .iter()
    .map(delivery_from)
    .collect()
}

/// Claims a due delivery for one attempt: moves its due time from `seen` to `lease_until`
/// so no other sender takes it meanwhile. `false` when another sender got there first.
pub async fn claim(
    db: &Database,
    id: &str,
    seen: i64,
    lease_until: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1 \
         WHERE id = $2 AND next_attempt_at = $3 AND delivered_at IS NULL",
    )
    .bind(lease_until)
    .bind(id)
    .bind(seen)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("claiming a webhook delivery"))?;
    Ok(done.rows_affected() == 1)
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i64>,
    /// Why it failed, in words (`None` on success).
    pub error: Option<String>,
    /// When it was delivered (success), else `None`.
    pub delivered_at: Option<i64>,
    /// When to try again; `None` when delivered or given up.
    pub next_attempt_at: Option<i64>,
}

/// Records an attempt's outcome (one more attempt counted).
pub async fn record_attempt(
    db: &Database,
    id: &str,
    outcome: &AttemptOutcome,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $1, \
         last_error = $2, delivered_at = $3, next_attempt_at = $4 WHERE id = $5",
    )
    .bind(outcome.status)
    .bind(outcome.error.as_deref())
    .bind(outcome.delivered_at)
    .bind(outcome.next_attempt_at)
    .bind(id)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("recording a webhook attempt"))?;
    Ok(())
}

/// A webhook's deliveries, newest first, at most `limit`.
pub async fn deliveries(
    db: &Database,
    webhook_id: &str,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
         ORDER BY created_at DESC, event_id DESC LIMIT $2"
    ))
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::db("listing webhook deliveries"))?
    .iter()
    .map(delivery_from)
    .collect()
}

/// Deletes finished deliveries (delivered or given up) created before `before`.
pub async fn prune(db: &Database, before: i64) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM webhook_deliveries WHERE next_attempt_at IS NULL AND created_at < $1",
    )
    .bind(before)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("pruning webhook deliveries"))?;
    Ok(done.rows_affected())
}

/// The last event id turned into deliveries, if the dispatcher ever ran.
pub async fn cursor(db: &Database) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT last_event_id FROM webhook_cursor WHERE singleton = 1")
        .fetch_optional(db.pool())
        .await
        .map_err(StoreError::db("reading the webhook cursor"))?;
    row.map(|r| r.try_get::<i64, _>("last_event_id"))
        .transpose()
        .map_err(StoreError::db("reading the webhook cursor"))
}

/// Moves the cursor forward to `event_id` (never back: instances may race).
pub async fn advance_cursor(db: &Database, event_id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_cursor (singleton, last_event_id) VALUES (1, $1) \
         ON CONFLICT (singleton) DO UPDATE SET last_event_id = excluded.last_event_id \
         WHERE webhook_cursor.last_event_id < excluded.last_event_id",
    )
    .bind(event_id)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("moving the webhook cursor"))?;
    Ok(())
}
