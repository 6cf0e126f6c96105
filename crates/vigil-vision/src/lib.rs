//! Vigil's vision engine: decode → detect → landmarks → align → mask → embed → liveness.
//! No HTTP and no SQL live here; the server and CLI call these functions.
pub mod align;
pub mod annotate;
pub mod classify;
pub mod decode;
pub mod detect;
pub mod error;
pub mod model;
pub mod pipeline;
pub mod pool;
pub mod preprocess;
pub mod result;
pub mod tensor;

pub use classify::{Embedder, LivenessModel, MaskClassifier};
pub use decode::{DecodeError, DecodeLimits};
pub use detect::{DetectOptions, Detector, DetectorKind};
pub use error::VisionError;
pub use model::{Engine, EngineConfig, EngineKind, FakeModel, Model, ModelError};
pub use pipeline::{AnalyzeOptions, ModelFiles, ModelInfo, Pipeline, PipelineConfig};
pub use pool::{InferencePool, PoolConfig};
pub use result::{
    Analysis, BBox, Detection, Face, ImageSize, Liveness, MaskLabel, MaskResult, Timings,
};
pub use tensor::Tensor;
pub mod bench;
pub mod eval;
