//! One running camera: connect, read frames, analyse the latest, track, raise
//! violations, publish, reconnect with back-off when the source fails.
//!
//! Two tasks per connection. The reader pulls frames from the source as fast as the
//! source sends them and leaves each in a one-frame [`Slot`], replacing the one waiting
//! (counted as skipped). The worker takes whatever frame is in the slot when it is free.
//! So a slow analysis never makes frames queue up behind it: the lag stays one frame
//! and the ffmpeg pipe never fills (a full pipe would stall ffmpeg and, for RTSP, make
//! it fall behind the camera).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use image::RgbImage;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use vigil_store::now_ms;

use super::model::{CameraState, CameraStatus, LiveFace, StateChange};
use super::process::{Analyzer, LiveFrame};
use super::source::{self, FrameSource};
use super::stats::StatsBatch;
use super::{lock, CameraSpec, Cameras, Running};
use crate::events::EventKind;
use crate::net::SourceUrl;

/// A frame sent by a browser page, with where to send its result.
#[derive(Debug)]
pub struct BrowserFrame {
    /// One JPEG picture.
    pub jpeg: Bytes,
    /// Gets the result (dropped when a newer frame replaced this one: the page sends its
    /// next frame then).
    pub reply: oneshot::Sender<FrameReply>,
}

/// The result of one frame, as the browser page draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameReply {
    /// Analysed frame width (the page scales boxes to its video).
    pub width: u32,
    /// Analysed frame height.
    pub height: u32,
    /// Faces with their tracks and smoothed labels.
    pub faces: Vec<LiveFace>,
    /// Whether this frame raised a violation.
    pub violation: bool,
    /// Whether detection was skipped (no motion): `faces` are the last known boxes.
    pub skipped: bool,
}

/// Counters of one camera worker, read by `/metrics`.
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    /// Camera name (a label; follows renames).
    pub name: Mutex<String>,
    /// Frames received from the source.
    pub frames_in: AtomicU64,
    /// Frames analysed (detection ran).
    pub frames_analysed: AtomicU64,
    /// Frames not analysed because nothing moved (the motion gate).
    pub frames_gated: AtomicU64,
    /// Frames replaced by a newer one while the worker was busy: the measure of a
    /// camera the machine cannot keep up with (latest frame wins, so lag never grows;
    /// frames are dropped instead).
    pub frames_dropped: AtomicU64,
    /// Reconnections after a failure (ffmpeg restarts for ffmpeg sources).
    pub restarts: AtomicU64,
    /// Violations raised.
    pub violations: AtomicU64,
    /// Total inference time, microseconds (with `frames_analysed`, the mean latency).
    pub inference_us: AtomicU64,
}

/// A frame waiting for the worker.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// The pixels, decoded (ffmpeg) or still JPEG (browsers, HTTP cameras: decoded on
    /// the inference lane).
    pub pixels: Pixels,
    /// Where the result goes (browser frames).
    pub reply: Option<oneshot::Sender<FrameReply>>,
}

/// Frame pixels.
#[derive(Debug)]
pub(crate) enum Pixels {
    /// Decoded RGB.
    Rgb(RgbImage),
    /// A JPEG file.
    Jpeg(Bytes),
}

/// The one frame waiting; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    frame: Mutex<Option<Incoming>>,
    ready: Notify,
}

impl Slot {
    /// Leaves `frame` for the worker; returns whether it replaced one.
    pub fn put(&self, frame: Incoming) -> bool {
        let replaced = lock(&self.frame).replace(frame).is_some();
        self.ready.notify_one();
        replaced
    }

    pub fn take(&self) -> Option<Incoming> {
        lock(&self.frame).take()
    }
}

/// Waits between reconnections: 1 s doubling to 15 s; a connection that delivered
/// frames for 30 s starts again from 1 s.
fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(4);
    Duration::from_secs(secs.min(15))
}

/// How long without a frame before a source counts as failed: three frame periods, at
/// least 5 s (ffmpeg needs a moment to open a stream), at most 10 s (the promise
/// for noticing a dead camera).
fn frame_timeout(detect_fps: f32) -> Duration {
    Duration::from_secs_f32((3.0 / detect_fps.max(0.1)).clamp(5.0, 10.0))
}

/// Starts a camera's worker on the application's runtime.
pub(crate) fn spawn(cameras: Cameras, spec: CameraSpec, metrics: Arc<WorkerMetrics>) -> Running {
    let runtime = cameras.deps().runtime.clone();
    let stop = runtime.token().child_token();
    let (status_tx, status_rx) = watch::channel(CameraStatus {
        state: CameraState::Starting,
        error: None,
        since: now_ms(),
        fps: 0.0,
    });
    let (live_tx, live_rx) = watch::channel(None);
    let (browser_tx, browser_rx) = match spec.source {
        SourceUrl::Browser => {
            // One frame waiting in the channel is enough: the slot does the rest.
            let (tx, rx) = mpsc::channel(2);
            (Some(tx), Some(rx))
        }
        _ => (None, None),
    };
    *lock(&metrics.name) = spec.name.clone();
    let (done_tx, done_rx) = oneshot::channel();
    let worker = Worker {
        cameras,
        spec,
        stop: stop.clone(),
        status: status_tx,
        live: live_tx,
        metrics: Arc::clone(&metrics),
        stats: StatsBatch::default(),
    };
    runtime.spawn_tracked(async move {
        worker.run(browser_rx).await;
        let _ = done_tx.send(());
    });
    Running {
        updated_at: 0,
        stop,
        status: status_rx,
        live: live_rx,
        browser: browser_tx,
        metrics,
        done: done_rx,
    }
}

struct Worker {
    cameras: Cameras,
    spec: CameraSpec,
    stop: crate::runtime::CancellationToken,
    status: watch::Sender<CameraStatus>,
    live: watch::Sender<Option<Arc<LiveFrame>>>,
    metrics: Arc<WorkerMetrics>,
    stats: StatsBatch,
}

/// Why a connection ended.
enum Ended {
    /// Stop was asked for.
    Stopped,
    /// The source failed; the text is in plain words.
    Failed(String),
}

impl Worker {
    async fn set_state(&self, state: CameraState, error: Option<String>) {
        let changed = {
            let current = self.status.borrow();
            current.state != state || current.error != error
        };
        if !changed {
            return;
        }
        if let Some(e) = &error {
            tracing::warn!(camera = %self.spec.name, state = state.as_str(), error = %e, "camera state");
        } else {
            tracing::info!(camera = %self.spec.name, state = state.as_str(), "camera state");
        }
        self.status.send_modify(|s| {
            s.state = state;
            s.error = error;
            s.since = now_ms();
            if state != CameraState::Online {
                s.fps = 0.0;
            }
        });
        let status = self.status.borrow().clone();
        self.cameras
            .publish(EventKind::CameraState(StateChange {
                camera_id: self.spec.id.clone(),
                name: self.spec.name.clone(),
                status,
            }))
            .await;
    }

    async fn run(mut self, mut browser: Option<mpsc::Receiver<BrowserFrame>>) {
        let mut analyzer = match Analyzer::new(&self.cameras, &self.spec) {
            Ok(a) => a,
            Err(e) => {
                self.set_state(CameraState::Offline, Some(e)).await;
                // Nothing will change until the camera is edited: wait for stop.
                self.stop.cancelled().await;
                self.finish().await;
                return;
            }
        };
        let mut failures = 0u32;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            self.set_state(CameraState::Starting, None).await;
            let opened = tokio::select! {
                () = self.stop.cancelled() => break,
                r = source::open(&self.cameras, &self.spec, browser.take()) => r,
            };
            let started = Instant::now();
            let ended = match opened {
                Ok(src) => {
                    let (ended, returned) = self.connection(src, &mut analyzer).await;
                    browser = returned;
                    ended
                }
                Err(e) => Ended::Failed(e),
            };
            let Ended::Failed(error) = ended else { break };
            if started.elapsed() >= Duration::from_secs(30) {
                failures = 0;
            }
            failures = failures.saturating_add(1);
            self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
            self.set_state(CameraState::Offline, Some(error)).await;
            self.flush_stats().await;
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = tokio::time::sleep(backoff(failures)) => {}
            }
        }
        self.finish().await;
    }

    async fn finish(&mut self) {
        self.flush_stats().await;
        self.set_state(CameraState::Stopped, None).await;
    }

    async fn flush_stats(&mut self) {
        let batch = std::mem::take(&mut self.stats);
        batch
            .flush(&self.cameras.deps().db, self.spec.id.as_str())
            .await;
    }

    /// Reads and analyses frames from one opened source until it fails or stop is
    /// asked; gives back the browser channel (it outlives connections).
    async fn connection(
        &mut self,
        src: FrameSource,
        analyzer: &mut Analyzer,
    ) -> (Ended, Option<mpsc::Receiver<BrowserFrame>>) {
        let slot = Arc::new(Slot::default());
        let is_browser = src.is_browser();
        let reader_stop = self.stop.child_token();
        let reader = tokio::spawn(src.pump(
            Arc::clone(&slot),
            Arc::clone(&self.metrics),
            reader_stop.clone(),
        ));
        let timeout = frame_timeout(self.spec.settings.detect_fps);
        let period = Duration::from_secs_f32(1.0 / self.spec.settings.detect_fps);
        let mut last_frame = Instant::now();
        let mut online = false;
        let mut fps_window = (
            Instant::now(),
            self.metrics.frames_in.load(Ordering::Relaxed),
        );
        let mut last_flush = Instant::now();
        let mut next_due = Instant::now();
        let ended = loop {
            tokio::select! {
                () = self.stop.cancelled() => break Ended::Stopped,
                () = slot.ready.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if reader.is_finished() {
                break Ended::Failed(String::new());
            }
            // Pace analysis at the detect rate (browser pages and HTTP snapshots may send
            // faster); frames arriving meanwhile replace each other in the slot.
            let now = Instant::now();
            if now < next_due {
                tokio::select! {
                    () = self.stop.cancelled() => break Ended::Stopped,
                    () = tokio::time::sleep(next_due - now) => {}
                }
            }
            if let Some(frame) = slot.take() {
                last_frame = Instant::now();
                // Due times on a fixed grid of the detect period, so a source whose frames
                // arrive unevenly (ffmpeg under load delivers some in pairs) still has
                // each analysed; at most one period of catching up, never a burst.
                next_due =
                    (next_due + period).max(last_frame.checked_sub(period).unwrap_or(last_frame));
                if !online {
                    online = true;
                    self.set_state(CameraState::Online, None).await;
                }
                self.frame(frame, analyzer).await;
            } else if last_frame.elapsed() > timeout {
                let secs = timeout.as_secs();
                if is_browser {
                    // A browser camera waits for its page; it is offline meanwhile.
                    if online || self.status.borrow().state == CameraState::Starting {
                        online = false;
                        self.set_state(
                            CameraState::Offline,
                            Some(format!(
                                "no browser page has sent frames for {secs} s (open the camera's browser page)"
                            )),
                        )
                        .await;
                    }
                } else {
                    break Ended::Failed(format!("no frames from the camera for {secs} s"));
                }
            }
            // Frames per second received, over the last 2 s or more.
            let elapsed = fps_window.0.elapsed();
            if elapsed >= Duration::from_secs(2) {
                let total = self.metrics.frames_in.load(Ordering::Relaxed);
                let fps = (total - fps_window.1) as f32 / elapsed.as_secs_f32();
                self.status
                    .send_modify(|s| s.fps = (fps * 10.0).round() / 10.0);
                fps_window = (Instant::now(), total);
            }
            if last_flush.elapsed() >= Duration::from_secs(5) {
                self.flush_stats().await;
                last_flush = Instant::now();
            }
        };
        reader_stop.cancel();
        let outcome = reader.await;
        let (reason, browser) = match outcome {
            Ok(result) => (result.error, result.browser),
            Err(e) => (Some(format!("the frame reader failed: {e}")), None),
        };
        let ended = match ended {
            Ended::Failed(msg) if msg.is_empty() => {
                Ended::Failed(reason.unwrap_or_else(|| "the camera stream ended".to_string()))
            }
            other => other,
        };
        (ended, browser)
    }

    /// Analyses one frame and acts on the result.
    async fn frame(&mut self, frame: Incoming, analyzer: &mut Analyzer) {
        let Incoming { pixels, reply } = frame;
        let outcome = analyzer.analyse(&self.cameras, &self.spec, pixels).await;
        let result = match outcome {
            Ok(Some(r)) => r,
            Ok(None) => return, // superseded on the lane (cannot happen with one in flight)
            Err(e) => {
                tracing::warn!(camera = %self.spec.name, error = %e, "frame not analysed");
                return;
            }
        };
        if result.analysed {
            self.metrics.frames_analysed.fetch_add(1, Ordering::Relaxed);
            self.metrics
                .inference_us
                .fetch_add(result.inference_us, Ordering::Relaxed);
        } else {
            self.metrics.frames_gated.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.add(&result);
        let at = now_ms();
        let live = Arc::new(LiveFrame::new(
            result.image.clone(),
            result.faces.clone(),
            at,
        ));
        self.live.send_replace(Some(Arc::clone(&live)));
        let violation = !result.violations.is_empty();
        for v in result.violations {
            self.metrics.violations.fetch_add(1, Ordering::Relaxed);
            super::violations::raise(
                self.cameras.clone(),
                &self.spec,
                Arc::clone(&result.image),
                v,
                at,
            );
        }
        let (width, height) = result.image.dimensions();
        if let Some(reply) = reply {
            let _ = reply.send(FrameReply {
                width,
                height,
                faces: result.faces.clone(),
                violation,
                skipped: !result.analysed,
            });
        }
        self.cameras
            .publish(EventKind::Detections(super::model::Detections {
                camera_id: self.spec.id.clone(),
                at,
                width,
                height,
                faces: result.faces,
                skipped: !result.analysed,
            }))
            .await;
    }
}
