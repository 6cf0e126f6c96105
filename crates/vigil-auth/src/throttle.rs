//! Failed-login throttling, kept in the database so it holds across restarts and
//! instances. Every budget is checked *before* the password is verified, so an attempt
//! over budget costs no Argon2 run; an attempt let through is counted as a failure at
//! once ([`begin`]) and forgotten only if it succeeds, so simultaneous guesses cannot
//! overrun a budget and an abandoned attempt still counts.
//!
//! Budgets over sliding windows:
//! - per username *and* address (`per_pair`, over `window`): that pair waits until its
//!   oldest failure leaves the window; no wait is longer than the window.
//! - per address, any usernames (`per_ip`, over `window`): password spraying.
//! - per account, any addresses (`per_account`, over `account_window`; ASVS 2.2.1 asks
//!   for at most 100 an hour): an attacker rotating addresses gets no more guesses.
//! - per account for second factors (`second_factor`, over `window`): wrong TOTP or
//!   recovery codes, which are only tried once the password is right.
//!
//! The owner keeps a way in while an attack exhausts the account budget: a browser that
//! signed in before presents a device cookie ([`crate::device`]); its attempts are counted
//! against that device alone (`per_pair` over `window`), not the address and account
//! budgets (the OWASP "device cookie" pattern).
//!
//! A password confirming a sensitive change in a signed-in session ([`Failure::Reauth`])
//! counts against the pair (so the login form of that name from that address waits
//! too) and against the account's own confirmation budget (`per_account`, over
//! `account_window`, counting confirmations only): guesses through a stolen session meet
//! a limit wherever they come from, while failed logins sprayed at the account from
//! elsewhere cannot stop its owner from confirming.
//!
//! IPv6 addresses are counted per /64, as one host usually owns the whole prefix.
//! Usernames are counted as typed, whether or not they exist, so throttling reveals
//! nothing about which accounts exist.

use std::net::IpAddr;
use std::time::Duration;

use vigil_store::{now_ms, Database};

use crate::token::new_id;
use crate::AuthError;

/// Throttling thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures allowed per username and address (and per device) within `window`.
    pub per_pair: u32,
    /// Failures allowed per address within `window`.
    pub per_ip: u32,
    /// The window of the pair, address, device and second-factor budgets.
    pub window: Duration,
    /// Password failures allowed per account, from untrusted browsers, within
    /// `account_window`.
    pub per_account: u32,
    /// The window of the account budget.
    pub account_window: Duration,
    /// Second-factor failures allowed per account, from untrusted browsers, within
    /// `window`.
    pub second_factor: u32,
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The password (or the account is unknown or disabled).
    Password,
    /// The TOTP or recovery code, after a right password.
    SecondFactor,
    /// The current password, confirming a sensitive change in a signed-in session.
    Reauth,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::Password => "password",
            Failure::SecondFactor => "second_factor",
            Failure::Reauth => "reauth",
        }
    }
}

/// Who is trying to sign in.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The username as typed.
    pub username: &'a str,
    /// The client address as text (IPv6 is counted per /64), or `unknown`.
    pub ip: &'a str,
    /// The device id from a valid device cookie for this username, if any.
    pub device: Option<&'a str>,
}

/// The budget an attempt is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This username from this address.
    Pair,
    /// This address, any usernames.
    Address,
    /// This account, any addresses.
    Account,
    /// This account's second factor.
    SecondFactor,
    /// This device (a browser with a device cookie).
    Device,
}

impl Scope {
    /// The name used in audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Pair => "pair",
            Scope::Address => "address",
            Scope::Account => "account",
            Scope::SecondFactor => "second_factor",
            Scope::Device => "device",
        }
    }
}

/// An attempt refused for being over a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// The budget exceeded (the one with the longest wait when several are).
    pub scope: Scope,
    /// Seconds until the budget has room again (at least 1).
    pub retry_after_secs: u64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The key an address is counted under: IPv4 as it is, IPv6 as its /64 prefix
/// (`2001:db8:1:2::/64`); anything else (`unknown`) as given.
pub fn address_key(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        Ok(v4) => v4.to_string(),
        Err(_) => ip.trim().chars().take(64).collect(),
    }
}

fn normalise(username: &str) -> String {
    username.trim().to_lowercase().chars().take(128).collect()
}

/// One budget: failures matching `filter` since `window` before now, allowed `max`.
struct Budget<'a> {
    scope: Scope,
    filter: Filter<'a>,
    window: i64,
    max: u32,
}

/// Which failures a budget counts (every filter but the device one skips failures made
/// with a valid device cookie, which count against that device alone).
enum Filter<'a> {
    Pair(&'a str, &'a str),
    Address(&'a str),
    Account(&'a str, Failure),
    Device(&'a str),
}

/// The budgets a failure of `failure` by `attempt` counts against: a trusted device's
/// own, else the pair, address and account budgets for a password, the account's
/// second-factor budget for a code.
fn budgets<'a>(
    limits: &Limits,
    attempt: &Attempt<'a>,
    username: &'a str,
    ip: &'a str,
    failure: Failure,
) -> Vec<Budget<'a>> {
    let window = ms(limits.window);
    match (attempt.device, failure) {
        // Whatever the device: the caller is signed in, and the pair keeps the login
        // form of this name and address in step.
        (_, Failure::Reauth) => vec![
            Budget {
                scope: Scope::Pair,
                filter: Filter::Pair(username, ip),
                window,
                max: limits.per_pair,
            },
            Budget {
                scope: Scope::Account,
                filter: Filter::Account(username, Failure::Reauth),
                window: ms(limits.account_window),
                max: limits.per_account,
            },
        ],
        (Some(device), _) => vec![Budget {
            scope: Scope::Device,
            filter: Filter::Device(device),
            window,
            max: limits.per_pair,
        }],
        (None, Failure::Password) => vec![
            Budget {
                scope: Scope::Pair,
                filter: Filter::Pair(username, ip),
                window,
                max: limits.per_pair,
            },
            Budget {
                scope: Scope::Address,
                filter: Filter::Address(ip),
                window,
                max: limits.per_ip,
            },
            Budget {
                scope: Scope::Account,
                filter: Filter::Account(username, Failure::Password),
                window: ms(limits.account_window),
                max: limits.per_account,
            },
        ],
        (None, Failure::SecondFactor) => vec![Budget {
            scope: Scope::SecondFactor,
            filter: Filter::Account(username, Failure::SecondFactor),
            window,
            max: limits.second_factor,
        }],
    }
}

/// An attempt allowed to go on: it is already counted as a failure, and stays counted
/// unless [`Pending::succeeded`] is called (so an attempt abandoned half-way, by a
/// dropped connection or a crash, still counts).
#[derive(Debug)]
#[must_use = "call `succeeded` when the attempt succeeds; dropping it keeps the failure"]
pub struct Pending {
    id: String,
}

impl Pending {
    /// The attempt succeeded: it no longer counts as a failure.
    pub async fn succeeded(self, db: &Database) -> Result<(), AuthError> {
        sqlx::query("DELETE FROM login_failures WHERE id = $1")
            .bind(&self.id)
            .execute(db.pool())
            .await
            .map_err(AuthError::db("forgetting a successful attempt"))?;
        Ok(())
    }
}

/// Starts an attempt whose `failure` would count against `attempt`'s budgets: refused
/// with the lockout when a budget is full, else counted at once as a failure (see
/// [`Pending`]) before the caller verifies anything. Counting first makes the budget
/// hold under concurrency: each of many simultaneous attempts sees those counted before
/// it, so no more than the budget get through. A refused attempt leaves nothing behind,
/// so a flood against a full budget does not grow the table.
pub async fn begin(
    db: &Database,
    limits: &Limits,
    attempt: &Attempt<'_>,
    failure: Failure,
) -> Result<Result<Pending, Lockout>, AuthError> {
    let username = normalise(attempt.username);
    let ip = address_key(attempt.ip);
    let budgets = budgets(limits, attempt, &username, &ip, failure);
    // Cheap refusal first: no write while a budget is plainly full.
    if let Err(lockout) = over(db, &budgets, 0).await? {
        return Ok(Err(lockout));
    }
    let id = insert(db, limits, &username, &ip, attempt.device, failure).await?;
    // Counted with this attempt, hence the slack of one.
    if let Err(lockout) = over(db, &budgets, 1).await? {
        Pending { id }.succeeded(db).await?;
        return Ok(Err(lockout));
    }
    Ok(Ok(Pending { id }))
}

/// The lockout with the longest wait among the budgets holding `max + slack` or more.
async fn over(
    db: &Database,
    budgets: &[Budget<'_>],
    slack: i64,
) -> Result<Result<(), Lockout>, AuthError> {
    let now = now_ms();
    let mut worst: Option<(i64, Scope)> = None;
    for b in budgets {
        let since = now.saturating_sub(b.window);
        let (count, oldest) = recent(db, &b.filter, since).await?;
        if count >= i64::from(b.max) + slack {
            // Room again once the oldest counted failure leaves the window: a lower
            // bound, re-checked at the next attempt.
            let until = oldest.unwrap_or(now).saturating_add(b.window);
            if worst.is_none_or(|(w, _)| until > w) {
                worst = Some((until, b.scope));
            }
        }
    }
    Ok(match worst {
        Some((until, scope)) => Err(Lockout {
            scope,
            retry_after_secs: u64::try_from((until - now + 999) / 1000)
                .unwrap_or(1)
                .max(1),
        }),
        None => Ok(()),
    })
}

/// (count, oldest `at`) of the failures matching `filter` since `since`.
async fn recent(
    db: &Database,
    filter: &Filter<'_>,
    since: i64,
) -> Result<(i64, Option<i64>), AuthError> {
    let (clause, args): (&str, Vec<&str>) = match *filter {
        Filter::Pair(username, ip) => (
            "device IS NULL AND username = $2 AND ip = $3",
            vec![username, ip],
        ),
        Filter::Address(ip) => ("device IS NULL AND ip = $2", vec![ip]),
        Filter::Account(username, kind) => (
            "device IS NULL AND username = $2 AND kind = $3",
            vec![username, kind.as_str()],
        ),
        Filter::Device(device) => ("device = $2", vec![device]),
    };
    let sql = format!("SELECT COUNT(*), MIN(at) FROM login_failures WHERE at > $1 AND {clause}");
    let mut query = sqlx::query_as(&sql).bind(since);
    for arg in args {
        query = query.bind(arg);
    }
    let row: (i64, Option<i64>) = query
        .fetch_one(db.pool())
        .await
        .map_err(AuthError::db("counting failed logins"))?;
    Ok(row)
}

/// Stores one failure (already normalised), forgetting failures older than every
/// window; returns its id.
async fn insert(
    db: &Database,
    limits: &Limits,
    username: &str,
    ip: &str,
    device: Option<&str>,
    failure: Failure,
) -> Result<String, AuthError> {
    let now = now_ms();
    let id = new_id();
    sqlx::query(
        "INSERT INTO login_failures (id, username, ip, at, kind, device) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(username)
    .bind(ip)
    .bind(now)
    .bind(failure.as_str())
    .bind(device)
    .execute(db.pool())
    .await
    .map_err(AuthError::db("recording a failed login"))?;
    let keep = ms(limits.window.max(limits.account_window));
    sqlx::query("DELETE FROM login_failures WHERE at <= $1")
        .bind(now.saturating_sub(keep))
        .execute(db.pool())
        .await
        .map_err(AuthError::db("forgetting old failed logins"))?;
    Ok(id)
}

/// Clears the failures of the pair and of the device after a successful login (the
/// account's failures from elsewhere stay: they may be an attack still under way).
pub async fn clear(db: &Database, attempt: &Attempt<'_>) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM login_failures WHERE username = $1 AND ip = $2")
        .bind(normalise(attempt.username))
        .bind(address_key(attempt.ip))
        .execute(db.pool())
        .await
        .map_err(AuthError::db("clearing failed logins"))?;
    if let Some(device) = attempt.device {
        sqlx::query("DELETE FROM login_failures WHERE device = $1")
            .bind(device)
            .execute(db.pool())
            .await
            .map_err(AuthError::db("clearing failed logins"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_per_64_and_ipv4_per_address() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(address_key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(address_key("198.51.100.7"), "198.51.100.7");
        assert_eq!(address_key("unknown"), "unknown");
    }
}
