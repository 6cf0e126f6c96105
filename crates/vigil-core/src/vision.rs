//! The vision engine as the application uses it: one mapping from [`Settings`] to the
//! pipeline and its inference lanes, used by `vigil serve`, `vigil analyze`,
//! `vigil eval` and `vigil bench`, and the image-analysis use case that
//! `POST /api/v1/analyze` and `vigil analyze` call.
//!
//! ```text
//! Settings ──pipeline_config()──▶ PipelineConfig ──Pipeline::load + warm_up──┐
//!          └─pool_config()──────▶ PoolConfig ──InferencePool::new──────────┤
//!                                                                        VisionService
//! AnalysisRequest + image bytes ──VisionService::analyze──▶ interactive lane ──▶ AnalysisOutcome
//! ```
//!
//! Where the models and the ONNX Runtime library are looked for is in [`models`]; the
//! benchmark of the lanes (`vigil bench --lanes`) is in [`lanes_bench`].

pub mod lanes_bench;
pub mod models;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vigil_config::{Settings, VisionEngine};
use vigil_vision::{
    Analysis, AnalyzeOptions, DecodeLimits, DetectOptions, DetectorKind, EngineConfig, EngineKind,
    InferencePool, ModelError, Pipeline, PipelineConfig, PoolConfig, VisionError,
};

pub use models::ModelsNotFound;

/// Why the vision engine could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum VisionSetupError {
    /// The models folder could not be found.
    #[error(transparent)]
    ModelsNotFound(#[from] ModelsNotFound),
    /// A model (or the ONNX Runtime library) failed to load.
    #[error("loading the face models from {}", .dir.display())]
    Load {
        /// The models folder used.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: ModelError,
    },
    /// The warm-up run failed.
    #[error("warming up the face models")]
    WarmUp(#[source] VisionError),
}

/// The engine kind a setting names.
pub fn engine_kind(engine: VisionEngine) -> EngineKind {
    match engine {
        VisionEngine::Auto => EngineKind::Auto,
        VisionEngine::Onnxruntime => EngineKind::OnnxRuntime,
        VisionEngine::Rten => EngineKind::Rten,
    }
}

/// The setting that names an engine kind (for command-line flags given as [`EngineKind`]).
pub fn engine_setting(kind: EngineKind) -> VisionEngine {
    match kind {
        EngineKind::Auto => VisionEngine::Auto,
        EngineKind::OnnxRuntime => VisionEngine::Onnxruntime,
        EngineKind::Rten => VisionEngine::Rten,
    }
}

/// Inference workers: `vision.workers`, else the number of cores.
pub fn workers(settings: &Settings) -> usize {
    settings
        .vision
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1)
}

/// The models folder the settings lead to (see [`models`] for the search order).
pub fn models_dir(settings: &Settings) -> Result<PathBuf, ModelsNotFound> {
    models::find_models_dir(
        settings.vision.models_dir.as_deref(),
        &models::default_model_dirs(),
    )
}

/// The pipeline the settings describe: models folder, engine, ONNX Runtime library,
/// threads per run, one session per worker, and the decoder limits of `limits.*`.
pub fn pipeline_config(settings: &Settings) -> Result<PipelineConfig, ModelsNotFound> {
    let v = &settings.vision;
    Ok(PipelineConfig {
        models_dir: models_dir(settings)?,
        engine: EngineConfig {
            kind: engine_kind(v.engine),
            ort_dylib_path: models::find_onnxruntime(v.onnxruntime_path.as_deref()),
            threads: v.threads.max(1),
            concurrent_runs: workers(settings),
        },
        decode_limits: DecodeLimits {
            max_dimension: settings.limits.image_max_dimension,
            max_pixels: settings.limits.image_max_pixels,
            ..DecodeLimits::default()
        },
        ..PipelineConfig::default()
    })
}

/// The inference lanes the settings describe (`vision.workers`, `vision.queue`).
pub fn pool_config(settings: &Settings) -> PoolConfig {
    PoolConfig {
        retry_after: Duration::from_secs(1),
        ..PoolConfig::new(workers(settings), settings.vision.queue)
    }
}

/// Loads the models the settings describe, without warming them up (blocking).
pub fn load_pipeline(settings: &Settings) -> Result<Pipeline, VisionSetupError> {
    let config = pipeline_config(settings)?;
    let pipeline = Pipeline::load(&config).map_err(|source| VisionSetupError::Load {
        dir: config.models_dir.clone(),
        source,
    })?;
    if let Some(reason) = pipeline.engine().fallback_reason() {
        tracing::warn!(
            reason,
            "ONNX Runtime unavailable; using rten (pure Rust, slower)"
        );
    }
    Ok(pipeline)
}

/// Loaded models plus the lanes that run them.
#[derive(Debug)]
pub struct VisionService {
    /// The models (shared with pool jobs).
    pub pipeline: Arc<Pipeline>,
    /// Interactive, live and batch lanes in front of the inference workers.
    pub pool: InferencePool,
    /// Default detection threshold (`vision.det_threshold`).
    pub det_threshold: f32,
}

impl VisionService {
    /// Loads and warms the models the settings describe and starts the inference
    /// workers (blocking: call off the async workers or at start-up).
    pub fn load(settings: &Settings) -> Result<Self, VisionSetupError> {
        let pipeline = load_pipeline(settings)?;
        let warm_up_ms = pipeline.warm_up().map_err(VisionSetupError::WarmUp)?;
        let pool = pool_config(settings);
        tracing::info!(
            engine = pipeline.engine_name(),
            models = pipeline.models().len(),
            warm_up_ms,
            workers = pool.workers,
            background_workers = pool.background_workers(),
            "vision engine ready"
        );
        Ok(Self::new(
            pipeline,
            InferencePool::new(pool),
            settings.vision.det_threshold,
        ))
    }

    /// A service over an already loaded pipeline.
    pub fn new(pipeline: Pipeline, pool: InferencePool, det_threshold: f32) -> Self {
        Self {
            pipeline: Arc::new(pipeline),
            pool,
            det_threshold,
        }
    }

    /// The pipeline options a request asks for, defaults filled in from the settings.
    pub fn options(&self, request: &AnalysisRequest) -> Result<AnalyzeOptions, AnalyzeError> {
        let threshold = request.det_threshold.unwrap_or(self.det_threshold);
        if !(0.0..=1.0).contains(&threshold) {
            // NaN fails `contains` too.
            return Err(AnalyzeError::InvalidThreshold);
        }
        Ok(AnalyzeOptions {
            detector: request.detector.unwrap_or_default(),
            detect: DetectOptions {
                threshold,
                tiling: request.tiling.unwrap_or(true),
                ..DetectOptions::default()
            },
            embedding: request.embedding,
            liveness: request.liveness,
        })
    }

    /// Analyses one image in the interactive lane: decode, detect, classify (and embed,
    /// score liveness, draw the boxes on request). Fails at once with
    /// [`VisionError::Overloaded`] when the lane is full.
    pub async fn analyze<B>(
        &self,
        image: B,
        request: &AnalysisRequest,
    ) -> Result<AnalysisOutcome, AnalyzeError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let options = self.options(request)?;
        if image.as_ref().is_empty() {
            return Err(AnalyzeError::EmptyImage);
        }
        let pipeline = Arc::clone(&self.pipeline);
        let annotate = request.annotate;
        let outcome = self
            .pool
            .run(move || run(&pipeline, image.as_ref(), &options, annotate))
            .await??;
        Ok(outcome)
    }

    /// [`analyze`](Self::analyze) on the calling thread, bypassing the lanes (the CLI,
    /// which analyses one file at a time and has no one to share the CPU with).
    pub fn analyze_now(
        &self,
        image: &[u8],
        request: &AnalysisRequest,
    ) -> Result<AnalysisOutcome, AnalyzeError> {
        let options = self.options(request)?;
        if image.is_empty() {
            return Err(AnalyzeError::EmptyImage);
        }
        Ok(run(&self.pipeline, image, &options, request.annotate)?)
    }
}

fn run(
    pipeline: &Pipeline,
    image: &[u8],
    options: &AnalyzeOptions,
    annotate: bool,
) -> Result<AnalysisOutcome, VisionError> {
    if annotate {
        pipeline
            .analyze_annotated(image, options)
            .map(|(analysis, jpeg)| AnalysisOutcome {
                analysis,
                annotated_jpeg: Some(jpeg),
            })
    } else {
        pipeline
            .analyze(image, options)
            .map(|analysis| AnalysisOutcome {
                analysis,
                annotated_jpeg: None,
            })
    }
}

/// What a caller asks of one image analysis; `None` means the configured default.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysisRequest {
    /// Face detector (default res10).
    pub detector: Option<DetectorKind>,
    /// Detection threshold in [0, 1] (default `vision.det_threshold`).
    pub det_threshold: Option<f32>,
    /// Compute an embedding per face.
    pub embedding: bool,
    /// Compute a liveness score per face.
    pub liveness: bool,
    /// Search overlapping tiles for small faces (default true).
    pub tiling: Option<bool>,
    /// Also return the image with boxes and labels drawn on it, as JPEG.
    pub annotate: bool,
}

/// The result of one analysis.
#[derive(Debug, Clone)]
pub struct AnalysisOutcome {
    /// Faces, image size, engine, timings.
    pub analysis: Analysis,
    /// The annotated JPEG, when asked for.
    pub annotated_jpeg: Option<Vec<u8>>,
}

/// Why an analysis was not done.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// `vision.enabled = false`: no models are loaded.
    #[error("the vision engine is disabled on this server (vision.enabled = false)")]
    Disabled,
    /// The requested threshold is outside [0, 1].
    #[error("det_threshold must be between 0 and 1")]
    InvalidThreshold,
    /// No image bytes were sent.
    #[error("the body is empty; send an image")]
    EmptyImage,
    /// Decoding or inference failed, or the interactive lane is full.
    #[error(transparent)]
    Vision(#[from] VisionError),
}

/// The analysis use case: `image` analysed by `service` as `request` asks, or
/// [`AnalyzeError::Disabled`] when the server runs without the vision engine.
pub async fn analyze<B>(
    service: Option<&VisionService>,
    image: B,
    request: &AnalysisRequest,
) -> Result<AnalysisOutcome, AnalyzeError>
where
    B: AsRef<[u8]> + Send + 'static,
{
    service
        .ok_or(AnalyzeError::Disabled)?
        .analyze(image, request)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_reach_the_pipeline_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("res10_ssd_face.onnx"), b"x").expect("write");
        let mut s = Settings::default();
        s.vision.models_dir = Some(dir.path().to_path_buf());
        s.vision.engine = VisionEngine::Rten;
        s.vision.onnxruntime_path = Some(PathBuf::from("/opt/ort/libonnxruntime.so"));
        s.vision.threads = 3;
        s.vision.workers = Some(5);
        s.limits.image_max_dimension = 640;
        s.limits.image_max_pixels = 1000;
        let c = pipeline_config(&s).expect("config");
        assert_eq!(c.models_dir, dir.path());
        assert_eq!(c.engine.kind, EngineKind::Rten);
        assert_eq!(
            c.engine.ort_dylib_path.as_deref(),
            Some(std::path::Path::new("/opt/ort/libonnxruntime.so"))
        );
        assert_eq!((c.engine.threads, c.engine.concurrent_runs), (3, 5));
        assert_eq!(c.decode_limits.max_dimension, 640);
        assert_eq!(c.decode_limits.max_pixels, 1000);
        let p = pool_config(&s);
        assert_eq!((p.workers, p.queue), (5, s.vision.queue));
    }

    #[test]
    fn a_configured_models_dir_without_models_is_named_in_the_error() {
        let mut s = Settings::default();
        let missing = PathBuf::from("/nonexistent/vigil-models");
        s.vision.models_dir = Some(missing.clone());
        let err = pipeline_config(&s).expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/vigil-models"),
            "{err}"
        );
    }
}
