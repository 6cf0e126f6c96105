//! Accuracy evaluation against `testdata/labels.json` (format: `testdata/README.md`).
//!
//! * [`eval_detect`]: recall and precision at IoU ≥ 0.5, at the detector's threshold.
//!   Detections are matched greedily, highest score first, each to the unmatched label
//!   with the largest IoU.
//! * [`eval_mask`]: accuracy of the mask classifier on the **labelled** boxes, so a
//!   detector miss does not count against the classifier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::classify::MaskClassifier;
use crate::decode::{decode, DecodeLimits};
use crate::detect::{DetectOptions, Detector};
use crate::error::VisionError;
use crate::result::{BBox, Detection, MaskLabel};

/// Errors of an evaluation run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A labels or image file could not be read.
    #[error("could not read {path}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `labels.json` is not in the expected format.
    #[error("invalid labels file {path}: {source}")]
    Labels {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// Decoding or inference failed on an image.
    #[error("while evaluating {image}")]
    Vision {
        /// Image file name.
        image: String,
        /// Cause.
        #[source]
        source: VisionError,
    },
}

/// Ground truth for all images: `labels.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Labels {
    /// Per image file name (relative to the images directory).
    pub images: BTreeMap<String, ImageLabels>,
}

/// Ground truth for one image.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageLabels {
    /// True for images with drawn (synthetic) masks.
    #[serde(default)]
    pub synthetic: bool,
    /// Labelled faces (empty for images without faces).
    #[serde(default)]
    pub faces: Vec<LabelledFace>,
}

/// One labelled face.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelledFace {
    /// `[x1, y1, x2, y2]` in original-image pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// True if the face wears a mask.
    #[serde(default)]
    pub mask: bool,
}

impl LabelledFace {
    /// The label as a [`BBox`].
    pub fn bbox(&self) -> BBox {
        BBox::from_corners(self.bbox[0], self.bbox[1], self.bbox[2], self.bbox[3])
    }
}

impl Labels {
    /// Reads and parses a labels file.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| EvalError::Labels {
            path: path.to_owned(),
            source,
        })
    }
}

/// Detection result for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageDetectResult {
    /// File name.
    pub image: String,
    /// Labelled faces.
    pub labelled: usize,
    /// Detections at the threshold.
    pub detected: usize,
    /// Detections matched to a label at IoU ≥ 0.5.
    pub matched: usize,
}

/// Detection accuracy over a labelled set.
#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    /// Detector name.
    pub detector: String,
    /// Score threshold used.
    pub threshold: f32,
    /// IoU needed for a match.
    pub iou: f32,
    /// Labelled faces in all images.
    pub labelled: usize,
    /// Detections in all images.
    pub detected: usize,
    /// Matched detections.
    pub true_positives: usize,
    /// `true_positives / labelled` (1.0 when nothing is labelled).
    pub recall: f64,
    /// `true_positives / detected` (1.0 when nothing is detected).
    pub precision: f64,
    /// Per-image breakdown.
    pub per_image: Vec<ImageDetectResult>,
}

/// Greedy IoU matching: number of detections matched to distinct labels at `iou`.
pub fn match_detections(detections: &[Detection], labels: &[BBox], iou: f32) -> usize {
    let mut order: Vec<&Detection> = detections.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut used = vec![false; labels.len()];
    let mut matched = 0;
    for d in order {
        let best = labels
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, l)| (i, d.bbox.iou(l)))
            .filter(|(_, v)| *v >= iou)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = best {
            used[i] = true;
            matched += 1;
        }
    }
    matched
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

fn load_image(images_dir: &Path, name: &str) -> Result<image::RgbImage, EvalError> {
    let path = images_dir.join(name);
    let bytes = std::fs::read(&path).map_err(|source| EvalError::Io { path, source })?;
    decode(&bytes, &DecodeLimits::default()).map_err(|e| EvalError::Vision {
        image: name.to_owned(),
        source: e.into(),
    })
}

/// Runs `detector` on every labelled image and scores it at IoU ≥ 0.5.
pub fn eval_detect(
    detector: &Detector,
    images_dir: &Path,
    labels: &Labels,
    opts: &DetectOptions,
) -> Result<DetectReport, EvalError> {
    const IOU: f32 = 0.5;
    let mut per_image = Vec::new();
    for (name, truth) in &labels.images {
        let img = load_image(images_dir, name)?;
        let dets = detector.detect(&img, opts).map_err(|e| EvalError::Vision {
            image: name.clone(),
            source: e.into(),
        })?;
        let boxes: Vec<BBox> = truth.faces.iter().map(LabelledFace::bbox).collect();
        per_image.push(ImageDetectResult {
            image: name.clone(),
            labelled: boxes.len(),
            detected: dets.len(),
            matched: match_detections(&dets, &boxes, IOU),
        });
    }
    let labelled = per_image.iter().map(|r| r.labelled).sum();
    let detected = per_image.iter().map(|r| r.detected).sum();
    let true_positives = per_image.iter().map(|r| r.matched).sum();
    Ok(DetectReport {
        detector: detector.kind().as_str().to_owned(),
        threshold: opts.threshold,
        iou: IOU,
        labelled,
        detected,
        true_positives,
        recall: ratio(true_positives, labelled),
        precision: ratio(true_positives, detected),
        per_image,
    })
}

/// One labelled face's mask verdict.
#[derive(Debug, Clone, Serialize)]
pub struct MaskCase {
    /// Image file name.
    pub image: String,
    /// Labelled box `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Ground truth.
    pub expected: MaskLabel,
    /// Classifier output.
    pub predicted: MaskLabel,
    /// Classifier probability of the predicted label.
    pub score: f32,
}

/// Mask classification accuracy over the labelled faces.
#[derive(Debug, Clone, Serialize)]
pub struct MaskReport {
    /// Labelled faces.
    pub faces: usize,
    /// Correctly classified.
    pub correct: usize,
    /// `correct / faces`.
    pub accuracy: f64,
    /// Masked faces labelled.
    pub masked: usize,
    /// Masked faces classified as mask.
    pub masked_correct: usize,
    /// Every face.
    pub cases: Vec<MaskCase>,
}

/// Classifies every labelled face box (one batched run per image).
pub fn eval_mask(
    classifier: &MaskClassifier,
    images_dir: &Path,
    labels: &Labels,
) -> Result<MaskReport, EvalError> {
    let mut cases = Vec::new();
    for (name, truth) in &labels.images {
        if truth.faces.is_empty() {
            continue;
        }
        let img = load_image(images_dir, name)?;
        let dets: Vec<Detection> = truth
            .faces
            .iter()
            .map(|f| Detection {
                bbox: f.bbox(),
                score: 1.0,
                landmarks: Vec::new(),
            })
            .collect();
        let results = classifier
            .classify(&img, &dets)
            .map_err(|e| EvalError::Vision {
                image: name.clone(),
                source: e.into(),
            })?;
        for (face, result) in truth.faces.iter().zip(results) {
            cases.push(MaskCase {
                image: name.clone(),
                bbox: face.bbox,
                expected: if face.mask {
                    MaskLabel::Mask
                } else {
                    MaskLabel::NoMask
                },
                predicted: result.label,
                score: result.score,
            });
        }
    }
    let correct = cases.iter().filter(|c| c.expected == c.predicted).count();
    let masked = cases
        .iter()
        .filter(|c| c.expected == MaskLabel::Mask)
        .count();
    let masked_correct = cases
        .iter()
        .filter(|c| c.expected == MaskLabel::Mask && c.predicted == MaskLabel::Mask)
        .count();
    Ok(MaskReport {
        faces: cases.len(),
        correct,
        accuracy: ratio(correct, cases.len()),
        masked,
        masked_correct,
        cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox {
                x,
                y: 0.0,
                width: 10.0,
                height: 10.0,
            },
            score,
            landmarks: vec![],
        }
    }

    #[test]
    fn matching_counts_each_label_once() {
        let labels = [BBox {
            x: 0.0,
            y: 0.0,
            width: 10.0,
            height: 10.0,
        }];
        assert_eq!(
            match_detections(&[det(0.0, 0.9), det(1.0, 0.8)], &labels, 0.5),
            1
        );
        assert_eq!(match_detections(&[det(8.0, 0.9)], &labels, 0.5), 0);
    }

    #[test]
    fn labels_parse_the_testdata_format() {
        let json = r#"{"format":"x","images":{"a.jpg":{"synthetic":false,"faces":[{"box":[1,2,3,4],"mask":true,"note":"n"}]},"b.png":{"faces":[]}}}"#;
        let labels: Labels = serde_json::from_str(json).unwrap_or(Labels {
            images: BTreeMap::new(),
        });
        assert_eq!(labels.images.len(), 2);
        assert!(labels.images["a.jpg"].faces[0].mask);
    }
}
