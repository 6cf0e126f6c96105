use vigil_store::StoreError;

/// Why an identity operation failed. Each variant is specific enough for a caller to act
/// on; `vigil-core` maps them onto its use-case errors and the server onto error codes.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The input is not acceptable and no more specific variant fits; the message says
    /// why.
    #[error("{0}")]
    Invalid(String),
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
    /// The password is too easy to guess (zxcvbn's estimate is below the policy's
    /// minimum); the text says why and what would help.
    #[error("the password is too easy to guess: {0}")]
    PasswordTooWeak(String),
    /// Another user already has this username.
    #[error("user `{0}` already exists")]
    UsernameTaken(String),
    /// The change would leave no enabled admin.
    #[error("this is the last enabled admin; make another admin first")]
    LastAdmin,
    /// An API key name that is empty, too long or has control characters.
    #[error("a key name has 1 to 100 printable characters")]
    InvalidKeyName,
    /// An expiry that is not in the future.
    #[error("the expiry must be in the future")]
    ExpiryInPast,
    /// TOTP enrolment started or confirmed while TOTP is already on.
    #[error("two-factor sign-in is already on; turn it off first")]
    TotpAlreadyEnabled,
    /// TOTP confirmation without a started enrolment.
    #[error("start enrolment first")]
    TotpNotStarted,
    /// A TOTP code that does not match the enrolling seed.
    #[error("the code is not valid; check the device's clock")]
    InvalidTotpCode,
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with stored state and no more specific variant fits.
    #[error("{0}")]
    Conflict(String),
    /// Credentials, token or code are wrong, expired or used; deliberately vague.
    #[error("{0}")]
    Denied(&'static str),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that is our fault (key file unreadable, hashing failed…).
    #[error("{0}")]
    Internal(String),
}

impl AuthError {
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> AuthError {
        move |e| AuthError::Store(StoreError::db(context)(e))
    }
}
