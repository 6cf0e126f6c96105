//! One ffmpeg child decoding a source into raw RGB frames of a fixed size and rate.
//!
//! Why a child process and raw frames: ffmpeg reads every camera protocol and codec we
//! meet, and a crash or hang in a decoder stays in its process. It writes `rgb24` frames
//! of exactly `width × height × 3` bytes to a pipe, so reading a frame is reading that
//! many bytes; no container to parse on our side.
//!
//! **Frame size.** Both sides are fixed before ffmpeg starts: the source is scaled to fit
//! inside `width × height` with its aspect ratio kept, and padded (black, centred) to
//! exactly that size, so a source that changes resolution mid-stream cannot desynchronise
//! the pipe. To avoid the padding, probe the source first and ask for the height that
//! matches its aspect: [`FrameSpec::keep_aspect`] (the camera core does this; the probe
//! also gives the codec and rate for the camera's status).
//!
//! **The command**, as an argument vector (never a shell):
//! `ffmpeg -nostdin -hide_banner -nostats -loglevel error -threads N <input options> -i INPUT
//!  -an -sn -dn -vf fps=F,scale=W:H:force_original_aspect_ratio=decrease,pad=W:H:…,setsar=1
//!  -f rawvideo -pix_fmt rgb24 pipe:1`, where the input options are the protocol whitelist,
//! the I/O timeout, TCP for RTSP, `-re -stream_loop -1` for a looped file and `-f v4l2`
//! for a device (see [`Input`]). stdin is closed, the child is killed when the reader is
//! dropped, and stderr is drained concurrently into a bounded ring of redacted lines.
//!
//! **Ending.** When the pipe ends or no frame arrives in time, [`FrameReader::next_frame`]
//! returns [`MediaError::Failed`] whose plain words say why (from ffmpeg's stderr and exit
//! status), and keeps returning it. A reader is not restarted: the caller spawns a new
//! one (with its own back-off).
//!
//! **Reading.** Read frames continuously (one task per camera) and drop stale ones
//! downstream ("latest frame wins"); a reader left unread fills the pipe, ffmpeg then
//! blocks and a live camera may drop the connection.

use std::process::Stdio;
use std::time::{Duration, Instant};

use image::RgbImage;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::diagnose::{classify, Exit, FailureKind};
use crate::error::{Failure, MediaError};
use crate::info::MediaInfo;
use crate::input::{Input, DEFAULT_IO_TIMEOUT};
use crate::stderr::{self, SharedRing};
use crate::tools::Ffmpeg;

/// Smallest frame side accepted.
pub const MIN_FRAME_SIDE: u32 = 16;
/// Largest frame side accepted (4K UHD's width).
pub const MAX_FRAME_SIDE: u32 = 4096;
/// Highest frame rate accepted.
pub const MAX_FPS: f64 = 60.0;
/// Lowest frame rate accepted (one frame every 10 s).
pub const MIN_FPS: f64 = 0.1;

/// What frames a reader delivers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSpec {
    /// Frame width in pixels, even, [`MIN_FRAME_SIDE`] to [`MAX_FRAME_SIDE`].
    pub width: u32,
    /// Frame height in pixels, even, [`MIN_FRAME_SIDE`] to [`MAX_FRAME_SIDE`].
    pub height: u32,
    /// Frames per second delivered ([`MIN_FPS`] to [`MAX_FPS`]); ffmpeg drops or repeats
    /// source frames to match it.
    pub fps: f64,
    /// Network connect/read timeout given to ffmpeg; also sets how long a reader waits
    /// for a frame (see [`FrameSpec::frame_timeout`]).
    pub io_timeout: Duration,
    /// Decoder threads (`-threads`); 1 by default, so many cameras on few cores do not
    /// oversubscribe them. 0 lets ffmpeg choose (one per core).
    pub threads: u32,
}

impl FrameSpec {
    /// A spec of exactly `width × height` at `fps`, other fields at their defaults.
    ///
    /// # Errors
    /// [`MediaError::InvalidSpec`] when a value is out of range.
    pub fn new(width: u32, height: u32, fps: f64) -> Result<FrameSpec, MediaError> {
        let spec = FrameSpec {
            width,
            height,
            fps,
            io_timeout: DEFAULT_IO_TIMEOUT,
            threads: 1,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// A spec `width` wide whose height keeps the probed source's aspect ratio (even,
    /// within range), so the frames need no padding.
    ///
    /// # Errors
    /// [`MediaError::InvalidSpec`] when a value is out of range.
    pub fn keep_aspect(width: u32, fps: f64, info: &MediaInfo) -> Result<FrameSpec, MediaError> {
        let height = info
            .height_for_width(width)
            .clamp(MIN_FRAME_SIDE, MAX_FRAME_SIDE);
        FrameSpec::new(width, height, fps)
    }

    /// Bytes in one frame: `width × height × 3`.
    pub fn frame_len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    /// How long [`FrameReader::next_frame`] waits for bytes before it stops ffmpeg and
    /// reports a stall: for the first frame `2 × io_timeout + 5 s` (connecting, and
    /// waiting for the camera's first key frame), then `io_timeout + 1 s + 2 frame
    /// intervals`. ffmpeg's own I/O timeout usually ends a dead connection first; this is
    /// the backstop for a source that stays connected and sends nothing usable.
    pub fn frame_timeout(&self, first: bool) -> Duration {
        if first {
            self.io_timeout * 2 + Duration::from_secs(5)
        } else {
            self.io_timeout + Duration::from_secs(1) + Duration::from_secs_f64(2.0 / self.fps)
        }
    }

    /// Checks every field; [`FrameReader::spawn`] calls it too.
    ///
    /// # Errors
    /// [`MediaError::InvalidSpec`] naming the value.
    pub fn validate(&self) -> Result<(), MediaError> {
        for (name, side) in [("width", self.width), ("height", self.height)] {
            if !(MIN_FRAME_SIDE..=MAX_FRAME_SIDE).contains(&side) || side % 2 != 0 {
                return Err(MediaError::InvalidSpec(format!(
                    "the frame {name} must be an even number from {MIN_FRAME_SIDE} to {MAX_FRAME_SIDE}, not {side}"
                )));
            }
        }
        if !(self.fps.is_finite() && (MIN_FPS..=MAX_FPS).contains(&self.fps)) {
            return Err(MediaError::InvalidSpec(format!(
                "the frame rate must be from {MIN_FPS} to {MAX_FPS} per second, not {}",
                self.fps
            )));
        }
        if self.io_timeout < Duration::from_millis(100)
            || self.io_timeout > Duration::from_secs(600)
        {
            return Err(MediaError::InvalidSpec(
                "the I/O timeout must be from 0.1 s to 600 s".to_string(),
            ));
        }
        if self.threads > 64 {
            return Err(MediaError::InvalidSpec(
                "at most 64 decoder threads".to_string(),
            ));
        }
        Ok(())
    }

    /// The `-vf` filter chain: rate first (fewer frames to scale), then fit, pad, square
    /// pixels.
    fn filter(&self) -> String {
        let (w, h) = (self.width, self.height);
        // `fps` takes a decimal rate; 6 places are plenty and never print as 1e-1.
        format!(
            "fps={:.6},scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1",
            self.fps
        )
    }
}

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The pixels, `spec.width × spec.height`.
    pub image: RgbImage,
    /// 0 for the reader's first frame, then 1, 2, … For a file read once (video jobs),
    /// the frame's time in the video is `seq / spec.fps` seconds: ffmpeg's `fps` filter
    /// emits frames on that exact grid.
    pub seq: u64,
    /// When its last byte was read from the pipe.
    pub received: Instant,
}

/// A running ffmpeg child delivering frames. Dropping it kills the child.
#[derive(Debug)]
pub struct FrameReader {
    child: Child,
    stdout: ChildStdout,
    pid: Option<u32>,
    spec: FrameSpec,
    input_kind: crate::diagnose::InputKind,
    described: String,
    ring: Option<SharedRing>,
    drain: Option<JoinHandle<()>>,
    buf: Vec<u8>,
    filled: usize,
    seq: u64,
    started: Instant,
    last_progress: Instant,
    done: Option<MediaError>,
}

/// Why reading stopped.
#[derive(Clone, Copy)]
enum Stop {
    /// The pipe ended or failed.
    PipeClosed,
    /// Nothing arrived in time.
    Stalled(Duration),
}

impl FrameReader {
    /// Starts ffmpeg on `input`, delivering frames as `spec` says. Must be called inside
    /// a tokio runtime (a task drains the child's stderr).
    ///
    /// # Errors
    /// [`MediaError::InvalidSpec`] for a bad spec, [`MediaError::Spawn`] when ffmpeg
    /// cannot be started. Everything else (a wrong URL, a refused password) shows up as
    /// the error of the first [`FrameReader::next_frame`].
    pub fn spawn(
        ffmpeg: &Ffmpeg,
        input: &Input,
        spec: &FrameSpec,
    ) -> Result<FrameReader, MediaError> {
        spec.validate()?;
        let mut cmd = Command::new(ffmpeg.path());
        cmd.args(["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"])
            .args(["-threads", &spec.threads.to_string()])
            .args(input.args(spec.io_timeout, true))
            .args(["-an", "-sn", "-dn", "-vf", &spec.filter()])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| MediaError::Spawn {
            tool: "ffmpeg",
            reason: e.to_string(),
        })?;
        let stdout = child.stdout.take().ok_or_else(|| MediaError::Spawn {
            tool: "ffmpeg",
            reason: "its output pipe was not opened".to_string(),
        })?;
        let (ring, drain) = match child.stderr.take() {
            Some(err) => {
                let (ring, task) = stderr::drain(err, input.redactor(), "ffmpeg");
                (Some(ring), Some(task))
            }
            None => (None, None),
        };
        let pid = child.id();
        let described = input.describe();
        tracing::debug!(pid, input = %described, width = spec.width, height = spec.height,
            fps = spec.fps, "ffmpeg frame reader started");
        let now = Instant::now();
        Ok(FrameReader {
            child,
            stdout,
            pid,
            spec: *spec,
            input_kind: input.kind(),
            described,
            ring,
            drain,
            buf: vec![0; spec.frame_len()],
            filled: 0,
            seq: 0,
            started: now,
            last_progress: now,
            done: None,
        })
    }

    /// The next frame. Cancel-safe: dropping the future loses no bytes (a partly read
    /// frame is kept for the next call); the wait for a stall restarts with each call.
    ///
    /// # Errors
    /// Once ffmpeg has exited, its pipe has ended or no frame arrived within
    /// [`FrameSpec::frame_timeout`]: [`MediaError::Failed`] saying why (the same error
    /// on every later call), or [`MediaError::Stopped`] after [`FrameReader::kill`].
    pub async fn next_frame(&mut self) -> Result<Frame, MediaError> {
        if let Some(e) = &self.done {
            return Err(e.clone());
        }
        let wait = self.spec.frame_timeout(self.seq == 0);
        self.last_progress = Instant::now();
        while self.filled < self.buf.len() {
            let deadline = tokio::time::Instant::from_std(self.last_progress + wait);
            let read =
                tokio::time::timeout_at(deadline, self.stdout.read(&mut self.buf[self.filled..]))
                    .await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(self.finish(Stop::PipeClosed).await),
                Ok(Ok(n)) => {
                    self.filled += n;
                    self.last_progress = Instant::now();
                }
                Err(_) => return Err(self.finish(Stop::Stalled(wait)).await),
            }
        }
        let data = std::mem::replace(&mut self.buf, vec![0; self.spec.frame_len()]);
        self.filled = 0;
        let image =
            RgbImage::from_raw(self.spec.width, self.spec.height, data).ok_or_else(|| {
                // Cannot happen: the buffer is exactly width × height × 3.
                MediaError::InvalidSpec("the frame buffer does not match the frame size".into())
            })?;
        let frame = Frame {
            image,
            seq: self.seq,
            received: Instant::now(),
        };
        self.seq += 1;
        Ok(frame)
    }

    /// Kills ffmpeg and waits for it; later [`FrameReader::next_frame`] calls return
    /// [`MediaError::Stopped`]. Dropping the reader kills it too (without waiting).
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
        if let Some(task) = self.drain.take() {
            task.abort();
        }
        self.done = Some(MediaError::Stopped);
    }

    /// The ffmpeg child's process id (for tests and diagnostics), `None` if it could not
    /// be read at spawn.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// What this reader delivers.
    pub fn spec(&self) -> &FrameSpec {
        &self.spec
    }

    /// The input, safe to show (credentials masked).
    pub fn input(&self) -> &str {
        &self.described
    }

    /// Frames delivered so far.
    pub fn frames_read(&self) -> u64 {
        self.seq
    }

    /// The last lines ffmpeg printed on stderr, redacted, oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.ring
            .as_ref()
            .and_then(|r| r.lock().ok().map(|r| r.lines()))
            .unwrap_or_default()
    }

    /// Ends the child and builds the error that says why reading stopped.
    async fn finish(&mut self, stop: Stop) -> MediaError {
        let status = match stop {
            Stop::Stalled(_) => {
                let _ = self.child.kill().await;
                None
            }
            Stop::PipeClosed => {
                // The pipe ends when ffmpeg exits; give it a moment to finish writing
                // its last message, then make sure it is gone.
                match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
                    Ok(Ok(status)) => Some(status),
                    _ => {
                        let _ = self.child.kill().await;
                        None
                    }
                }
            }
        };
        let exit = status.map_or(Exit::Unknown, Exit::from_status);
        if let Some(task) = self.drain.take() {
            // stderr closes with the process; a second is plenty to read what is left.
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        let mut lines = self.stderr_tail();
        if let Stop::Stalled(wait) = stop {
            lines.push(format!("no frame for {:.1} s", wait.as_secs_f64()));
        }
        let kind = match stop {
            Stop::Stalled(_) => FailureKind::Stalled,
            Stop::PipeClosed => classify(
                &lines,
                exit,
                self.input_kind,
                self.started.elapsed(),
                self.spec.io_timeout,
            ),
        };
        let failure = Failure {
            kind,
            tool: "ffmpeg",
            exit,
            lines,
        };
        tracing::debug!(pid = self.pid, input = %self.described, frames = self.seq,
            kind = kind.as_str(), error = %failure.plain_words(), "ffmpeg frame reader ended");
        let err = MediaError::Failed(failure);
        self.done = Some(err.clone());
        err
    }
}

/// One frame from `input` and then the child is stopped: the "test connection" check
/// and the CLI's `camera test` (probe first for the codec and rate).
///
/// # Errors
/// As [`FrameReader::spawn`] and [`FrameReader::next_frame`].
pub async fn grab_frame(
    ffmpeg: &Ffmpeg,
    input: &Input,
    spec: &FrameSpec,
) -> Result<Frame, MediaError> {
    let mut reader = FrameReader::spawn(ffmpeg, input, spec)?;
    let frame = reader.next_frame().await;
    reader.kill().await;
    frame
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        // kill_on_drop ends the child; the drain task ends with its pipe, but do not
        // leave it to chance.
        if let Some(task) = self.drain.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_and_its_futures_can_move_between_threads() {
        fn send<T: Send>(_: &T) {}
        fn check(reader: &mut FrameReader) {
            send(reader);
            send(&reader.next_frame());
            send(&reader.kill());
        }
        let _ = check;
    }

    #[test]
    fn specs_out_of_range_are_refused_in_words() {
        assert!(FrameSpec::new(640, 480, 5.0).is_ok());
        let cases = [
            (
                FrameSpec::new(641, 480, 5.0),
                "the frame width must be an even number from 16 to 4096, not 641",
            ),
            (
                FrameSpec::new(640, 0, 5.0),
                "the frame height must be an even number from 16 to 4096, not 0",
            ),
            (
                FrameSpec::new(640, 480, 0.0),
                "the frame rate must be from 0.1 to 60 per second, not 0",
            ),
            (
                FrameSpec::new(640, 480, f64::NAN),
                "the frame rate must be from 0.1 to 60 per second, not NaN",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.unwrap_err().plain_words(), want);
        }
    }

    #[test]
    fn the_filter_fits_pads_and_sets_the_rate() {
        let spec = FrameSpec::new(640, 360, 5.0).unwrap();
        assert_eq!(
            spec.filter(),
            "fps=5.000000,scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1"
        );
        assert_eq!(spec.frame_len(), 640 * 360 * 3);
    }

    #[test]
    fn keep_aspect_follows_the_source() {
        let info = MediaInfo {
            container: "rtsp".into(),
            codec: "h264".into(),
            width: 1920,
            height: 1080,
            fps: Some(25.0),
            duration: None,
            bit_rate: None,
        };
        let spec = FrameSpec::keep_aspect(640, 5.0, &info).unwrap();
        assert_eq!((spec.width, spec.height), (640, 360));
        assert_eq!(spec.frame_timeout(true), Duration::from_secs(15));
        assert_eq!(spec.frame_timeout(false), Duration::from_millis(6400));
    }
}
