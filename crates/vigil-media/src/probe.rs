//! Asking ffprobe what a source is: the camera's "test connection", the size a reader
//! should use, and (later) uploaded videos.
//!
//! ffprobe is run like ffmpeg: an argument vector, stdin closed, the input's protocol
//! whitelist and I/O timeout, killed when the overall deadline passes or the future is
//! dropped. Its stdout is read up to [`MAX_FFPROBE_JSON`] bytes and parsed by the pure
//! [`MediaInfo::from_ffprobe_json`]; a failure is classified from its stderr like the
//! reader's.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::diagnose::{classify, Exit, FailureKind};
use crate::error::{Failure, MediaError};
use crate::info::{MediaInfo, MAX_FFPROBE_JSON};
use crate::input::Input;
use crate::stderr;
use crate::tools::Ffprobe;

/// Describes `input` with ffprobe.
///
/// `io_timeout` bounds each network read or connect; the whole probe is given twice
/// that plus 5 s (ffprobe reads a few seconds of a live stream to find its rate), after
/// which ffprobe is killed and the error is [`FailureKind::TimedOut`].
///
/// # Errors
/// [`MediaError::Failed`] with what ffprobe's stderr and exit said,
/// [`MediaError::Probe`] when its output names no usable video stream,
/// [`MediaError::Spawn`] when it cannot be started.
pub async fn probe(
    ffprobe: &Ffprobe,
    input: &Input,
    io_timeout: Duration,
) -> Result<MediaInfo, MediaError> {
    let mut cmd = Command::new(ffprobe.path());
    cmd.args(["-hide_banner", "-loglevel", "error"])
        .args(["-print_format", "json", "-show_streams", "-show_format"])
        .args(input.args(io_timeout, false))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| MediaError::Spawn {
        tool: "ffprobe",
        reason: e.to_string(),
    })?;
    let (ring, drain) = match child.stderr.take() {
        Some(err) => {
            let (ring, task) = stderr::drain(err, input.redactor(), "ffprobe");
            (Some(ring), Some(task))
        }
        None => (None, None),
    };
    let stdout = child.stdout.take();
    let deadline = io_timeout * 2 + Duration::from_secs(5);

    let run = async {
        let mut out = Vec::new();
        if let Some(stdout) = stdout {
            // One byte over the limit tells "too large" from "exactly the limit".
            let limit = (MAX_FFPROBE_JSON + 1) as u64;
            stdout.take(limit).read_to_end(&mut out).await.ok();
        }
        let status = child.wait().await;
        (out, status)
    };
    let finished = tokio::time::timeout(deadline, run).await;
    let (out, exit, timed_out) = match finished {
        Ok((out, Ok(status))) => (out, Exit::from_status(status), false),
        Ok((out, Err(_))) => (out, Exit::Unknown, false),
        Err(_) => {
            // Kill and reap it now rather than leave it to the drop.
            let _ = child.kill().await;
            (Vec::new(), Exit::Unknown, true)
        }
    };
    if let Some(task) = drain {
        // The pipe closes when ffprobe ends; do not wait long for a stuck reader.
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
    let lines = ring
        .and_then(|r| r.lock().ok().map(|r| r.lines()))
        .unwrap_or_default();

    if exit == Exit::Code(0) {
        return MediaInfo::from_ffprobe_json(&out).map_err(MediaError::Probe);
    }
    let kind = if timed_out {
        FailureKind::TimedOut
    } else {
        classify(&lines, exit, input.kind(), started.elapsed(), io_timeout)
    };
    Err(MediaError::Failed(Failure {
        kind,
        tool: "ffprobe",
        exit,
        lines,
    }))
}
