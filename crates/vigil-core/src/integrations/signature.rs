//! Webhook signatures: `X-Vigil-Signature: sha256=<hex>` where the hex is
//! `HMAC-SHA256(secret, "{timestamp}.{body}")` and `timestamp` is the `X-Vigil-Timestamp`
//! header (Unix seconds). Signing the timestamp with the body lets a receiver refuse a
//! replayed request: it checks the signature, then that the timestamp is recent (the
//! README shows how, in a few lines of Python).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The MAC over "{timestamp}.{body}".
fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of every length (long ones are hashed first): this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Vigil-Signature` value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("sha256={}", hex::encode(tag))
}

/// Checks a received signature as a receiver would: the MAC in constant time, then the
/// timestamp within `tolerance_secs` of `now_secs`. Vigil itself only signs; this is the
/// reference the README's receiver code follows, kept honest by the tests below.
pub fn verify(
    secret: &[u8],
    timestamp: i64,
    body: &[u8],
    signature: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    let given = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok());
    given.is_some_and(|given| mac(secret, timestamp, body).verify_slice(&given).is_ok())
        && (now_secs - timestamp).abs() <= tolerance_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_timestamp_and_body_and_verify_only_fresh_unaltered_bodies() {
        // The MAC covers exactly "{timestamp}.{body}".
        let sig = sign(b"Jefe", 1_700_000_000, b"{\"a\":1}");
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert!(verify(
            b"Jefe",
            1_700_000_000,
            b"{\"a\":1}",
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            b"Jefe",
            1_700_000_000,
            b"{\"a\":2}",
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            b"Jeff",
            1_700_000_000,
            b"{\"a\":1}",
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            b"Jefe",
            1_700_000_000,
            b"{\"a\":1}",
            &sig,
            1_700_001_000,
            300
        ));
        assert!(!verify(
            b"Jefe",
            1_700_000_001,
            b"{\"a\":1}",
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            b"Jefe",
            1_700_000_000,
            b"{\"a\":1}",
            "sha256=zz",
            1_700_000_000,
            300
        ));
    }

    #[test]
    fn hmac_sha256_is_the_standard_one() {
        // RFC 4231, test case 2.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
