//! The access layer, run on every routed request: find the caller (API key or session
//! cookie), look up the route's rule ([`access::lookup`], declared in `routes/table.rs`),
//! check CSRF for cookie-authenticated writes, and either pass the request on with the
//! [`Principal`] in its extensions or answer 401/403 (or redirect a page to the login).
//!
//! Every 403, whether refused here (role, CSRF, origin) or by the handler (a missing
//! confirmation, a role above the creator's), is audited as `access.denied` with the
//! caller, sampled per caller, route and minute (`vigil_core::denials`) so a flood
//! cannot fill the log. A wrong confirmation password (`reauth_failed`) is left to the
//! use case, which records every one.

use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, HOST, LOCATION, ORIGIN, REFERER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vigil_auth::{token, Principal, PrincipalKind, Role};
use vigil_config::Profile;
use vigil_core::denials::Denial;
use vigil_core::login::Verified;
use vigil_core::Actor;

use super::access::{self, Access};
use super::cache::{AuthCache, Owners};
use super::cookie;
use crate::error::{ApiError, ErrorCode, ErrorInfo};
use crate::middleware::client_ip::ClientAddr;
use crate::state::AppState;

/// Header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The access middleware; install with `route_layer` so the matched route is known.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let Some(rule) = access::lookup(req.method(), &path) else {
        let allowed = access::methods(&path);
        if allowed.is_empty() {
            tracing::error!(method = %req.method(), route = %path, "route has no access rule; refusing");
            return ApiError::new(ErrorCode::Forbidden, "this route has no access rule")
                .into_response();
        }
        // Another method of a known route: answer 405 here rather than let the request
        // reach a handler that might exist without a rule (fail closed).
        let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
        if let Ok(v) = HeaderValue::from_str(&allowed.join(",")) {
            resp.headers_mut().insert(axum::http::header::ALLOW, v);
        }
        return resp;
    };
    let principal = match authenticate(&state, req.headers()).await {
        Ok(p) => p,
        // Probes, docs and sign-in pages must not depend on a credential lookup.
        Err(_) if matches!(rule, Access::Public | Access::PublicPage) => None,
        Err(resp) => return resp,
    };
    let client = req.extensions().get::<ClientAddr>().copied();
    let method = req.method().to_string();
    if let Err(refusal) = authorize(&state, rule, principal.as_ref(), &req, client.as_ref()) {
        if let Some(code) = denial_code(&refusal) {
            audit_denial(&state, code, principal.as_ref(), client, &method, &path).await;
        }
        return *refusal;
    }
    if let Some(p) = &principal {
        req.extensions_mut().insert(p.clone());
    }
    let resp = next.run(req).await;
    if let Some(code) = denial_code(&resp) {
        audit_denial(&state, code, principal.as_ref(), client, &method, &path).await;
    }
    resp
}

/// The error code of `resp` when it is a 403 to audit as an access denial: every 403
/// except a wrong confirmation password, which its use case records in full.
fn denial_code(resp: &Response) -> Option<ErrorCode> {
    if resp.status() != StatusCode::FORBIDDEN {
        return None;
    }
    let code = resp
        .extensions()
        .get::<ErrorInfo>()
        .map_or(ErrorCode::Forbidden, |i| i.code);
    (code != ErrorCode::ReauthFailed).then_some(code)
}

/// Records a refusal with `code` as an access denial (sampled, see
/// `vigil_core::denials`).
async fn audit_denial(
    state: &AppState,
    code: ErrorCode,
    principal: Option<&Principal>,
    client: Option<ClientAddr>,
    method: &str,
    route: &str,
) {
    let ip = client.and_then(|c| c.ip_text());
    let actor = match principal {
        Some(p) => Actor::principal(p, ip),
        None => Actor::anonymous(None, ip),
    };
    let code = serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "forbidden".into());
    state
        .identity
        .record_denial(Denial {
            actor,
            method: method.to_string(),
            route: route.to_string(),
            code,
        })
        .await;
}

/// The caller behind an API key or session cookie. A presented API key that is wrong,
/// expired or revoked is an error (401); a stale cookie just means "anonymous". A
/// verified credential is remembered briefly ([`AuthCache`]); misses are looked up.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, Response> {
    let fail = |e: vigil_core::Error| ApiError::from(e).into_response();
    let cache = &state.auth_cache;
    if let Some(key) = presented_api_key(headers) {
        let cache_key = AuthCache::key("key", &key);
        if let Some(p) = cache.get(&cache_key) {
            return Ok(Some(p));
        }
        let generation = cache.generation();
        let found = state.identity.verify_api_key(&key).await.map_err(fail)?;
        let Some(found) = found else {
            return Err(unauthorized("the API key is not valid, expired or revoked"));
        };
        remember(cache, cache_key, &found, generation);
        return Ok(Some(found.principal));
    }
    let Some(value) = cookie::read(headers) else {
        return Ok(None);
    };
    let cache_key = AuthCache::key("session", &value);
    if let Some(p) = cache.get(&cache_key) {
        return Ok(Some(p));
    }
    let generation = cache.generation();
    let found = state.identity.verify_session(&value).await.map_err(fail)?;
    Ok(found.map(|found| {
        remember(cache, cache_key, &found, generation);
        found.principal
    }))
}

/// Caches `found` under `cache_key`, never past the credential's own end.
fn remember(cache: &AuthCache, cache_key: String, found: &Verified, generation: u64) {
    let p = &found.principal;
    let owners = match &p.kind {
        // A key depends on its creator too: disabling, demoting or deleting them drops it.
        PrincipalKind::ApiKey => Owners {
            key_id: Some(p.id.clone()),
            user_id: found.user_id.clone(),
            ..Owners::default()
        },
        PrincipalKind::Session { session_id, .. } => Owners {
            user_id: Some(p.id.clone()),
            session_id: Some(session_id.clone()),
            ..Owners::default()
        },
    };
    let not_after = found.valid_until.map(instant_at);
    cache.insert(cache_key, p.clone(), owners, not_after, generation);
}

/// The monotonic instant of Unix time `ms` (now, if it is already past). Capped a day
/// ahead: it only ever shortens a cache entry's few seconds.
fn instant_at(ms: i64) -> Instant {
    const DAY_MS: u64 = 86_400_000;
    let ahead = u64::try_from(ms.saturating_sub(vigil_core::now_ms())).unwrap_or(0);
    Instant::now() + Duration::from_millis(ahead.min(DAY_MS))
}

/// `X-API-Key: …` or `Authorization: Bearer …`.
fn presented_api_key(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| value.trim().to_string())
}

fn authorize(
    state: &AppState,
    rule: Access,
    principal: Option<&Principal>,
    req: &Request,
    client: Option<&ClientAddr>,
) -> Result<(), Box<Response>> {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let by_key = principal.is_some_and(|p| !p.is_user());
    if is_websocket_upgrade(req.headers()) && !by_key {
        // Browsers send cookies with cross-site WebSocket handshakes and no CSRF header
        // can be added to one: the Origin is the only defence, so it is required to be
        // ours (a GET, hence not covered below).
        check_origin(state, req, client).map_err(|e| Box::new(e.into_response()))?;
    }
    if unsafe_method && !by_key {
        // Even public writes (login, setup, reset) must not come from another site's
        // page: that would sign a victim's browser into the attacker's account. API keys
        // are never sent by a browser on its own, so they need neither check.
        check_origin(state, req, client).map_err(|e| Box::new(e.into_response()))?;
        if let (Some(p), false) = (
            principal,
            matches!(rule, Access::Public | Access::PublicPage),
        ) {
            check_csrf(p, req.headers()).map_err(|e| Box::new(e.into_response()))?;
        }
    }
    let deny = |code, msg: &str| {
        Err(Box::new(
            ApiError::new(code, msg.to_string()).into_response(),
        ))
    };
    match (rule, principal) {
        (Access::Public | Access::PublicPage, _) => Ok(()),
        (Access::Page(_) | Access::AccountPage, None) => Err(Box::new(login_redirect(req.uri()))),
        (_, None) => Err(Box::new(unauthorized("sign in or send an API key"))),
        (Access::Account | Access::AccountPage | Access::Page(_), Some(p)) if !p.is_user() => deny(
            ErrorCode::Forbidden,
            "this route is for signed-in people, not API keys",
        ),
        (Access::Account | Access::AccountPage, Some(_)) => Ok(()),
        (Access::Confirmed(_), Some(p)) if !p.is_user() => deny(
            ErrorCode::ReauthRequired,
            "this change needs a person who confirms it with their password; API keys cannot \
             make it (sign in to the console, or use the `vigil` command on the server)",
        ),
        (Access::Role(min) | Access::Page(min) | Access::Confirmed(min), Some(p)) => {
            if must_enroll(p) && !rule.allowed_before_totp_enrolment() {
                if rule.is_page() {
                    return Err(Box::new(redirect("/account")));
                }
                return deny(
                    ErrorCode::TotpEnrollmentRequired,
                    "your role must use two-factor sign-in: enrol it on the account page first",
                );
            }
            if p.role < min {
                return deny(ErrorCode::Forbidden, &format!("this needs the {min} role"));
            }
            Ok(())
        }
    }
}

/// Whether the request asks to become a WebSocket (`Upgrade: websocket`).
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// 401 with `WWW-Authenticate: Bearer`, as RFC 6750 asks.
fn unauthorized(message: &str) -> Response {
    let mut resp = ApiError::new(ErrorCode::Unauthorized, message.to_string()).into_response();
    resp.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

fn must_enroll(p: &Principal) -> bool {
    matches!(
        p.kind,
        PrincipalKind::Session {
            must_enroll_totp: true,
            ..
        }
    )
}

fn check_csrf(p: &Principal, headers: &HeaderMap) -> Result<(), ApiError> {
    let PrincipalKind::Session { csrf_token, .. } = &p.kind else {
        return Ok(()); // API keys are not sent by browsers automatically: no CSRF risk.
    };
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent.is_empty() || !token::ct_eq(sent, csrf_token) {
        return Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "missing or invalid CSRF token: send the X-CSRF-Token header from the login response",
        ));
    }
    Ok(())
}

/// A browser's `Origin` (else `Referer`) must be our own origin or an allowed CORS origin.
/// Requests with neither (non-browser clients) pass; the CSRF token still applies.
///
/// Our own origin is `auth.public_url`. Outside production the address the request was
/// sent to (`Host`, or the HTTP/2 `:authority`) counts too, so a development server
/// works under any name; in production it does not (the setting is required there): a
/// DNS-rebinding page reaches us under its own name, with a matching `Host`, and only
/// the configured URL tells the two apart.
fn check_origin(
    state: &AppState,
    req: &Request,
    client: Option<&ClientAddr>,
) -> Result<(), ApiError> {
    let headers = req.headers();
    let claimed = match headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => Some(origin.to_string()),
        None => headers
            .get(REFERER)
            .and_then(|v| v.to_str().ok())
            .map(|r| origin_of(r).unwrap_or("null").to_string()),
    };
    let Some(claimed) = claimed else {
        return Ok(());
    };
    let claimed = claimed.trim_end_matches('/').to_ascii_lowercase();
    let settings = &state.settings;
    let scheme = if client.is_some_and(|c| c.https) {
        "https"
    } else {
        "http"
    };
    let own = (settings.profile != Profile::Production)
        .then(|| {
            headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()))
        })
        .flatten()
        .map(|host| format!("{scheme}://{}", host.to_ascii_lowercase()));
    let public = settings
        .auth
        .public_url
        .as_deref()
        .and_then(origin_of)
        .map(str::to_ascii_lowercase);
    let allowed = own.as_deref() == Some(claimed.as_str())
        || public.as_deref() == Some(claimed.as_str())
        || settings
            .server
            .cors_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(&claimed));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "cross-site request refused (Origin does not match)",
        ))
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    Some(&url[..end])
}

/// 303 to the login page, coming back to `uri` afterwards.
pub(crate) fn login_redirect(uri: &axum::http::Uri) -> Response {
    let next = uri.path_and_query().map_or("/", |pq| pq.as_str());
    redirect(&format!("/login?next={}", urlencode(next)))
}

/// 303 See Other to `to`.
pub(crate) fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The authenticated caller; handlers behind a non-public rule take it as an argument.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "sign in or send an API key"))
    }
}

impl Caller {
    /// The caller's role.
    pub fn role(&self) -> Role {
        self.0.role
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_encoding() {
        assert_eq!(
            origin_of("https://a.example:8443/x?y"),
            Some("https://a.example:8443")
        );
        assert_eq!(origin_of("http://a"), Some("http://a"));
        assert_eq!(origin_of("nonsense"), None);
        assert_eq!(urlencode("/account?x=1&y"), "/account%3Fx%3D1%26y");
    }
}
