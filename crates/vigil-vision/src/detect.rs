//! Stage 2: face detection — model run, thresholding, NMS and tiling, all in Rust.
//!
//! Detectors see a fixed, small input (res10: 300×300, BlazeFace: 256×256), so a face
//! that is 40 px wide in a 4000 px group photo shrinks to 3 px and is missed. Besides the
//! whole image, [`tile_regions`] therefore cuts the image into overlapping square tiles
//! at a pyramid of sizes (2×, 4×, … the model input), each tile is run through the
//! model (res10 batches all tiles into one run), boxes are mapped back to
//! original-image pixels, boxes cut by an inner tile edge are dropped (the overlapping
//! neighbour sees that face whole), and [`nms`] merges the rest. One more pass sees the
//! image zoomed out (centred in a black frame 1.5× its size), for faces that fill the
//! frame, which SSD-style detectors box poorly without context. On the labelled test
//! set this multi-scale search raises res10 recall at 0.75 from 0.78 to 0.94 and
//! BlazeFace's from 0.78 to 0.94 (`vigil eval detect [--no-tiling]`); it costs one
//! batched res10 run with more inputs (≈ 7 for a 1280×886 photo). Turn it off with
//! [`DetectOptions::tiling`] for live frames where faces are large and time is short.

use std::sync::Arc;

use image::RgbImage;

use crate::model::{check_input_shape, Model, ModelError};
use crate::mtcnn::Mtcnn;
use crate::preprocess::{crop_resize, push_tensor, Layout, Normalize};
use crate::result::{BBox, Detection};
use crate::tensor::Tensor;

/// Which detector network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// OpenCV's res10 SSD (ResNet-10), 300×300 BGR input; boxes only. The default.
    #[default]
    Res10,
    /// MediaPipe BlazeFace (back 256×256 for cameras/groups, front 128×128 for selfies);
    /// boxes + 6 keypoints.
    #[serde(rename = "blazeface")]
    BlazeFace,
    /// MTCNN; boxes + 5 keypoints (only when its model files are present).
    Mtcnn,
}

impl DetectorKind {
    /// Name used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Res10 => "res10",
            DetectorKind::BlazeFace => "blazeface",
            DetectorKind::Mtcnn => "mtcnn",
        }
    }
}

impl std::str::FromStr for DetectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "res10" => Ok(DetectorKind::Res10),
            "blazeface" => Ok(DetectorKind::BlazeFace),
            "mtcnn" => Ok(DetectorKind::Mtcnn),
            other => Err(format!(
                "unknown detector `{other}` (expected res10, blazeface or mtcnn)"
            )),
        }
    }
}

/// Detection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    /// Minimum face score in `[0, 1]` (default 0.75, as in the product spec).
    pub threshold: f32,
    /// IoU above which the lower-scoring of two boxes is suppressed (default 0.3).
    pub nms_iou: f32,
    /// Multi-scale search: also run on overlapping tiles (small faces in large images)
    /// and on the zoomed-out image (faces filling the frame). Default on.
    pub tiling: bool,
    /// Fraction of a tile shared with its neighbour (default 0.25).
    pub tile_overlap: f32,
    /// Smallest face MTCNN looks for, in pixels (default 20; its pyramid starts there).
    pub min_face_size: f32,
    /// Upper bound on tiles per image over all pyramid levels (default 24); the finest
    /// levels are skipped first when it would be exceeded.
    pub max_tiles: usize,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            threshold: 0.75,
            nms_iou: 0.3,
            tiling: true,
            tile_overlap: 0.25,
            max_tiles: 24,
            min_face_size: 20.0,
        }
    }
}

/// A detector model plus the pre/post-processing that belongs to it.
#[derive(Debug)]
pub struct Detector {
    kind: DetectorKind,
    model: Arc<dyn Model>,
    /// The R-Net/O-Net stages when `kind` is MTCNN.
    mtcnn: Option<Mtcnn>,
    /// Model input side in pixels.
    side: u32,
}

impl Detector {
    /// Wraps a loaded model; checks its input shape fits `kind`.
    ///
    /// * res10: `[N, 3, 300, 300]` BGR, minus mean (104, 177, 123); outputs `boxes
    ///   [N, P, 4]` (x1, y1, x2, y2 normalised to the input) and `scores [N, P]`.
    /// * BlazeFace: `[1, S, S, 3]` RGB scaled to [-1, 1] (S = 128 front, 256 back model);
    ///   outputs (anchor decoding in-graph) `boxes [1, 896, 4]` (x1, y1, x2, y2 normalised to
    ///   the letterboxed square), `scores [1, 896]`, `keypoints [1, 896, 6, 2]`.
    pub fn new(kind: DetectorKind, model: Arc<dyn Model>) -> Result<Self, ModelError> {
        let side = match kind {
            DetectorKind::Res10 => {
                check_input_shape(
                    model.name(),
                    &Self::expected_input(kind),
                    model.input_shape(),
                )?;
                300
            }
            DetectorKind::BlazeFace => {
                check_input_shape(
                    model.name(),
                    &Self::expected_input(kind),
                    model.input_shape(),
                )?;
                model.input_shape().get(1).copied().flatten().unwrap_or(128) as u32
            }
            DetectorKind::Mtcnn => {
                return Err(ModelError::Load {
                    name: model.name().to_owned(),
                    reason: "MTCNN needs three networks: use Detector::mtcnn".to_owned(),
                })
            }
        };
        Ok(Self {
            kind,
            model,
            mtcnn: None,
            side,
        })
    }

    /// An MTCNN detector (its own image pyramid replaces tiling).
    pub fn mtcnn(mtcnn: Mtcnn) -> Self {
        Self {
            kind: DetectorKind::Mtcnn,
            model: Arc::clone(mtcnn.pnet()),
            mtcnn: Some(mtcnn),
            side: 12,
        }
    }

    /// Input shape a model must declare for `kind` (`None` = any; for MTCNN, P-Net's).
    pub fn expected_input(kind: DetectorKind) -> Vec<Option<usize>> {
        match kind {
            DetectorKind::Res10 => vec![None, Some(3), Some(300), Some(300)],
            DetectorKind::BlazeFace | DetectorKind::Mtcnn => vec![Some(1), None, None, Some(3)],
        }
    }

    /// Which network this is.
    pub fn kind(&self) -> DetectorKind {
        self.kind
    }

    /// The underlying model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// Detects faces in the whole image (plus tiles when enabled), thresholded and
    /// merged with NMS, highest score first. Boxes are in `img` pixels.
    pub fn detect(
        &self,
        img: &RgbImage,
        opts: &DetectOptions,
    ) -> Result<Vec<Detection>, ModelError> {
        if let Some(m) = &self.mtcnn {
            return Ok(nms(
                m.detect(img, opts.min_face_size, opts.threshold)?,
                opts.nms_iou,
            ));
        }
        let (w, h) = img.dimensions();
        let full = BBox {
            x: 0.0,
            y: 0.0,
            width: w as f32,
            height: h as f32,
        };
        let mut regions = vec![full];
        if opts.tiling {
            // Zoomed out: the image centred in a black frame 1.5× its size, for faces
            // that fill the frame (detectors want some context around a face).
            regions.push(BBox {
                x: -0.25 * w as f32,
                y: -0.25 * h as f32,
                width: 1.5 * w as f32,
                height: 1.5 * h as f32,
            });
            regions.extend(tile_regions(
                w,
                h,
                self.side,
                opts.tile_overlap,
                opts.max_tiles,
            ));
        }
        let per_region = self.detect_regions(img, &regions, opts.threshold)?;
        let mut all = Vec::new();
        for (region, dets) in regions.iter().zip(per_region) {
            let covers_image = region.x <= 0.0
                && region.y <= 0.0
                && region.x2() >= w as f32
                && region.y2() >= h as f32;
            all.extend(
                dets.into_iter()
                    .filter(|d| covers_image || !cut_by_inner_edge(&d.bbox, region, w, h)),
            );
        }
        Ok(nms(all, opts.nms_iou))
    }

    /// Runs the model on each region (original-image pixels) and returns the boxes above
    /// `threshold` per region, mapped back to original-image pixels, without NMS.
    pub fn detect_regions(
        &self,
        img: &RgbImage,
        regions: &[BBox],
        threshold: f32,
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        match self.kind {
            DetectorKind::Res10 => self.res10(img, regions, threshold),
            DetectorKind::BlazeFace => regions
                .iter()
                .map(|r| self.blazeface(img, *r, threshold))
                .collect(),
            DetectorKind::Mtcnn => regions
                .iter()
                .map(|r| self.mtcnn_region(img, *r, threshold))
                .collect(),
        }
    }

    fn mtcnn_region(
        &self,
        img: &RgbImage,
        region: BBox,
        threshold: f32,
    ) -> Result<Vec<Detection>, ModelError> {
        let Some(m) = &self.mtcnn else {
            return Ok(Vec::new());
        };
        let r = region.clamp_to(img.width(), img.height());
        let crop = image::imageops::crop_imm(
            img,
            r.x as u32,
            r.y as u32,
            r.width.max(1.0) as u32,
            r.height.max(1.0) as u32,
        )
        .to_image();
        let min_face = DetectOptions::default().min_face_size;
        Ok(m.detect(&crop, min_face, threshold)?
            .into_iter()
            .map(|mut d| {
                d.bbox.x += r.x;
                d.bbox.y += r.y;
                for p in &mut d.landmarks {
                    p[0] += r.x;
                    p[1] += r.y;
                }
                d
            })
            .collect())
    }

    fn res10(
        &self,
        img: &RgbImage,
        regions: &[BBox],
        threshold: f32,
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        const NORM: Normalize = Normalize {
            layout: Layout::Nchw,
            bgr: true,
            mean: [104.0, 177.0, 123.0],
            scale: [1.0, 1.0, 1.0],
        };
        let side = self.side;
        // A model exported with a fixed batch of 1 is run once per region.
        let batch_max = match self.model.input_shape().first() {
            Some(Some(n)) => *n,
            _ => regions.len().max(1),
        };
        let mut result = Vec::with_capacity(regions.len());
        for chunk in regions.chunks(batch_max.max(1)) {
            let mut data = Vec::with_capacity(chunk.len() * 3 * (side * side) as usize);
            for region in chunk {
                push_tensor(&crop_resize(img, *region, side, side), &NORM, &mut data);
            }
            let input = Tensor {
                shape: vec![chunk.len(), 3, side as usize, side as usize],
                data,
            };
            let outputs = self.model.run(input)?;
            let bad = |reason: &str| ModelError::Output {
                name: self.model.name().to_owned(),
                reason: reason.to_owned(),
            };
            let (boxes, scores) = match outputs.as_slice() {
                [b, s, ..] if b.shape.len() == 3 && b.shape[2] == 4 => (b, s),
                [s, b, ..] if b.shape.len() == 3 && b.shape[2] == 4 => (b, s),
                _ => return Err(bad("expected boxes [N, P, 4] and scores [N, P]")),
            };
            let priors = boxes.shape[1];
            if boxes.shape[0] != chunk.len() || scores.len() != chunk.len() * priors {
                return Err(bad("boxes and scores disagree on batch or prior count"));
            }
            for (b, region) in chunk.iter().enumerate() {
                let mut dets = Vec::new();
                for p in 0..priors {
                    let score = scores.data[b * priors + p];
                    // NaN scores are skipped too.
                    if score.is_nan() || score < threshold {
                        continue;
                    }
                    let o = (b * priors + p) * 4;
                    let c = &boxes.data[o..o + 4];
                    let bbox = BBox::from_corners(
                        region.x + c[0] * region.width,
                        region.y + c[1] * region.height,
                        region.x + c[2] * region.width,
                        region.y + c[3] * region.height,
                    )
                    .clamp_to(img.width(), img.height());
                    if bbox.width >= 2.0 && bbox.height >= 2.0 {
                        dets.push(Detection {
                            bbox,
                            score,
                            landmarks: Vec::new(),
                        });
                    }
                }
                result.push(dets);
            }
        }
        Ok(result)
    }

    fn blazeface(
        &self,
        img: &RgbImage,
        region: BBox,
        threshold: f32,
    ) -> Result<Vec<Detection>, ModelError> {
        const NORM: Normalize = Normalize {
            layout: Layout::Nhwc,
            bgr: false,
            mean: [127.5, 127.5, 127.5],
            scale: [1.0 / 127.5, 1.0 / 127.5, 1.0 / 127.5],
        };
        let side = self.side;
        // Letterbox: make the region square around its centre so the face keeps its
        // aspect ratio; the part outside the image is black.
        let s = region.width.max(region.height);
        let (cx, cy) = region.center();
        let square = BBox {
            x: cx - s / 2.0,
            y: cy - s / 2.0,
            width: s,
            height: s,
        };
        let mut data = Vec::with_capacity((side * side * 3) as usize);
        push_tensor(&crop_resize(img, square, side, side), &NORM, &mut data);
        let input = Tensor {
            shape: vec![1, side as usize, side as usize, 3],
            data,
        };
        let outputs = self.model.run(input)?;
        let bad = |reason: &str| ModelError::Output {
            name: self.model.name().to_owned(),
            reason: reason.to_owned(),
        };
        // Anchor decoding and the sigmoid are folded into the graph (models/MODELS.md).
        let boxes = outputs
            .iter()
            .find(|t| t.shape.len() == 3 && t.shape[2] == 4);
        let kps = outputs
            .iter()
            .find(|t| t.shape.len() == 4 && t.shape[2..] == [6, 2]);
        let scores = outputs.iter().find(|t| t.shape.len() == 2);
        let (Some(boxes), Some(kps), Some(scores)) = (boxes, kps, scores) else {
            return Err(bad(
                "expected boxes [1,A,4], scores [1,A], keypoints [1,A,6,2]",
            ));
        };
        let anchors = scores.shape[1];
        if boxes.shape[1] != anchors || kps.shape[1] != anchors {
            return Err(bad(
                "boxes, scores and keypoints disagree on the anchor count",
            ));
        }
        // Normalised [0, 1] coordinates in the square → original pixels.
        let to_px = |nx: f32, ny: f32| [square.x + nx * s, square.y + ny * s];
        let mut dets = Vec::new();
        for i in 0..anchors {
            let score = scores.data[i];
            if score.is_nan() || score < threshold {
                continue;
            }
            let b = &boxes.data[i * 4..i * 4 + 4];
            let [x1, y1] = to_px(b[0], b[1]);
            let [x2, y2] = to_px(b[2], b[3]);
            let bbox = BBox::from_corners(x1, y1, x2, y2).clamp_to(img.width(), img.height());
            let k = &kps.data[i * 12..i * 12 + 12];
            let landmarks = (0..6).map(|j| to_px(k[2 * j], k[2 * j + 1])).collect();
            if bbox.width >= 2.0 && bbox.height >= 2.0 {
                dets.push(Detection {
                    bbox,
                    score,
                    landmarks,
                });
            }
        }
        Ok(dets)
    }
}

/// True when `b` touches an edge of `tile` that is not also an edge of the image: the
/// face is probably cut there, and a neighbouring tile or level sees it whole.
fn cut_by_inner_edge(b: &BBox, tile: &BBox, img_w: u32, img_h: u32) -> bool {
    let margin = 0.02 * tile.width.max(tile.height);
    let (w, h) = (img_w as f32, img_h as f32);
    (tile.x > 0.5 && b.x - tile.x < margin)
        || (tile.y > 0.5 && b.y - tile.y < margin)
        || (tile.x2() < w - 0.5 && tile.x2() - b.x2() < margin)
        || (tile.y2() < h - 0.5 && tile.y2() - b.y2() < margin)
}

/// Overlapping square tiles over a `width × height` image for a detector whose input
/// side is `input_side`: pyramid levels of side 2×, 4×, 8×… `input_side`, each covering
/// the image with `overlap` shared between neighbours, coarsest first, up to
/// `max_tiles` in total. Levels whose tile is not clearly smaller than the image (the
/// whole-image pass covers those) are left out. Tiles are clipped to the image.
pub fn tile_regions(
    width: u32,
    height: u32,
    input_side: u32,
    overlap: f32,
    max_tiles: usize,
) -> Vec<BBox> {
    let (w, h) = (width as f32, height as f32);
    let long = w.max(h);
    let mut levels = Vec::new();
    let mut side = input_side as f32 * 2.0;
    while side < long * 0.75 {
        levels.push(side);
        side *= 2.0;
    }
    let mut tiles = Vec::new();
    for side in levels.into_iter().rev() {
        let stride = (side * (1.0 - overlap.clamp(0.0, 0.9))).max(1.0);
        let positions = |len: f32| -> Vec<f32> {
            if len <= side {
                return vec![0.0];
            }
            let n = ((len - side) / stride).ceil() as usize + 1;
            let step = (len - side) / (n - 1) as f32;
            (0..n).map(|i| i as f32 * step).collect()
        };
        let (xs, ys) = (positions(w), positions(h));
        if tiles.len() + xs.len() * ys.len() > max_tiles {
            break;
        }
        for &y in &ys {
            for &x in &xs {
                tiles.push(BBox {
                    x,
                    y,
                    width: side.min(w),
                    height: side.min(h),
                });
            }
        }
    }
    tiles
}

/// Greedy non-maximum suppression, highest score first. A box is dropped when its IoU
/// with a kept box exceeds `iou`, or when it lies (≥ 80 % of its area) inside a kept box,
/// which removes part-of-face boxes left by tiling.
pub fn nms(mut dets: Vec<Detection>, iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in dets {
        let suppressed = kept.iter().any(|k| {
            let inter = intersection(&k.bbox, &d.bbox);
            k.bbox.iou(&d.bbox) > iou || (d.bbox.area() > 0.0 && inter / d.bbox.area() >= 0.8)
        });
        if !suppressed {
            kept.push(d);
        }
    }
    kept
}

fn intersection(a: &BBox, b: &BBox) -> f32 {
    let ix = (a.x2().min(b.x2()) - a.x.max(b.x)).max(0.0);
    let iy = (a.y2().min(b.y2()) - a.y.max(b.y)).max(0.0);
    ix * iy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FakeModel;

    fn det(x: f32, y: f32, w: f32, h: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox {
                x,
                y,
                width: w,
                height: h,
            },
            score,
            landmarks: vec![],
        }
    }

    #[test]
    fn nms_keeps_best_of_overlapping_boxes_and_separate_boxes() {
        let out = nms(
            vec![
                det(0.0, 0.0, 10.0, 10.0, 0.8),
                det(1.0, 1.0, 10.0, 10.0, 0.9),
                det(50.0, 50.0, 10.0, 10.0, 0.85),
            ],
            0.3,
        );
        let scores: Vec<f32> = out.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.85]);
    }

    #[test]
    fn nms_drops_box_inside_a_better_one() {
        let out = nms(
            vec![
                det(0.0, 0.0, 100.0, 100.0, 0.9),
                det(10.0, 10.0, 30.0, 30.0, 0.95),
            ],
            0.3,
        );
        // The small box scores higher, so it is kept first and the big one survives too
        // (it is not inside the small one); the reverse order drops the small one.
        assert_eq!(out.len(), 2);
        let out = nms(
            vec![
                det(0.0, 0.0, 100.0, 100.0, 0.95),
                det(10.0, 10.0, 30.0, 30.0, 0.9),
            ],
            0.3,
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn small_images_get_no_tiles_and_large_ones_a_bounded_pyramid() {
        assert!(tile_regions(640, 480, 300, 0.25, 24).is_empty());
        let tiles = tile_regions(1920, 1080, 300, 0.25, 24);
        assert!(!tiles.is_empty() && tiles.len() <= 24);
        for t in &tiles {
            assert!(t.x >= 0.0 && t.y >= 0.0 && t.x2() <= 1920.0 + 1e-3 && t.y2() <= 1080.0 + 1e-3);
        }
        assert!(tile_regions(8000, 6000, 300, 0.25, 24).len() <= 24);
    }

    #[test]
    fn res10_postprocessing_thresholds_and_maps_boxes_to_pixels() {
        // One prior at 0.9 covering the input's centre quarter, one at 0.5.
        let model = FakeModel::new(
            "res10",
            vec![None, Some(3), Some(300), Some(300)],
            |input| {
                let n = input.shape[0];
                let mut boxes = Vec::new();
                let mut scores = Vec::new();
                for _ in 0..n {
                    boxes.extend_from_slice(&[0.25, 0.25, 0.75, 0.75, 0.0, 0.0, 0.1, 0.1]);
                    scores.extend_from_slice(&[0.9, 0.5]);
                }
                vec![
                    Tensor {
                        shape: vec![n, 2, 4],
                        data: boxes,
                    },
                    Tensor {
                        shape: vec![n, 2],
                        data: scores,
                    },
                ]
            },
        );
        let detector =
            Detector::new(DetectorKind::Res10, Arc::new(model)).map_err(|e| e.to_string());
        let Ok(detector) = detector else {
            panic!("{detector:?}")
        };
        let img = RgbImage::new(400, 200);
        let opts = DetectOptions {
            tiling: false,
            ..DetectOptions::default()
        };
        let dets = detector.detect(&img, &opts).map_err(|e| e.to_string());
        assert_eq!(dets.as_ref().map(|d| d.len()), Ok(1));
        let b = dets.map(|d| d[0].bbox).unwrap_or(BBox {
            x: 0.0,
            y: 0.0,
            width: 0.0,
            height: 0.0,
        });
        assert!((b.x - 100.0).abs() < 1e-3 && (b.y - 50.0).abs() < 1e-3);
        assert!((b.width - 200.0).abs() < 1e-3 && (b.height - 100.0).abs() < 1e-3);
    }

    #[test]
    fn detector_rejects_model_with_wrong_input_shape() {
        let model = FakeModel::new(
            "res10",
            vec![Some(1), Some(3), Some(224), Some(224)],
            |_| vec![],
        );
        assert!(matches!(
            Detector::new(DetectorKind::Res10, Arc::new(model)),
            Err(ModelError::InputShape { .. })
        ));
    }
}
