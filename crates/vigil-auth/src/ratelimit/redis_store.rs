//! The shared store: counters in Redis, counted by one Lua script per request.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{RateLimitError, Usage};

/// Longest a request waits for Redis before being let through uncounted. Redis answers
/// in well under a millisecond on a LAN; anything slower is an outage.
const TIMEOUT: Duration = Duration::from_millis(500);

/// Counts every counter of one request atomically, on Redis's clock (so instances whose
/// clocks disagree still agree on the windows), and returns `used, ms left` pairs.
/// KEYS[i] is a counter's base name and ARGV[i] its period in ms; the window's start in
/// seconds is appended to the name, and the key expires one second after the window ends
/// so Redis never keeps dead counters.
const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, base in ipairs(KEYS) do
  local period = tonumber(ARGV[i])
  local start = now - (now % period)
  local key = base .. ':' .. math.floor(start / 1000)
  local used = redis.call('INCR', key)
  local left = start + period - now
  if used == 1 then
    redis.call('PEXPIRE', key, left + 1000)
  end
  out[#out + 1] = used
  out[#out + 1] = left
end
return out
"#;

pub(super) struct RedisStore {
    manager: ConnectionManager,
    script: redis::Script,
    address: String,
}

impl RedisStore {
    pub(super) fn new(url: &str) -> Result<Self, RateLimitError> {
        let client = redis::Client::open(url)?;
        let address = client.get_connection_info().addr().to_string();
        // Short timeouts and few reconnection attempts: while Redis is away requests
        // must fail open quickly rather than wait on it.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore {
            manager,
            script: redis::Script::new(SCRIPT),
            address,
        })
    }

    pub(super) fn address(&self) -> &str {
        &self.address
    }

    pub(super) async fn count(
        &self,
        counters: &[(String, u64)],
    ) -> Result<Vec<Usage>, RateLimitError> {
        let mut invocation = self.script.prepare_invoke();
        for (base, period_ms) in counters {
            invocation.key(base).arg(*period_ms);
        }
        let mut conn = self.manager.clone();
        let reply: Vec<i64> = tokio::time::timeout(TIMEOUT, invocation.invoke_async(&mut conn))
            .await
            .map_err(|_| RateLimitError::Timeout(TIMEOUT))??;
        if reply.len() != counters.len() * 2 {
            return Err(RateLimitError::Protocol(format!(
                "{} numbers for {} counters",
                reply.len(),
                counters.len()
            )));
        }
        Ok(reply
            .chunks_exact(2)
            .map(|pair| Usage {
                used: u64::try_from(pair[0]).unwrap_or(0),
                reset_ms: u64::try_from(pair[1]).unwrap_or(0),
            })
            .collect())
    }

    pub(super) async fn ping(&self) -> Result<(), RateLimitError> {
        let mut conn = self.manager.clone();
        let pong: String = tokio::time::timeout(TIMEOUT, redis::cmd("PING").query_async(&mut conn))
            .await
            .map_err(|_| RateLimitError::Timeout(TIMEOUT))??;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(RateLimitError::Protocol(format!("PING answered {pong:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Limit, Outcome, RateLimiter};

    /// The real Redis from `VIGIL_TEST_REDIS_URL`, or a skip note (a failure in CI).
    fn redis_url() -> Option<String> {
        match std::env::var("VIGIL_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                assert!(
                    !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
                    "CI must set VIGIL_TEST_REDIS_URL so the Redis rate-limit tests run"
                );
                eprintln!("note: Redis rate-limit test skipped (set VIGIL_TEST_REDIS_URL=redis://… to run it)");
                None
            }
        }
    }

    /// Five requests alternating between two limiters on one Redis: `(allowed, remaining)`
    /// each, or `None` when a window boundary fell between them (counts restarted).
    async fn alternate(url: &str) -> Option<Vec<(bool, u64)>> {
        let prefix = format!("vigil:test:{}:", rand::random::<u64>());
        let a = RateLimiter::redis(url, prefix.clone()).expect("url");
        let b = RateLimiter::redis(url, prefix).expect("url");
        a.ping().await.expect("redis answers PING");
        let limits = [Limit {
            scope: "default".into(),
            subject: "ip:192.0.2.1".into(),
            rate: "4/minute".parse().expect("rate"),
        }];
        let mut seen = Vec::new();
        let mut resets = Vec::new();
        for limiter in [&a, &b, &a, &b, &a] {
            match limiter.check(&limits).await {
                Outcome::Counted(d) => {
                    seen.push((d.allowed, d.remaining));
                    resets.push(d.reset_secs);
                }
                other => panic!("redis at {url} failed: {other:?}"),
            }
        }
        // The time left in the window only shrinks, unless a new window began.
        resets.windows(2).all(|w| w[1] <= w[0]).then_some(seen)
    }

    #[tokio::test]
    async fn two_limiters_on_one_redis_share_a_budget() {
        let Some(url) = redis_url() else { return };
        let seen = match alternate(&url).await {
            Some(seen) => seen,
            None => alternate(&url)
                .await
                .expect("no two window boundaries a minute apart"),
        };
        assert_eq!(
            seen,
            [(true, 3), (true, 2), (true, 1), (true, 0), (false, 0)]
        );
    }
}
