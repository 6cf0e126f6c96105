//! The per-frame pipeline of a camera: scale, motion gate, detect + mask on the live
//! inference lane, then the tracker (smoothing, one violation per track, zones).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use image::RgbImage;
use tokio::sync::OnceCell;
use vigil_vision::track::{MotionConfig, MotionGate, Tracker, TrackerConfig, Violation};
use vigil_vision::{
    AnalyzeOptions, BBox, DecodeLimits, DetectOptions, Face, LiveOutcome, MaskLabel, MaskResult,
};

use super::model::LiveFace;
use super::worker::Pixels;
use super::{lock, CameraSpec, Cameras};

/// An analysed frame kept for the stream and snapshot endpoints; the annotated JPEG is
/// made on first request and shared by every viewer.
#[derive(Debug)]
pub struct LiveFrame {
    /// The frame as analysed (detect resolution).
    pub image: Arc<RgbImage>,
    /// Faces with tracks and smoothed labels.
    pub faces: Vec<LiveFace>,
    /// Unix ms.
    pub at: i64,
    jpeg: OnceCell<Bytes>,
}

impl LiveFrame {
    pub(crate) fn new(image: Arc<RgbImage>, faces: Vec<LiveFace>, at: i64) -> LiveFrame {
        LiveFrame {
            image,
            faces,
            at,
            jpeg: OnceCell::new(),
        }
    }

    /// The frame with boxes and labels drawn, as JPEG (encoded once, off the async
    /// workers).
    pub async fn annotated_jpeg(&self) -> Option<Bytes> {
        self.jpeg
            .get_or_try_init(|| async {
                let image = Arc::clone(&self.image);
                let faces = self.faces.clone();
                tokio::task::spawn_blocking(move || annotated(&image, &faces))
                    .await
                    .map_err(|_| ())?
                    .ok_or(())
            })
            .await
            .ok()
            .cloned()
    }
}

/// Draws `faces` on a copy of `image` and encodes it.
pub(crate) fn annotated(image: &RgbImage, faces: &[LiveFace]) -> Option<Bytes> {
    let mut img = image.clone();
    vigil_vision::annotate::annotate(&mut img, &vision_faces(faces));
    vigil_vision::annotate::encode_jpeg(&img)
        .ok()
        .map(Bytes::from)
}

/// Live faces in the form the annotator draws (smoothed label as the mask verdict).
pub(crate) fn vision_faces(faces: &[LiveFace]) -> Vec<Face> {
    faces
        .iter()
        .map(|f| Face {
            bbox: BBox {
                x: f.bbox[0],
                y: f.bbox[1],
                width: f.bbox[2],
                height: f.bbox[3],
            },
            score: f.score,
            landmarks: Vec::new(),
            mask: match f.label.as_str() {
                "mask" => Some(MaskResult {
                    label: MaskLabel::Mask,
                    score: f.score,
                }),
                "no_mask" => Some(MaskResult {
                    label: MaskLabel::NoMask,
                    score: f.score,
                }),
                _ => None,
            },
            liveness: None,
            embedding: None,
        })
        .collect()
}

/// What the lane job gives back: the frame at detect resolution, its faces when
/// detection ran (`None`: no motion), and the inference time in microseconds.
type LaneOutput = (Arc<RgbImage>, Option<Vec<Face>>, u64);

/// What one frame gave.
pub(crate) struct FrameResult {
    /// The frame at detect resolution.
    pub image: Arc<RgbImage>,
    /// Whether detection ran (else no motion: the faces are the tracks' last boxes).
    pub analysed: bool,
    /// Faces with tracks.
    pub faces: Vec<LiveFace>,
    /// Raw per-face verdicts of this frame (for stats): (mask, no_mask) counts.
    pub mask: u32,
    /// See `mask`.
    pub no_mask: u32,
    /// Tracks that started on this frame.
    pub started: u32,
    /// Violations raised on this frame.
    pub violations: Vec<Violation>,
    /// Time on the inference lane, microseconds.
    pub inference_us: u64,
}

/// A camera's analysis state: the motion gate (shared with the lane job that uses it)
/// and the tracker.
pub(crate) struct Analyzer {
    gate: Arc<Mutex<MotionGate>>,
    tracker: Tracker,
    opts: AnalyzeOptions,
    started: Instant,
    limits: DecodeLimits,
}

impl Analyzer {
    /// The analyser for `spec`; `Err` in plain words when it cannot run.
    pub fn new(cameras: &Cameras, spec: &CameraSpec) -> Result<Analyzer, String> {
        let vision = cameras
            .deps()
            .vision
            .as_ref()
            .ok_or("the vision engine is disabled (vision.enabled = false)")?;
        let detector = spec.settings.detector.unwrap_or_default();
        vision
            .pipeline
            .detector(detector)
            .map_err(|e| format!("detector {}: {e}", detector.as_str()))?;
        let tracker = Tracker::new(TrackerConfig {
            confidence_threshold: spec.settings.confidence,
            zones: spec.zones.clone(),
            ..TrackerConfig::default()
        })
        .map_err(|e| e.to_string())?;
        Ok(Analyzer {
            gate: Arc::new(Mutex::new(MotionGate::new(MotionConfig {
                enabled: spec.settings.motion_gating,
                max_interval: jittered(MotionConfig::default().max_interval),
                ..MotionConfig::default()
            }))),
            tracker,
            opts: AnalyzeOptions {
                detector,
                detect: DetectOptions {
                    threshold: vision.det_threshold,
                    // Camera frames are at most detect_width wide: one pass finds the
                    // faces worth tracking; tiling would multiply the cost per frame.
                    tiling: false,
                    ..DetectOptions::default()
                },
                embedding: false,
                liveness: false,
            },
            started: Instant::now(),
            limits: *vision.pipeline.decode_limits(),
        })
    }

    /// Runs one frame through the pipeline. `Ok(None)` when the lane superseded it.
    pub async fn analyse(
        &mut self,
        cameras: &Cameras,
        spec: &CameraSpec,
        pixels: Pixels,
    ) -> Result<Option<FrameResult>, String> {
        let Some(vision) = cameras.deps().vision.clone() else {
            return Err("the vision engine is disabled".into());
        };
        let at = self.started.elapsed();
        let gate = Arc::clone(&self.gate);
        let opts = self.opts;
        let limits = self.limits;
        let width = spec.settings.detect_width;
        let pipeline = Arc::clone(&vision.pipeline);
        // Decoding, scaling and the motion gate are cheap and run on the blocking pool;
        // only frames worth detecting take a place on the live inference lane (which
        // has one worker on a 2-core machine: the other is kept for interactive calls).
        let prepared = tokio::task::spawn_blocking(move || -> Result<(RgbImage, bool), String> {
            let image = match pixels {
                Pixels::Rgb(img) => img,
                Pixels::Jpeg(bytes) => vigil_vision::decode::decode(&bytes, &limits)
                    .map_err(|e| format!("a frame could not be decoded: {e}"))?,
            };
            let image = scale_to_width(image, width);
            let detect = lock(&gate).should_detect(&image, at);
            Ok((image, detect))
        })
        .await
        .map_err(|e| format!("frame preparation failed: {e}"))??;
        let (image, detect) = prepared;
        let image = Arc::new(image);
        let outcome = if detect {
            let frame = Arc::clone(&image);
            let job = move || -> Result<LaneOutput, String> {
                let t = Instant::now();
                let analysis = pipeline
                    .analyze_image(&frame, &opts)
                    .map_err(|e| format!("analysis failed: {e}"))?;
                let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                Ok((frame, Some(analysis.faces), us))
            };
            vision
                .pool
                .run_live(spec.id.as_str(), job)
                .await
                .map_err(|e| e.to_string())?
        } else {
            LiveOutcome::Done(Ok((image, None, 0)))
        };
        let (image, faces, inference_us) = match outcome {
            LiveOutcome::Done(r) => r?,
            LiveOutcome::Superseded => return Ok(None),
        };
        let Some(faces) = faces else {
            // No motion: report the tracks where they were, without updating them (a
            // frame without detection says nothing about who is there).
            return Ok(Some(FrameResult {
                faces: self.last_known(),
                image,
                analysed: false,
                mask: 0,
                no_mask: 0,
                started: 0,
                violations: Vec::new(),
                inference_us: 0,
            }));
        };
        let size = vigil_vision::ImageSize {
            width: image.width(),
            height: image.height(),
        };
        let update = self.tracker.update(at, size, &faces);
        let (mut mask, mut no_mask) = (0, 0);
        for face in &faces {
            match face.mask.map(|m| m.label) {
                Some(MaskLabel::Mask) => mask += 1,
                Some(MaskLabel::NoMask) => no_mask += 1,
                None => {}
            }
        }
        let mut started = 0;
        let mut violations = Vec::new();
        for event in update.events {
            match event {
                vigil_vision::track::TrackEvent::TrackStarted(_) => started += 1,
                vigil_vision::track::TrackEvent::Violation(v) => violations.push(v),
                vigil_vision::track::TrackEvent::TrackEnded(_) => {}
            }
        }
        let live = faces
            .iter()
            .zip(&update.face_tracks)
            .map(|(face, track)| {
                let smoothed = update
                    .tracks
                    .iter()
                    .find(|t| t.id == *track)
                    .and_then(|t| t.label);
                live_face(track.0, face.bbox, smoothed)
            })
            .collect();
        Ok(Some(FrameResult {
            image,
            analysed: true,
            faces: live,
            mask,
            no_mask,
            started,
            violations,
            inference_us,
        }))
    }

    /// The visible tracks' last boxes and labels.
    fn last_known(&self) -> Vec<LiveFace> {
        self.tracker
            .tracks()
            .into_iter()
            .filter(|t| t.visible)
            .map(|t| live_face(t.id.0, t.bbox, t.label))
            .collect()
    }
}

/// `interval` ± 15%, different per camera: cameras started together would otherwise
/// force their still-scene detections in the same instant every time, a burst the live
/// lane answers by dropping frames (seen in `vigil bench --live`); spread out, the same
/// work fits. Stays well under the tracker's 3 s `max_absence`.
fn jittered(interval: std::time::Duration) -> std::time::Duration {
    let factor = 0.85 + 0.3 * (crate::runtime::random_u64() % 1000) as f64 / 1000.0;
    interval.mul_f64(factor)
}

fn live_face(
    track: u64,
    b: BBox,
    smoothed: Option<vigil_vision::track::SmoothedLabel>,
) -> LiveFace {
    LiveFace {
        track,
        bbox: [b.x, b.y, b.width, b.height],
        label: smoothed.map_or("unknown", |s| s.label.as_str()).to_string(),
        score: smoothed.map_or(0.0, |s| s.score),
    }
}

/// Scales `image` down to `width` (keeping the aspect ratio) when it is wider; ffmpeg
/// sources already arrive at that width.
fn scale_to_width(image: RgbImage, width: u32) -> RgbImage {
    if image.width() <= width || image.width() == 0 {
        return image;
    }
    let height =
        ((u64::from(image.height()) * u64::from(width)) / u64::from(image.width())).max(1) as u32;
    let whole = BBox {
        x: 0.0,
        y: 0.0,
        width: image.width() as f32,
        height: image.height() as f32,
    };
    vigil_vision::preprocess::crop_resize(&image, whole, width, height)
}
