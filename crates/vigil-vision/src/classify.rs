//! Stages 5–7: per-face models — mask classification, embedding, liveness.
//!
//! Each stage takes the decoded image plus the detections and runs **all faces of the
//! image in one batched model run** when the model's batch dimension is dynamic (one run
//! per face otherwise). Output order follows the input detections.

use std::sync::Arc;

use image::RgbImage;

use crate::align::{align_face, ALIGNED_SIZE};
use crate::model::{Dim, Model, ModelError};
use crate::preprocess::{crop_resize, push_tensor, Layout, Normalize};
use crate::result::{BBox, Detection, Liveness, MaskLabel, MaskResult};
use crate::tensor::Tensor;

/// Which part of the image a per-face model sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaceCrop {
    /// The detector box, scaled about its centre by this factor (1.0 = the box itself),
    /// clipped to the image, resized without keeping the aspect ratio.
    Box(f32),
    /// The detector box made square (shorter side grown symmetrically to the longer),
    /// shifted back inside the image, resized to the model input.
    Square,
    /// The 5-point aligned chip (see [`crate::align`]), resized to the model input.
    Aligned,
}

/// Pre-processing for one image model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputSpec {
    /// Model input width and height in pixels.
    pub size: (u32, u32),
    /// Layout, channel order and normalisation.
    pub norm: Normalize,
    /// Crop.
    pub crop: FaceCrop,
}

impl InputSpec {
    /// The input shape a model must declare for this spec (dynamic batch).
    pub fn expected_shape(&self) -> Vec<Dim> {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        match self.norm.layout {
            Layout::Nchw => vec![None, Some(3), Some(h), Some(w)],
            Layout::Nhwc => vec![None, Some(h), Some(w), Some(3)],
        }
    }
}

/// Crops every face as `spec` says and runs `model` on them, batched. Returns, per face,
/// one row per model output (output `[N, K…]` → `K…` values for that face).
pub fn run_faces(
    model: &dyn Model,
    spec: &InputSpec,
    img: &RgbImage,
    faces: &[Detection],
) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    let batch_max = match model.input_shape().first() {
        Some(Some(n)) => (*n).max(1),
        _ => faces.len(),
    };
    let (w, h) = spec.size;
    let mut rows = Vec::with_capacity(faces.len());
    for chunk in faces.chunks(batch_max) {
        let mut data = Vec::with_capacity(chunk.len() * (w * h * 3) as usize);
        for det in chunk {
            let chip = match spec.crop {
                FaceCrop::Box(scale) => crop_resize(
                    img,
                    scaled_box(&det.bbox, scale).clamp_to(img.width(), img.height()),
                    w,
                    h,
                ),
                FaceCrop::Square => {
                    crop_resize(img, square_box(&det.bbox, img.width(), img.height()), w, h)
                }
                FaceCrop::Aligned => {
                    let chip = align_face(img, det);
                    if (w, h) == (ALIGNED_SIZE, ALIGNED_SIZE) {
                        chip
                    } else {
                        image::imageops::resize(&chip, w, h, image::imageops::FilterType::Triangle)
                    }
                }
            };
            push_tensor(&chip, &spec.norm, &mut data);
        }
        let mut shape = match spec.norm.layout {
            Layout::Nchw => vec![chunk.len(), 3, h as usize, w as usize],
            Layout::Nhwc => vec![chunk.len(), h as usize, w as usize, 3],
        };
        shape.shrink_to_fit();
        let outputs = model.run(Tensor { shape, data })?;
        if outputs.is_empty() {
            return Err(ModelError::Output {
                name: model.name().to_owned(),
                reason: "no output".to_owned(),
            });
        }
        let mut per_face = vec![Vec::with_capacity(outputs.len()); chunk.len()];
        for out in &outputs {
            let k = out.data.len() / chunk.len().max(1);
            if k == 0 || out.data.len() != k * chunk.len() {
                return Err(ModelError::Output {
                    name: model.name().to_owned(),
                    reason: format!(
                        "output shape {:?} does not fit batch {}",
                        out.shape,
                        chunk.len()
                    ),
                });
            }
            for (face, row) in per_face.iter_mut().zip(out.data.chunks(k)) {
                face.push(row.to_vec());
            }
        }
        rows.extend(per_face);
    }
    Ok(rows)
}

/// The box grown to a square about its centre and shifted to lie inside the image
/// (clipped only if the image is smaller than the square).
pub fn square_box(b: &BBox, img_w: u32, img_h: u32) -> BBox {
    let side = b.width.max(b.height);
    let (cx, cy) = b.center();
    let (w, h) = (img_w as f32, img_h as f32);
    let x = (cx - side / 2.0).min(w - side).max(0.0);
    let y = (cy - side / 2.0).min(h - side).max(0.0);
    BBox {
        x,
        y,
        width: side,
        height: side,
    }
    .clamp_to(img_w, img_h)
}

fn scaled_box(b: &BBox, scale: f32) -> BBox {
    let (cx, cy) = b.center();
    let (w, h) = (b.width * scale, b.height * scale);
    BBox {
        x: cx - w / 2.0,
        y: cy - h / 2.0,
        width: w,
        height: h,
    }
}

/// Softmax over a row when it does not already look like probabilities.
pub fn probabilities(row: &[f32]) -> Vec<f32> {
    let sum: f32 = row.iter().sum();
    if row.iter().all(|v| (0.0..=1.0).contains(v)) && (sum - 1.0).abs() < 1e-3 {
        return row.to_vec();
    }
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// Mask / no-mask classifier (MobileNetV2, 224×224).
#[derive(Debug)]
pub struct MaskClassifier {
    model: Arc<dyn Model>,
    spec: InputSpec,
}

impl MaskClassifier {
    /// `[N, 224, 224, 3]` RGB, `x / 127.5 − 1`, crop = detector box; output `probs
    /// [N, 2]`, index 0 = mask, 1 = no mask (models/MODELS.md).
    pub const SPEC: InputSpec = InputSpec {
        size: (224, 224),
        norm: Normalize {
            layout: Layout::Nhwc,
            bgr: false,
            mean: [127.5; 3],
            scale: [1.0 / 127.5; 3],
        },
        crop: FaceCrop::Box(1.0),
    };

    /// Wraps a loaded model; checks its input shape.
    pub fn new(model: Arc<dyn Model>) -> Result<Self, ModelError> {
        crate::model::check_input_shape(
            model.name(),
            &Self::SPEC.expected_shape(),
            model.input_shape(),
        )?;
        Ok(Self {
            model,
            spec: Self::SPEC,
        })
    }

    /// The underlying model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// Classifies every face (one batched run).
    pub fn classify(
        &self,
        img: &RgbImage,
        faces: &[Detection],
    ) -> Result<Vec<MaskResult>, ModelError> {
        run_faces(self.model.as_ref(), &self.spec, img, faces)?
            .into_iter()
            .map(|outs| {
                let p = probabilities(outs.first().map_or(&[][..], Vec::as_slice));
                let (mask, no_mask) = match p.as_slice() {
                    [m, n, ..] => (*m, *n),
                    _ => {
                        return Err(ModelError::Output {
                            name: self.model.name().to_owned(),
                            reason: "expected 2 class probabilities".to_owned(),
                        })
                    }
                };
                Ok(if mask > no_mask {
                    MaskResult {
                        label: MaskLabel::Mask,
                        score: mask,
                    }
                } else {
                    MaskResult {
                        label: MaskLabel::NoMask,
                        score: no_mask,
                    }
                })
            })
            .collect()
    }
}

/// Face embedding model (input: aligned face chip).
#[derive(Debug)]
pub struct Embedder {
    model: Arc<dyn Model>,
    spec: InputSpec,
}

impl Embedder {
    /// MobileFaceNet (models/MODELS.md): `[N, 112, 112, 3]` RGB, `(x − 127.5) / 128`,
    /// output `embeddings [N, 192]`. Input is the 5-point aligned 112×112 chip; the npm
    /// package the model ships in used plain square crops ([`FaceCrop::Square`]).
    /// Measured on testdata (rten, 5 portraits): aligned chips give same-face/mirror
    /// cosine 0.81–0.99 and masked-vs-unmasked same person 0.41–0.71, different people
    /// ≤ 0.22; square crops 0.76–0.96, 0.28–0.53 and up to 0.53 — alignment separates
    /// identities better, with every detector.
    pub const DEFAULT_SPEC: InputSpec = InputSpec {
        size: (ALIGNED_SIZE, ALIGNED_SIZE),
        norm: Normalize {
            layout: Layout::Nhwc,
            bgr: false,
            mean: [127.5; 3],
            scale: [1.0 / 128.0; 3],
        },
        crop: FaceCrop::Aligned,
    };

    /// Wraps a loaded model with its pre-processing; checks the input shape.
    pub fn new(model: Arc<dyn Model>, spec: InputSpec) -> Result<Self, ModelError> {
        crate::model::check_input_shape(model.name(), &spec.expected_shape(), model.input_shape())?;
        Ok(Self { model, spec })
    }

    /// The underlying model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// One L2-normalised embedding per face (one batched run).
    pub fn embed(&self, img: &RgbImage, faces: &[Detection]) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(run_faces(self.model.as_ref(), &self.spec, img, faces)?
            .into_iter()
            .map(|outs| l2_normalize(outs.first().map_or(&[][..], Vec::as_slice)))
            .collect())
    }
}

/// `v / ‖v‖₂` (zero vector unchanged).
pub fn l2_normalize(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

/// Liveness / anti-spoofing (FaceAntiSpoofing, models/MODELS.md).
///
/// Input `[1, 256, 256, 3]` RGB `x / 255`, square face crop. Outputs `clss_pred [1, 8]`
/// and `leaf_node_mask [1, 8]`; the model's spoof score is `Σ |clss_pred[i]| ·
/// leaf_node_mask[i]` and a face is live when it is below the threshold (default 0.2).
/// We report `score = 1 − spoof score` (clamped to [0, 1]) so that higher means "more
/// live", and `live = spoof score < threshold`. Unvalidated on live camera frames.
#[derive(Debug)]
pub struct LivenessModel {
    model: Arc<dyn Model>,
    spec: InputSpec,
    threshold: f32,
}

impl LivenessModel {
    /// Pre-processing of `antispoof.onnx`.
    pub const DEFAULT_SPEC: InputSpec = InputSpec {
        size: (256, 256),
        norm: Normalize {
            layout: Layout::Nhwc,
            bgr: false,
            mean: [0.0; 3],
            scale: [1.0 / 255.0; 3],
        },
        crop: FaceCrop::Square,
    };

    /// Wraps a loaded model. `threshold` is the spoof score below which a face is live.
    pub fn new(model: Arc<dyn Model>, spec: InputSpec, threshold: f32) -> Result<Self, ModelError> {
        crate::model::check_input_shape(model.name(), &spec.expected_shape(), model.input_shape())?;
        Ok(Self {
            model,
            spec,
            threshold,
        })
    }

    /// The underlying model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// One liveness estimate per face.
    pub fn score(&self, img: &RgbImage, faces: &[Detection]) -> Result<Vec<Liveness>, ModelError> {
        let rows = run_faces(self.model.as_ref(), &self.spec, img, faces)?;
        rows.into_iter()
            .zip(faces)
            .map(|(outs, face)| match outs.as_slice() {
                [pred, mask, ..] if pred.len() == mask.len() => {
                    let spoof: f32 = pred.iter().zip(mask).map(|(p, m)| p.abs() * m).sum();
                    // The reference implementation refuses to judge blurry crops; we
                    // report them as not live (the score stays the model's).
                    let sharp = !is_blurry(img, &face.bbox);
                    Ok(Liveness {
                        score: (1.0 - spoof).clamp(0.0, 1.0),
                        live: spoof < self.threshold && sharp,
                    })
                }
                _ => Err(ModelError::Output {
                    name: self.model.name().to_owned(),
                    reason: "expected clss_pred [1, 8] and leaf_node_mask [1, 8]".to_owned(),
                }),
            })
            .collect()
    }
}

/// FaceAntiSpoofing's blur gate: on the 256×256 grey square crop, fewer than 50 pixels
/// with a 3×3 Laplacian response above 50 means "too blurry to judge".
pub fn is_blurry(img: &RgbImage, bbox: &BBox) -> bool {
    const SIDE: u32 = 256;
    let crop = crop_resize(img, square_box(bbox, img.width(), img.height()), SIDE, SIDE);
    let grey: Vec<f32> = crop
        .pixels()
        .map(|p| 0.299 * f32::from(p.0[0]) + 0.587 * f32::from(p.0[1]) + 0.114 * f32::from(p.0[2]))
        .collect();
    let at = |x: u32, y: u32| grey[(y * SIDE + x) as usize];
    let mut sharp_pixels = 0;
    for y in 1..SIDE - 1 {
        for x in 1..SIDE - 1 {
            let lap = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            if lap.abs() > 50.0 {
                sharp_pixels += 1;
            }
        }
    }
    sharp_pixels < 50
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FakeModel;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn mask_classifier_batches_all_faces_in_one_run() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let model = FakeModel::new(
            "mask",
            vec![None, Some(224), Some(224), Some(3)],
            move |input| {
                counter.fetch_add(1, Ordering::SeqCst);
                let n = input.shape[0];
                // Alternate: mask, no mask, mask…
                let data = (0..n)
                    .flat_map(|i| if i % 2 == 0 { [0.9, 0.1] } else { [0.2, 0.8] })
                    .collect();
                vec![Tensor {
                    shape: vec![n, 2],
                    data,
                }]
            },
        );
        let classifier = MaskClassifier::new(Arc::new(model)).map_err(|e| e.to_string());
        let Ok(classifier) = classifier else {
            panic!("{classifier:?}")
        };
        let img = RgbImage::new(100, 100);
        let face = |x: f32| Detection {
            bbox: BBox {
                x,
                y: 10.0,
                width: 20.0,
                height: 20.0,
            },
            score: 0.9,
            landmarks: vec![],
        };
        let out = classifier
            .classify(&img, &[face(0.0), face(30.0), face(60.0)])
            .map_err(|e| e.to_string());
        let labels: Vec<MaskLabel> = out.iter().flatten().map(|m| m.label).collect();
        assert_eq!(
            labels,
            vec![MaskLabel::Mask, MaskLabel::NoMask, MaskLabel::Mask]
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn embeddings_are_unit_length() {
        let model = FakeModel::new("emb", vec![None, Some(112), Some(112), Some(3)], |input| {
            let n = input.shape[0];
            vec![Tensor {
                shape: vec![n, 4],
                data: (0..n * 4).map(|i| i as f32 + 1.0).collect(),
            }]
        });
        let embedder =
            Embedder::new(Arc::new(model), Embedder::DEFAULT_SPEC).map_err(|e| e.to_string());
        let Ok(embedder) = embedder else {
            panic!("{embedder:?}")
        };
        let img = RgbImage::new(50, 50);
        let det = Detection {
            bbox: BBox {
                x: 5.0,
                y: 5.0,
                width: 30.0,
                height: 30.0,
            },
            score: 0.9,
            landmarks: vec![],
        };
        let out = embedder.embed(&img, &[det]).unwrap_or_default();
        let norm: f32 = out[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn flat_crops_are_blurry_and_textured_ones_are_not() {
        let b = BBox {
            x: 0.0,
            y: 0.0,
            width: 64.0,
            height: 64.0,
        };
        assert!(is_blurry(
            &RgbImage::from_pixel(64, 64, image::Rgb([90, 90, 90])),
            &b
        ));
        let checker = RgbImage::from_fn(64, 64, |x, y| {
            if (x / 2 + y / 2) % 2 == 0 {
                image::Rgb([0; 3])
            } else {
                image::Rgb([255; 3])
            }
        });
        assert!(!is_blurry(&checker, &b));
    }

    #[test]
    fn logits_become_probabilities() {
        let p = probabilities(&[2.0, 0.0]);
        assert!((p[0] + p[1] - 1.0).abs() < 1e-6 && p[0] > 0.8);
        assert_eq!(probabilities(&[0.25, 0.75]), vec![0.25, 0.75]);
    }
}
