//! What a use case can fail with. Each variant is specific enough for a caller to act
//! on (a client can tell "password too short" from "username taken"); the server maps
//! every variant to an HTTP status and error code in one place
//! (`vigil-server/src/error.rs`), the CLI prints the message.
//!
//! Messages are written for the person who made the request and never contain
//! internals: [`Error::Storage`] and [`Error::Internal`] keep their cause for the log.

use vigil_auth::AuthError;
use vigil_store::StoreError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Input that cannot be accepted (422).
    /// A username outside the allowed alphabet or length.
    #[error("a username has 1 to 64 letters, digits, `.`, `_`, `-` or `@`")]
    InvalidUsername,
    /// A password shorter than the policy's minimum.
    #[error("the password must have at least {min} characters")]
    PasswordTooShort {
        /// The minimum, in characters.
        min: usize,
    },
    /// A password longer than hashing accepts.
    #[error("the password must be at most {max} bytes")]
    PasswordTooLong {
        /// The maximum, in bytes.
        max: usize,
    },
    /// The password equals the username.
    #[error("the password must not be the username")]
    PasswordIsUsername,
    /// The password is too easy to guess; the text is the estimator's reason.
    #[error("the password is too easy to guess: {0}")]
    PasswordTooWeak(String),
    /// An API key name that is empty, too long or has control characters.
    #[error("a key name has 1 to 100 printable characters")]
    InvalidKeyName,
    /// An API key lifetime outside what is allowed; the message says which.
    #[error("{0}")]
    InvalidExpiry(String),
    /// TOTP confirmation without a started enrolment.
    #[error("start enrolment first")]
    TotpNotStarted,
    /// An audit-log filter that cannot be used; the message names the field.
    #[error("{0}")]
    InvalidFilter(String),
    /// Other unacceptable input; the message says why.
    #[error("{0}")]
    Invalid(String),

    // Who is asking (401).
    /// Unknown username, wrong password or disabled account: deliberately one answer.
    #[error("invalid username or password")]
    BadCredentials,
    /// The password was right; the account needs a TOTP or recovery code as well.
    #[error("enter the code from your authenticator app (or a recovery code)")]
    TotpRequired,
    /// A TOTP or recovery code that is wrong, reused or out of time.
    #[error("{0}")]
    InvalidTotpCode(&'static str),
    /// A bootstrap or reset token that is unknown, expired or used: deliberately vague.
    #[error("the link is not valid, has expired or was already used")]
    InvalidToken,
    /// Other refused credentials; the message says which.
    #[error("{0}")]
    Denied(&'static str),

    // Not allowed (403).
    /// An API key may not get a higher role than the person creating it.
    #[error("a key cannot have a higher role than its creator")]
    RoleAboveCreator,
    /// A sensitive change needs the current password (the sign-in is older than the
    /// re-authentication window), or is not for API keys at all; the text says which.
    #[error("{0}")]
    ReauthRequired(&'static str),
    /// The current password given to confirm a sensitive change is wrong.
    #[error("the current password is not correct")]
    ReauthFailed,

    // Missing (404).
    /// The thing named does not exist (or the id is malformed, which is the same to a
    /// client).
    #[error("{0} not found")]
    NotFound(&'static str),

    // Conflicts with stored state (409).
    /// Another user already has this username.
    #[error("user `{0}` already exists")]
    UsernameTaken(String),
    /// The change would leave no enabled admin.
    #[error("this is the last enabled admin; make another admin first")]
    LastAdmin,
    /// TOTP is already on.
    #[error("two-factor sign-in is already on; turn it off first")]
    TotpAlreadyEnabled,
    /// The policy requires TOTP for the caller's role, so it cannot be turned off.
    #[error("your role must use two-factor sign-in")]
    TotpRequiredByPolicy,
    /// First-admin setup on a server that already has users.
    #[error("Vigil already has users; sign in instead")]
    AlreadySetUp,
    /// Another conflict with stored state; the message says which.
    #[error("{0}")]
    Conflict(String),

    // Too many attempts (429).
    /// Too many failed sign-ins from this address (and name); wait and retry.
    #[error("too many failed sign-ins; wait before trying again")]
    Throttled {
        /// Seconds until a new attempt is considered.
        retry_after_secs: u64,
    },

    // Ours (503 / 500).
    /// The database or blob store failed; worth retrying.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// Something that is our fault; the cause is for the log only.
    #[error("{0}")]
    Internal(String),
}

/// Shorthand for use-case results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(m) => Error::Invalid(m),
            AuthError::InvalidUsername => Error::InvalidUsername,
            AuthError::PasswordTooShort { min } => Error::PasswordTooShort { min },
            AuthError::PasswordTooLong { max } => Error::PasswordTooLong { max },
            AuthError::PasswordIsUsername => Error::PasswordIsUsername,
            AuthError::PasswordTooWeak(why) => Error::PasswordTooWeak(why),
            AuthError::UsernameTaken(name) => Error::UsernameTaken(name),
            AuthError::LastAdmin => Error::LastAdmin,
            AuthError::InvalidKeyName => Error::InvalidKeyName,
            AuthError::ExpiryInPast => Error::InvalidExpiry(AuthError::ExpiryInPast.to_string()),
            AuthError::TotpAlreadyEnabled => Error::TotpAlreadyEnabled,
            AuthError::TotpNotStarted => Error::TotpNotStarted,
            AuthError::InvalidTotpCode => {
                Error::InvalidTotpCode("the code is not valid; check the device's clock")
            }
            AuthError::NotFound(what) => Error::NotFound(what),
            AuthError::Conflict(m) => Error::Conflict(m),
            AuthError::Denied(m) => Error::Denied(m),
            AuthError::Store(s) => Error::Storage(s),
            AuthError::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<crate::ids::InvalidId> for Error {
    /// A malformed id names nothing: to a client it is the same as an unknown one.
    fn from(e: crate::ids::InvalidId) -> Self {
        Error::NotFound(e.kind)
    }
}
