//! Failed-login throttling, kept in the database so it holds across restarts and
//! instances.
//!
//! Two counters over a sliding window (15 minutes by default):
//! - per username *and* address: after `max_failures`, that pair waits until its oldest
//!   failure leaves the window. The user at another address is not affected, so an
//!   attacker cannot lock the owner out; and no wait is longer than the window.
//! - per address, any usernames: after `max_failures_per_ip`, the address waits
//!   (password spraying).
//!
//! Usernames are counted as typed, whether or not they exist, so throttling reveals
//! nothing about which accounts exist.

use std::time::Duration;

use vigil_store::{now_ms, Database};

use crate::token::new_id;
use crate::AuthError;

/// Throttling thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures allowed per username and address within the window.
    pub per_pair: u32,
    /// Failures allowed per address within the window.
    pub per_ip: u32,
    /// The window.
    pub window: Duration,
}

fn window_ms(l: &Limits) -> i64 {
    i64::try_from(l.window.as_millis()).unwrap_or(i64::MAX)
}

/// `Err(seconds)` to wait when the pair or the address is over its limit.
pub async fn check(
    db: &Database,
    limits: &Limits,
    username: &str,
    ip: &str,
) -> Result<Result<(), u64>, AuthError> {
    let now = now_ms();
    let since = now.saturating_sub(window_ms(limits));
    let username = username.trim().to_lowercase();
    let pair = recent(db, Some(&username), ip, since).await?;
    let by_ip = recent(db, None, ip, since).await?;
    let mut wait_until = None;
    for ((count, oldest), max) in [(pair, limits.per_pair), (by_ip, limits.per_ip)] {
        if count >= i64::from(max) {
            let until = oldest.saturating_add(window_ms(limits));
            wait_until = Some(wait_until.map_or(until, |w: i64| w.max(until)));
        }
    }
    Ok(match wait_until {
        Some(until) => Err(u64::try_from((until - now + 999) / 1000)
            .unwrap_or(1)
            .max(1)),
        None => Ok(()),
    })
}

/// (count, oldest `at`) of the failures from `ip` (for `username` when given) since
/// `since`. The wait reported runs until the oldest leaves the window: a lower bound,
/// re-checked at the next attempt.
async fn recent(
    db: &Database,
    username: Option<&str>,
    ip: &str,
    since: i64,
) -> Result<(i64, i64), AuthError> {
    let query = match username {
        Some(name) => sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM login_failures WHERE ip = $1 AND at > $2 AND username = $3",
        )
        .bind(ip)
        .bind(since)
        .bind(name),
        None => sqlx::query_as("SELECT COUNT(*), MIN(at) FROM login_failures WHERE ip = $1 AND at > $2")
            .bind(ip)
            .bind(since),
    };
    let row: (i64, Option<i64>) = query
        .fetch_one(db.pool())
        .await
        .map_err(AuthError::db("counting failed logins"))?;
    Ok((row.0, row.1.unwrap_or(since)))
}

/// Records one failed login, and forgets failures older than the window.
pub async fn record_failure(
    db: &Database,
    limits: &Limits,
    username: &str,
    ip: &str,
) -> Result<(), AuthError> {
    let now = now_ms();
    let username: String = username.trim().to_lowercase().chars().take(128).collect();
    sqlx::query("INSERT INTO login_failures (id, username, ip, at) VALUES ($1, $2, $3, $4)")
        .bind(new_id())
        .bind(&username)
        .bind(ip)
        .bind(now)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("recording a failed login"))?;
    sqlx::query("DELETE FROM login_failures WHERE at <= $1")
        .bind(now.saturating_sub(window_ms(limits)))
        .execute(db.pool())
        .await
        .map_err(AuthError::db("forgetting old failed logins"))?;
    Ok(())
}

/// Clears the pair's failures after a successful login.
pub async fn clear(db: &Database, username: &str, ip: &str) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM login_failures WHERE username = $1 AND ip = $2")
        .bind(username.trim().to_lowercase())
        .bind(ip)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("clearing failed logins"))?;
    Ok(())
}
