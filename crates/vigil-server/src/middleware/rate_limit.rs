//! Rate limiting of API requests: which budgets a request spends from, who spends them,
//! and the `X-RateLimit-*` headers and JSON 429 that report it. The budgets and their store
//! are [`crate::ratelimits::RateLimits`]; counting itself is [`vigil_auth::ratelimit`]'s.
//!
//! Installed with `route_layer` so the route template ([`MatchedPath`]) is known, and
//! inside the auth layer so an authenticated caller's [`Principal`] is known. Each route's
//! class is declared on its row in [`crate::routes::table`]; today:
//! - `POST /api/v1/auth/login`: `rate_limit.login`, per client address (always the
//!   address: a login is an attempt to *become* a user, so it cannot spend a user's budget).
//! - `POST /api/v1/auth/bootstrap`, `POST /api/v1/auth/reset`: `rate_limit.recovery`,
//!   per client address.
//! - every other route under `/api/v1/` except the API docs: `rate_limit.default`, per
//!   caller (API key, else user, else client address), one budget shared by all of them.
//! - any of the above also spends `rate_limit.routes["METHOD /path"]` when configured,
//!   per caller, a budget of its own.
//! - everything else (health, readiness, metrics, console pages, assets, API docs) is not
//!   limited and carries no rate-limit headers.
//!
//! IPv6 clients are counted per /64, the block one host or home usually gets, so a client
//! cannot multiply its budget by rotating addresses inside its own network.

use std::net::IpAddr;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vigil_auth::ratelimit::{Decision, Outcome};
use vigil_auth::{Principal, PrincipalKind};

use super::client_ip::ClientAddr;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::ScopeLabels;
use crate::ratelimits::RouteClass;
use crate::routes::table;
use crate::state::AppState;

/// `X-RateLimit-Limit`: requests allowed in the tightest window.
pub const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`: requests left in it.
pub const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`: seconds until it ends.
pub const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Classifies a request by method and route template (`/api/v1/uploads/{id}`): the
/// class its row in [`crate::routes::table::ROUTES`] declares. A route without a row
/// (refused by the access layer anyway) spends the default budget: limits fail closed too.
pub fn classify(method: &Method, template: &str) -> RouteClass {
    table::find(method, template).map_or(RouteClass::Api, |route| route.rate)
}

/// The subject for a client address: `ip:192.0.2.1`, or `ip:2001:db8:1:2::/64` for IPv6.
pub fn ip_subject(ip: Option<IpAddr>) -> String {
    match ip {
        // The login throttle's rule (IPv6 per /64, IPv4-mapped as IPv4), so a dual-stack
        // listener does not put every IPv4 client in one `::ffff:0:0/64` budget.
        Some(ip) => format!("ip:{}", vigil_auth::throttle::address_key(&ip.to_string())),
        // Only in-process test requests have no socket; they share one budget.
        None => "ip:unknown".to_string(),
    }
}

/// The subject for a caller: `key:{id}` for an API key, `user:{id}` for a signed-in
/// person, else the client address.
pub fn caller_subject(principal: Option<&Principal>, ip: Option<IpAddr>) -> String {
    match principal {
        Some(p) if p.kind == PrincipalKind::ApiKey => format!("key:{}", p.id),
        Some(p) => format!("user:{}", p.id),
        None => ip_subject(ip),
    }
}

fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert(LIMIT, HeaderValue::from(d.limit));
    headers.insert(REMAINING, HeaderValue::from(d.remaining));
    headers.insert(RESET, HeaderValue::from(d.reset_secs));
}

/// Middleware: counts the request, answers 429 when over a budget, and adds the
/// rate-limit headers to every limited response.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let rl = &state.rate_limits;
    let Some(template) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let addr = req.extensions().get::<ClientAddr>().and_then(|c| c.ip);
    let ip = ip_subject(addr);
    let caller = caller_subject(req.extensions().get::<Principal>(), addr);
    let class = classify(req.method(), &template);
    let limits = rl.limits_for(class, req.method(), &template, &caller, &ip);
    if limits.is_empty() {
        return next.run(req).await;
    }
    let decision = match rl.limiter.check(&limits).await {
        Outcome::Counted(d) => d,
        // Redis is away but this budget guards against guessing: counted in memory.
        Outcome::CountedLocally(d) => {
            state.metrics.rate_limit_store_errors.inc();
            d
        }
        Outcome::StoreUnavailable => {
            state.metrics.rate_limit_store_errors.inc();
            return next.run(req).await;
        }
    };
    if let Some(retry) = decision.retry_after_secs.filter(|_| !decision.allowed) {
        let scope = decision.blocked_scope.clone().unwrap_or_default();
        state
            .metrics
            .rate_limited
            .get_or_create(&ScopeLabels {
                scope: scope.clone(),
            })
            .inc();
        // The access log already records every 429; this adds which budget and whose.
        tracing::debug!(scope = %scope, subject = %limits[0].subject, retry_after = retry, "rate limited");
        let mut response = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many requests; try again in {retry} s"),
        )
        .with_retry_after(retry)
        .into_response();
        set_headers(response.headers_mut(), &decision);
        return response;
    }
    let mut response = next.run(req).await;
    set_headers(response.headers_mut(), &decision);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_by_method_and_template() {
        use RouteClass::*;
        let cases = [
            ("POST", "/api/v1/auth/login", Login),
            ("GET", "/api/v1/auth/login", Api),
            ("POST", "/api/v1/auth/bootstrap", Recovery),
            ("POST", "/api/v1/auth/reset", Recovery),
            ("GET", "/api/v1/uploads/{id}", Api),
            ("POST", "/api/v1/analyze", Api),
            ("GET", "/api/v1/openapi.json", Exempt),
            ("GET", "/api/v1/docs", Exempt),
            ("GET", "/healthz", Exempt),
            ("GET", "/readyz", Exempt),
            ("GET", "/metrics", Exempt),
            ("GET", "/assets/{*path}", Exempt),
            ("GET", "/", Exempt),
        ];
        for (method, template, class) in cases {
            let method: Method = method.parse().expect("method");
            assert_eq!(classify(&method, template), class, "{method} {template}");
        }
    }

    #[test]
    fn callers_are_keyed_by_api_key_then_user_then_address() {
        let principal = |kind| Principal {
            id: "42".into(),
            name: "n".into(),
            role: vigil_auth::Role::Viewer,
            kind,
        };
        let ip = Some("192.0.2.7".parse().expect("ip"));
        assert_eq!(
            caller_subject(Some(&principal(PrincipalKind::ApiKey)), ip),
            "key:42"
        );
        let session = PrincipalKind::Session {
            session_id: "s".into(),
            csrf_token: "t".into(),
            must_enroll_totp: false,
        };
        assert_eq!(caller_subject(Some(&principal(session)), ip), "user:42");
        assert_eq!(caller_subject(None, ip), "ip:192.0.2.7");
        assert_eq!(
            ip_subject(Some(
                "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().expect("ip")
            )),
            "ip:2001:db8:1:2::/64"
        );
        // A dual-stack listener sees IPv4 clients as mapped addresses: each keeps its own
        // budget rather than sharing the one /64 they all fall in.
        assert_eq!(
            ip_subject(Some("::ffff:192.0.2.7".parse().expect("ip"))),
            "ip:192.0.2.7"
        );
    }
}
