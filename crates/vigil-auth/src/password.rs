//! Argon2id password hashing with OWASP parameters (19 MiB, 2 iterations, 1 lane by
//! default). Hashing is CPU- and memory-heavy, so it runs on the blocking pool behind a
//! semaphore: a burst of logins queues instead of exhausting memory.
//!
//! The policy ([`Passwords::check_policy`]) is a length range, not the username, and an
//! offline strength estimate (ASVS 2.1.7): `zxcvbn` (Dropbox's estimator; its word and
//! password lists are compiled in, so nothing is fetched) must rate the password at
//! least [`DEFAULT_MIN_SCORE`] out of 4, given the username as a word an attacker would
//! try first. A refusal carries zxcvbn's warning and suggestions, so the person knows why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::AuthError;

/// Longest password accepted, in bytes (bounds hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The least zxcvbn score (0–4) a new password needs by default: 3 means "safely
/// unguessable: moderate protection from an offline attack" (over 10^10 guesses, the
/// estimator's own advice for the minimum).
pub const DEFAULT_MIN_SCORE: u8 = 3;

/// How many leading characters of a password the strength estimate looks at.
pub const STRENGTH_CHARS: usize = 100;

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    min_length: usize,
    /// Least zxcvbn score (0–4) a new password needs.
    min_score: u8,
    /// A hash of a random password, verified against when the user does not exist so
    /// that unknown usernames cost the same time as wrong passwords.
    dummy: Arc<String>,
    /// Argon2 verifications run so far (the work an attacker can make us do).
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    /// A hasher with `memory_kib` and `iterations`, refusing passwords shorter than
    /// `min_length` characters.
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        min_length: usize,
    ) -> Result<Passwords, AuthError> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| AuthError::Internal(format!("Argon2 parameters: {e}")))?;
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        let dummy = hash_with(&params, &crate::token::random_token(16))?;
        Ok(Passwords {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            min_length,
            min_score: DEFAULT_MIN_SCORE,
            dummy: Arc::new(dummy),
            verifications: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The same hasher, requiring a zxcvbn score of at least `score` (0–4; 0 turns the
    /// strength check off, above 4 is treated as 4).
    pub fn with_min_score(mut self, score: u8) -> Passwords {
        self.min_score = score.min(4);
        self
    }

    /// Checks the password policy: length bounds, not the username itself, and hard
    /// enough to guess (see the module docs). `username` is also given to the estimator
    /// (with its part before an `@`), so variations of it count as easy.
    pub fn check_policy(&self, password: &str, username: &str) -> Result<(), AuthError> {
        let chars = password.chars().count();
        if chars < self.min_length {
            return Err(AuthError::PasswordTooShort {
                min: self.min_length,
            });
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::PasswordTooLong {
                max: MAX_PASSWORD_BYTES,
            });
        }
        if password.trim().eq_ignore_ascii_case(username.trim()) {
            return Err(AuthError::PasswordIsUsername);
        }
        self.check_strength(password, username)
    }

    /// [`Passwords::check_policy`] on the blocking thread pool: the strength estimate
    /// takes milliseconds of CPU, which must not hold up the async workers serving
    /// other requests.
    pub async fn check_policy_off_thread(
        &self,
        password: &str,
        username: &str,
    ) -> Result<(), AuthError> {
        let (this, password, username) = (self.clone(), password.to_owned(), username.to_owned());
        tokio::task::spawn_blocking(move || this.check_policy(&password, &username))
            .await
            .map_err(|e| AuthError::Internal(format!("password policy task failed: {e}")))?
    }

    /// Refuses a password zxcvbn rates below the minimum score, naming why. Only the
    /// first [`STRENGTH_CHARS`] characters are estimated: zxcvbn's time grows faster
    /// than the length, and a passphrase that long is strong in its head already.
    fn check_strength(&self, password: &str, username: &str) -> Result<(), AuthError> {
        if self.min_score == 0 {
            return Ok(());
        }
        let head: String = password.chars().take(STRENGTH_CHARS).collect();
        let password = head.as_str();
        let username = username.trim().to_lowercase();
        let mut inputs = vec![username.as_str(), "vigil"];
        if let Some((local, _)) = username.split_once('@') {
            inputs.push(local);
        }
        let estimate = zxcvbn::zxcvbn(password, &inputs);
        if u8::from(estimate.score()) >= self.min_score {
            return Ok(());
        }
        let lower = password.to_lowercase();
        let has_username = username.chars().count() >= 3 && lower.contains(&username);
        Err(AuthError::PasswordTooWeak(weakness(
            estimate.feedback(),
            has_username,
        )))
    }

    /// The PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("hasher closed".into()))?;
        let params = self.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_with(&params, &password))
            .await
            .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))?
    }

    /// How many password verifications (Argon2 runs) this hasher has done.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Whether `password` matches `stored`; `None` verifies against a dummy hash and
    /// returns false, taking the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, AuthError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("hasher closed".into()))?;
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy.as_str().to_owned(), str::to_owned);
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            // Verify with the parameters stored in the hash, so old hashes keep working
            // after the configured cost changes.
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .map_err(|e| AuthError::Internal(format!("verification task failed: {e}")))?;
        Ok(ok && known)
    }
}

/// zxcvbn's feedback as one sentence or two: the warning (what makes it guessable), then
/// the suggestions; a generic hint when it has neither. The username may be what makes
/// it weak, which zxcvbn's English does not say, so that is named first.
fn weakness(feedback: Option<&zxcvbn::feedback::Feedback>, has_username: bool) -> String {
    let mut parts = Vec::new();
    if has_username {
        parts.push("It is built from the username.".to_string());
    }
    if let Some(f) = feedback {
        if let Some(warning) = f.warning() {
            parts.push(warning.to_string());
        }
        parts.extend(f.suggestions().iter().map(ToString::to_string));
    }
    if parts.is_empty() {
        parts.push("Add another word or two. Uncommon words are better.".to_string());
    }
    parts.join(" ")
}

fn hash_with(params: &Params, password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_head_of_a_long_password_is_estimated() {
        let p = Passwords::new(19_456, 2, 12).unwrap();
        let strong = "orchid lantern rides the quiet tramline";
        assert!(p.check_policy(strong, "bob").is_ok());
        // A guessable head: the strong tail beyond the estimated part does not help.
        let padded = format!("{}{strong}", "a".repeat(STRENGTH_CHARS));
        assert!(matches!(
            p.check_policy(&padded, "bob"),
            Err(AuthError::PasswordTooWeak(_))
        ));
        // The length rule still applies to the whole.
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            p.check_policy(&long, "bob"),
            Err(AuthError::PasswordTooLong { .. })
        ));
    }

    #[tokio::test]
    async fn hashes_verify_and_follow_policy() {
        let p = Passwords::new(19_456, 2, 12).unwrap();
        let hash = p.hash("correct horse battery").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(p
            .verify("correct horse battery", Some(&hash))
            .await
            .unwrap());
        assert!(!p.verify("wrong horse battery", Some(&hash)).await.unwrap());
        assert!(!p.verify("correct horse battery", None).await.unwrap());
        assert!(!p.verify("x", Some("not a phc string")).await.unwrap());
        assert!(p.check_policy("short", "bob").is_err());
        assert!(p
            .check_policy("bob-the-builder", "bob-the-builder")
            .is_err());
        assert!(p.check_policy("a long enough password", "bob").is_ok());
    }

    /// Common, username-based and keyboard-walk passwords are refused with zxcvbn's
    /// reason; a passphrase of uncommon words passes.
    #[test]
    fn guessable_passwords_are_refused_with_the_reason() {
        let p = Passwords::new(8 * 1024, 1, 12).unwrap();
        let cases = [
            ("password123456", "bob", "common"),
            ("margaretmargaret", "margaret", "username"),
            // Keyboard walks: one zxcvbn sees as a walk, one that is a common password.
            ("wertyuiosdfghjkl", "bob", "keyboard"),
            ("1qaz2wsx3edc4rfv", "bob", "common"),
        ];
        for (password, user, reason) in cases {
            match p.check_policy(password, user) {
                Err(AuthError::PasswordTooWeak(why)) => assert!(
                    why.to_lowercase().contains(reason),
                    "{password}: {why} should mention {reason}"
                ),
                other => panic!("{password} for {user}: {other:?}"),
            }
        }
        for strong in [
            "violet anchor drifts past ninety kilns",
            "correct horse battery staple",
        ] {
            assert!(p.check_policy(strong, "bob").is_ok(), "{strong}");
        }
        let lenient = Passwords::new(8 * 1024, 1, 12).unwrap().with_min_score(0);
        assert!(lenient.check_policy("password123456", "bob").is_ok());
    }
}
