//! The `events` table (migration `0003_events.sql`): append with the next id, read
//! after an id, import an event first published against another database, prune.

use sqlx::any::AnyRow;
use sqlx::Row;
use vigil_auth::Role;
use vigil_store::{Backend, Database};

use super::{Event, EventError};

/// PostgreSQL channel carrying the id of each new event to every listening instance.
pub const PG_CHANNEL: &str = "vigil_events";

const COLUMNS: &str = "id, at, kind, min_role, payload";

/// Where an event was first published: the store (database) id and the id it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The first store's `events_head.store_id`.
    pub store: String,
    /// The event's id in that store.
    pub id: i64,
}

/// An event about to be stored.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    /// Publication time, Unix ms.
    pub at: i64,
    /// Dotted type name.
    pub kind: &'a str,
    /// Least role that may see it.
    pub min_role: Role,
    /// JSON payload, encoded.
    pub payload: &'a str,
}

/// This database's store id and newest event id; creates the head row on first use.
pub async fn open_head(db: &Database) -> Result<(String, i64), EventError> {
    sqlx::query(
        "INSERT INTO events_head (singleton, store_id, last_id) VALUES (1, $1, 0) \
         ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(vigil_auth::token::random_token(16))
    .execute(db.pool())
    .await
    .map_err(EventError::db("creating the event counter"))?;
    let (store, last): (String, i64) =
        sqlx::query_as("SELECT store_id, last_id FROM events_head WHERE singleton = 1")
            .fetch_one(db.pool())
            .await
            .map_err(EventError::db("reading the event counter"))?;
    Ok((store, last))
}

/// Stores `draft` under the next id and returns it. With `origin` (an event imported
/// from another store) nothing is stored, and `None` returned, when it is already here.
/// On PostgreSQL the id is also sent on [`PG_CHANNEL`], delivered at commit.
pub async fn append(
    db: &Database,
    own_store: &str,
    draft: &Draft<'_>,
    origin: Option<&Origin>,
) -> Result<Option<i64>, EventError> {
    let pool = db.pool();
    let begun = match db.backend() {
        // The write lock up front, as the audit log does: ids must be handed out in
        // commit order.
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    };
    let mut tx = begun.map_err(EventError::db("starting an event append"))?;
    if let Some(o) = origin {
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT id FROM events WHERE origin = $1 AND origin_id = $2")
                .bind(&o.store)
                .bind(o.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(EventError::db("looking up an imported event"))?;
        if seen.is_some() {
            return Ok(None);
        }
    }
    // The row lock taken here is held until commit, so no later id commits first.
    let id: i64 = sqlx::query_scalar(
        "UPDATE events_head SET last_id = last_id + 1 WHERE singleton = 1 RETURNING last_id",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(EventError::db("taking the next event id"))?;
    let (origin_store, origin_id) = match origin {
        Some(o) => (o.store.as_str(), o.id),
        None => (own_store, id),
    };
    sqlx::query(
        "INSERT INTO events (id, at, kind, min_role, payload, origin, origin_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(draft.at)
    .bind(draft.kind)
    .bind(draft.min_role.as_str())
    .bind(draft.payload)
    .bind(origin_store)
    .bind(origin_id)
    .execute(&mut *tx)
    .await
    .map_err(EventError::db("storing an event"))?;
    if db.backend() == Backend::Postgres {
        // `pg_notify` returns void, which the Any driver cannot decode: count it.
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2)) AS sent")
            .bind(PG_CHANNEL)
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(EventError::db("notifying other instances of an event"))?;
    }
    tx.commit()
        .await
        .map_err(EventError::db("committing an event"))?;
    Ok(Some(id))
}

/// Up to `limit` events with an id above `after`, oldest first.
pub async fn after(db: &Database, after: i64, limit: i64) -> Result<Vec<Event>, EventError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(EventError::db("reading events"))?;
    rows.iter().map(read).collect()
}

/// The newest id handed out (0 before any).
pub async fn last_id(db: &Database) -> Result<i64, EventError> {
    sqlx::query_scalar("SELECT last_id FROM events_head WHERE singleton = 1")
        .fetch_one(db.pool())
        .await
        .map_err(EventError::db("reading the event counter"))
}

/// Deletes events published before `before` (Unix ms); returns how many.
pub async fn prune(db: &Database, before: i64) -> Result<u64, EventError> {
    let done = sqlx::query("DELETE FROM events WHERE at < $1")
        .bind(before)
        .execute(db.pool())
        .await
        .map_err(EventError::db("deleting old events"))?;
    Ok(done.rows_affected())
}

fn read(row: &AnyRow) -> Result<Event, EventError> {
    let e = EventError::db("reading an event");
    let role: String = row.try_get("min_role").map_err(&e)?;
    let payload: String = row.try_get("payload").map_err(&e)?;
    Ok(Event {
        id: row.try_get("id").map_err(&e)?,
        at: row.try_get("at").map_err(&e)?,
        kind: row.try_get("kind").map_err(&e)?,
        // An unknown role (a newer Vigil's, or an edited row) is shown to admins only:
        // fail closed.
        min_role: role.parse().unwrap_or(Role::Admin),
        // Stored by us as JSON; an edited row is shown as text rather than hidden.
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
    })
}
