//! The whole pipeline behind one type: load models once, analyse many images.
//!
//! [`Pipeline::load`] resolves the engine, loads every model file that is present in the
//! models directory (checking input shapes), and records a [`ModelInfo`] per model for
//! `/readyz`. [`Pipeline::analyze`] is synchronous and CPU-bound: call it through
//! [`crate::pool::InferencePool`] from async code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::classify::{Embedder, InputSpec, LivenessModel, MaskClassifier};
use crate::decode::{decode, DecodeLimits};
use crate::detect::{DetectOptions, Detector, DetectorKind};
use crate::error::VisionError;
use crate::model::{Engine, EngineConfig, Model, ModelError};
use crate::mtcnn::Mtcnn;
use crate::result::{Analysis, Face, ImageSize, Timings};

/// Model file names inside the models directory.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// res10 SSD detector (required).
    pub res10: String,
    /// BlazeFace used for `--detector blazeface` (optional).
    pub blazeface: String,
    /// MTCNN P-Net, R-Net, O-Net (optional, all three needed).
    pub mtcnn: [String; 3],
    /// Mask classifier (optional; without it `mask` is `null`).
    pub mask: String,
    /// Face embedding model (optional).
    pub embedding: String,
    /// Liveness model (optional).
    pub liveness: String,
}

impl Default for ModelFiles {
    fn default() -> Self {
        Self {
            res10: "res10_ssd_face.onnx".to_owned(),
            // The full-range model: cameras and group photos (models/MODELS.md).
            blazeface: "blazeface_back_256.onnx".to_owned(),
            mtcnn: [
                "mtcnn_pnet.onnx".to_owned(),
                "mtcnn_rnet.onnx".to_owned(),
                "mtcnn_onet.onnx".to_owned(),
            ],
            mask: "mask_classifier.onnx".to_owned(),
            embedding: "mobilefacenet.onnx".to_owned(),
            liveness: "antispoof.onnx".to_owned(),
        }
    }
}

/// Everything needed to build a [`Pipeline`].
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Directory holding the `.onnx` files.
    pub models_dir: PathBuf,
    /// File names inside `models_dir`.
    pub files: ModelFiles,
    /// Backend and threads.
    pub engine: EngineConfig,
    /// Decoder limits.
    pub decode_limits: DecodeLimits,
    /// Pre-processing of the embedding model.
    pub embedding_spec: InputSpec,
    /// Pre-processing of the liveness model.
    pub liveness_spec: InputSpec,
    /// Spoof score below which a face is `live` (FaceAntiSpoofing default 0.2).
    pub liveness_threshold: f32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            models_dir: PathBuf::from("models"),
            files: ModelFiles::default(),
            engine: EngineConfig::default(),
            decode_limits: DecodeLimits::default(),
            embedding_spec: Embedder::DEFAULT_SPEC,
            liveness_spec: LivenessModel::DEFAULT_SPEC,
            liveness_threshold: 0.2,
        }
    }
}

/// Per-call options.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalyzeOptions {
    /// Detector network.
    pub detector: DetectorKind,
    /// Threshold, NMS and tiling.
    pub detect: DetectOptions,
    /// Compute embeddings (needs the embedding model).
    pub embedding: bool,
    /// Compute liveness (needs the liveness model).
    pub liveness: bool,
}

/// A loaded model, as `/readyz` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Role name (`res10`, `blazeface`, `mask`, `embedding`, `liveness`).
    pub name: String,
    /// File path as configured.
    pub file: String,
    /// sha256 of the file, lowercase hex.
    pub sha256: String,
    /// Backend running it.
    pub engine: String,
    /// Declared input shape (`null` = dynamic dimension).
    pub input_shape: Vec<Option<usize>>,
}

/// Loaded models plus the settings to run them.
#[derive(Debug)]
pub struct Pipeline {
    engine: Engine,
    decode_limits: DecodeLimits,
    res10: Detector,
    blazeface: Option<Detector>,
    mtcnn: Option<Detector>,
    mask: Option<MaskClassifier>,
    embedder: Option<Embedder>,
    liveness: Option<LivenessModel>,
    models: Vec<ModelInfo>,
}

impl Pipeline {
    /// Resolves the engine and loads every model present in `config.models_dir`. res10
    /// is required; the others are loaded when their file exists.
    pub fn load(config: &PipelineConfig) -> Result<Self, ModelError> {
        let engine = Engine::new(&config.engine)?;
        let mut models = Vec::new();
        let dir = &config.models_dir;
        let files = &config.files;

        let res10 = load_model(
            &engine,
            &mut models,
            "res10",
            &dir.join(&files.res10),
            &Detector::expected_input(DetectorKind::Res10),
        )?;
        let res10 = Detector::new(DetectorKind::Res10, res10)?;
        let blazeface = optional(&dir.join(&files.blazeface), |p| {
            Detector::new(
                DetectorKind::BlazeFace,
                load_model(
                    &engine,
                    &mut models,
                    "blazeface",
                    p,
                    &Detector::expected_input(DetectorKind::BlazeFace),
                )?,
            )
        })?;
        let mtcnn_paths = files.mtcnn.clone().map(|f| dir.join(f));
        let mtcnn = if mtcnn_paths.iter().all(|p| p.exists()) {
            let [p, r, o] = Mtcnn::expected_inputs();
            let [pp, rp, op] = &mtcnn_paths;
            let pnet = load_model(&engine, &mut models, "mtcnn_pnet", pp, &p)?;
            let rnet = load_model(&engine, &mut models, "mtcnn_rnet", rp, &r)?;
            let onet = load_model(&engine, &mut models, "mtcnn_onet", op, &o)?;
            Some(Detector::mtcnn(Mtcnn::new(pnet, rnet, onet)?))
        } else {
            None
        };
        let mask = optional(&dir.join(&files.mask), |p| {
            MaskClassifier::new(load_model(
                &engine,
                &mut models,
                "mask",
                p,
                &MaskClassifier::SPEC.expected_shape(),
            )?)
        })?;
        let embedder = optional(&dir.join(&files.embedding), |p| {
            Embedder::new(
                load_model(
                    &engine,
                    &mut models,
                    "embedding",
                    p,
                    &config.embedding_spec.expected_shape(),
                )?,
                config.embedding_spec,
            )
        })?;
        let liveness = optional(&dir.join(&files.liveness), |p| {
            LivenessModel::new(
                load_model(
                    &engine,
                    &mut models,
                    "liveness",
                    p,
                    &config.liveness_spec.expected_shape(),
                )?,
                config.liveness_spec,
                config.liveness_threshold,
            )
        })?;
        Ok(Self {
            engine,
            decode_limits: config.decode_limits,
            res10,
            blazeface,
            mtcnn,
            mask,
            embedder,
            liveness,
            models,
        })
    }

    /// Runs every loaded model once on a synthetic image so the first request does not
    /// pay for lazy initialisation. Returns the time taken in ms.
    pub fn warm_up(&self) -> Result<f64, VisionError> {
        let start = Instant::now();
        let img = RgbImage::from_fn(320, 240, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let det = crate::result::Detection {
            bbox: crate::result::BBox {
                x: 100.0,
                y: 60.0,
                width: 100.0,
                height: 120.0,
            },
            score: 1.0,
            landmarks: Vec::new(),
        };
        let opts = DetectOptions {
            tiling: false,
            ..DetectOptions::default()
        };
        self.res10.detect(&img, &opts)?;
        for d in self.blazeface.iter().chain(&self.mtcnn) {
            d.detect(&img, &opts)?;
        }
        if let Some(m) = &self.mask {
            m.classify(&img, std::slice::from_ref(&det))?;
        }
        if let Some(e) = &self.embedder {
            e.embed(&img, std::slice::from_ref(&det))?;
        }
        if let Some(l) = &self.liveness {
            l.score(&img, std::slice::from_ref(&det))?;
        }
        Ok(ms(start))
    }

    /// Backend in use (`onnxruntime` or `rten`).
    pub fn engine_name(&self) -> &'static str {
        self.engine.engine_name()
    }

    /// The engine (threads, fallback reason).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loaded models, for `/readyz`.
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The detector for `kind`, if its model is loaded.
    pub fn detector(&self, kind: DetectorKind) -> Result<&Detector, VisionError> {
        match kind {
            DetectorKind::Res10 => Ok(&self.res10),
            DetectorKind::BlazeFace => self
                .blazeface
                .as_ref()
                .ok_or(VisionError::ModelNotLoaded("blazeface")),
            DetectorKind::Mtcnn => self
                .mtcnn
                .as_ref()
                .ok_or(VisionError::ModelNotLoaded("mtcnn")),
        }
    }

    /// The mask classifier, if loaded.
    pub fn mask_classifier(&self) -> Option<&MaskClassifier> {
        self.mask.as_ref()
    }

    /// The embedder, if loaded.
    pub fn embedder(&self) -> Option<&Embedder> {
        self.embedder.as_ref()
    }

    /// The liveness model, if loaded.
    pub fn liveness_model(&self) -> Option<&LivenessModel> {
        self.liveness.as_ref()
    }

    /// Decoder limits in force.
    pub fn decode_limits(&self) -> &DecodeLimits {
        &self.decode_limits
    }

    /// Decodes `bytes` and analyses the image. Requesting embeddings or liveness
    /// without the model loaded is an error ([`VisionError::ModelNotLoaded`]), checked
    /// before any work is done.
    pub fn analyze(&self, bytes: &[u8], opts: &AnalyzeOptions) -> Result<Analysis, VisionError> {
        let _span = tracing::debug_span!(
            "analyze",
            detector = opts.detector.as_str(),
            bytes = bytes.len()
        )
        .entered();
        let start = Instant::now();
        self.check_requested(opts)?;
        let img = decode(bytes, &self.decode_limits)?;
        let decode_ms = ms(start);
        let mut analysis = self.analyze_image(&img, opts)?;
        analysis.timings_ms.decode = decode_ms;
        analysis.timings_ms.total = ms(start);
        Ok(analysis)
    }

    /// Like [`analyze`](Self::analyze), and also returns the image with boxes and labels
    /// drawn on it as a JPEG (for `Accept: image/jpeg`), decoding only once.
    pub fn analyze_annotated(
        &self,
        bytes: &[u8],
        opts: &AnalyzeOptions,
    ) -> Result<(Analysis, Vec<u8>), VisionError> {
        let start = Instant::now();
        self.check_requested(opts)?;
        let mut img = decode(bytes, &self.decode_limits)?;
        let decode_ms = ms(start);
        let mut analysis = self.analyze_image(&img, opts)?;
        crate::annotate::annotate(&mut img, &analysis.faces);
        let jpeg = crate::annotate::encode_jpeg(&img)
            .map_err(|e| VisionError::Internal(format!("JPEG encoding failed: {e}")))?;
        analysis.timings_ms.decode = decode_ms;
        analysis.timings_ms.total = ms(start);
        Ok((analysis, jpeg))
    }

    fn check_requested(&self, opts: &AnalyzeOptions) -> Result<(), VisionError> {
        self.detector(opts.detector)?;
        if opts.embedding && self.embedder.is_none() {
            return Err(VisionError::ModelNotLoaded("embedding"));
        }
        if opts.liveness && self.liveness.is_none() {
            return Err(VisionError::ModelNotLoaded("liveness"));
        }
        Ok(())
    }

    /// Analyses an already decoded, upright image (`timings_ms.decode` is 0).
    pub fn analyze_image(
        &self,
        img: &RgbImage,
        opts: &AnalyzeOptions,
    ) -> Result<Analysis, VisionError> {
        let start = Instant::now();
        self.check_requested(opts)?;
        let detections = self.detector(opts.detector)?.detect(img, &opts.detect)?;
        let detect_ms = ms(start);

        let t = Instant::now();
        let masks = match &self.mask {
            Some(m) => m
                .classify(img, &detections)?
                .into_iter()
                .map(Some)
                .collect(),
            None => vec![None; detections.len()],
        };
        let mask_ms = ms(t);

        let (embeddings, embed_ms) = match (&self.embedder, opts.embedding) {
            (Some(e), true) => {
                let t = Instant::now();
                let v = e.embed(img, &detections)?.into_iter().map(Some).collect();
                (v, Some(ms(t)))
            }
            _ => (vec![None; detections.len()], None),
        };
        let (liveness, liveness_ms) = match (&self.liveness, opts.liveness) {
            (Some(l), true) => {
                let t = Instant::now();
                let v = l.score(img, &detections)?.into_iter().map(Some).collect();
                (v, Some(ms(t)))
            }
            _ => (vec![None; detections.len()], None),
        };

        let faces: Vec<Face> = detections
            .into_iter()
            .zip(masks)
            .zip(embeddings)
            .zip(liveness)
            .map(|(((d, mask), embedding), liveness)| Face {
                bbox: d.bbox,
                score: d.score,
                landmarks: d.landmarks,
                mask,
                liveness,
                embedding,
            })
            .collect();
        tracing::debug!(
            faces = faces.len(),
            detect_ms,
            mask_ms,
            ?embed_ms,
            ?liveness_ms,
            engine = self.engine_name(),
            "analysed image"
        );
        Ok(Analysis {
            image: ImageSize {
                width: img.width(),
                height: img.height(),
            },
            faces,
            engine: self.engine_name().to_owned(),
            timings_ms: Timings {
                decode: 0.0,
                detect: detect_ms,
                mask: mask_ms,
                embed: embed_ms,
                liveness: liveness_ms,
                total: ms(start),
            },
        })
    }
}

fn optional<T>(
    path: &Path,
    load: impl FnOnce(&Path) -> Result<T, ModelError>,
) -> Result<Option<T>, ModelError> {
    if path.exists() {
        load(path).map(Some)
    } else {
        tracing::info!(file = %path.display(), "optional model not present");
        Ok(None)
    }
}

fn load_model(
    engine: &Engine,
    infos: &mut Vec<ModelInfo>,
    name: &str,
    path: &Path,
    expected: &[Option<usize>],
) -> Result<Arc<dyn Model>, ModelError> {
    let model = engine.load(name, path, expected)?;
    infos.push(ModelInfo {
        name: name.to_owned(),
        file: path.display().to_string(),
        sha256: sha256_file(path).map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?,
        engine: engine.engine_name().to_owned(),
        input_shape: model.input_shape().to_vec(),
    });
    Ok(model)
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
