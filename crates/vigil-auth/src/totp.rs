//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew)
//! and recovery codes.
//!
//! The seed is encrypted at rest with a key derived from `secret_key`. A code is accepted
//! only for a time step later than the last one accepted, so an observed code cannot be
//! replayed. Recovery codes (80 random bits each) are shown once and stored as SHA-256.

use rand::rngs::OsRng;
use rand::Rng;
use totp_rs::{Algorithm, TOTP};
use vigil_store::{now_ms, Database};

use crate::keys::purpose;
use crate::token::{ct_eq, hash_token};
use crate::users::{self, Credentials};
use crate::{AuthError, Keys};

/// Shown in authenticator apps.
pub const ISSUER: &str = "Vigil";
/// Recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;
const STEP: u64 = 30;

/// What the user needs to add Vigil to an authenticator app.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Enrolment {
    /// `otpauth://totp/…` URI (what the QR code encodes).
    pub otpauth_uri: String,
    /// The seed in base32, for typing in by hand.
    pub secret_base32: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

fn totp(seed: Vec<u8>, username: &str) -> Result<TOTP, AuthError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        seed,
        Some(ISSUER.to_string()),
        username.to_string(),
    )
    .map_err(|e| AuthError::Internal(format!("TOTP: {e}")))
}

/// Starts (or restarts) enrolment: a new seed is stored, inactive until confirmed.
pub async fn begin(db: &Database, keys: &Keys, user_id: &str) -> Result<Enrolment, AuthError> {
    let user = users::get(db, user_id)
        .await?
        .ok_or(AuthError::NotFound("user"))?;
    if user.totp_enabled {
        return Err(AuthError::TotpAlreadyEnabled);
    }
    let seed: [u8; 20] = OsRng.gen();
    let t = totp(seed.to_vec(), &user.username)?;
    sqlx::query(
        "UPDATE users SET totp_secret = $1, totp_last_step = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(keys.encrypt(purpose::TOTP, &seed)?)
    .bind(now_ms())
    .bind(user_id)
    .execute(db.pool())
    .await
    .map_err(AuthError::db("starting TOTP enrolment"))?;
    let uri = t.get_url();
    Ok(Enrolment {
        qr_svg: qr_svg(&uri)?,
        secret_base32: t.get_secret_base32(),
        otpauth_uri: uri,
    })
}

/// Confirms enrolment with a current code; turns TOTP on and returns fresh recovery codes.
pub async fn confirm(
    db: &Database,
    keys: &Keys,
    user_id: &str,
    code: &str,
) -> Result<Vec<String>, AuthError> {
    let creds = users::credentials(db, user_id)
        .await?
        .ok_or(AuthError::NotFound("user"))?;
    if creds.user.totp_enabled {
        return Err(AuthError::TotpAlreadyEnabled);
    }
    if creds.totp_secret.is_none() {
        return Err(AuthError::TotpNotStarted);
    }
    let Some(step) = matching_step(keys, &creds, code)? else {
        return Err(AuthError::InvalidTotpCode);
    };
    let codes = new_recovery_codes();
    let mut tx = db
        .pool()
        .begin()
        .await
        .map_err(AuthError::db("enabling TOTP"))?;
    sqlx::query(
        "UPDATE users SET totp_enabled = 1, totp_last_step = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(step)
    .bind(now_ms())
    .bind(user_id)
    .execute(&mut *tx)
    .await
    .map_err(AuthError::db("enabling TOTP"))?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(AuthError::db("enabling TOTP"))?;
    for code in &codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash_token(&normalise_recovery(code)))
            .execute(&mut *tx)
            .await
            .map_err(AuthError::db("storing recovery codes"))?;
    }
    tx.commit().await.map_err(AuthError::db("enabling TOTP"))?;
    Ok(codes)
}

/// Turns TOTP off and deletes the seed and recovery codes.
pub async fn disable(db: &Database, user_id: &str) -> Result<(), AuthError> {
    let mut tx = db
        .pool()
        .begin()
        .await
        .map_err(AuthError::db("disabling TOTP"))?;
    sqlx::query(
        "UPDATE users SET totp_enabled = 0, totp_secret = NULL, totp_last_step = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(now_ms())
    .bind(user_id)
    .execute(&mut *tx)
    .await
    .map_err(AuthError::db("disabling TOTP"))?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(AuthError::db("disabling TOTP"))?;
    tx.commit().await.map_err(AuthError::db("disabling TOTP"))?;
    Ok(())
}

/// Checks a second factor at login: a current TOTP code not used before, or an unused
/// recovery code (which is then spent). Returns whether it was accepted.
pub async fn verify(
    db: &Database,
    keys: &Keys,
    creds: &Credentials,
    code: &str,
) -> Result<bool, AuthError> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let Some(step) = matching_step(keys, creds, code)? else {
            return Ok(false);
        };
        // Accept each step once: the update only matches if the step is newer.
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(&creds.user.id)
        .execute(db.pool())
        .await
        .map_err(AuthError::db("recording a TOTP code"))?;
        return Ok(done.rows_affected() == 1);
    }
    let normalised = normalise_recovery(code);
    if normalised.len() != 16 {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now_ms())
    .bind(&creds.user.id)
    .bind(hash_token(&normalised))
    .execute(db.pool())
    .await
    .map_err(AuthError::db("using a recovery code"))?;
    Ok(done.rows_affected() == 1)
}

/// Unused recovery codes left for a user.
pub async fn recovery_codes_left(db: &Database, user_id: &str) -> Result<i64, AuthError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .fetch_one(db.pool())
        .await
        .map_err(AuthError::db("counting recovery codes"))
}

/// The time step (within one step of now) whose code equals `code`.
fn matching_step(keys: &Keys, creds: &Credentials, code: &str) -> Result<Option<i64>, AuthError> {
    let Some(sealed) = &creds.totp_secret else {
        return Ok(None);
    };
    let seed = keys.decrypt(purpose::TOTP, sealed)?;
    let t = totp(seed, &creds.user.username)?;
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let code = code.trim();
    for time in [now.saturating_sub(STEP), now, now + STEP] {
        if ct_eq(&t.generate(time), code) {
            let step = i64::try_from(time / STEP).unwrap_or(i64::MAX);
            if creds.totp_last_step.is_some_and(|last| step <= last) {
                continue;
            }
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// The current code for a seed, for tests and the CLI.
pub fn current_code(otpauth_uri: &str) -> Result<String, AuthError> {
    let t =
        TOTP::from_url(otpauth_uri).map_err(|e| AuthError::Invalid(format!("otpauth URI: {e}")))?;
    t.generate_current()
        .map_err(|e| AuthError::Internal(format!("clock: {e}")))
}

const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..16)
                .map(|_| char::from(RECOVERY_ALPHABET[OsRng.gen_range(0..RECOVERY_ALPHABET.len())]))
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `text` as a QR code in SVG (inline-safe: no scripts, no styles).
pub fn qr_svg(text: &str) -> Result<String, AuthError> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| AuthError::Internal(format!("QR code: {e:?}")))?;
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"200\" height=\"200\" \
         role=\"img\" aria-label=\"QR code for the authenticator app\" shape-rendering=\"crispEdges\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_have_80_bits_and_normalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 19);
        assert_eq!(normalise_recovery(&codes[0].to_uppercase()).len(), 16);
        assert!(qr_svg("otpauth://totp/Vigil:bob?secret=AAAA")
            .unwrap()
            .starts_with("<svg"));
    }
}
