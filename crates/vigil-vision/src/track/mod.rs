//! Following faces across frames: the shared foundation of live cameras and video jobs.
//!
//! Everything here is pure logic over the [`crate::result`] types: no models, no I/O, no
//! clocks. Time is passed in as a [`std::time::Duration`] since any fixed origin (a
//! camera's start `Instant`, a video's presentation timestamp), so variable frame rates,
//! paused streams and faster-than-real-time video analysis all behave the same.
//!
//! ```text
//! frame ──▶ MotionGate::should_detect ──no──▶ skip (tracks keep their state)
//!              │ yes (motion, or max_interval elapsed)
//!              ▼
//!           detect + mask  ──▶ Vec<Face>
//!              ▼
//!           Tracker::update(at, frame size, faces)
//!              │ match faces to tracks (IoU + centre distance, greedy)
//!              │ per track: label window → majority label + mean score
//!              │ zones + thresholds → at most one violation per track
//!              ▼
//!           FrameUpdate { tracks, face_tracks, events: TrackStarted | Violation | TrackEnded }
//! ```
//!
//! Frames the gate skips are simply not given to the tracker: a frame without detection
//! says nothing about who is there, whereas an update with no faces counts towards their
//! absence.
//!
//! [`Tracker`] is `Send` and owned by one camera task or one video job: it is not shared
//! and needs no lock. [`MotionGate`] likewise, one per source.

pub mod motion;
pub mod smoothing;
pub mod tracker;
pub mod zone;

pub use motion::{MotionConfig, MotionGate};
pub use smoothing::{LabelTally, LabelWindow, SmoothedLabel};
pub use tracker::{
    ActiveTrack, FrameUpdate, Sighting, TrackEnded, TrackEvent, TrackId, TrackStarted, Tracker,
    TrackerConfig, TrackerConfigError, Violation,
};
pub use zone::{Zone, ZoneError};

#[cfg(test)]
mod tracker_tests;
