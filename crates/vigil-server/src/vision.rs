//! The vision engine's errors as HTTP answers. Loading the engine and the analysis use
//! case live in `vigil_core::vision`; this module only maps their errors to the JSON
//! error shape. Every variant is matched by name (no catch-all), so a new decode or
//! vision error does not compile until it has an answer here.

use vigil_core::vision::AnalyzeError;
use vigil_vision::decode::DecodeError;
use vigil_vision::VisionError;

use crate::error::{ApiError, ErrorCode};

impl From<VisionError> for ApiError {
    fn from(e: VisionError) -> Self {
        match e {
            VisionError::Decode(d) => match d {
                DecodeError::TooLarge { .. } => {
                    ApiError::new(ErrorCode::PayloadTooLarge, d.to_string())
                }
                DecodeError::NotAnImage | DecodeError::Unsupported(_) => ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!("{d}; send a JPEG, PNG or WebP image"),
                ),
                DecodeError::Truncated | DecodeError::Malformed(_) => ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("the image cannot be decoded: {d}"),
                ),
            },
            VisionError::ModelNotLoaded(role) => ApiError::new(
                ErrorCode::ServiceUnavailable,
                format!("the {role} model is not installed on this server"),
            ),
            VisionError::Overloaded { retry_after } => ApiError::new(
                ErrorCode::Overloaded,
                "the analysis queue is full; retry shortly",
            )
            .with_retry_after(retry_after.as_secs().max(1)),
            VisionError::Model(_) | VisionError::Internal(_) => ApiError::internal(e),
        }
    }
}

impl From<AnalyzeError> for ApiError {
    fn from(e: AnalyzeError) -> Self {
        match e {
            AnalyzeError::Disabled => ApiError::new(ErrorCode::ServiceUnavailable, e.to_string()),
            AnalyzeError::InvalidThreshold | AnalyzeError::EmptyImage => {
                ApiError::new(ErrorCode::ValidationFailed, e.to_string())
            }
            AnalyzeError::Vision(v) => v.into(),
        }
    }
}
