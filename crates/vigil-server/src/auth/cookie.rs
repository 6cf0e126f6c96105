//! The session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` with the
//! `__Host-` prefix whenever the client reached us over HTTPS or the profile demands
//! secure cookies (always in production). Lax rather than Strict so that following a link
//! to the console from chat or mail arrives signed in; writes are guarded by CSRF tokens.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use vigil_config::Settings;

use crate::middleware::client_ip::ClientAddr;

/// Cookie name over HTTPS (the prefix makes browsers refuse it without Secure/Path=/).
pub const SECURE_NAME: &str = "__Host-vigil_session";
/// Cookie name over plain HTTP (development on localhost).
pub const PLAIN_NAME: &str = "vigil_session";

/// Whether the cookie is marked Secure for this request.
pub fn secure(settings: &Settings, client: Option<&ClientAddr>) -> bool {
    settings.cookies_secure() || client.is_some_and(|c| c.https)
}

/// The session cookie's value in a request, if any (the secure name wins).
pub fn read(headers: &HeaderMap) -> Option<String> {
    read_named(headers, SECURE_NAME, PLAIN_NAME)
}

/// The value of the cookie called `secure_name`, else `plain_name`, in a request.
pub fn read_named(headers: &HeaderMap, secure_name: &str, plain_name: &str) -> Option<String> {
    let mut plain = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name == secure_name {
                return Some(value.trim().to_string());
            }
            if name == plain_name {
                plain = Some(value.trim().to_string());
            }
        }
    }
    plain
}

/// `Set-Cookie` starting a session that the browser keeps for `max_age_secs`.
pub fn set(headers: &mut HeaderMap, value: &str, secure: bool, max_age_secs: u64) {
    let name = if secure { SECURE_NAME } else { PLAIN_NAME };
    let attrs = Attributes {
        path: "/",
        max_age_secs,
        secure,
        same_site: "Lax",
    };
    append(headers, name, value, &attrs);
}

/// The attributes of an `HttpOnly` cookie we set.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// `Path`.
    pub path: &'a str,
    /// `Max-Age` in seconds.
    pub max_age_secs: u64,
    /// Whether to add `Secure`.
    pub secure: bool,
    /// `SameSite` (`Lax` or `Strict`).
    pub same_site: &'a str,
}

/// Appends `Set-Cookie: name=value` with `attrs` and `HttpOnly`.
pub fn append(headers: &mut HeaderMap, name: &str, value: &str, attrs: &Attributes<'_>) {
    let secure = if attrs.secure { " Secure;" } else { "" };
    let cookie = format!(
        "{name}={value}; Path={}; Max-Age={}; HttpOnly;{secure} SameSite={}",
        attrs.path, attrs.max_age_secs, attrs.same_site
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.append(SET_COOKIE, v);
    }
}

/// `Set-Cookie` headers deleting the session cookie under both names.
pub fn clear(headers: &mut HeaderMap) {
    for cookie in [
        format!("{SECURE_NAME}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"),
        format!("{PLAIN_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_either_name_preferring_secure() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; vigil_session=plain; b=2"),
        );
        assert_eq!(read(&h).as_deref(), Some("plain"));
        h.append(COOKIE, HeaderValue::from_static("__Host-vigil_session=sec"));
        assert_eq!(read(&h).as_deref(), Some("sec"));
        let mut out = HeaderMap::new();
        set(&mut out, "v", true, 60);
        let c = out.get(SET_COOKIE).unwrap().to_str().unwrap();
        assert!(
            c.starts_with("__Host-vigil_session=v;")
                && c.contains("Secure")
                && c.contains("HttpOnly")
        );
    }
}
