//! User accounts. Usernames are case-insensitive (stored lowercase); passwords are kept
//! only as Argon2id PHC strings. Users are disabled rather than deleted when history
//! must keep their name; the last enabled admin can be neither demoted nor disabled.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use vigil_store::{now_ms, Database};

use crate::password::Passwords;
use crate::token::new_id;
use crate::{AuthError, Role};

/// A user as shown to admins and the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Id (32 hex digits).
    pub id: String,
    /// Lowercase username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Disabled users cannot sign in, their sessions are ended, and the API keys they
    /// made stop working (until they are enabled again; see [`crate::apikeys`]).
    pub disabled: bool,
    /// Whether a TOTP second factor is enrolled.
    pub totp_enabled: bool,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
    /// When the password was last set, Unix ms.
    pub password_changed_at: i64,
}

/// A user with the stored secrets needed to sign them in (never serialised).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Encrypted TOTP seed (set during enrolment and after).
    pub totp_secret: Option<String>,
    /// Last TOTP time step accepted (replay protection).
    pub totp_last_step: Option<i64>,
}

const COLUMNS: &str = "id, username, role, disabled, totp_enabled, created_at, updated_at, \
                       password_changed_at, password_hash, totp_secret, totp_last_step";

fn read(row: &AnyRow) -> Result<Credentials, AuthError> {
    let err = AuthError::db("reading a user");
    let get_i64 = |col: &str| row.try_get::<i64, _>(col);
    let role: String = row
        .try_get("role")
        .map_err(AuthError::db("reading a user"))?;
    let user = User {
        id: row.try_get("id").map_err(AuthError::db("reading a user"))?,
        username: row
            .try_get("username")
            .map_err(AuthError::db("reading a user"))?,
        role: role
            .parse()
            .map_err(|e: String| AuthError::Internal(format!("stored user: {e}")))?,
        disabled: get_i64("disabled").map_err(AuthError::db("reading a user"))? != 0,
        totp_enabled: get_i64("totp_enabled").map_err(AuthError::db("reading a user"))? != 0,
        created_at: get_i64("created_at").map_err(AuthError::db("reading a user"))?,
        updated_at: get_i64("updated_at").map_err(AuthError::db("reading a user"))?,
        password_changed_at: get_i64("password_changed_at")
            .map_err(AuthError::db("reading a user"))?,
    };
    Ok(Credentials {
        user,
        password_hash: row.try_get("password_hash").map_err(err)?,
        totp_secret: row
            .try_get("totp_secret")
            .map_err(AuthError::db("reading a user"))?,
        totp_last_step: row
            .try_get("totp_last_step")
            .map_err(AuthError::db("reading a user"))?,
    })
}

/// Normalises and checks a username: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn normalise_username(name: &str) -> Result<String, AuthError> {
    let name = name.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(name)
    } else {
        Err(AuthError::InvalidUsername)
    }
}

/// Creates a user after checking the username and password policy.
pub async fn create(
    db: &Database,
    passwords: &Passwords,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, AuthError> {
    let username = normalise_username(username)?;
    passwords
        .check_policy_off_thread(password, &username)
        .await?;
    if by_username(db, &username).await?.is_some() {
        return Err(AuthError::UsernameTaken(username));
    }
    let hash = passwords.hash(password).await?;
    let now = now_ms();
    let user = User {
        id: new_id(),
        username,
        role,
        disabled: false,
        totp_enabled: false,
        created_at: now,
        updated_at: now,
        password_changed_at: now,
    };
    let done = sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, disabled, totp_enabled, \
         created_at, updated_at, password_changed_at) VALUES ($1, $2, $3, $4, 0, 0, $5, $5, $5)",
    )
    .bind(&user.id)
    .bind(&user.username)
    .bind(&hash)
    .bind(role.as_str())
    .bind(now)
    .execute(db.pool())
    .await;
    match done {
        Ok(_) => Ok(user),
        // Lost a race with another insert of the same name.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AuthError::UsernameTaken(user.username))
        }
        Err(e) => Err(AuthError::db("creating a user")(e)),
    }
}

/// The user with `id` and their credentials.
pub async fn credentials(db: &Database, id: &str) -> Result<Option<Credentials>, AuthError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map_err(AuthError::db("loading a user"))?;
    row.as_ref().map(read).transpose()
}

/// The user with `id`.
pub async fn get(db: &Database, id: &str) -> Result<Option<User>, AuthError> {
    Ok(credentials(db, id).await?.map(|c| c.user))
}

/// The user named `username` (any case) and their credentials.
pub async fn by_username(db: &Database, username: &str) -> Result<Option<Credentials>, AuthError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username.trim().to_lowercase())
        .fetch_optional(db.pool())
        .await
        .map_err(AuthError::db("loading a user"))?;
    row.as_ref().map(read).transpose()
}

/// Every user, by username.
pub async fn list(db: &Database) -> Result<Vec<User>, AuthError> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))
        .fetch_all(db.pool())
        .await
        .map_err(AuthError::db("listing users"))?;
    rows.iter().map(|r| read(r).map(|c| c.user)).collect()
}

/// How many users exist.
pub async fn count(db: &Database) -> Result<i64, AuthError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await
        .map_err(AuthError::db("counting users"))
}

async fn enabled_admins(db: &Database) -> Result<i64, AuthError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
        .fetch_one(db.pool())
        .await
        .map_err(AuthError::db("counting admins"))
}

/// Sets a new password (policy checked). The caller revokes sessions as appropriate.
pub async fn set_password(
    db: &Database,
    passwords: &Passwords,
    id: &str,
    password: &str,
) -> Result<User, AuthError> {
    let user = get(db, id).await?.ok_or(AuthError::NotFound("user"))?;
    passwords
        .check_policy_off_thread(password, &user.username)
        .await?;
    let hash = passwords.hash(password).await?;
    let now = now_ms();
    sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3",
    )
    .bind(&hash)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await
    .map_err(AuthError::db("setting a password"))?;
    get(db, id).await?.ok_or(AuthError::NotFound("user"))
}

/// Changes role and/or the disabled flag, refusing to leave no enabled admin.
pub async fn update(
    db: &Database,
    id: &str,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<User, AuthError> {
    let user = get(db, id).await?.ok_or(AuthError::NotFound("user"))?;
    let role = role.unwrap_or(user.role);
    let disabled = disabled.unwrap_or(user.disabled);
    let loses_admin =
        user.role == Role::Admin && !user.disabled && (role != Role::Admin || disabled);
    if loses_admin && enabled_admins(db).await? <= 1 {
        return Err(AuthError::LastAdmin);
    }
    sqlx::query("UPDATE users SET role = $1, disabled = $2, updated_at = $3 WHERE id = $4")
        .bind(role.as_str())
        .bind(i64::from(disabled))
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("updating a user"))?;
    get(db, id).await?.ok_or(AuthError::NotFound("user"))
}

/// Deletes a user (their sessions, codes and tokens go with them), refusing to delete
/// the last enabled admin. The API keys they made stop working with them (no creator
/// row); the use case also revokes them so the listing says so.
pub async fn delete(db: &Database, id: &str) -> Result<User, AuthError> {
    let user = get(db, id).await?.ok_or(AuthError::NotFound("user"))?;
    if user.role == Role::Admin && !user.disabled && enabled_admins(db).await? <= 1 {
        return Err(AuthError::LastAdmin);
    }
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("deleting a user"))?;
    Ok(user)
}
