//! The vision engine as the server uses it: models loaded and warmed once at start-up,
//! and a bounded inference pool that answers 503 + `Retry-After` when full instead of
//! queueing without bound.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vigil_config::{Settings, VisionEngine};
use vigil_vision::decode::DecodeError;
use vigil_vision::{
    DecodeLimits, EngineConfig, EngineKind, InferencePool, Pipeline, PipelineConfig, PoolConfig,
    VisionError,
};

use crate::error::{ApiError, ErrorCode};

/// Loaded models plus the pool that runs them.
#[derive(Debug)]
pub struct VisionService {
    /// The models (shared with pool jobs).
    pub pipeline: Arc<Pipeline>,
    /// Bounded admission to the blocking inference threads.
    pub pool: InferencePool,
}

/// Loads and warms the models described by the settings (blocking: call off the async
/// workers or at start-up).
pub fn load(settings: &Settings) -> anyhow::Result<VisionService> {
    let v = &settings.vision;
    let kind = match v.engine {
        VisionEngine::Auto => EngineKind::Auto,
        VisionEngine::Onnxruntime => EngineKind::OnnxRuntime,
        VisionEngine::Rten => EngineKind::Rten,
    };
    let workers = v
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let config = PipelineConfig {
        models_dir: v.models_dir.clone(),
        engine: EngineConfig {
            kind,
            ort_dylib_path: v.onnxruntime_path.clone(),
            threads: v.threads,
            concurrent_runs: workers,
        },
        decode_limits: DecodeLimits {
            max_dimension: settings.limits.image_max_dimension,
            max_pixels: settings.limits.image_max_pixels,
            ..DecodeLimits::default()
        },
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::load(&config).with_context(|| {
        format!(
            "loading the face models from {} (set vision.models_dir, or vision.enabled = false to run without them)",
            v.models_dir.display()
        )
    })?;
    let warm_up_ms = pipeline.warm_up().context("warming up the face models")?;
    if let Some(reason) = pipeline.engine().fallback_reason() {
        tracing::warn!(
            reason,
            "ONNX Runtime unavailable; using rten (pure Rust, slower)"
        );
    }
    tracing::info!(
        engine = pipeline.engine_name(),
        models = pipeline.models().len(),
        warm_up_ms,
        workers,
        "vision engine ready"
    );
    Ok(VisionService {
        pipeline: Arc::new(pipeline),
        pool: InferencePool::new(PoolConfig {
            workers,
            queue: v.queue,
            retry_after: Duration::from_secs(1),
        }),
    })
}

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
                #[allow(unreachable_patterns)]
                other => ApiError::new(ErrorCode::ValidationFailed, other.to_string()),
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
            other => ApiError::internal(other),
        }
    }
}
