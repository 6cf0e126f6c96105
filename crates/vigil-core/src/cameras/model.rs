//! What a camera, its status and its violations look like to the API, the console, the
//! event bus and the integrations: plain data, validated where it comes in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_vision::track::Zone;
use vigil_vision::DetectorKind;

use crate::ids::{Id, IdKind};

/// Marks camera ids.
#[derive(Debug)]
pub enum Camera {}
impl IdKind for Camera {
    const NAME: &'static str = "camera";
}
/// A camera's id.
pub type CameraId = Id<Camera>;

/// Marks violation ids.
#[derive(Debug)]
pub enum ViolationMarker {}
impl IdKind for ViolationMarker {
    const NAME: &'static str = "violation";
}
/// A violation's id.
pub type ViolationId = Id<ViolationMarker>;

/// Longest camera name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// Most zones per camera.
pub const MAX_ZONES: usize = 16;
/// Most points per zone polygon.
pub const MAX_ZONE_POINTS: usize = 64;
/// Detect rate bounds (frames analysed per second).
pub const DETECT_FPS_RANGE: (f32, f32) = (0.2, 30.0);
/// Detect width bounds in pixels (the height follows the source's aspect ratio).
pub const DETECT_WIDTH_RANGE: (u32, u32) = (160, 1920);
/// Retention bounds in days.
pub const RETENTION_DAYS_RANGE: (u32, u32) = (1, 3650);

/// A zone as the API gives and takes it: a name and a polygon in normalised
/// coordinates (0–1 of the frame's width and height).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// Shown on violations raised inside it.
    pub name: String,
    /// At least three `[x, y]` points, each in 0–1.
    pub points: Vec<[f32; 2]>,
}

/// The analysis settings of one camera (everything but its name, URL and `enabled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CameraSettings {
    /// Frames analysed per second (default 5).
    pub detect_fps: f32,
    /// Width frames are scaled to before analysis (default 640; height keeps the aspect).
    pub detect_width: u32,
    /// Smoothed no-mask score a track needs to raise its violation (default 0.75).
    pub confidence: f32,
    /// Face detector; `null` uses the server's default.
    #[schema(value_type = Option<String>, example = "res10")]
    pub detector: Option<DetectorKind>,
    /// Skip detection on frames without motion (still detecting every 2 s).
    pub motion_gating: bool,
    /// Where violations count; empty means the whole frame.
    pub zones: Vec<ZoneSpec>,
    /// Days violations (and their pictures) are kept.
    pub retention_days: u32,
}

impl Default for CameraSettings {
    fn default() -> Self {
        CameraSettings {
            detect_fps: 5.0,
            detect_width: 640,
            confidence: 0.75,
            detector: None,
            motion_gating: true,
            zones: Vec::new(),
            retention_days: 30,
        }
    }
}

impl CameraSettings {
    /// Checks every value, naming the field in the message (a 422 as it stands).
    pub fn validate(&self) -> Result<Vec<Zone>, String> {
        let (lo, hi) = DETECT_FPS_RANGE;
        if !(self.detect_fps.is_finite() && (lo..=hi).contains(&self.detect_fps)) {
            return Err(format!("detect_fps must be between {lo} and {hi}"));
        }
        let (lo, hi) = DETECT_WIDTH_RANGE;
        if !(lo..=hi).contains(&self.detect_width) {
            return Err(format!("detect_width must be between {lo} and {hi} pixels"));
        }
        if !(self.confidence.is_finite() && (0.0..=1.0).contains(&self.confidence)) {
            return Err("confidence must be between 0 and 1".into());
        }
        let (lo, hi) = RETENTION_DAYS_RANGE;
        if !(lo..=hi).contains(&self.retention_days) {
            return Err(format!("retention_days must be between {lo} and {hi}"));
        }
        if self.zones.len() > MAX_ZONES {
            return Err(format!("at most {MAX_ZONES} zones per camera"));
        }
        self.zones
            .iter()
            .map(|z| {
                if z.name.trim().is_empty() || z.name.chars().count() > MAX_NAME_CHARS {
                    return Err(format!(
                        "a zone needs a name of 1 to {MAX_NAME_CHARS} characters"
                    ));
                }
                if z.points.len() > MAX_ZONE_POINTS {
                    return Err(format!(
                        "zone `{}` has more than {MAX_ZONE_POINTS} points",
                        z.name
                    ));
                }
                Zone::new(z.name.trim(), z.points.clone())
                    .map_err(|e| format!("zone `{}`: {e}", z.name))
            })
            .collect()
    }
}

/// What a camera is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Connecting (or waiting for a browser to send frames).
    Starting,
    /// Frames arrive and are analysed.
    Online,
    /// The source failed; Vigil retries with back-off. `error` says why.
    Offline,
    /// Not running: disabled, stopped by a user, or the server is shutting down.
    Stopped,
}

impl CameraState {
    /// `starting`, `online`, `offline` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::Online => "online",
            CameraState::Offline => "offline",
            CameraState::Stopped => "stopped",
        }
    }
}

/// A camera's live status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CameraStatus {
    /// What it is doing.
    pub state: CameraState,
    /// Why it is offline, in plain words (never a URL or credential).
    pub error: Option<String>,
    /// Since when (Unix ms).
    pub since: i64,
    /// Frames received per second over the last few seconds.
    pub fps: f32,
}

impl CameraStatus {
    /// A camera that is not running.
    pub fn stopped(since: i64) -> CameraStatus {
        CameraStatus {
            state: CameraState::Stopped,
            error: None,
            since,
            fps: 0.0,
        }
    }
}

/// A camera as the API shows it: the URL redacted, the status live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CameraView {
    /// Id (32 hex digits).
    #[schema(value_type = String)]
    pub id: CameraId,
    /// Unique display name.
    pub name: String,
    /// `rtsp`, `rtsps`, `http`, `https`, `file`, `device` or `browser`.
    pub kind: String,
    /// The source with any password replaced by `***`.
    pub url: String,
    /// Runs whenever the server runs.
    pub enabled: bool,
    /// Analysis settings.
    #[serde(flatten)]
    pub settings: CameraSettings,
    /// Live status.
    pub status: CameraStatus,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// Who acknowledged a violation, when, and what they noted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Acknowledgement {
    /// User name (or API key name) that acknowledged it.
    pub by: String,
    /// Unix ms.
    pub at: i64,
    /// Free text, may be empty.
    pub note: String,
}

/// A stored violation: one person without a mask, once per track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ViolationView {
    /// Id (32 hex digits).
    #[schema(value_type = String)]
    pub id: ViolationId,
    /// The camera that saw it.
    #[schema(value_type = String)]
    pub camera_id: CameraId,
    /// The camera's name at the time.
    pub camera_name: String,
    /// Unix ms.
    pub at: i64,
    /// The track (person) number on that camera.
    pub track: u64,
    /// Smoothed no-mask score.
    pub score: f32,
    /// Zone it happened in, when zones are configured.
    pub zone: Option<String>,
    /// Face box `[x, y, width, height]` in frame pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Frame width in pixels.
    pub frame_width: u32,
    /// Frame height in pixels.
    pub frame_height: u32,
    /// `null` until acknowledged.
    pub acknowledged: Option<Acknowledgement>,
}

/// One face in a live result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveFace {
    /// Track (person) number on this camera.
    pub track: u64,
    /// `[x, y, width, height]` in frame pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// `mask`, `no_mask` or `unknown` (smoothed over the track's recent frames).
    pub label: String,
    /// Smoothed score of the label.
    pub score: f32,
}

/// The faces of one analysed frame (`camera.detections`; not stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Detections {
    /// Camera.
    #[schema(value_type = String)]
    pub camera_id: CameraId,
    /// Unix ms of the frame.
    pub at: i64,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Faces with their tracks.
    pub faces: Vec<LiveFace>,
    /// Whether detection was skipped (no motion); `faces` are then the tracks' last
    /// known boxes.
    pub skipped: bool,
}

/// A camera state change (`camera.state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateChange {
    /// Camera.
    #[schema(value_type = String)]
    pub camera_id: CameraId,
    /// Its name.
    pub name: String,
    /// New status.
    #[serde(flatten)]
    pub status: CameraStatus,
}
