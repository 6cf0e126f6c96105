//! Credentials in source URLs: masked whenever shown, encrypted whenever stored.
//!
//! Shown: the password becomes `***` (`rtsp://user:***@host/…`) and so does the value of
//! every query parameter whose name looks like a secret (`password`, `token`, `key`,
//! `auth`, `signature`, …: cameras and signed snapshot URLs put credentials there too).
//!
//! Stored: [`seal`] encrypts the full URL with XChaCha20-Poly1305 under a key derived
//! from `secret_key` for this purpose only (`vigil_auth::keys::purpose::SOURCE_URL`), a
//! random nonce each time; [`open`] decrypts and validates it again (the camera files
//! folder may have changed since). Altered text, or a changed `secret_key`, fails to open.
//! Store the [`super::SourceUrl::redacted`] form beside the sealed one for listings, so
//! showing a camera never needs the key.

use url::Url;
use vigil_auth::keys::purpose;
use vigil_auth::Keys;

use super::source_url::{SourceRules, SourceUrl, SourceUrlError};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Name fragments of query parameters whose values are masked (compared lowercase,
/// without `-` and `_`). Masking too much only costs a little readability.
const SECRET_NAMES: &[&str] = &[
    "pass",
    "pwd",
    "token",
    "secret",
    "key",
    "auth",
    "signature",
    "sig",
    "credential",
    "session",
    "cookie",
    "jwt",
];

/// Why a sealed URL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Encryption itself failed (not expected).
    #[error("the camera URL could not be encrypted")]
    Seal,
    /// The text was altered, or `secret_key` changed since it was sealed.
    #[error("the stored camera URL cannot be decrypted (was it altered, or secret_key changed?)")]
    Tampered,
    /// It decrypted, but the URL is no longer acceptable (e.g. the file moved).
    #[error("{0}")]
    Invalid(#[from] SourceUrlError),
}

impl From<SealError> for crate::Error {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Invalid(inner) => inner.into(),
            other => crate::Error::Internal(other.to_string()),
        }
    }
}

/// Encrypts the full URL (credentials included) for storage; the result is base64 text.
pub fn seal(source: &SourceUrl, keys: &Keys) -> Result<String, SealError> {
    keys.encrypt(purpose::SOURCE_URL, source.expose().as_bytes())
        .map_err(|_| SealError::Seal)
}

/// Decrypts what [`seal`] made and validates it again under today's `rules`.
pub fn open(sealed: &str, keys: &Keys, rules: &SourceRules) -> Result<SourceUrl, SealError> {
    let plain = keys
        .decrypt(purpose::SOURCE_URL, sealed)
        .map_err(|_| SealError::Tampered)?;
    let text = String::from_utf8(plain).map_err(|_| SealError::Tampered)?;
    Ok(SourceUrl::parse(&text, rules)?)
}

/// Whether a query parameter named `name` holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| folded.contains(s))
}

/// `url` with its password and secret query values masked. The fragment is dropped.
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some_and(|p| !p.is_empty()) {
        // Cannot fail: a URL with a password has a host.
        let _ = shown.set_password(Some(MASK));
    }
    if let Some(query) = url.query() {
        shown.set_query(Some(&redact_query(query)));
    }
    shown.set_fragment(None);
    shown.into()
}

/// Masks the values of secret-looking parameters, leaving every other byte as written.
/// Both `&` and `;` count as separators, as some servers read either.
fn redact_query(query: &str) -> String {
    query
        .split_inclusive(['&', ';'])
        .map(|piece| {
            let (pair, sep) = match piece.strip_suffix(['&', ';']) {
                Some(p) => (p, &piece[p.len()..]),
                None => (piece, ""),
            };
            let Some((raw_name, value)) = pair.split_once('=') else {
                return piece.to_string();
            };
            let name: String = url::form_urlencoded::parse(raw_name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            if !value.is_empty() && is_secret_name(&name) {
                format!("{raw_name}={MASK}{sep}")
            } else {
                piece.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files() -> SourceRules {
        SourceRules {
            files_dir: "/nonexistent".into(),
        }
    }

    #[test]
    fn redaction_masks_passwords_and_secret_query_values() {
        let cases = [
            (
                "rtsp://admin:hunter2@cam.local:554/Streaming/101",
                "rtsp://admin:***@cam.local:554/Streaming/101",
            ),
            ("rtsp://admin@cam/x", "rtsp://admin@cam/x"),
            (
                "http://cam/cgi-bin/snapshot.cgi?user=admin&password=hunter2&channel=1",
                "http://cam/cgi-bin/snapshot.cgi?user=admin&password=***&channel=1",
            ),
            (
                "https://cam/x?PWD=a&Api-Key=b&access_token=c&X-Amz-Signature=d&auth=e&sig=f",
                "https://cam/x?PWD=***&Api-Key=***&access_token=***&X-Amz-Signature=***&auth=***&sig=***",
            ),
            ("http://cam/x?pass%77ord=a;token=b;q", "http://cam/x?pass%77ord=***;token=***;q"),
            ("http://cam/x?token=&x=1", "http://cam/x?token=&x=1"),
            ("http://u:p%40ss@cam/?key=1", "http://u:***@cam/?key=***"),
        ];
        for (input, shown) in cases {
            let url = SourceUrl::parse(input, &no_files()).unwrap();
            assert_eq!(url.redacted(), shown, "{input}");
            assert_eq!(url.to_string(), shown, "Display of {input}");
            assert_eq!(
                format!("{url:?}"),
                format!("SourceUrl({shown})"),
                "Debug of {input}"
            );
            let net = url.network().unwrap();
            assert_eq!(format!("{net:?}"), format!("NetworkUrl({shown})"));
            // The full URL is still there for the process that connects.
            assert_eq!(url.expose(), input);
        }
    }

    #[test]
    fn secret_names() {
        for name in [
            "password",
            "Passwd",
            "pwd",
            "api_key",
            "apikey",
            "X-Auth",
            "sessionid",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["user", "channel", "subtype", "resolution", "fps"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn sealing_round_trips_and_detects_tampering() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        let url =
            SourceUrl::parse("rtsp://admin:hunter2@cam.local/s?token=t0k", &no_files()).unwrap();
        let sealed = seal(&url, &keys).unwrap();
        assert!(!sealed.contains("hunter2") && !sealed.contains("admin"));
        // A fresh nonce every time: equal URLs do not look equal at rest.
        assert_ne!(seal(&url, &keys).unwrap(), sealed);
        let opened = open(&sealed, &keys, &no_files()).unwrap();
        assert_eq!(opened, url);
        assert_eq!(
            opened.expose(),
            "rtsp://admin:hunter2@cam.local/s?token=t0k"
        );

        // Any altered character fails to open.
        let mut bytes = sealed.clone().into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert!(matches!(
            open(&altered, &keys, &no_files()),
            Err(SealError::Tampered)
        ));
        assert!(matches!(
            open(&sealed[..sealed.len() - 4], &keys, &no_files()),
            Err(SealError::Tampered)
        ));
        assert!(matches!(
            open("not base64 at all", &keys, &no_files()),
            Err(SealError::Tampered)
        ));
        // Another secret_key cannot open it.
        let other = Keys::from_secret(b"another secret another secret!!!");
        assert!(matches!(
            open(&sealed, &other, &no_files()),
            Err(SealError::Tampered)
        ));
    }

    #[test]
    fn opening_validates_again() {
        let dir = tempfile::tempdir().unwrap();
        let rules = SourceRules {
            files_dir: dir.path().to_path_buf(),
        };
        let clip = dir.path().join("clip.mp4");
        std::fs::write(&clip, b"x").unwrap();
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        let url = SourceUrl::parse(&format!("file://{}", clip.display()), &rules).unwrap();
        let sealed = seal(&url, &keys).unwrap();
        std::fs::remove_file(&clip).unwrap();
        let err = open(&sealed, &keys, &rules).unwrap_err();
        assert!(err.to_string().contains("there is no file"), "{err}");
    }
}
