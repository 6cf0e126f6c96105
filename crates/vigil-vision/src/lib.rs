//! Vigil's vision engine. No HTTP and no SQL live here: the server and the `vigil` CLI
//! call these functions and map [`VisionError`] to their own responses.
//!
//! # Data flow
//!
//! ```text
//! bytes ──decode──▶ RgbImage (upright, original pixels)
//!        │  sniffed JPEG/PNG/WebP, EXIF orientation applied, size/pixel/memory limits
//!        ▼
//!      detect ──▶ Vec<Detection>  (box in original pixels, score, 0/5/6 keypoints)
//!        │  res10 (default), BlazeFace or MTCNN; whole image + zoomed-out image +
//!        │  overlapping tiles (MTCNN: its own pyramid), threshold 0.75, NMS in Rust
//!        ├──▶ mask      all face crops of the image in one batch → MaskResult
//!        ├──▶ embed     5-point aligned 112×112 chips, one batch → unit-length Vec<f32>
//!        └──▶ liveness  square crops (one run each: the model has batch 1) → Liveness
//!                 ▼
//!              Analysis (serde: the API's JSON) + per-stage timings in ms
//! ```
//!
//! Every stage is a public function or type usable alone ([`decode::decode`],
//! [`Detector::detect`], [`detect::nms`], [`align::align_face`], [`MaskClassifier::classify`],
//! [`Embedder::embed`], [`LivenessModel::score`], [`annotate::annotate`]);
//! [`Pipeline`] loads the models once and chains them.
//!
//! # Models and engines
//!
//! Pipeline stages only see the [`Model`] trait (one `f32` tensor in, outputs out).
//! [`Engine`] loads `.onnx` files with ONNX Runtime (library loaded at run time from
//! `ORT_DYLIB_PATH` or `runtime/libonnxruntime.so`) or with rten (pure Rust); `auto`
//! picks ONNX Runtime when its library loads. Input shapes are checked at load.
//! [`FakeModel`] drives unit tests of pre/post-processing. Tensor layouts, channel
//! orders and normalisations per model are stated on [`Detector::new`],
//! [`MaskClassifier::SPEC`], [`Embedder::DEFAULT_SPEC`] and [`LivenessModel`]
//! (source: `models/MODELS.md`).
//!
//! # Evaluation and benchmark
//!
//! [`eval::eval_detect`] / [`eval::eval_mask`] score against `testdata/labels.json`;
//! [`bench::bench`] times each model per engine and thread count (`vigil eval`,
//! `vigil bench`).
//!
//! # Tracking
//!
//! [`track`] follows faces across the frames of a camera or a video (ids, smoothed
//! mask labels, one violation per person, zones) and gates detection on motion; pure
//! logic over the result types above, no models.
//!
//! # Threading
//!
//! Everything here is synchronous and CPU-bound; [`Pipeline`] is `Send + Sync` and is
//! shared behind an `Arc`. From async code run calls through [`InferencePool`]: a fixed
//! number of worker threads fed by three lanes ([`Lane`]): interactive (bounded, an
//! immediate [`VisionError::Overloaded`] when full), live (one pending frame per source,
//! the latest wins) and batch (waits its turn), taken in that order of priority. Each model run uses `EngineConfig::threads`
//! threads (ONNX Runtime intra-op threads / an rten thread pool owned by the engine);
//! on a 2-core box use 2 pool workers × 1 thread for throughput, or 1 × 2 for latency.
//! An ONNX Runtime session needs exclusive access per run, so each model keeps
//! `EngineConfig::concurrent_runs` sessions (default 2) and a run takes a free one;
//! rten models run concurrently on the engine's shared thread pool.
#![warn(missing_docs)]

pub mod align;
pub mod annotate;
pub mod bench;
pub mod classify;
pub mod decode;
pub mod detect;
pub mod error;
pub mod eval;
pub mod model;
pub mod mtcnn;
pub mod pipeline;
pub mod pool;
pub mod preprocess;
pub mod result;
pub mod tensor;
pub mod track;

pub use classify::{Embedder, LivenessModel, MaskClassifier};
pub use decode::{DecodeError, DecodeLimits};
pub use detect::{DetectOptions, Detector, DetectorKind};
pub use error::VisionError;
pub use model::{Engine, EngineConfig, EngineKind, FakeModel, Model, ModelError};
pub use pipeline::{AnalyzeOptions, ModelFiles, ModelInfo, Pipeline, PipelineConfig};
pub use pool::{InferencePool, Lane, LaneStats, LiveOutcome, PoolConfig, PoolStats};
pub use result::{
    Analysis, BBox, Detection, Face, ImageSize, Liveness, MaskLabel, MaskResult, Timings,
};
pub use tensor::Tensor;
