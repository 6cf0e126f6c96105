//! Server-side sessions. The cookie carries 256 random bits; the database keeps only
//! their SHA-256, plus a separate public id used to list and revoke sessions. A session
//! ends after `idle` without use, at its absolute expiry, at logout, or when revoked.

use std::time::Duration;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use vigil_store::{now_ms, Database};

use crate::keys::purpose;
use crate::token::{hash_token, new_id, random_token};
use crate::users::{self, User};
use crate::{AuthError, Keys};

/// `last_seen_at` is written at most this often per session, to spare the database.
const TOUCH_EVERY_MS: i64 = 30_000;

/// A session as listed to its owner and admins (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Public id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Start, Unix ms.
    pub created_at: i64,
    /// Last request, Unix ms (to within 30 s).
    pub last_seen_at: i64,
    /// Absolute end, Unix ms.
    pub expires_at: i64,
    /// Client address at login.
    pub ip: Option<String>,
    /// Browser at login.
    pub user_agent: Option<String>,
    /// When the person last proved who they are in this session (sign-in or a password
    /// re-entered for a sensitive change), Unix ms.
    pub authenticated_at: i64,
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after login regardless.
    pub absolute: Duration,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

const COLUMNS: &str =
    "public_id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, authenticated_at";

fn read(row: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get("public_id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        authenticated_at: row.try_get("authenticated_at")?,
    })
}

/// The CSRF token bound to a session's cookie value (derived, never stored).
pub fn csrf_token(keys: &Keys, cookie_value: &str) -> String {
    keys.mac_hex(purpose::CSRF, cookie_value.as_bytes())
}

/// Starts a session for `user_id`; returns the cookie value (shown once) and the session.
/// `authenticated_at` is when the person last proved who they are: now for a sign-in,
/// the replaced session's time when a session is only rotated.
pub async fn create(
    db: &Database,
    user_id: &str,
    lifetimes: Lifetimes,
    ip: Option<&str>,
    user_agent: Option<&str>,
    authenticated_at: Option<i64>,
) -> Result<(String, Session), AuthError> {
    let token = random_token(32);
    let now = now_ms();
    let authenticated_at = authenticated_at.unwrap_or(now).min(now);
    let session = Session {
        id: new_id(),
        user_id: user_id.to_string(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.saturating_add(ms(lifetimes.absolute)),
        ip: ip.map(str::to_string),
        user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
        authenticated_at,
    };
    sqlx::query(
        "INSERT INTO sessions (id_hash, public_id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, authenticated_at) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
    )
    .bind(hash_token(&token))
    .bind(&session.id)
    .bind(&session.user_id)
    .bind(now)
    .bind(session.expires_at)
    .bind(session.ip.as_deref())
    .bind(session.user_agent.as_deref())
    .bind(authenticated_at)
    .execute(db.pool())
    .await
    .map_err(AuthError::db("starting a session"))?;
    Ok((token, session))
}

/// The live session and enabled user behind a cookie value, refreshing its idle timer.
/// Expired sessions are deleted on sight.
pub async fn authenticate(
    db: &Database,
    cookie_value: &str,
    lifetimes: Lifetimes,
) -> Result<Option<(Session, User)>, AuthError> {
    if cookie_value.len() > 128 {
        return Ok(None);
    }
    let id_hash = hash_token(cookie_value);
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE id_hash = $1"
    ))
    .bind(&id_hash)
    .fetch_optional(db.pool())
    .await
    .map_err(AuthError::db("loading a session"))?;
    let Some(row) = row else { return Ok(None) };
    let mut session = read(&row).map_err(AuthError::db("reading a session"))?;
    let now = now_ms();
    let idle_end = session.last_seen_at.saturating_add(ms(lifetimes.idle));
    if now >= session.expires_at || now >= idle_end {
        delete_by_hash(db, &id_hash).await?;
        return Ok(None);
    }
    let Some(user) = users::get(db, &session.user_id).await? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(&id_hash)
            .execute(db.pool())
            .await
            .map_err(AuthError::db("refreshing a session"))?;
        session.last_seen_at = now;
    }
    Ok(Some((session, user)))
}

async fn delete_by_hash(db: &Database, id_hash: &str) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("ending a session"))?;
    Ok(())
}

/// Ends the session behind a cookie value (logout). Unknown values are ignored.
pub async fn end(db: &Database, cookie_value: &str) -> Result<(), AuthError> {
    delete_by_hash(db, &hash_token(cookie_value)).await
}

/// Ends the session with public id `id` if it belongs to `user_id` (when given);
/// returns whether one was ended.
pub async fn revoke(db: &Database, id: &str, user_id: Option<&str>) -> Result<bool, AuthError> {
    let done = match user_id {
        Some(user) => sqlx::query("DELETE FROM sessions WHERE public_id = $1 AND user_id = $2")
            .bind(id)
            .bind(user),
        None => sqlx::query("DELETE FROM sessions WHERE public_id = $1").bind(id),
    }
    .execute(db.pool())
    .await
    .map_err(AuthError::db("revoking a session"))?;
    Ok(done.rows_affected() > 0)
}

/// When the person behind the live session with public id `id` last proved who they
/// are (Unix ms); `None` when there is no such session.
pub async fn authenticated_at(db: &Database, id: &str) -> Result<Option<i64>, AuthError> {
    sqlx::query_scalar("SELECT authenticated_at FROM sessions WHERE public_id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map_err(AuthError::db("reading a session's sign-in time"))
}

/// Records that the person behind session `id` just proved who they are again (re-entered
/// their password).
pub async fn mark_authenticated(db: &Database, id: &str, at: i64) -> Result<(), AuthError> {
    sqlx::query("UPDATE sessions SET authenticated_at = $1 WHERE public_id = $2")
        .bind(at)
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("recording a re-authentication"))?;
    Ok(())
}

/// Ends every session of `user_id` except `keep` (a public id); returns how many ended.
pub async fn revoke_all(
    db: &Database,
    user_id: &str,
    keep: Option<&str>,
) -> Result<u64, AuthError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND public_id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(db.pool())
        .await
        .map_err(AuthError::db("revoking sessions"))?;
    Ok(done.rows_affected())
}

/// The live sessions of `user_id`, newest first.
pub async fn list(db: &Database, user_id: &str) -> Result<Vec<Session>, AuthError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC"
    ))
    .bind(user_id)
    .bind(now_ms())
    .fetch_all(db.pool())
    .await
    .map_err(AuthError::db("listing sessions"))?;
    rows.iter()
        .map(read)
        .collect::<Result<_, _>>()
        .map_err(AuthError::db("reading a session"))
}

/// Deletes sessions past their absolute end or idle for longer than `idle`.
pub async fn purge_expired(db: &Database, lifetimes: Lifetimes) -> Result<u64, AuthError> {
    let now = now_ms();
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now.saturating_sub(ms(lifetimes.idle)))
        .execute(db.pool())
        .await
        .map_err(AuthError::db("purging sessions"))?;
    Ok(done.rows_affected())
}
