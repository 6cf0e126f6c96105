//! Inference backends behind one trait.
//!
//! [`Model`] is the only thing pipeline stages know about: one `f32` input tensor in, the
//! model's outputs (in the order the ONNX graph declares them) out. Two real backends
//! implement it — ONNX Runtime through `ort` (library loaded at run time, never linked)
//! and `rten` (pure Rust) — and [`FakeModel`] lets unit tests drive pipeline logic
//! without model files.
//!
//! An [`Engine`] is created once from an [`EngineConfig`], resolves `auto` to a concrete
//! backend, owns the backend's thread settings and loads model files, checking each
//! model's input shape against what the pipeline stage expects.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::tensor::Tensor;

/// Which inference backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// ONNX Runtime when its library loads, otherwise rten.
    #[default]
    Auto,
    /// ONNX Runtime (native library loaded at run time); fails if the library is missing.
    #[serde(rename = "onnxruntime")]
    OnnxRuntime,
    /// rten, a pure-Rust runtime that needs nothing installed.
    Rten,
}

impl EngineKind {
    /// The name used in configuration, `/readyz` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Auto => "auto",
            EngineKind::OnnxRuntime => "onnxruntime",
            EngineKind::Rten => "rten",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(EngineKind::Auto),
            "onnxruntime" | "ort" => Ok(EngineKind::OnnxRuntime),
            "rten" => Ok(EngineKind::Rten),
            other => Err(format!(
                "unknown engine `{other}` (expected auto, onnxruntime or rten)"
            )),
        }
    }
}

/// How to build an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Requested backend.
    pub kind: EngineKind,
    /// Path of `libonnxruntime.so`. `None` means `ORT_DYLIB_PATH`, then
    /// `runtime/libonnxruntime.so` relative to the working directory.
    pub ort_dylib_path: Option<PathBuf>,
    /// Threads for inference. ONNX Runtime: intra-op threads of each session (per run);
    /// 1 suits several concurrent requests on a 2-core box, 2 lowers single-request
    /// latency (res10 26 → 16 ms measured). rten: size of the engine's one rayon pool,
    /// which all concurrent runs share (so set it to the core count, not 1, when
    /// several requests run at once).
    pub threads: usize,
    /// ONNX Runtime only: sessions per model, i.e. how many runs of the same model may
    /// proceed at once (set it to the inference pool's worker count). Each costs the
    /// model's memory once more. rten models run concurrently without copies.
    pub concurrent_runs: usize,
}

impl Default for EngineConfig {
    /// `auto`, 1 thread per run, 2 concurrent runs (the 2-core reference box).
    fn default() -> Self {
        Self {
            kind: EngineKind::Auto,
            ort_dylib_path: None,
            threads: 1,
            concurrent_runs: 2,
        }
    }
}

impl EngineConfig {
    /// The ONNX Runtime library path this config resolves to.
    pub fn resolved_ort_path(&self) -> PathBuf {
        if let Some(path) = &self.ort_dylib_path {
            return path.clone();
        }
        if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
            return PathBuf::from(path);
        }
        PathBuf::from("runtime/libonnxruntime.so")
    }
}

/// Errors from loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// ONNX Runtime was requested but its shared library could not be loaded.
    #[error("ONNX Runtime library could not be loaded from {path}: {reason}")]
    RuntimeUnavailable {
        /// Library path that was tried.
        path: PathBuf,
        /// Loader message.
        reason: String,
    },
    /// The model file could not be read.
    #[error("model file {path} could not be read")]
    Io {
        /// Model file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The backend rejected the model file.
    #[error("model `{name}` could not be loaded: {reason}")]
    Load {
        /// Model name.
        name: String,
        /// Backend message.
        reason: String,
    },
    /// The model's declared input does not fit the pipeline stage it is used for.
    #[error("model `{name}` has input shape {actual}, expected {expected}")]
    InputShape {
        /// Model name.
        name: String,
        /// Shape the stage needs (`?` = any size).
        expected: String,
        /// Shape the model declares (`?` = dynamic).
        actual: String,
    },
    /// Running the model failed.
    #[error("model `{name}` inference failed: {reason}")]
    Inference {
        /// Model name.
        name: String,
        /// Backend message.
        reason: String,
    },
    /// The model produced outputs of an unexpected count or shape.
    #[error("model `{name}` produced unexpected output: {reason}")]
    Output {
        /// Model name.
        name: String,
        /// What was wrong.
        reason: String,
    },
}

/// One input dimension: a fixed size, or any size (`None`).
pub type Dim = Option<usize>;

fn shape_to_string(shape: &[Dim]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|d| d.map_or_else(|| "?".to_owned(), |n| n.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Checks a model's declared input shape against what a stage expects. A dynamic model
/// dimension fits anything; a fixed one must equal the expected size when that is fixed.
pub fn check_input_shape(name: &str, expected: &[Dim], actual: &[Dim]) -> Result<(), ModelError> {
    let fits = expected.len() == actual.len()
        && expected.iter().zip(actual).all(|(e, a)| {
            matches!((e, a), (Some(e), Some(a)) if e == a) || e.is_none() || a.is_none()
        });
    if fits {
        Ok(())
    } else {
        Err(ModelError::InputShape {
            name: name.to_owned(),
            expected: shape_to_string(expected),
            actual: shape_to_string(actual),
        })
    }
}

/// A loaded model: one `f32` input, any number of `f32` outputs.
///
/// Implementations are shared between threads (`Arc<dyn Model>`); a backend that needs
/// exclusive access per run locks internally.
pub trait Model: Send + Sync {
    /// Short name (e.g. `res10`), used in errors, metrics and `/readyz`.
    fn name(&self) -> &str;
    /// Backend that runs it (`onnxruntime`, `rten` or `fake`).
    fn engine_name(&self) -> &'static str;
    /// Declared input shape (`None` = dynamic dimension).
    fn input_shape(&self) -> &[Dim];
    /// Runs the model. Outputs come in the order the ONNX graph declares them.
    fn run(&self, input: Tensor) -> Result<Vec<Tensor>, ModelError>;
}

impl fmt::Debug for dyn Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name())
            .field("engine", &self.engine_name())
            .field("input_shape", &self.input_shape())
            .finish()
    }
}

/// How a [`FakeModel`] turns an input into outputs.
pub type Responder = dyn Fn(&Tensor) -> Vec<Tensor> + Send + Sync;

/// A model that returns canned outputs, for unit tests of pre/post-processing.
pub struct FakeModel {
    name: String,
    input_shape: Vec<Dim>,
    respond: Box<Responder>,
}

impl FakeModel {
    /// A fake model whose outputs are computed from the input by `respond`.
    pub fn new(
        name: &str,
        input_shape: Vec<Dim>,
        respond: impl Fn(&Tensor) -> Vec<Tensor> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.to_owned(),
            input_shape,
            respond: Box::new(respond),
        }
    }
}

impl Model for FakeModel {
    fn name(&self) -> &str {
        &self.name
    }
    fn engine_name(&self) -> &'static str {
        "fake"
    }
    fn input_shape(&self) -> &[Dim] {
        &self.input_shape
    }
    fn run(&self, input: Tensor) -> Result<Vec<Tensor>, ModelError> {
        Ok((self.respond)(&input))
    }
}

/// A resolved backend with its settings; loads models.
pub struct Engine {
    backend: Backend,
    threads: usize,
    concurrent_runs: usize,
    fallback_reason: Option<String>,
}

enum Backend {
    Ort(ort::environment::Environment),
    Rten(Arc<rten::ThreadPool>),
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("engine", &self.engine_name())
            .field("threads", &self.threads)
            .field("fallback_reason", &self.fallback_reason)
            .finish()
    }
}

impl Engine {
    /// Resolves the configured backend. With [`EngineKind::Auto`] a missing ONNX Runtime
    /// library is not an error: the engine falls back to rten and
    /// [`fallback_reason`](Self::fallback_reason) says why.
    pub fn new(config: &EngineConfig) -> Result<Self, ModelError> {
        let (backend, fallback_reason) = match config.kind {
            EngineKind::Rten => (Self::rten_pool(config), None),
            EngineKind::OnnxRuntime => (Backend::Ort(init_ort(&config.resolved_ort_path())?), None),
            EngineKind::Auto => match init_ort(&config.resolved_ort_path()) {
                Ok(env) => (Backend::Ort(env), None),
                Err(err) => {
                    tracing::info!(reason = %err, "ONNX Runtime unavailable, using rten");
                    (Self::rten_pool(config), Some(err.to_string()))
                }
            },
        };
        Ok(Self {
            backend,
            threads: config.threads.max(1),
            concurrent_runs: config.concurrent_runs.max(1),
            fallback_reason,
        })
    }

    fn rten_pool(config: &EngineConfig) -> Backend {
        Backend::Rten(Arc::new(rten::ThreadPool::with_num_threads(
            config.threads.max(1),
        )))
    }

    /// `onnxruntime` or `rten`: the backend actually in use (for `/readyz`, `/metrics`).
    pub fn engine_name(&self) -> &'static str {
        match self.backend {
            Backend::Ort(_) => EngineKind::OnnxRuntime.as_str(),
            Backend::Rten(_) => EngineKind::Rten.as_str(),
        }
    }

    /// Threads per model run.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Why `auto` fell back to rten, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Loads an ONNX file and checks its input against `expected_input`.
    pub fn load(
        &self,
        name: &str,
        path: &Path,
        expected_input: &[Dim],
    ) -> Result<Arc<dyn Model>, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
        let model: Arc<dyn Model> = match &self.backend {
            Backend::Ort(env) => Arc::new(OrtModel::load(
                env,
                name,
                &bytes,
                self.threads,
                self.concurrent_runs,
            )?),
            Backend::Rten(pool) => Arc::new(RtenModel::load(name, bytes, Arc::clone(pool))?),
        };
        check_input_shape(name, expected_input, model.input_shape())?;
        Ok(model)
    }
}

/// ONNX Runtime allows one environment per process (its library is process-global
/// too), so engines share it; each engine still sets its own per-session thread count.
/// The first successful library path wins for the life of the process.
static ORT_ENV: Mutex<Option<ort::environment::Environment>> = Mutex::new(None);

fn init_ort(path: &Path) -> Result<ort::environment::Environment, ModelError> {
    let unavailable = |reason: String| ModelError::RuntimeUnavailable {
        path: path.to_owned(),
        reason,
    };
    // dlopen of a missing file gives a clear message; check first so the common case
    // (library not fetched) does not depend on the loader's wording.
    if !path.exists() {
        return Err(unavailable("file not found".to_owned()));
    }
    let mut shared = ORT_ENV
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(env) = shared.as_ref() {
        return Ok(env.clone());
    }
    let env = ort::init_from(path)
        .map_err(|e| unavailable(e.to_string()))?
        .with_name("vigil")
        .with_telemetry(false)
        .build()
        .map_err(|e| unavailable(e.to_string()))?;
    *shared = Some(env.clone());
    Ok(env)
}

/// A model run by ONNX Runtime. `Session::run` needs `&mut`, so each session sits
/// behind a mutex; `EngineConfig::concurrent_runs` sessions let that many runs of the
/// same model proceed at once (a run takes the first free one).
struct OrtModel {
    name: String,
    sessions: Vec<Mutex<ort::session::Session>>,
    next: std::sync::atomic::AtomicUsize,
    input_shape: Vec<Dim>,
}

impl OrtModel {
    fn load(
        env: &ort::environment::Environment,
        name: &str,
        bytes: &[u8],
        threads: usize,
        copies: usize,
    ) -> Result<Self, ModelError> {
        let load_err = |reason: String| ModelError::Load {
            name: name.to_owned(),
            reason,
        };
        let mut sessions = Vec::with_capacity(copies.max(1));
        for _ in 0..copies.max(1) {
            sessions.push(Mutex::new(Self::session(env, name, bytes, threads)?));
        }
        let input_shape = {
            let first = sessions[0]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let input = first
                .inputs()
                .first()
                .ok_or_else(|| load_err("model has no input".to_owned()))?;
            input
                .dtype()
                .tensor_shape()
                .ok_or_else(|| load_err("model input is not a tensor".to_owned()))?
                .iter()
                .map(|&d| usize::try_from(d).ok())
                .collect()
        };
        Ok(Self {
            name: name.to_owned(),
            sessions,
            next: std::sync::atomic::AtomicUsize::new(0),
            input_shape,
        })
    }

    fn session(
        env: &ort::environment::Environment,
        name: &str,
        bytes: &[u8],
        threads: usize,
    ) -> Result<ort::session::Session, ModelError> {
        let load_err = |reason: String| ModelError::Load {
            name: name.to_owned(),
            reason,
        };
        // Each builder step returns the builder inside its error; only the message matters.
        ort::session::Session::builder(env)
            .map_err(|e| load_err(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| load_err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| load_err(e.to_string()))?
            .with_intra_op_spinning(false)
            .map_err(|e| load_err(e.to_string()))?
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
            .map_err(|e| load_err(e.to_string()))?
            .commit_from_memory(bytes)
            .map_err(|e| load_err(e.to_string()))
    }

    /// The first free session, else (all busy) the next one in turn, locked.
    fn acquire(&self) -> std::sync::MutexGuard<'_, ort::session::Session> {
        for session in &self.sessions {
            if let Ok(guard) = session.try_lock() {
                return guard;
            }
        }
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.sessions.len();
        // A poisoned lock only means another run panicked; the session itself is intact.
        self.sessions[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Model for OrtModel {
    fn name(&self) -> &str {
        &self.name
    }
    fn engine_name(&self) -> &'static str {
        EngineKind::OnnxRuntime.as_str()
    }
    fn input_shape(&self) -> &[Dim] {
        &self.input_shape
    }
    fn run(&self, input: Tensor) -> Result<Vec<Tensor>, ModelError> {
        let fail = |reason: String| ModelError::Inference {
            name: self.name.clone(),
            reason,
        };
        let shape: Vec<i64> = input.shape.iter().map(|&d| d as i64).collect();
        let value =
            ort::value::Tensor::from_array((shape, input.data)).map_err(|e| fail(e.to_string()))?;
        let mut session = self.acquire();
        let outputs = session
            .run(ort::inputs![value])
            .map_err(|e| fail(e.to_string()))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| fail(e.to_string()))?;
            result.push(Tensor {
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data: data.to_vec(),
            });
        }
        Ok(result)
    }
}

/// A model run by rten on the engine's thread pool. rten models are `Sync`; no lock.
struct RtenModel {
    name: String,
    model: rten::Model,
    input_id: rten::NodeId,
    output_ids: Vec<rten::NodeId>,
    input_shape: Vec<Dim>,
    pool: Arc<rten::ThreadPool>,
}

impl RtenModel {
    fn load(name: &str, bytes: Vec<u8>, pool: Arc<rten::ThreadPool>) -> Result<Self, ModelError> {
        let load_err = |reason: String| ModelError::Load {
            name: name.to_owned(),
            reason,
        };
        let model = rten::Model::load(bytes).map_err(|e| load_err(e.to_string()))?;
        let input_id = *model
            .input_ids()
            .first()
            .ok_or_else(|| load_err("model has no input".to_owned()))?;
        let input_shape = model
            .input_shape(0)
            .ok_or_else(|| load_err("model input has no shape".to_owned()))?
            .into_iter()
            .map(|d| match d {
                rten::Dimension::Fixed(n) => Some(n),
                rten::Dimension::Symbolic(_) => None,
            })
            .collect();
        let output_ids = model.output_ids().to_vec();
        Ok(Self {
            name: name.to_owned(),
            model,
            input_id,
            output_ids,
            input_shape,
            pool,
        })
    }
}

impl Model for RtenModel {
    fn name(&self) -> &str {
        &self.name
    }
    fn engine_name(&self) -> &'static str {
        EngineKind::Rten.as_str()
    }
    fn input_shape(&self) -> &[Dim] {
        &self.input_shape
    }
    fn run(&self, input: Tensor) -> Result<Vec<Tensor>, ModelError> {
        use rten_tensor::prelude::*;
        let fail = |reason: String| ModelError::Inference {
            name: self.name.clone(),
            reason,
        };
        let tensor = rten_tensor::Tensor::<f32>::try_from_data(input.shape.as_slice(), input.data)
            .map_err(|e| fail(e.to_string()))?;
        let opts = rten::RunOptions::default().with_thread_pool(Some(Arc::clone(&self.pool)));
        let outputs = self
            .model
            .run(
                vec![(self.input_id, tensor.into())],
                &self.output_ids,
                Some(opts),
            )
            .map_err(|e| fail(e.to_string()))?;
        outputs
            .into_iter()
            .map(|value| {
                let t: rten_tensor::Tensor<f32> =
                    value
                        .try_into()
                        .map_err(|e: rten::TryFromValueError| ModelError::Output {
                            name: self.name.clone(),
                            reason: e.to_string(),
                        })?;
                Ok(Tensor {
                    shape: t.shape().to_vec(),
                    data: t.to_vec(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shape_check_accepts_dynamic_and_matching_dims() {
        assert!(check_input_shape(
            "m",
            &[Some(1), Some(3), Some(300), Some(300)],
            &[None, Some(3), Some(300), Some(300)]
        )
        .is_ok());
        assert!(check_input_shape(
            "m",
            &[None, Some(3), None, None],
            &[Some(1), Some(3), Some(300), Some(300)]
        )
        .is_ok());
    }

    #[test]
    fn input_shape_check_rejects_wrong_rank_or_size() {
        assert!(check_input_shape(
            "m",
            &[Some(1), Some(3), Some(300), Some(300)],
            &[Some(1), Some(300), Some(300)]
        )
        .is_err());
        let err = check_input_shape(
            "m",
            &[Some(1), Some(3), Some(224), Some(224)],
            &[Some(1), Some(3), Some(300), Some(300)],
        );
        assert!(matches!(err, Err(ModelError::InputShape { .. })));
    }

    #[test]
    fn engine_kind_parses_config_names() {
        assert_eq!("auto".parse::<EngineKind>(), Ok(EngineKind::Auto));
        assert_eq!(
            "onnxruntime".parse::<EngineKind>(),
            Ok(EngineKind::OnnxRuntime)
        );
        assert_eq!("RTEN".parse::<EngineKind>(), Ok(EngineKind::Rten));
        assert!("tensorflow".parse::<EngineKind>().is_err());
    }

    #[test]
    fn auto_engine_falls_back_to_rten_when_library_missing() {
        let engine = Engine::new(&EngineConfig {
            kind: EngineKind::Auto,
            ort_dylib_path: Some(PathBuf::from("/nonexistent/libonnxruntime.so")),
            ..EngineConfig::default()
        });
        let engine = engine.map_err(|e| e.to_string());
        assert_eq!(engine.as_ref().map(|e| e.engine_name()), Ok("rten"));
        assert!(engine
            .as_ref()
            .ok()
            .and_then(|e| e.fallback_reason())
            .is_some());
    }

    #[test]
    fn explicit_onnxruntime_fails_when_library_missing() {
        let engine = Engine::new(&EngineConfig {
            kind: EngineKind::OnnxRuntime,
            ort_dylib_path: Some(PathBuf::from("/nonexistent/libonnxruntime.so")),
            ..EngineConfig::default()
        });
        assert!(matches!(engine, Err(ModelError::RuntimeUnavailable { .. })));
    }
}
