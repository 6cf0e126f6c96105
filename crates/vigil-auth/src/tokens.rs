//! Single-use tokens: the first-admin bootstrap token and admin-issued password reset
//! links. Stored as SHA-256; consumed atomically (`UPDATE … RETURNING`), so a token works
//! once even under concurrent use.

use std::time::Duration;

use vigil_store::{now_ms, Database};

use crate::token::{hash_token, random_token};
use crate::AuthError;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Create the first admin on a server with no users.
    Bootstrap,
    /// Set a new password for one user.
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Bootstrap => "bootstrap",
            Purpose::Reset => "reset",
        }
    }
}

/// Issues a token valid for `ttl`; returns the token text (shown once) and its expiry.
/// Issuing replaces every unused token of the same purpose and user, so only the newest
/// link works.
pub async fn issue(
    db: &Database,
    purpose: Purpose,
    user_id: Option<&str>,
    created_by: Option<&str>,
    ttl: Duration,
) -> Result<(String, i64), AuthError> {
    let token = random_token(32);
    let now = now_ms();
    let expires_at = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let mut tx = db
        .pool()
        .begin()
        .await
        .map_err(AuthError::db("issuing a token"))?;
    sqlx::query(
        "DELETE FROM one_time_tokens WHERE purpose = $1 AND used_at IS NULL \
         AND COALESCE(user_id, '') = COALESCE($2, '')",
    )
    .bind(purpose.as_str())
    .bind(user_id)
    .execute(&mut *tx)
    .await
    .map_err(AuthError::db("issuing a token"))?;
    sqlx::query(
        "INSERT INTO one_time_tokens (token_hash, purpose, user_id, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash_token(&token))
    .bind(purpose.as_str())
    .bind(user_id)
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await
    .map_err(AuthError::db("issuing a token"))?;
    tx.commit()
        .await
        .map_err(AuthError::db("issuing a token"))?;
    Ok((token, expires_at))
}

/// Uses up a token. `Ok(Some(user_id))` for a valid reset token, `Ok(Some(""))` for a
/// valid bootstrap token; `Ok(None)` when unknown, expired or already used.
pub async fn consume(
    db: &Database,
    purpose: Purpose,
    token: &str,
) -> Result<Option<String>, AuthError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let now = now_ms();
    let row: Option<Option<String>> = sqlx::query_scalar(
        "UPDATE one_time_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id",
    )
    .bind(now)
    .bind(hash_token(token))
    .bind(purpose.as_str())
    .fetch_optional(db.pool())
    .await
    .map_err(AuthError::db("using a token"))?;
    Ok(row.map(Option::unwrap_or_default))
}

/// Whether a token is currently valid, without using it (to render the form it opens
/// or check input before spending it): like [`consume`] but read-only.
pub async fn peek(
    db: &Database,
    purpose: Purpose,
    token: &str,
) -> Result<Option<String>, AuthError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row: Option<Option<String>> = sqlx::query_scalar(
        "SELECT user_id FROM one_time_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash_token(token))
    .bind(purpose.as_str())
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await
    .map_err(AuthError::db("checking a token"))?;
    Ok(row.map(Option::unwrap_or_default))
}

/// Deletes tokens that can no longer be used: expired, or already used. A deleted token
/// is refused exactly as a used one is, so this changes nothing a client can see.
pub async fn purge_expired(db: &Database) -> Result<u64, AuthError> {
    let done =
        sqlx::query("DELETE FROM one_time_tokens WHERE expires_at <= $1 OR used_at IS NOT NULL")
            .bind(now_ms())
            .execute(db.pool())
            .await
            .map_err(AuthError::db("purging one-time tokens"))?;
    Ok(done.rows_affected())
}
