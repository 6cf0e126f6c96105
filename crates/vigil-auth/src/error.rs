use vigil_store::StoreError;

/// Why an identity operation failed. The server maps each variant to an API error.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The input is not acceptable (weak password, bad username…); the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with stored state (duplicate username…).
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
