//! The crate's top-level error, one variant per kind of failure the server must map
//! to a different status code.
//!
//! | variant | suggested status | error code |
//! |---|---|---|
//! | `Decode(TooLarge)` | 413 | `image_too_large` |
//! | `Decode(NotAnImage \| Unsupported)` | 415 | `unsupported_media_type` |
//! | `Decode(Truncated \| Malformed)` | 422 | `invalid_image` |
//! | `ModelNotLoaded` | 503 (or 422 if the client asked for an optional feature) | `model_unavailable` |
//! | `Overloaded` | 503 + `Retry-After` | `overloaded` |
//! | `Model`, `Internal` | 500 (body opaque, cause logged) | `internal` |

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
