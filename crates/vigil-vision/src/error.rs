//! The crate's top-level error, one variant per kind of failure a caller must treat
//! differently. This crate knows nothing of HTTP: the server's mapping to status codes
//! and error codes is `impl From<VisionError> for ApiError` in
//! `vigil-server/src/vision.rs`, which matches every variant (and every
//! [`DecodeError`] variant) without a catch-all, so a new variant does not compile
//! until it is mapped there.
//!
//! | variant | whose fault | what a caller does |
//! |---|---|---|
//! | `Decode(TooLarge)` | the client's | refuse: the image is over the size, pixel or memory limits |
//! | `Decode(NotAnImage \| Unsupported)` | the client's | refuse: not a JPEG, PNG or WebP |
//! | `Decode(Truncated \| Malformed)` | the client's | refuse: the bytes do not decode |
//! | `ModelNotLoaded` | the deployment's | say which model is missing |
//! | `Overloaded` | nobody's: busy | retry after `retry_after` |
//! | `Model`, `Internal` | ours | log the cause, answer opaquely |

use std::time::Duration;

use crate::decode::DecodeError;
use crate::model::ModelError;

/// Any failure of a vision call.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The uploaded bytes could not be decoded (client error).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A model failed to load or run (server error).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The request needs a model that is not loaded (name of the role).
    #[error("the {0} model is not loaded")]
    ModelNotLoaded(&'static str),
    /// The inference pool is full; try again after `retry_after`.
    #[error("the inference queue is full; retry after {retry_after:?}")]
    Overloaded {
        /// Suggested wait before retrying.
        retry_after: Duration,
    },
    /// A blocking job panicked or was cancelled.
    #[error("inference job failed: {0}")]
    Internal(String),
}
