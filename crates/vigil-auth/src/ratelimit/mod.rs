//! Fixed-window request budgets, kept in memory or shared by every instance through Redis.
//!
//! A [`Limit`] says "at most `rate.count` requests per `rate.period_secs` for this subject
//! (an API key, a user, an address) in this scope (the default budget, login, one
//! route…)". Windows are aligned to their period: a minute window starts on the minute,
//! an hour window on the hour (window start = ⌊now / period⌋ × period). That makes the
//! counts exact and identical in both stores, and the `Remaining`/`Reset` a client is
//! shown honest. The price is the usual one of fixed windows: a client may spend a whole
//! budget at the end of one window and another at the start of the next.
//!
//! For each request every applicable limit is counted, in one step ([`RateLimiter::check`]);
//! the request is allowed only when every count is within its limit. The returned
//! [`Decision`] describes the tightest limit (fewest remaining; on a tie the one that
//! resets first), which is what the `X-RateLimit-*` headers report.
//!
//! Stores:
//! - memory: counters per scope, each scope behind its own `std::sync::Mutex` (held only
//!   for map operations, never across an `.await`) with its own cap, so a flood on one
//!   budget cannot crowd out another; ended windows are swept a few at a time by every
//!   operation, so memory stays bounded and no request pays for a full sweep.
//! - Redis: one Lua script per request increments every counter and sets its expiry
//!   atomically, in one round trip, using Redis's clock so instances with skewed clocks
//!   still share the same windows. Not for Redis Cluster (the script derives key names).
//!
//! When the store fails (Redis down or slow), [`RateLimiter::check`] lets the request
//! through uncounted ([`Outcome::StoreUnavailable`]) and logs a warning at most every
//! [`WARN_EVERY`]: an outage of the limiter must not become an outage of the API. The
//! exception is the scopes named with [`RateLimiter::with_local_fallback`] (the server
//! names `login` and `recovery`): those are then counted in this process's memory
//! ([`Outcome::CountedLocally`]), so password guessing stays limited per instance while
//! Redis is away. A memory scope that is full lets its new subjects through uncounted;
//! the request's other limits still count.

mod memory;
mod redis_store;

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use vigil_config::Rate;

use memory::{CounterRef, MemoryStore};
use redis_store::RedisStore;

/// Minimum time between two "store unavailable" warnings in the log.
pub const WARN_EVERY: Duration = Duration::from_secs(30);

/// One budget that a request spends from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Which budget: `default`, `login`, `recovery`, `route:POST /api/v1/analyze`…
    /// Different scopes never share counts.
    pub scope: String,
    /// Who spends it: `key:{id}`, `user:{id}` or `ip:{address}`.
    pub subject: String,
    /// How much may be spent per window.
    pub rate: Rate,
}

impl Limit {
    /// The counter's name without the window: `{prefix}{scope}:{subject}:{count}/{period}`.
    /// The count is part of it so two limits with the same period in one scope (say
    /// `10/minute` and `20/minute`) keep separate counters.
    fn base_key(&self, prefix: &str) -> String {
        format!(
            "{prefix}{}:{}:{}/{}",
            self.scope, self.subject, self.rate.count, self.rate.period_secs
        )
    }
}

/// What a store reports for one limit after counting this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Requests counted in the current window, this one included.
    pub used: u64,
    /// Milliseconds until the current window ends.
    pub reset_ms: u64,
}

/// The verdict on one request, with the values for the rate-limit headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether every limit is within its count.
    pub allowed: bool,
    /// `X-RateLimit-Limit`: the tightest limit's count.
    pub limit: u64,
    /// `X-RateLimit-Remaining`: requests left in the tightest limit's window (never negative).
    pub remaining: u64,
    /// `X-RateLimit-Reset`: seconds until the tightest limit's window ends (at least 1).
    pub reset_secs: u64,
    /// `Retry-After` when refused: seconds until every exceeded window has ended.
    pub retry_after_secs: Option<u64>,
    /// The scope of the (first) exceeded limit when refused, for metrics and logs.
    pub blocked_scope: Option<String>,
}

/// The result of [`RateLimiter::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The request was counted against every limit.
    Counted(Decision),
    /// The shared store failed and the request's limits include a scope kept in memory
    /// meanwhile ([`RateLimiter::with_local_fallback`]): those limits (only) were counted
    /// in this process and decided on.
    CountedLocally(Decision),
    /// The store failed; the request was not counted and should be served (fail open).
    StoreUnavailable,
}

/// Why a store could not count or answer.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// Redis refused, failed or the URL is invalid.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered something the script never returns.
    #[error("unexpected answer from redis: {0}")]
    Protocol(String),
    /// The in-memory store holds its maximum number of counters.
    #[error("the in-memory rate-limit store is full ({0} counters in the scope)")]
    MemoryFull(usize),
}

enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

/// Counts requests against [`Limit`]s. Cheap to share behind an `Arc`; every method
/// takes `&self`.
pub struct RateLimiter {
    store: Store,
    prefix: String,
    /// With a Redis store: the scopes counted in memory while Redis fails, and that memory.
    fallback: Option<Fallback>,
    warned: Mutex<WarnState>,
}

/// Scopes kept enforced in memory while the shared store is away.
struct Fallback {
    scopes: Vec<String>,
    store: MemoryStore,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("store", &self.describe())
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[derive(Default)]
struct WarnState {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimiter {
    /// A limiter counting in this process only (one instance, or budgets per instance).
    pub fn memory(prefix: impl Into<String>) -> Self {
        Self::with_store(Store::Memory(MemoryStore::new()), prefix)
    }

    /// A limiter counting in Redis at `url` (`redis://` or `rediss://`), so every
    /// instance using the same Redis and prefix shares one budget. Does not connect:
    /// the connection is made on first use and re-made after failures, so Vigil starts
    /// (and fails open) while Redis is down.
    pub fn redis(url: &str, prefix: impl Into<String>) -> Result<Self, RateLimitError> {
        Ok(Self::with_store(
            Store::Redis(RedisStore::new(url)?),
            prefix,
        ))
    }

    fn with_store(store: Store, prefix: impl Into<String>) -> Self {
        RateLimiter {
            store,
            prefix: prefix.into(),
            fallback: None,
            warned: Mutex::new(WarnState::default()),
        }
    }

    /// While the shared store (Redis) fails, keeps counting the limits of these scopes in
    /// this process's memory instead of letting them through (each instance then has its
    /// own budget: a client may spend it once per instance, which is still a limit).
    /// Meant for the budgets that guard against guessing (login, recovery); every other
    /// scope still fails open. No effect on a memory limiter, which never fails so.
    pub fn with_local_fallback<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        if matches!(self.store, Store::Redis(_)) {
            self.fallback = Some(Fallback {
                scopes: scopes.into_iter().map(Into::into).collect(),
                store: MemoryStore::new(),
            });
        }
        self
    }

    /// `memory` or `redis`.
    pub fn backend(&self) -> &'static str {
        match self.store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    /// The store for logs and `/readyz`: `memory`, or `redis host:port` (no credentials).
    pub fn describe(&self) -> String {
        match &self.store {
            Store::Memory(_) => "memory".to_string(),
            Store::Redis(r) => format!("redis {}", r.address()),
        }
    }

    /// Counts one request against every limit and decides, failing open: when the store
    /// cannot count, the request is allowed ([`Outcome::StoreUnavailable`]) and a warning
    /// is logged (at most once per [`WARN_EVERY`]).
    pub async fn check(&self, limits: &[Limit]) -> Outcome {
        match self.try_check(limits).await {
            Ok(decision) => Outcome::Counted(decision),
            Err(e) => {
                self.warn_unavailable(&e);
                match self.check_locally(limits) {
                    Some(decision) => Outcome::CountedLocally(decision),
                    None => Outcome::StoreUnavailable,
                }
            }
        }
    }

    /// Counts the limits whose scope has a local fallback in memory; `None` when there
    /// are none (or memory for them is full).
    fn check_locally(&self, limits: &[Limit]) -> Option<Decision> {
        let fallback = self.fallback.as_ref()?;
        let kept: Vec<Limit> = limits
            .iter()
            .filter(|l| fallback.scopes.contains(&l.scope))
            .cloned()
            .collect();
        if kept.is_empty() {
            return None;
        }
        count_in_memory(&fallback.store, &self.prefix, &kept).ok()
    }

    /// Like [`RateLimiter::check`] but returns the store's error instead of failing open.
    /// With no limits the request is allowed and nothing is counted.
    pub async fn try_check(&self, limits: &[Limit]) -> Result<Decision, RateLimitError> {
        if limits.is_empty() {
            return Ok(Decision {
                allowed: true,
                limit: 0,
                remaining: 0,
                reset_secs: 0,
                retry_after_secs: None,
                blocked_scope: None,
            });
        }
        match &self.store {
            Store::Memory(m) => count_in_memory(m, &self.prefix, limits),
            Store::Redis(r) => {
                let counters: Vec<(String, u64)> = limits
                    .iter()
                    .map(|l| (l.base_key(&self.prefix), l.rate.period_secs * 1000))
                    .collect();
                let usages = r.count(&counters).await?;
                Ok(decide(limits, &usages))
            }
        }
    }

    /// Whether the store answers (for `/readyz`). The memory store always does.
    pub async fn ping(&self) -> Result<(), RateLimitError> {
        match &self.store {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => r.ping().await,
        }
    }

    fn warn_unavailable(&self, error: &RateLimitError) {
        let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        let due = w.last.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            let kept_in_memory = self
                .fallback
                .as_ref()
                .map(|f| f.scopes.join(","))
                .unwrap_or_default();
            tracing::warn!(
                store = %self.describe(),
                error = %error,
                suppressed = w.suppressed,
                kept_in_memory = %kept_in_memory,
                "rate-limit store unavailable; requests are served without rate limiting until it recovers, except the budgets kept in memory"
            );
            w.last = Some(Instant::now());
            w.suppressed = 0;
        } else {
            w.suppressed += 1;
        }
    }
}

/// Counts `limits` in `store` and decides on the ones it could count: a limit whose
/// scope is full is left out (fail open for that budget only). An error when none could
/// be counted.
fn count_in_memory(
    store: &MemoryStore,
    prefix: &str,
    limits: &[Limit],
) -> Result<Decision, RateLimitError> {
    let bases: Vec<String> = limits.iter().map(|l| l.base_key(prefix)).collect();
    let counters: Vec<CounterRef<'_>> = limits
        .iter()
        .zip(&bases)
        .map(|(l, base)| CounterRef {
            scope: &l.scope,
            base,
            period_ms: l.rate.period_secs * 1000,
        })
        .collect();
    let counted = store.count(&counters, now_ms());
    if counted.iter().all(Option::is_some) {
        let usages: Vec<Usage> = counted.into_iter().flatten().collect();
        return Ok(decide(limits, &usages));
    }
    let (kept, usages): (Vec<Limit>, Vec<Usage>) = limits
        .iter()
        .zip(counted)
        .filter_map(|(l, u)| u.map(|u| (l.clone(), u)))
        .unzip();
    if kept.is_empty() {
        return Err(RateLimitError::MemoryFull(memory::MAX_COUNTERS_PER_SCOPE));
    }
    Ok(decide(&kept, &usages))
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Start of the window containing `now_ms` and milliseconds until it ends.
fn window(now_ms: u64, period_ms: u64) -> (u64, u64) {
    let period_ms = period_ms.max(1);
    let start = now_ms - now_ms % period_ms;
    (start, start + period_ms - now_ms)
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// Turns per-limit usage into the verdict and header values. `usages[i]` belongs to
/// `limits[i]`.
pub fn decide(limits: &[Limit], usages: &[Usage]) -> Decision {
    let mut tightest: Option<(u64, u64, u64)> = None; // (remaining, reset_ms, count)
    let mut retry_ms: Option<u64> = None;
    let mut blocked_scope = None;
    for (limit, usage) in limits.iter().zip(usages) {
        let count = limit.rate.count;
        let remaining = count.saturating_sub(usage.used);
        if tightest.is_none_or(|(r, reset, _)| (remaining, usage.reset_ms) < (r, reset)) {
            tightest = Some((remaining, usage.reset_ms, count));
        }
        if usage.used > count {
            // Every exceeded window must end before a retry can succeed.
            retry_ms = Some(retry_ms.map_or(usage.reset_ms, |r| r.max(usage.reset_ms)));
            if blocked_scope.is_none() {
                blocked_scope = Some(limit.scope.clone());
            }
        }
    }
    let (remaining, reset_ms, limit) = tightest.unwrap_or((0, 0, 0));
    Decision {
        allowed: retry_ms.is_none(),
        limit,
        remaining,
        reset_secs: ceil_secs(reset_ms),
        retry_after_secs: retry_ms.map(ceil_secs),
        blocked_scope,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(used: u64, reset_ms: u64) -> Usage {
        Usage { used, reset_ms }
    }

    fn limit(scope: &str, rate: &str) -> Limit {
        Limit {
            scope: scope.into(),
            subject: "ip:192.0.2.1".into(),
            rate: rate.parse().expect("rate"),
        }
    }

    #[test]
    fn windows_are_aligned_to_their_period() {
        // 12:34:56.789 on some day, in ms since the epoch.
        let now = 1_700_000_000_000 + 45_296_789;
        let (start, left) = window(now, 60_000);
        assert_eq!(start % 60_000, 0);
        assert!(start <= now && now < start + 60_000);
        assert_eq!(start + 60_000 - now, left);
        assert_eq!(window(3_600_000, 3_600_000), (3_600_000, 3_600_000));
        assert_eq!(window(3_599_999, 3_600_000), (0, 1));
    }

    #[test]
    fn headers_describe_the_limit_with_fewest_remaining() {
        let limits = [limit("default", "200/day"), limit("default", "50/hour")];
        let usages = [usage(180, 5_000_000), usage(10, 1_000_500)];
        let d = decide(&limits, &usages);
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining, d.reset_secs), (200, 20, 5_000));
        assert_eq!(d.retry_after_secs, None);
    }

    #[test]
    fn on_a_tie_headers_describe_the_limit_that_resets_first() {
        let limits = [limit("default", "10/hour"), limit("default", "5/minute")];
        let usages = [usage(8, 3_000_000), usage(3, 20_001)];
        let d = decide(&limits, &usages);
        assert_eq!((d.limit, d.remaining, d.reset_secs), (5, 2, 21));
    }

    #[test]
    fn a_request_over_any_limit_is_refused_until_every_exceeded_window_ends() {
        let limits = [
            limit("default", "3/minute"),
            limit("default", "4/hour"),
            limit("route:POST /x", "100/day"),
        ];
        let usages = [usage(4, 10_000), usage(5, 900_000), usage(5, 9_000_000)];
        let d = decide(&limits, &usages);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(
            d.limit, 3,
            "tie on 0 remaining: the minute window resets first"
        );
        assert_eq!(d.reset_secs, 10);
        assert_eq!(d.retry_after_secs, Some(900));
        assert_eq!(d.blocked_scope.as_deref(), Some("default"));
    }

    #[test]
    fn the_last_request_of_a_budget_is_allowed_with_zero_remaining() {
        let limits = [limit("login", "3/minute")];
        let d = decide(&limits, &[usage(3, 1)]);
        assert!(d.allowed);
        assert_eq!((d.remaining, d.reset_secs), (0, 1));
    }

    #[tokio::test]
    async fn memory_limiter_counts_down_then_refuses() {
        let limiter = RateLimiter::memory("t:");
        let limits = [limit("default", "3/hour")];
        let mut remaining = Vec::new();
        for _ in 0..3 {
            match limiter.check(&limits).await {
                Outcome::Counted(d) => {
                    assert!(d.allowed);
                    remaining.push(d.remaining);
                }
                other => panic!("memory store failed: {other:?}"),
            }
        }
        assert_eq!(remaining, [2, 1, 0]);
        let Outcome::Counted(d) = limiter.check(&limits).await else {
            panic!("memory store failed")
        };
        assert!(!d.allowed);
        assert!(d.retry_after_secs.is_some_and(|s| (1..=3600).contains(&s)));
        // Another subject and another scope have their own budgets.
        let other = [Limit {
            subject: "ip:192.0.2.2".into(),
            ..limit("default", "3/hour")
        }];
        assert!(matches!(limiter.check(&other).await, Outcome::Counted(d) if d.remaining == 2));
        let route = [limit("route:GET /a", "3/hour")];
        assert!(matches!(limiter.check(&route).await, Outcome::Counted(d) if d.remaining == 2));
    }

    /// Redis down: the login budget is still enforced (in this process's memory), while
    /// the default budget fails open as before.
    #[tokio::test]
    async fn with_redis_unreachable_the_login_budget_is_kept_in_memory() {
        let limiter = RateLimiter::redis("redis://127.0.0.1:1", "t:")
            .expect("url parses")
            .with_local_fallback(["login", "recovery"]);
        let login = [limit("login", "3/hour")];
        let mut allowed = Vec::new();
        for _ in 0..5 {
            match limiter.check(&login).await {
                Outcome::CountedLocally(d) => allowed.push(d.allowed),
                other => panic!("login must be counted locally: {other:?}"),
            }
        }
        assert_eq!(allowed, [true, true, true, false, false]);
        // A request that spends both counts only the kept scope, and is refused by it.
        let both = [limit("default", "1/hour"), limit("login", "3/hour")];
        assert!(matches!(
            limiter.check(&both).await,
            Outcome::CountedLocally(d) if !d.allowed && d.blocked_scope.as_deref() == Some("login")
        ));
        let default = [limit("default", "1/minute")];
        for _ in 0..3 {
            assert_eq!(limiter.check(&default).await, Outcome::StoreUnavailable);
        }
    }

    #[tokio::test]
    async fn unreachable_redis_fails_open() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let limiter = RateLimiter::redis("redis://127.0.0.1:1", "t:").expect("url parses");
        assert_eq!(limiter.backend(), "redis");
        assert_eq!(limiter.describe(), "redis 127.0.0.1:1");
        let limits = [limit("default", "1/minute")];
        assert_eq!(limiter.check(&limits).await, Outcome::StoreUnavailable);
        assert_eq!(limiter.check(&limits).await, Outcome::StoreUnavailable);
        assert!(limiter.ping().await.is_err());
    }

    #[test]
    fn an_invalid_redis_url_is_refused() {
        assert!(RateLimiter::redis("http://example.invalid", "t:").is_err());
    }
}
