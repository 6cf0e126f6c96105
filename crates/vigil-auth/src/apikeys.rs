//! API keys for applications: `vgl_` followed by 256 random bits (43 base64url
//! characters). Only the SHA-256 of the whole key is stored, next to its first 12
//! characters (the visible prefix) used to find the row and to show which key is which.
//! The hash comparison runs in constant time.
//!
//! A key made by a person depends on them: it stops working while its creator is
//! disabled or once they are deleted, and acts with at most the creator's current role
//! (the lower of the key's and the creator's). Keys made on the command line have no
//! creator and stand alone.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use vigil_store::{now_ms, Database};

use crate::token::{ct_eq, hash_token, new_id, random_token};
use crate::{AuthError, Role};

/// Every key starts with this, so leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "vgl_";
const VISIBLE: usize = 12;
const TOUCH_EVERY_MS: i64 = 60_000;

/// A key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Id.
    pub id: String,
    /// Human name ("door camera", "HR system").
    pub name: String,
    /// First characters of the key, e.g. `vgl_3fA9xQ2b`.
    pub prefix: String,
    /// Role the key acts with.
    pub role: Role,
    /// Id of the user who created it (none when created on the command line).
    pub created_by: Option<String>,
    /// Creation, Unix ms.
    pub created_at: i64,
    /// Expiry, Unix ms, if any.
    pub expires_at: Option<i64>,
    /// Revocation, Unix ms, if revoked.
    pub revoked_at: Option<i64>,
    /// Last use, Unix ms (to within a minute).
    pub last_used_at: Option<i64>,
}

impl ApiKey {
    /// Whether the key works at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// `revoked`, `expired` or `active` at `now`, for listings.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.is_active(now) {
            "active"
        } else {
            "expired"
        }
    }
}

const COLUMNS: &str =
    "id, name, prefix, role, created_by, created_at, expires_at, revoked_at, last_used_at, key_hash";

fn read(row: &AnyRow) -> Result<(ApiKey, String), AuthError> {
    let e = || AuthError::db("reading an API key");
    let role: String = row.try_get("role").map_err(|x| e()(x))?;
    Ok((
        ApiKey {
            id: row.try_get("id").map_err(|x| e()(x))?,
            name: row.try_get("name").map_err(|x| e()(x))?,
            prefix: row.try_get("prefix").map_err(|x| e()(x))?,
            role: role
                .parse()
                .map_err(|m: String| AuthError::Internal(format!("stored key: {m}")))?,
            created_by: row.try_get("created_by").map_err(|x| e()(x))?,
            created_at: row.try_get("created_at").map_err(|x| e()(x))?,
            expires_at: row.try_get("expires_at").map_err(|x| e()(x))?,
            revoked_at: row.try_get("revoked_at").map_err(|x| e()(x))?,
            last_used_at: row.try_get("last_used_at").map_err(|x| e()(x))?,
        },
        row.try_get("key_hash").map_err(|x| e()(x))?,
    ))
}

/// Checks a key name: 1–100 printable characters.
fn check_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidKeyName);
    }
    Ok(name.to_string())
}

/// Creates a key; returns the key text (to show once) and its row.
pub async fn create(
    db: &Database,
    name: &str,
    role: Role,
    created_by: Option<&str>,
    expires_at: Option<i64>,
) -> Result<(String, ApiKey), AuthError> {
    let name = check_name(name)?;
    let now = now_ms();
    if expires_at.is_some_and(|e| e <= now) {
        return Err(AuthError::ExpiryInPast);
    }
    // A prefix collision (48 random bits) is astronomically rare; retry anyway.
    for _ in 0..3 {
        let key = format!("{KEY_PREFIX}{}", random_token(32));
        let row = ApiKey {
            id: new_id(),
            name: name.clone(),
            prefix: key[..VISIBLE].to_string(),
            role,
            created_by: created_by.map(str::to_string),
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let done = sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, role, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.prefix)
        .bind(hash_token(&key))
        .bind(role.as_str())
        .bind(row.created_by.as_deref())
        .bind(now)
        .bind(row.expires_at)
        .execute(db.pool())
        .await;
        match done {
            Ok(_) => return Ok((key, row)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
            Err(e) => return Err(AuthError::db("creating an API key")(e)),
        }
    }
    Err(AuthError::Internal(
        "could not draw a unique key prefix".into(),
    ))
}

/// A key that authenticated, with the role it acts with now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKey {
    /// The key's record (its `role` is the one it was created with).
    pub key: ApiKey,
    /// The role it acts with: the lower of the key's role and its creator's current
    /// role (the key's own when it has no creator).
    pub role: Role,
}

/// The key's columns qualified for the join with its creator, plus the creator's state.
const JOINED: &str = "k.id, k.name, k.prefix, k.role, k.created_by, k.created_at, k.expires_at, \
     k.revoked_at, k.last_used_at, k.key_hash, u.id AS creator_id, u.role AS creator_role, \
     u.disabled AS creator_disabled";

/// The role a key with `key_role` acts with, given its creator's state: `None` when
/// the key has a creator who is gone or disabled.
fn effective_role(
    key_role: Role,
    created_by: Option<&str>,
    creator: Option<(Role, bool)>,
) -> Option<Role> {
    match (created_by, creator) {
        (None, _) => Some(key_role),
        (Some(_), Some((role, false))) => Some(key_role.min(role)),
        // Deleted (no row) or disabled: the key goes with its creator.
        (Some(_), _) => None,
    }
}

/// The active key matching `key`, recording its use. A key whose creator is disabled
/// or deleted is not active; the result carries the role it acts with now.
pub async fn authenticate(db: &Database, key: &str) -> Result<Option<ActiveKey>, AuthError> {
    if !key.starts_with(KEY_PREFIX)
        || key.len() < VISIBLE
        || key.len() > 128
        || !key.is_char_boundary(VISIBLE)
    {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {JOINED} FROM api_keys k LEFT JOIN users u ON u.id = k.created_by \
         WHERE k.prefix = $1"
    ))
    .bind(&key[..VISIBLE])
    .fetch_optional(db.pool())
    .await
    .map_err(AuthError::db("loading an API key"))?;
    let Some(row) = row else { return Ok(None) };
    let (mut api_key, stored) = read(&row)?;
    let creator = read_creator(&row)?;
    let now = now_ms();
    if !ct_eq(&hash_token(key), &stored) || !api_key.is_active(now) {
        return Ok(None);
    }
    let Some(role) = effective_role(api_key.role, api_key.created_by.as_deref(), creator) else {
        return Ok(None);
    };
    if api_key
        .last_used_at
        .is_none_or(|t| now - t >= TOUCH_EVERY_MS)
    {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&api_key.id)
            .execute(db.pool())
            .await
            .map_err(AuthError::db("recording API key use"))?;
        api_key.last_used_at = Some(now);
    }
    Ok(Some(ActiveKey { key: api_key, role }))
}

/// The creator's (role, disabled) from a joined row, if the creator row exists.
fn read_creator(row: &AnyRow) -> Result<Option<(Role, bool)>, AuthError> {
    let e = AuthError::db("reading an API key's creator");
    let id: Option<String> = row.try_get("creator_id").map_err(e)?;
    if id.is_none() {
        return Ok(None);
    }
    let role: Option<String> = row
        .try_get("creator_role")
        .map_err(AuthError::db("reading an API key's creator"))?;
    let disabled: Option<i64> = row
        .try_get("creator_disabled")
        .map_err(AuthError::db("reading an API key's creator"))?;
    let role = role
        .unwrap_or_default()
        .parse()
        .map_err(|m: String| AuthError::Internal(format!("stored user: {m}")))?;
    Ok(Some((role, disabled.unwrap_or(1) != 0)))
}

/// Every key, newest first.
pub async fn list(db: &Database) -> Result<Vec<ApiKey>, AuthError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC"
    ))
    .fetch_all(db.pool())
    .await
    .map_err(AuthError::db("listing API keys"))?;
    rows.iter().map(|r| read(r).map(|(k, _)| k)).collect()
}

/// Every key, newest first, each with the role it acts with now (`None` while its
/// creator is disabled or gone), for listings that show what a key can really do.
pub async fn list_in_effect(db: &Database) -> Result<Vec<(ApiKey, Option<Role>)>, AuthError> {
    let rows = sqlx::query(&format!(
        "SELECT {JOINED} FROM api_keys k LEFT JOIN users u ON u.id = k.created_by \
         ORDER BY k.created_at DESC"
    ))
    .fetch_all(db.pool())
    .await
    .map_err(AuthError::db("listing API keys"))?;
    rows.iter()
        .map(|r| {
            let (key, _) = read(r)?;
            let role = effective_role(key.role, key.created_by.as_deref(), read_creator(r)?);
            Ok((key, role))
        })
        .collect()
}

/// One key by id.
pub async fn get(db: &Database, id: &str) -> Result<Option<ApiKey>, AuthError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map_err(AuthError::db("loading an API key"))?;
    row.as_ref().map(|r| read(r).map(|(k, _)| k)).transpose()
}

/// The key behind an authenticated API-key principal's id: who made it, so that keys
/// made with a key depend on the same person.
pub async fn creator_of(db: &Database, id: &str) -> Result<Option<String>, AuthError> {
    Ok(get(db, id).await?.and_then(|k| k.created_by))
}

/// Revokes every active key `user_id` created (their creator is leaving); returns them.
pub async fn revoke_created_by(db: &Database, user_id: &str) -> Result<Vec<ApiKey>, AuthError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE created_by = $1 AND revoked_at IS NULL"
    ))
    .bind(user_id)
    .fetch_all(db.pool())
    .await
    .map_err(AuthError::db("listing a user's API keys"))?;
    let now = now_ms();
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE created_by = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("revoking a user's API keys"))?;
    rows.iter()
        .map(|r| {
            read(r).map(|(mut k, _)| {
                k.revoked_at = Some(now);
                k
            })
        })
        .collect()
}

/// Revokes a key (kept for the record); returns it, or `None` if there is no such key.
pub async fn revoke(db: &Database, id: &str) -> Result<Option<ApiKey>, AuthError> {
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("revoking an API key"))?;
    get(db, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_acts_with_at_most_its_creators_current_role() {
        use Role::*;
        let cases = [
            (Admin, None, None, Some(Admin)),
            (Admin, Some("u"), Some((Operator, false)), Some(Operator)),
            (Viewer, Some("u"), Some((Admin, false)), Some(Viewer)),
            (Admin, Some("u"), Some((Admin, true)), None),
            (Viewer, Some("u"), None, None),
        ];
        for (key, by, creator, want) in cases {
            assert_eq!(
                effective_role(key, by, creator),
                want,
                "{key} {by:?} {creator:?}"
            );
        }
    }
}
