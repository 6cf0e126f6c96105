//! MTCNN (Zhang et al. 2016): a three-stage cascade giving boxes and 5 keypoints.
//!
//! P-Net runs on an image pyramid (factor 0.709, from `min_face_size` up to the short
//! side) and proposes boxes; R-Net (24×24 crops) and O-Net (48×48 crops) refine and
//! re-score them, O-Net also gives the keypoints. All three take NHWC RGB
//! `(x − 127.5) / 128`; the bundled ONNX files transpose internally, so images are fed
//! in their ordinary orientation (models/MODELS.md). Thresholds 0.6 / 0.7 / 0.7 as in
//! the reference implementation, plus the caller's final threshold.

use std::sync::Arc;

use image::RgbImage;

use crate::model::{check_input_shape, Dim, Model, ModelError};
use crate::preprocess::{crop_resize, push_tensor, Layout, Normalize};
use crate::result::{BBox, Detection};
use crate::tensor::Tensor;

const NORM: Normalize = Normalize {
    layout: Layout::Nhwc,
    bgr: false,
    mean: [127.5; 3],
    scale: [1.0 / 128.0; 3],
};

/// The three MTCNN networks.
#[derive(Debug, Clone)]
pub struct Mtcnn {
    pnet: Arc<dyn Model>,
    rnet: Arc<dyn Model>,
    onet: Arc<dyn Model>,
}

/// A candidate box during the cascade (corners in original pixels).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
    score: f32,
    reg: [f32; 4],
}

impl Candidate {
    fn bbox(&self) -> BBox {
        BBox::from_corners(self.x1, self.y1, self.x2, self.y2)
    }

    /// Applies the regression offsets (`x1 += w·dx1`, … with `w = x2 − x1 + 1`).
    fn refined(mut self) -> Self {
        let w = self.x2 - self.x1 + 1.0;
        let h = self.y2 - self.y1 + 1.0;
        self.x1 += w * self.reg[0];
        self.y1 += h * self.reg[1];
        self.x2 += w * self.reg[2];
        self.y2 += h * self.reg[3];
        self
    }

    /// Grows the shorter side so the box is square about its centre.
    fn squared(mut self) -> Self {
        let w = self.x2 - self.x1;
        let h = self.y2 - self.y1;
        let side = w.max(h);
        self.x1 += (w - side) / 2.0;
        self.y1 += (h - side) / 2.0;
        self.x2 = self.x1 + side;
        self.y2 = self.y1 + side;
        self
    }
}

impl Mtcnn {
    /// Input shapes: P-Net `[1, ?, ?, 3]`, R-Net `[N, 24, 24, 3]`, O-Net `[N, 48, 48, 3]`.
    pub fn expected_inputs() -> [Vec<Dim>; 3] {
        [
            vec![Some(1), None, None, Some(3)],
            vec![None, Some(24), Some(24), Some(3)],
            vec![None, Some(48), Some(48), Some(3)],
        ]
    }

    /// Wraps the loaded networks; checks their input shapes.
    pub fn new(
        pnet: Arc<dyn Model>,
        rnet: Arc<dyn Model>,
        onet: Arc<dyn Model>,
    ) -> Result<Self, ModelError> {
        let [p, r, o] = Self::expected_inputs();
        check_input_shape(pnet.name(), &p, pnet.input_shape())?;
        check_input_shape(rnet.name(), &r, rnet.input_shape())?;
        check_input_shape(onet.name(), &o, onet.input_shape())?;
        Ok(Self { pnet, rnet, onet })
    }

    /// P-Net, the model reported as this detector's.
    pub fn pnet(&self) -> &Arc<dyn Model> {
        &self.pnet
    }

    /// Detects faces no smaller than `min_face_size` pixels; final O-Net score must
    /// reach `threshold` (and 0.7). Keypoints: left eye, right eye, nose, left and right
    /// mouth corner (image left/right).
    pub fn detect(
        &self,
        img: &RgbImage,
        min_face_size: f32,
        threshold: f32,
    ) -> Result<Vec<Detection>, ModelError> {
        let proposals = self.stage1(img, min_face_size.max(12.0))?;
        let refined = self.stage2(img, proposals)?;
        self.stage3(img, refined, threshold.max(0.7))
    }

    fn stage1(&self, img: &RgbImage, min_face: f32) -> Result<Vec<Candidate>, ModelError> {
        let (w, h) = img.dimensions();
        let short = w.min(h) as f32;
        let full = BBox {
            x: 0.0,
            y: 0.0,
            width: w as f32,
            height: h as f32,
        };
        let mut all = Vec::new();
        let mut face = min_face;
        while face <= short {
            let scale = 12.0 / face;
            let (sw, sh) = (
                (w as f32 * scale).ceil() as u32,
                (h as f32 * scale).ceil() as u32,
            );
            face /= 0.709;
            if sw < 12 || sh < 12 {
                break;
            }
            let mut data = Vec::with_capacity((sw * sh * 3) as usize);
            push_tensor(&crop_resize(img, full, sw, sh), &NORM, &mut data);
            let outputs = self.pnet.run(Tensor {
                shape: vec![1, sh as usize, sw as usize, 3],
                data,
            })?;
            let (prob, reg) = pick2(&outputs, 2, 4)
                .ok_or_else(|| bad(&self.pnet, "expected prob [1,h,w,2] and reg [1,h,w,4]"))?;
            if prob.shape.len() != 4 || reg.shape.len() != 4 || prob.shape[1..3] != reg.shape[1..3]
            {
                return Err(bad(&self.pnet, "P-Net outputs disagree on the map size"));
            }
            let (mh, mw) = (prob.shape[1], prob.shape[2]);
            let mut level = Vec::new();
            for y in 0..mh {
                for x in 0..mw {
                    let i = y * mw + x;
                    let score = prob.data[i * 2 + 1];
                    if score.is_nan() || score <= 0.6 {
                        continue;
                    }
                    let r = &reg.data[i * 4..i * 4 + 4];
                    level.push(Candidate {
                        x1: (x as f32 * 2.0) / scale,
                        y1: (y as f32 * 2.0) / scale,
                        x2: (x as f32 * 2.0 + 11.0) / scale,
                        y2: (y as f32 * 2.0 + 11.0) / scale,
                        score,
                        reg: [r[0], r[1], r[2], r[3]],
                    });
                }
            }
            all.extend(nms(level, 0.5, false));
        }
        Ok(nms(all, 0.7, false)
            .into_iter()
            .map(|c| c.refined().squared())
            .collect())
    }

    fn run_crops(
        &self,
        model: &Arc<dyn Model>,
        img: &RgbImage,
        boxes: &[Candidate],
        side: u32,
    ) -> Result<Vec<Tensor>, ModelError> {
        let mut data = Vec::with_capacity(boxes.len() * (side * side * 3) as usize);
        for c in boxes {
            push_tensor(&crop_resize(img, c.bbox(), side, side), &NORM, &mut data);
        }
        model.run(Tensor {
            shape: vec![boxes.len(), side as usize, side as usize, 3],
            data,
        })
    }

    fn stage2(&self, img: &RgbImage, boxes: Vec<Candidate>) -> Result<Vec<Candidate>, ModelError> {
        if boxes.is_empty() {
            return Ok(boxes);
        }
        let outputs = self.run_crops(&self.rnet, img, &boxes, 24)?;
        let (prob, reg) = pick2(&outputs, 2, 4)
            .ok_or_else(|| bad(&self.rnet, "expected prob [N,2] and reg [N,4]"))?;
        let kept: Vec<Candidate> = boxes
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let score = *prob.data.get(i * 2 + 1)?;
                let r = reg.data.get(i * 4..i * 4 + 4)?;
                (score > 0.7).then_some(Candidate {
                    score,
                    reg: [r[0], r[1], r[2], r[3]],
                    ..c
                })
            })
            .collect();
        Ok(nms(kept, 0.7, false)
            .into_iter()
            .map(|c| c.refined().squared())
            .collect())
    }

    fn stage3(
        &self,
        img: &RgbImage,
        boxes: Vec<Candidate>,
        threshold: f32,
    ) -> Result<Vec<Detection>, ModelError> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let outputs = self.run_crops(&self.onet, img, &boxes, 48)?;
        let (prob, reg) = pick2(&outputs, 2, 4)
            .ok_or_else(|| bad(&self.onet, "expected prob [N,2] and reg [N,4]"))?;
        let marks = outputs
            .iter()
            .find(|t| t.shape.len() == 2 && t.shape[1] == 10)
            .ok_or_else(|| bad(&self.onet, "expected landmarks [N,10]"))?;
        let mut kept = Vec::new();
        for (i, c) in boxes.into_iter().enumerate() {
            let (Some(&score), Some(r), Some(l)) = (
                prob.data.get(i * 2 + 1),
                reg.data.get(i * 4..i * 4 + 4),
                marks.data.get(i * 10..i * 10 + 10),
            ) else {
                return Err(bad(&self.onet, "fewer outputs than crops"));
            };
            if score.is_nan() || score < threshold {
                continue;
            }
            // Keypoints are relative to the box O-Net saw (before its regression).
            let (w, h) = (c.x2 - c.x1 + 1.0, c.y2 - c.y1 + 1.0);
            let landmarks: Vec<[f32; 2]> = (0..5)
                .map(|k| [c.x1 + l[k] * w, c.y1 + l[k + 5] * h])
                .collect();
            let refined = Candidate {
                score,
                reg: [r[0], r[1], r[2], r[3]],
                ..c
            }
            .refined();
            kept.push((refined, landmarks));
        }
        kept.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
        let mut out: Vec<(Candidate, Vec<[f32; 2]>)> = Vec::new();
        for (c, l) in kept {
            if out.iter().all(|(k, _)| overlap(k, &c, true) <= 0.7) {
                out.push((c, l));
            }
        }
        Ok(out
            .into_iter()
            .map(|(c, landmarks)| Detection {
                bbox: c.bbox().clamp_to(img.width(), img.height()),
                score: c.score,
                landmarks,
            })
            .filter(|d| d.bbox.width >= 2.0 && d.bbox.height >= 2.0)
            .collect())
    }
}

fn bad(model: &Arc<dyn Model>, reason: &str) -> ModelError {
    ModelError::Output {
        name: model.name().to_owned(),
        reason: reason.to_owned(),
    }
}

/// The outputs whose last dimension is `a` and `b` (prob, reg).
fn pick2(outputs: &[Tensor], a: usize, b: usize) -> Option<(&Tensor, &Tensor)> {
    let find = |n: usize| outputs.iter().find(|t| t.shape.last() == Some(&n));
    Some((find(a)?, find(b)?))
}

/// IoU ("Union") or intersection over the smaller area ("Min"), MTCNN's `+1` convention.
fn overlap(a: &Candidate, b: &Candidate, min: bool) -> f32 {
    let area = |c: &Candidate| (c.x2 - c.x1 + 1.0).max(0.0) * (c.y2 - c.y1 + 1.0).max(0.0);
    let iw = (a.x2.min(b.x2) - a.x1.max(b.x1) + 1.0).max(0.0);
    let ih = (a.y2.min(b.y2) - a.y1.max(b.y1) + 1.0).max(0.0);
    let inter = iw * ih;
    let den = if min {
        area(a).min(area(b))
    } else {
        area(a) + area(b) - inter
    };
    if den <= 0.0 {
        0.0
    } else {
        inter / den
    }
}

fn nms(mut boxes: Vec<Candidate>, threshold: f32, min: bool) -> Vec<Candidate> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in boxes {
        if kept.iter().all(|k| overlap(k, &c, min) <= threshold) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squaring_keeps_the_centre_and_grows_the_short_side() {
        let c = Candidate {
            x1: 10.0,
            y1: 0.0,
            x2: 30.0,
            y2: 40.0,
            score: 1.0,
            reg: [0.0; 4],
        }
        .squared();
        assert_eq!((c.x1, c.y1, c.x2, c.y2), (0.0, 0.0, 40.0, 40.0));
    }

    #[test]
    fn regression_moves_corners_by_box_fractions() {
        let c = Candidate {
            x1: 0.0,
            y1: 0.0,
            x2: 9.0,
            y2: 9.0,
            score: 1.0,
            reg: [0.1, 0.2, -0.1, 0.0],
        }
        .refined();
        assert!(
            (c.x1 - 1.0).abs() < 1e-6 && (c.y1 - 2.0).abs() < 1e-6 && (c.x2 - 8.0).abs() < 1e-6
        );
    }
}
