//! Result types, serialised exactly as the HTTP API returns them.
//!
//! All coordinates are in pixels of the decoded, EXIF-rotated original image, origin at
//! the top-left, `x` to the right, `y` down.
//!
//! Each type also derives its OpenAPI schema (`utoipa::ToSchema`, a description only: no
//! HTTP here), so the API document describes exactly what is serialised.

use serde::Serialize;
use utoipa::ToSchema;

/// An axis-aligned box in original-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width (≥ 0).
    pub width: f32,
    /// Height (≥ 0).
    pub height: f32,
}

impl BBox {
    /// Box from corner coordinates (`x1 ≤ x2`, `y1 ≤ y2` expected; negative sizes clamp to 0).
    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self {
            x: x1,
            y: y1,
            width: (x2 - x1).max(0.0),
            height: (y2 - y1).max(0.0),
        }
    }

    /// Right edge.
    pub fn x2(&self) -> f32 {
        self.x + self.width
    }

    /// Bottom edge.
    pub fn y2(&self) -> f32 {
        self.y + self.height
    }

    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width * self.height
    }

    /// Centre point `(x, y)`.
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    /// Intersection over union, in `[0, 1]`.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2().min(other.x2()) - self.x.max(other.x)).max(0.0);
        let iy = (self.y2().min(other.y2()) - self.y.max(other.y)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// The box clipped to a `width × height` image.
    pub fn clamp_to(&self, width: u32, height: u32) -> BBox {
        let (w, h) = (width as f32, height as f32);
        BBox::from_corners(
            self.x.clamp(0.0, w),
            self.y.clamp(0.0, h),
            self.x2().clamp(0.0, w),
            self.y2().clamp(0.0, h),
        )
    }
}

/// A detected face before classification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// Face box.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
    /// Facial keypoints `[x, y]` in pixels: BlazeFace gives 6 (right eye, left eye, nose
    /// tip, mouth centre, right ear, left ear — "right" being the subject's right), MTCNN 5
    /// (eyes, nose, mouth corners); res10 gives none.
    pub landmarks: Vec<[f32; 2]>,
}

/// Mask classifier verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaskLabel {
    /// A mask covers nose and mouth.
    Mask,
    /// No mask.
    NoMask,
}

impl MaskLabel {
    /// `mask` or `no_mask`.
    pub fn as_str(self) -> &'static str {
        match self {
            MaskLabel::Mask => "mask",
            MaskLabel::NoMask => "no_mask",
        }
    }
}

/// Mask classification of one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct MaskResult {
    /// Winning label.
    pub label: MaskLabel,
    /// Probability of the winning label, in `[0, 1]`.
    pub score: f32,
}

/// Liveness (anti-spoofing) estimate for one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Liveness {
    /// Probability that the face is a live person, in `[0, 1]`.
    pub score: f32,
    /// `score ≥` the configured liveness threshold.
    pub live: bool,
}

/// Everything known about one face.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Face {
    /// Face box in original-image pixels.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
    /// Keypoints `[x, y]` in pixels (see [`Detection::landmarks`]).
    pub landmarks: Vec<[f32; 2]>,
    /// Mask verdict; `null` when no mask model is loaded.
    pub mask: Option<MaskResult>,
    /// Liveness; `null` unless requested.
    pub liveness: Option<Liveness>,
    /// L2-normalised embedding; `null` unless requested.
    pub embedding: Option<Vec<f32>>,
}

/// Size of the decoded (upright) image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Wall-clock time per stage, in milliseconds. Stages that did not run are omitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Timings {
    /// Decoding (and EXIF rotation).
    pub decode: f64,
    /// Face detection, all tiles and NMS included.
    pub detect: f64,
    /// Mask classification (alignment/cropping included).
    pub mask: f64,
    /// Embedding, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed: Option<f64>,
    /// Liveness, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<f64>,
    /// Whole call.
    pub total: f64,
}

/// The answer for one image.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Analysis {
    /// Decoded image size.
    pub image: ImageSize,
    /// Faces, highest score first.
    pub faces: Vec<Face>,
    /// Backend that ran the models (`onnxruntime` or `rten`).
    pub engine: String,
    /// Per-stage timings.
    pub timings_ms: Timings,
}
