//! Access policy an admin changes at run time, stored in the database.

use vigil_store::{now_ms, Database};

use crate::{AuthError, Role};

const REQUIRE_TOTP: &str = "require_totp_roles";

/// Roles whose members must use a TOTP second factor.
pub async fn require_totp(db: &Database) -> Result<Vec<Role>, AuthError> {
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM policy WHERE name = $1")
        .bind(REQUIRE_TOTP)
        .fetch_optional(db.pool())
        .await
        .map_err(AuthError::db("reading the policy"))?;
    let roles: Vec<String> = match value {
        Some(v) => serde_json::from_str(&v)
            .map_err(|e| AuthError::Internal(format!("stored policy is not valid: {e}")))?,
        None => Vec::new(),
    };
    Ok(roles.iter().filter_map(|r| r.parse().ok()).collect())
}

/// Sets the roles that must use TOTP.
pub async fn set_require_totp(db: &Database, roles: &[Role]) -> Result<(), AuthError> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    let value =
        serde_json::to_string(&roles).map_err(|e| AuthError::Internal(format!("policy: {e}")))?;
    let now = now_ms();
    // Portable upsert: both databases accept ON CONFLICT … DO UPDATE.
    sqlx::query(
        "INSERT INTO policy (name, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET value = $2, updated_at = $3",
    )
    .bind(REQUIRE_TOTP)
    .bind(value)
    .bind(now)
    .execute(db.pool())
    .await
    .map_err(AuthError::db("saving the policy"))?;
    Ok(())
}
