//! The rate-limit budgets from `rate_limit.*`, parsed once at start-up, and the store that
//! counts them (memory, or Redis when several instances share the load). Counting itself
//! is [`vigil_auth::ratelimit`]'s; which route spends which budget is declared per route
//! in [`crate::routes::table`]; the middleware that charges requests and answers 429 is
//! [`crate::middleware::rate_limit`].

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use axum::http::Method;
use vigil_auth::ratelimit::{Limit, Rate, RateLimiter};
use vigil_config::{parse_rates, Settings};

/// The scope of `rate_limit.login`'s counters.
const LOGIN_SCOPE: &str = "login";
/// The scope of `rate_limit.recovery`'s counters.
const RECOVERY_SCOPE: &str = "recovery";

/// Which budget a route spends (declared per route in [`crate::routes::table`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// Not limited, no headers.
    Exempt,
    /// `rate_limit.login` per client address.
    Login,
    /// `rate_limit.recovery` per client address.
    Recovery,
    /// `rate_limit.default` per caller.
    Api,
}

/// The configured budgets, parsed once, and the store that counts them.
#[derive(Debug)]
pub struct RateLimits {
    /// The counting store (memory, or Redis when `VIGIL_REDIS_URL` is set).
    pub limiter: Arc<RateLimiter>,
    /// `rate_limit.enabled`.
    pub enabled: bool,
    default: Vec<Rate>,
    login: Vec<Rate>,
    recovery: Vec<Rate>,
    /// `"METHOD /path"` (method upper-cased) → its own budget.
    routes: HashMap<String, Vec<Rate>>,
}

impl RateLimits {
    /// Parses the `rate_limit` settings and opens the store (Redis when `redis_url` is
    /// set; connecting happens on first use, so a Redis outage does not stop start-up).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let s = &settings.rate_limit;
        let limiter = match &settings.redis_url {
            // While Redis is down every budget fails open except those that stop password
            // and token guessing: they are kept per instance, in memory.
            Some(url) => RateLimiter::redis(url.expose(), s.redis_prefix.clone())
                .context("redis_url (VIGIL_REDIS_URL) is not a usable Redis URL")?
                .with_local_fallback([LOGIN_SCOPE, RECOVERY_SCOPE]),
            None => RateLimiter::memory(s.redis_prefix.clone()),
        };
        let parse = |what: &str, list: &[String]| {
            parse_rates(list).map_err(|e| anyhow::anyhow!("rate_limit.{what}: {e}"))
        };
        let mut routes = HashMap::new();
        for (route, list) in &s.routes {
            let (method, path) = route
                .trim()
                .split_once(' ')
                .with_context(|| format!("rate_limit.routes: `{route}` is not \"METHOD /path\""))?;
            routes.insert(
                format!("{} {}", method.to_ascii_uppercase(), path.trim()),
                parse("routes", list)?,
            );
        }
        Ok(RateLimits {
            limiter: Arc::new(limiter),
            enabled: s.enabled,
            default: parse("default", &s.default)?,
            login: parse("login", &s.login)?,
            recovery: parse("recovery", &s.recovery)?,
            routes,
        })
    }

    /// The budgets a request of `class` to `method` `template` spends from; empty when it
    /// is not limited. `caller` is the caller's subject, `ip` the client address's (see
    /// [`crate::middleware::rate_limit::caller_subject`] and
    /// [`ip_subject`](crate::middleware::rate_limit::ip_subject)).
    pub fn limits_for(
        &self,
        class: RouteClass,
        method: &Method,
        template: &str,
        caller: &str,
        ip: &str,
    ) -> Vec<Limit> {
        if !self.enabled {
            return Vec::new();
        }
        let (scope, rates, subject) = match class {
            RouteClass::Exempt => return Vec::new(),
            RouteClass::Login => (LOGIN_SCOPE, &self.login, ip),
            RouteClass::Recovery => (RECOVERY_SCOPE, &self.recovery, ip),
            RouteClass::Api => ("default", &self.default, caller),
        };
        let route_key = format!("{method} {template}");
        let mut limits: Vec<Limit> = rates
            .iter()
            .map(|&rate| Limit {
                scope: scope.to_string(),
                subject: subject.to_string(),
                rate,
            })
            .collect();
        if let Some(extra) = self.routes.get(&route_key) {
            limits.extend(extra.iter().map(|&rate| Limit {
                scope: format!("route:{route_key}"),
                subject: caller.to_string(),
                rate,
            }));
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(adjust: impl FnOnce(&mut Settings)) -> RateLimits {
        let mut s = Settings::default();
        adjust(&mut s);
        RateLimits::from_settings(&s).expect("valid settings")
    }

    #[test]
    fn login_spends_the_address_budget_and_configured_routes_add_their_own() {
        let rl = limits(|s| {
            s.rate_limit
                .routes
                .insert("post /api/v1/analyze".into(), vec!["30/minute".into()]);
        });
        let login = rl.limits_for(
            RouteClass::Login,
            &Method::POST,
            "/api/v1/auth/login",
            "user:1",
            "ip:192.0.2.1",
        );
        assert_eq!(login.len(), 1);
        assert_eq!(
            (login[0].scope.as_str(), login[0].subject.as_str()),
            ("login", "ip:192.0.2.1")
        );
        assert_eq!(login[0].rate.to_string(), "10/minute");

        let analyze = rl.limits_for(
            RouteClass::Api,
            &Method::POST,
            "/api/v1/analyze",
            "key:9",
            "ip:192.0.2.1",
        );
        let described: Vec<_> = analyze
            .iter()
            .map(|l| format!("{} {} {}", l.scope, l.subject, l.rate))
            .collect();
        assert_eq!(
            described,
            [
                "default key:9 200/day",
                "default key:9 50/hour",
                "route:POST /api/v1/analyze key:9 30/minute"
            ]
        );
        assert!(rl
            .limits_for(
                RouteClass::Exempt,
                &Method::GET,
                "/healthz",
                "key:9",
                "ip:x"
            )
            .is_empty());
    }

    #[test]
    fn nothing_is_limited_when_disabled() {
        let rl = limits(|s| s.rate_limit.enabled = false);
        assert!(rl
            .limits_for(
                RouteClass::Login,
                &Method::POST,
                "/api/v1/auth/login",
                "ip:a",
                "ip:a"
            )
            .is_empty());
    }
}
