//! The master secret and the keys derived from it.
//!
//! Every keyed operation (CSRF tokens, audit chain MACs, TOTP seed encryption, device
//! cookies) uses its own key, `HMAC-SHA256(master, purpose)`, so one purpose's output
//! never helps attack another. The master comes from `secret_key`; in development, when none is set, a random
//! one is generated once and kept in `<data_dir>/secret.key` (mode 0600) so sessions and
//! encrypted seeds survive restarts.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use vigil_config::{Profile, Settings};

use crate::AuthError;

type HmacSha256 = Hmac<Sha256>;

/// Purpose labels; each derives an independent key.
pub mod purpose {
    /// CSRF tokens bound to a session.
    pub const CSRF: &str = "vigil csrf v1";
    /// The audit log's hash chain.
    pub const AUDIT: &str = "vigil audit chain v1";
    /// Encryption of TOTP seeds at rest.
    pub const TOTP: &str = "vigil totp seed v1";
    /// Encryption of camera (and webhook) URLs at rest: they may carry credentials.
    pub const SOURCE_URL: &str = "vigil source url v1";
    /// Encryption of webhook signing secrets at rest (they must be recoverable to sign).
    pub const WEBHOOK_SECRET: &str = "vigil webhook secret v1";
    /// Device cookies of browsers that signed in before (login throttling).
    pub const DEVICE: &str = "vigil device cookie v1";
}

/// The master key and its derivations. Debug output never shows key material.
#[derive(Clone)]
pub struct Keys {
    master: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(****)")
    }
}

impl Keys {
    /// Keys from the configured secret, or (development only) the generated key file.
    pub fn from_settings(settings: &Settings) -> Result<Keys, AuthError> {
        match &settings.secret_key {
            Some(secret) => Ok(Keys::from_secret(secret.expose().as_bytes())),
            None if settings.profile == Profile::Development => {
                Keys::from_key_file(&key_file(&settings.data_dir))
            }
            None => Err(AuthError::Internal(
                "secret_key is required outside development (VIGIL_SECRET_KEY)".into(),
            )),
        }
    }

    /// Keys from secret bytes of any length.
    pub fn from_secret(secret: &[u8]) -> Keys {
        Keys {
            master: mac(b"vigil master key v1", secret),
        }
    }

    /// Reads the key file, creating it with fresh random bytes if absent.
    fn from_key_file(path: &Path) -> Result<Keys, AuthError> {
        let io = |what: &str, e: std::io::Error| {
            AuthError::Internal(format!("{what} {}: {e}", path.display()))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .map_err(|_| AuthError::Internal(format!("{} is not hex", path.display())))?;
                if bytes.len() < 32 {
                    return Err(AuthError::Internal(format!(
                        "{} holds fewer than 32 bytes",
                        path.display()
                    )));
                }
                Ok(Keys::from_secret(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                OsRng.fill_bytes(&mut bytes);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| io("cannot create the folder of", e))?;
                }
                write_private(path, hex::encode(bytes).as_bytes())
                    .map_err(|e| io("cannot write", e))?;
                tracing::info!(path = %path.display(), "generated a development secret key");
                Ok(Keys::from_secret(&bytes))
            }
            Err(e) => Err(io("cannot read", e)),
        }
    }

    /// The key for `purpose`.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        mac(&self.master, purpose.as_bytes())
    }

    /// `HMAC-SHA256(derive(purpose), data)` as lowercase hex.
    pub fn mac_hex(&self, purpose: &str, data: &[u8]) -> String {
        hex::encode(mac(&self.derive(purpose), data))
    }

    /// Encrypts `plaintext` (XChaCha20-Poly1305, random nonce); returns base64 text.
    pub fn encrypt(&self, purpose: &str, plaintext: &[u8]) -> Result<String, AuthError> {
        let cipher = XChaCha20Poly1305::new(&self.derive(purpose).into());
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .map_err(|_| AuthError::Internal("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Reverses [`Keys::encrypt`]; fails if the text was altered or the key changed.
    pub fn decrypt(&self, purpose: &str, text: &str) -> Result<Vec<u8>, AuthError> {
        let bad = || {
            AuthError::Internal(
                "stored secret cannot be decrypted (was secret_key changed?)".into(),
            )
        };
        let raw = STANDARD.decode(text).map_err(|_| bad())?;
        if raw.len() < 24 {
            return Err(bad());
        }
        let (nonce, sealed) = raw.split_at(24);
        XChaCha20Poly1305::new(&self.derive(purpose).into())
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| bad())
    }
}

/// Where the development key lives.
pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("secret.key")
}

fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivations_differ_and_encryption_round_trips() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        assert_ne!(keys.derive(purpose::CSRF), keys.derive(purpose::AUDIT));
        let sealed = keys.encrypt(purpose::TOTP, b"seed").unwrap();
        assert_eq!(keys.decrypt(purpose::TOTP, &sealed).unwrap(), b"seed");
        assert!(keys.decrypt(purpose::CSRF, &sealed).is_err());
        let other = Keys::from_secret(b"another secret another secret!!");
        assert!(other.decrypt(purpose::TOTP, &sealed).is_err());
        assert_eq!(format!("{keys:?}"), "Keys(****)");
    }

    #[test]
    fn development_key_file_is_created_once() {
        let dir = std::env::temp_dir().join(format!("vigil-keys-{}", crate::token::new_id()));
        let path = key_file(&dir);
        let a = Keys::from_key_file(&path).unwrap();
        let b = Keys::from_key_file(&path).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
