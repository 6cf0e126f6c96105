//! Vigil's video input: everything about reading video with ffmpeg, and the MJPEG
//! stream format. No HTTP server and no SQL here; the camera core (vigil-core) and the
//! video jobs call this crate.
//!
//! What is in it, and why each piece lives here:
//! - [`Ffmpeg`] / [`Ffprobe`] ([`tools`]): finding the binaries (a configured path or
//!   `PATH`); a missing binary is a typed error in plain words, and [`Ffmpeg::check`]
//!   gives the version for `/readyz`.
//! - [`FrameReader`] ([`reader`]): one ffmpeg child decoding an [`Input`] into raw RGB
//!   frames of a fixed size at a fixed rate, read from its stdout pipe. The child is run
//!   from an argument vector (never a shell) with a protocol whitelist and I/O timeouts,
//!   and is killed when the reader is dropped.
//! - [`probe()`] ([`mod@probe`]): what a source is (container, codec, size, rate, duration)
//!   through ffprobe; [`MediaInfo::from_ffprobe_json`] ([`info`]) is the pure parser of
//!   ffprobe's output (fuzzed: `fuzz/fuzz_targets/ffprobe_json.rs`).
//! - [`mjpeg`]: a pure incremental parser of `multipart/x-mixed-replace` MJPEG streams
//!   (HTTP cameras are fetched in Rust, so the network guard holds), and the writer
//!   helpers the server's `/stream` endpoint uses, so one module knows the format.
//! - [`MediaError`] ([`error`]): every failure with [`MediaError::plain_words`], the
//!   sentence a user sees (camera state, "test connection"), never with a password in it.
//!
//! Inputs arrive already checked: the caller (vigil-core's `net` module) has parsed the
//! URL, resolved it, applied the network guard and put the checked IP address in the URL.
//! This crate does not depend on vigil-core; it only runs what it is given, safely.
//!
//! A camera, from start-up to "offline" (the camera core adds back-off and restarts):
//!
//! ```no_run
//! use vigil_media::{probe, Ffmpeg, Ffprobe, FrameReader, FrameSpec, Input, DEFAULT_IO_TIMEOUT};
//!
//! # async fn camera() -> Result<(), vigil_media::MediaError> {
//! let ffmpeg = Ffmpeg::locate(None)?; // once, at start-up; `check()` for /readyz
//! let ffprobe = Ffprobe::beside(&ffmpeg)?;
//! let input = Input::Network {
//!     // The checked address in place of the name (vigil-core: `with_address`).
//!     url: "rtsp://viewer:s3cret@192.0.2.10:554/stream1".into(),
//!     host_header: Some("garage-cam.lan".into()),
//!     protocol_whitelist: "rtsp,rtp,udp,tcp",
//!     secrets: vec!["s3cret".into()],
//! };
//! let info = probe(&ffprobe, &input, DEFAULT_IO_TIMEOUT).await?;
//! let spec = FrameSpec::keep_aspect(640, 5.0, &info)?;
//! let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec)?;
//! loop {
//!     match reader.next_frame().await {
//!         Ok(frame) => { /* frame.image (640 × h RGB) to the live lane */ }
//!         Err(e) => {
//!             println!("offline: {}", e.plain_words()); // never shows "s3cret"
//!             break;
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Threading: every child is driven by tokio (`tokio::process`); stderr is drained by a
//! small task per child into a bounded ring of redacted lines. Nothing here blocks a
//! runtime worker except the short path checks in [`Ffmpeg::locate`].

pub mod diagnose;
pub mod error;
pub mod info;
pub mod input;
pub mod mjpeg;
pub mod probe;
pub mod reader;
mod stderr;
pub mod tools;

pub use diagnose::{Exit, FailureKind};
pub use error::{Failure, MediaError};
pub use info::{MediaInfo, ProbeParseError};
pub use input::{Input, DEFAULT_IO_TIMEOUT};
pub use probe::probe;
pub use reader::{grab_frame, Frame, FrameReader, FrameSpec};
pub use tools::{Ffmpeg, Ffprobe};
