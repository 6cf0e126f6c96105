//! The tracker: faces matched across frames into tracks with stable ids, smoothed labels
//! and at most one violation each.
//!
//! # Matching
//! Every (track, face) pair whose box centres are at most the identity threshold apart
//! is a candidate, scored `IoU + (1 − distance / threshold)` (both in `[0, 1]`: overlap
//! rewards boxes of the same size in the same place, distance still ranks pairs that no
//! longer overlap, as small faces moving fast do). Pairs are taken greedily, best score
//! first. Greedy rather than Hungarian: with ≤ 50 faces there are ≤ 2,500 pairs (sorted
//! in microseconds), and the two differ only when two faces are within one threshold of
//! each other and of two tracks at once, where IoU already separates them; greedy is
//! also easier to reason about when a test fails. A face farther than the threshold from
//! every track starts a new track: the seed's rule, "a new identity when the centre moves
//! more than `face_id_threshold_px`", with the threshold scaled to the frame width.
//!
//! # Violations
//! A track raises at most **one** [`Violation`] in its lifetime, the first time that,
//! on a frame where it is seen: its window holds at least `min_frames` verdicts, the
//! window's majority is `no_mask` with a mean score ≥ `confidence_threshold`, and its
//! box centre is inside a zone (or there are no zones). A person who takes a mask off,
//! puts it on and takes it off again is one person and one violation: a log that fills
//! with repeats of the same person is the seed's problem we are fixing, and the track's
//! end event still tells how the label went ([`TrackEnded::majority`]).

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::smoothing::{LabelTally, LabelWindow, SmoothedLabel};
use super::zone::{zone_for, Zone};
use crate::result::{BBox, Face, ImageSize, MaskLabel};

/// A track's identity: increasing from 1 within one [`Tracker`], never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TrackId(pub u64);

impl std::fmt::Display for TrackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Settings of one tracker (one camera or one video job).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// A face whose centre is farther than this from every track is a new person, in
    /// pixels at `reference_width` (the seed's `FACE_ID_THRESHOLD`, 80 at 640 px).
    pub face_id_threshold_px: f32,
    /// Frame width at which `face_id_threshold_px` applies; other widths scale it
    /// linearly (80 px at 640 → 160 px at 1280), so a camera's detect resolution does not
    /// change who counts as the same person.
    pub reference_width: u32,
    /// A track not seen for longer than this ends; the person coming back later is a new
    /// track. Time based, not frame based, so a varying frame rate (motion gating, a
    /// slow stream, video sampled at 1/s) does not change its meaning. It must exceed the
    /// longest gap between detections (the motion gate's `max_interval`, the video
    /// sample period) with a margin for jitter, or a person standing still gets a new
    /// id, and a new violation, at every detection: hence 3 s, against the gate's 2 s.
    pub max_absence: Duration,
    /// Verdicts in the majority vote (the seed's `SMOOTHING_FRAMES`, 10).
    pub smoothing_frames: usize,
    /// Verdicts needed before a track may raise its violation; `None` means half of
    /// `smoothing_frames` (at least 1): a majority then needs ≥ 3 agreeing verdicts out
    /// of 5, so one misclassified first frame cannot accuse anyone, and at 5 detect-fps a
    /// person is still reported within about a second.
    pub min_frames: Option<usize>,
    /// Smoothed no-mask score needed for a violation (the seed's 0.75).
    pub confidence_threshold: f32,
    /// Where violations count; empty means the whole frame.
    pub zones: Vec<Zone>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            face_id_threshold_px: 80.0,
            reference_width: 640,
            max_absence: Duration::from_secs(3),
            smoothing_frames: 10,
            min_frames: None,
            confidence_threshold: 0.75,
            zones: Vec::new(),
        }
    }
}

/// Why a [`TrackerConfig`] was refused; each message names the setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackerConfigError {
    /// Threshold not a positive number.
    #[error("face_id_threshold_px must be a positive number of pixels, got {0}")]
    Threshold(f32),
    /// Zero reference width.
    #[error("the reference width of face_id_threshold_px must be at least 1 pixel")]
    ReferenceWidth,
    /// Zero smoothing window.
    #[error("smoothing_frames must be at least 1")]
    SmoothingFrames,
    /// `min_frames` that could never be reached or is zero.
    #[error(
        "min_frames must be between 1 and smoothing_frames ({smoothing_frames}), got {min_frames}"
    )]
    MinFrames {
        /// The value given.
        min_frames: usize,
        /// The window size.
        smoothing_frames: usize,
    },
    /// Confidence outside `0..=1`.
    #[error("confidence_threshold must be between 0 and 1, got {0}")]
    Confidence(f32),
}

impl TrackerConfig {
    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<(), TrackerConfigError> {
        if !(self.face_id_threshold_px.is_finite() && self.face_id_threshold_px > 0.0) {
            return Err(TrackerConfigError::Threshold(self.face_id_threshold_px));
        }
        if self.reference_width == 0 {
            return Err(TrackerConfigError::ReferenceWidth);
        }
        if self.smoothing_frames == 0 {
            return Err(TrackerConfigError::SmoothingFrames);
        }
        let min = self.min_frames();
        if min == 0 || min > self.smoothing_frames {
            return Err(TrackerConfigError::MinFrames {
                min_frames: min,
                smoothing_frames: self.smoothing_frames,
            });
        }
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(TrackerConfigError::Confidence(self.confidence_threshold));
        }
        Ok(())
    }

    /// The identity threshold in pixels for frames `frame_width` wide.
    pub fn threshold_px(&self, frame_width: u32) -> f32 {
        self.face_id_threshold_px * frame_width as f32 / self.reference_width.max(1) as f32
    }

    /// Verdicts needed before a violation (see [`TrackerConfig::min_frames`]).
    pub fn min_frames(&self) -> usize {
        self.min_frames
            .unwrap_or((self.smoothing_frames / 2).max(1))
    }
}

/// One face of a track in one frame: which frame, when, where.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sighting {
    /// Index of the frame in the order given to [`Tracker::update`], from 0: the frame
    /// to snapshot or crop.
    pub frame_index: u64,
    /// Frame time.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    /// Face box in that frame.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Detector score of that face.
    pub detection_score: f32,
}

/// A track that is alive after a frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveTrack {
    /// Identity.
    pub id: TrackId,
    /// Last known box (from the last frame it was seen in).
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// True when a face of this frame was matched to it; false while it is absent but
    /// not yet ended.
    pub visible: bool,
    /// Smoothed label, `None` until a verdict (no mask model, no verdict yet).
    pub label: Option<SmoothedLabel>,
    /// First frame time.
    #[serde(serialize_with = "secs")]
    pub first_seen: Duration,
    /// Last frame time it was seen.
    #[serde(serialize_with = "secs")]
    pub last_seen: Duration,
    /// Frames it was seen in.
    pub observations: u64,
    /// Whether it has raised its violation.
    pub violation: bool,
}

/// A new track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackStarted {
    /// Identity.
    pub track: TrackId,
    /// Frame time.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    /// First box.
    #[serde(rename = "box")]
    pub bbox: BBox,
}

/// A track that ended (absent longer than `max_absence`, or [`Tracker::finish`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackEnded {
    /// Identity.
    pub track: TrackId,
    /// First frame time.
    #[serde(serialize_with = "secs")]
    pub first_seen: Duration,
    /// Last frame time it was seen (not the time its absence was noticed).
    #[serde(serialize_with = "secs")]
    pub last_seen: Duration,
    /// Frames it was seen in.
    pub observations: u64,
    /// The sighting chosen for the thumbnail: the largest detection score × √(box
    /// area), i.e. a confident detection of a large face (more pixels to show), the
    /// square root keeping size from swamping confidence.
    pub best: Sighting,
    /// Majority label over the whole lifetime (not just the last window), `None` when
    /// no verdict was ever given.
    pub majority: Option<SmoothedLabel>,
    /// Whether it raised a violation.
    pub violation: bool,
}

/// The one violation of a track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Identity.
    pub track: TrackId,
    /// The frame and face that raised it (serialised inline).
    #[serde(flatten)]
    pub face: Sighting,
    /// Smoothed no-mask score (mean over the window's no-mask verdicts).
    pub score: f32,
    /// Name of the zone the face was in; `None` when no zones are configured.
    pub zone: Option<String>,
}

/// Something that happened on a frame, in this order within a frame: ended, started,
/// violation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrackEvent {
    /// A track began.
    TrackStarted(TrackStarted),
    /// A track ended.
    TrackEnded(TrackEnded),
    /// A track raised its violation.
    Violation(Violation),
}

/// What [`Tracker::update`] returns for one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameUpdate {
    /// Index of this frame (0 for the first update).
    pub frame_index: u64,
    /// Every live track, visible or not, by increasing id.
    pub tracks: Vec<ActiveTrack>,
    /// The track of each input face, in input order (for drawing ids on the frame).
    pub face_tracks: Vec<TrackId>,
    /// Events of this frame.
    pub events: Vec<TrackEvent>,
}

/// Follows faces across the frames of one source. See the module documentation.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    min_frames: usize,
    tracks: Vec<Track>,
    next_id: u64,
    frame_index: u64,
}

#[derive(Debug)]
struct Track {
    id: TrackId,
    first_seen: Duration,
    /// The latest sighting: its box is where the track is matched from.
    last: Sighting,
    observations: u64,
    window: LabelWindow,
    lifetime: LabelTally,
    best: Sighting,
    best_quality: f32,
    violation: bool,
}

impl Sighting {
    fn of(face: &Face, at: Duration, frame_index: u64) -> Self {
        Self {
            frame_index,
            at,
            bbox: face.bbox,
            detection_score: face.score,
        }
    }
}

impl Track {
    fn observe(&mut self, face: &Face, at: Duration, frame_index: u64) {
        self.last = Sighting::of(face, at, frame_index);
        self.observations += 1;
        if let Some(m) = face.mask {
            self.window.push(m);
            self.lifetime.add(m);
        }
        let q = quality(face);
        if q > self.best_quality {
            self.best_quality = q;
            self.best = Sighting::of(face, at, frame_index);
        }
    }

    fn active(&self, frame_index: u64) -> ActiveTrack {
        ActiveTrack {
            id: self.id,
            bbox: self.last.bbox,
            visible: self.last.frame_index == frame_index,
            label: self.window.smoothed(),
            first_seen: self.first_seen,
            last_seen: self.last.at,
            observations: self.observations,
            violation: self.violation,
        }
    }

    fn ended(&self) -> TrackEnded {
        TrackEnded {
            track: self.id,
            first_seen: self.first_seen,
            last_seen: self.last.at,
            observations: self.observations,
            best: self.best,
            majority: self.lifetime.majority(),
            violation: self.violation,
        }
    }
}

fn quality(face: &Face) -> f32 {
    let q = face.score * face.bbox.area().max(0.0).sqrt();
    if q.is_nan() {
        0.0
    } else {
        q
    }
}

impl Tracker {
    /// A tracker with no tracks; the first track gets id 1.
    pub fn new(config: TrackerConfig) -> Result<Self, TrackerConfigError> {
        config.validate()?;
        Ok(Self {
            min_frames: config.min_frames(),
            config,
            tracks: Vec::new(),
            next_id: 1,
            frame_index: 0,
        })
    }

    /// Starts numbering new tracks at `id` (at least 1): a camera restarted by the server
    /// continues after the last id it stored, so ids stay unique per camera.
    pub fn with_first_id(mut self, id: u64) -> Self {
        self.next_id = id.max(1);
        self
    }

    /// The settings in force.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Number of live tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// True when no track is alive.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// The live tracks as of the last update (`visible`: seen in that frame), by
    /// increasing id: what a frame the motion gate skipped still shows.
    pub fn tracks(&self) -> Vec<ActiveTrack> {
        let last = self.frame_index.saturating_sub(1);
        let mut tracks: Vec<ActiveTrack> = self.tracks.iter().map(|t| t.active(last)).collect();
        tracks.sort_by_key(|t| t.id);
        tracks
    }

    /// Feeds one analysed frame: `at` is its time since any fixed origin (expected not to
    /// go backwards; if it does, absences count as zero rather than failing), `frame` its
    /// size (for the identity threshold and zones), `faces` what was detected in it.
    pub fn update(&mut self, at: Duration, frame: ImageSize, faces: &[Face]) -> FrameUpdate {
        let frame_index = self.frame_index;
        self.frame_index += 1;
        let mut events = Vec::new();

        // End the tracks absent for too long first, so a person returning after
        // max_absence is a new track rather than matched to their old one.
        let max_absence = self.config.max_absence;
        self.tracks.retain(|t| {
            let gone = at.saturating_sub(t.last.at) > max_absence;
            if gone {
                events.push(TrackEvent::TrackEnded(t.ended()));
            }
            !gone
        });

        let assignment = self.assign(frame.width, faces);
        let mut face_tracks = Vec::with_capacity(faces.len());
        let mut seen = Vec::with_capacity(faces.len());
        for (face, matched) in faces.iter().zip(assignment) {
            let ti = match matched {
                Some(ti) => ti,
                None => {
                    let id = TrackId(self.next_id);
                    self.next_id += 1;
                    self.tracks.push(Track {
                        id,
                        first_seen: at,
                        last: Sighting::of(face, at, frame_index),
                        observations: 0,
                        window: LabelWindow::new(self.config.smoothing_frames),
                        lifetime: LabelTally::default(),
                        best: Sighting::of(face, at, frame_index),
                        best_quality: f32::NEG_INFINITY,
                        violation: false,
                    });
                    events.push(TrackEvent::TrackStarted(TrackStarted {
                        track: id,
                        at,
                        bbox: face.bbox,
                    }));
                    self.tracks.len() - 1
                }
            };
            self.tracks[ti].observe(face, at, frame_index);
            face_tracks.push(self.tracks[ti].id);
            seen.push(ti);
        }

        for ti in seen {
            if let Some(v) = self.check_violation(ti, frame) {
                events.push(TrackEvent::Violation(v));
            }
        }

        let mut tracks: Vec<ActiveTrack> =
            self.tracks.iter().map(|t| t.active(frame_index)).collect();
        tracks.sort_by_key(|t| t.id);
        FrameUpdate {
            frame_index,
            tracks,
            face_tracks,
            events,
        }
    }

    /// Ends every live track (end of a video, camera stopped) and returns their
    /// [`TrackEvent::TrackEnded`] events by increasing id. Ids keep increasing afterwards.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        let mut ended: Vec<TrackEnded> = self.tracks.drain(..).map(|t| t.ended()).collect();
        ended.sort_by_key(|e| e.track);
        ended.into_iter().map(TrackEvent::TrackEnded).collect()
    }

    /// The existing track index for each face (`None`: a new track), greedy by score.
    fn assign(&self, frame_width: u32, faces: &[Face]) -> Vec<Option<usize>> {
        let threshold = self.config.threshold_px(frame_width);
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            let (tx, ty) = t.last.bbox.center();
            for (fi, f) in faces.iter().enumerate() {
                let (fx, fy) = f.bbox.center();
                let d = (tx - fx).hypot(ty - fy);
                // `<=` is false for NaN: a malformed box starts its own track.
                if d <= threshold {
                    pairs.push((t.last.bbox.iou(&f.bbox) + (1.0 - d / threshold), ti, fi));
                }
            }
        }
        // Best score first; ties by older track then earlier face, so runs repeat.
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut out = vec![None; faces.len()];
        for (_, ti, fi) in pairs {
            if !track_taken[ti] && out[fi].is_none() {
                track_taken[ti] = true;
                out[fi] = Some(ti);
            }
        }
        out
    }

    /// Raises track `ti`'s violation if it is due; called for tracks seen this frame,
    /// so the violation's sighting is the current frame.
    fn check_violation(&mut self, ti: usize, frame: ImageSize) -> Option<Violation> {
        let t = &self.tracks[ti];
        if t.violation || t.window.len() < self.min_frames {
            return None;
        }
        let smoothed = t.window.smoothed()?;
        if smoothed.label != MaskLabel::NoMask || smoothed.score < self.config.confidence_threshold
        {
            return None;
        }
        // The face box centre: zones are drawn over where faces appear in the picture
        // (a doorway, a counter); a face box's bottom is the chin, not the feet, so the
        // "where does the person stand" bottom-centre rule of body trackers buys nothing.
        let (cx, cy) = t.last.bbox.center();
        let nx = cx / frame.width.max(1) as f32;
        let ny = cy / frame.height.max(1) as f32;
        let zone = zone_for(&self.config.zones, nx, ny)?.map(|z| z.name().to_owned());
        let v = Violation {
            track: t.id,
            face: t.last,
            score: smoothed.score,
            zone,
        };
        self.tracks[ti].violation = true;
        Some(v)
    }
}

/// Durations serialise as seconds (a JSON number), the unit of every time in our API.
fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
