//! The device cookie a successful sign-in leaves in the browser, so that the login
//! throttle gives this browser its own budget when the account is under attack (see
//! `vigil_auth::throttle`). `HttpOnly`, `SameSite=Strict`, sent only to the login route,
//! kept a year; over HTTPS `Secure` with the `__Secure-` prefix. Its value is signed and
//! bound to the username by the core; here it is only carried.

use axum::http::HeaderMap;

use super::cookie;

/// Cookie name over HTTPS (the prefix makes browsers refuse it without Secure).
pub const SECURE_NAME: &str = "__Secure-vigil_device";
/// Cookie name over plain HTTP (development on localhost).
pub const PLAIN_NAME: &str = "vigil_device";
/// Only the login route ever needs it.
const PATH: &str = "/api/v1/auth/login";

/// The device cookie's value in a request, if any.
pub fn read(headers: &HeaderMap) -> Option<String> {
    cookie::read_named(headers, SECURE_NAME, PLAIN_NAME)
}

/// `Set-Cookie` giving the browser `value` for `max_age_secs`.
pub fn set(headers: &mut HeaderMap, value: &str, secure: bool, max_age_secs: u64) {
    let name = if secure { SECURE_NAME } else { PLAIN_NAME };
    let attrs = cookie::Attributes {
        path: PATH,
        max_age_secs,
        secure,
        same_site: "Strict",
    };
    cookie::append(headers, name, value, &attrs);
}

#[cfg(test)]
mod tests {
    use axum::http::header::{COOKIE, SET_COOKIE};
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_device_cookie_is_strict_http_only_and_scoped_to_login() {
        let mut out = HeaderMap::new();
        set(&mut out, "n.t", true, 60);
        let c = out.get(SET_COOKIE).unwrap().to_str().unwrap();
        for part in [
            "__Secure-vigil_device=n.t;",
            "Path=/api/v1/auth/login",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("vigil_session=s; vigil_device=d"),
        );
        assert_eq!(read(&h).as_deref(), Some("d"));
        assert_eq!(cookie::read(&h).as_deref(), Some("s"));
    }
}
