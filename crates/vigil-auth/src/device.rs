//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): after
//! a successful sign-in the browser gets `<nonce>.<mac>`, where the MAC is
//! `HMAC-SHA256(derive("vigil device cookie v1"), username ‖ 0 ‖ password_changed_at ‖ 0
//! ‖ nonce)`. Presented again with the same username, it proves that this browser signed
//! in as that user before, with their current password, and the login throttle counts its
//! failures against the device alone ([`crate::throttle`]). A password change or reset
//! moves `password_changed_at`, so it ends every device cookie: a browser that knew the
//! old password (perhaps the attacker's) loses its own budget.
//! Nothing is stored at issue; a device is known by a hash of its nonce only when it
//! fails. Changing `secret_key` makes every device cookie unknown (the browser is then
//! throttled like any other until it signs in again).

use std::time::Duration;

use crate::keys::purpose;
use crate::token::{ct_eq, hash_token, random_token};
use crate::Keys;

/// How long a browser keeps its device cookie.
pub const MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Longest cookie value looked at (a nonce of 22 characters, a dot, 64 hex digits).
const MAX_LEN: usize = 128;

fn mac(keys: &Keys, username: &str, password_changed_at: i64, nonce: &str) -> String {
    let data = format!(
        "{}\0{password_changed_at}\0{nonce}",
        username.trim().to_lowercase()
    );
    keys.mac_hex(purpose::DEVICE, data.as_bytes())
}

/// A new device cookie value for `username`, whose password last changed at
/// `password_changed_at` (Unix ms).
pub fn issue(keys: &Keys, username: &str, password_changed_at: i64) -> String {
    let nonce = random_token(16);
    let tag = mac(keys, username, password_changed_at, &nonce);
    format!("{nonce}.{tag}")
}

/// The device id behind `value` when it is a device cookie issued to `username` (any
/// case) since their password last changed (at `password_changed_at`); `None` for
/// anything else, including another user's cookie or one from before the change.
pub fn verify(
    keys: &Keys,
    username: &str,
    password_changed_at: i64,
    value: &str,
) -> Option<String> {
    if value.len() > MAX_LEN {
        return None;
    }
    let (nonce, tag) = value.trim().split_once('.')?;
    if nonce.is_empty() || !ct_eq(tag, &mac(keys, username, password_changed_at, nonce)) {
        return None;
    }
    // The id stored with a failure: it names the device without being the cookie.
    Some(hash_token(nonce)[..32].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_is_bound_to_its_user_and_key() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        let cookie = issue(&keys, "Alice", 7);
        let id = verify(&keys, "alice", 7, &cookie).expect("valid for alice");
        assert_eq!(id.len(), 32);
        assert!(!cookie.contains(&id));
        assert_eq!(verify(&keys, " ALICE ", 7, &cookie), Some(id));
        assert_eq!(verify(&keys, "bob", 7, &cookie), None);
        // After a password change.
        assert_eq!(verify(&keys, "alice", 8, &cookie), None);
        let other = Keys::from_secret(b"another secret another secret!!");
        assert_eq!(verify(&other, "alice", 7, &cookie), None);
        let (nonce, _) = cookie.split_once('.').unwrap();
        assert_eq!(verify(&keys, "alice", 7, &format!("{nonce}.00")), None);
        assert_eq!(verify(&keys, "alice", 7, "garbage"), None);
        assert_eq!(verify(&keys, "alice", 7, &"x".repeat(4000)), None);
        assert_ne!(issue(&keys, "alice", 7), issue(&keys, "alice", 7));
    }
}
