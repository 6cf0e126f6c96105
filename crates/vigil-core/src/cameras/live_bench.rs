//! The live benchmark (`vigil bench --live`): how many 640×480 cameras at 5 detect-fps
//! one instance sustains, with motion gating off and on.
//!
//! Each stream is a real `file` camera (started at staggered moments, so the clip's
//! second of motion does not hit every camera at once): an ffmpeg child decoding a looped H.264 clip at
//! its own rate (`-re`) and delivering raw frames at the detect rate, exactly as an RTSP
//! camera's frames arrive, through the same worker, motion gate, live lane, tracker and
//! statistics as production. Per stream count the run waits `warmup`, then counts for
//! `seconds`: frames received, analysed, skipped by the gate and **dropped** (replaced
//! by a newer frame while the camera's analysis was busy). Latest frame wins, so lag
//! never grows; a machine that cannot keep up drops frames instead, and a stream count
//! is *sustained* when under 2% of frames are dropped and every stream still gets its
//! frames. CPU is this process plus its ffmpeg children (from `/proc`), memory likewise as
//! PSS (shared pages divided among the processes that map them).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use vigil_auth::audit::Actor;
use vigil_config::Settings;

use super::{Cameras, NewCamera, SettingsPatch};
use crate::vision::VisionService;

/// What to measure.
#[derive(Debug, Clone)]
pub struct LiveBenchConfig {
    /// Stream counts, one measurement each.
    pub streams: Vec<usize>,
    /// Motion gating off (`false`) and/or on (`true`), one measurement each.
    pub gating: Vec<bool>,
    /// The clip every camera loops (H.264 MP4 recommended).
    pub clip: PathBuf,
    /// Frames analysed per second per camera.
    pub detect_fps: f32,
    /// Width frames are analysed at.
    pub width: u32,
    /// Untimed seconds after the cameras start.
    pub warmup: Duration,
    /// Timed seconds.
    pub seconds: Duration,
    /// Camera starts are spread over this long (the clip's length), so their motion is
    /// not in step.
    pub stagger: Duration,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct LiveBenchRow {
    /// Cameras running.
    pub streams: usize,
    /// Motion gating on.
    pub gating: bool,
    /// Frames received per second per stream.
    pub in_fps: f64,
    /// Frames analysed per second per stream.
    pub analysed_fps: f64,
    /// Share of received frames the gate skipped, %.
    pub gated_pct: f64,
    /// Share of received frames dropped while busy, %.
    pub dropped_pct: f64,
    /// Mean inference time per analysed frame, ms.
    pub inference_ms: f64,
    /// CPU of this process and its ffmpeg children, % of one core.
    pub cpu_pct: f64,
    /// CPU per stream, % of one core.
    pub cpu_per_stream_pct: f64,
    /// Memory of this process and its children (peak PSS), MiB.
    pub rss_mib: f64,
    /// Memory per stream above the zero-stream baseline, MiB.
    pub rss_per_stream_mib: f64,
    /// Under 2% dropped and each stream received at least 90% of its frames.
    pub sustained: bool,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct LiveBenchReport {
    /// Inference engine.
    pub engine: String,
    /// Inference workers.
    pub workers: usize,
    /// Cores on this machine.
    pub cores: usize,
    /// Detect rate per camera.
    pub detect_fps: f32,
    /// Analysis width.
    pub width: u32,
    /// Clip looped by every camera.
    pub clip: String,
    /// Memory (PSS) with no camera, MiB.
    pub baseline_rss_mib: f64,
    /// Measurements.
    pub rows: Vec<LiveBenchRow>,
}

impl LiveBenchReport {
    /// The report as a text table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "live cameras: {} engine, {} workers on {} cores, {} detect-fps at {} px, clip {}",
            self.engine, self.workers, self.cores, self.detect_fps, self.width, self.clip
        );
        let _ = writeln!(
            out,
            "{:>7} {:>6} {:>7} {:>9} {:>7} {:>8} {:>8} {:>7} {:>10} {:>8} {:>11} {:>9}",
            "streams",
            "gating",
            "in fps",
            "analysed",
            "gated%",
            "dropped%",
            "infer ms",
            "cpu%",
            "cpu/strm%",
            "mem MiB",
            "MiB/stream",
            "sustained"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:>7} {:>6} {:>7.2} {:>9.2} {:>7.1} {:>8.1} {:>8.1} {:>7.0} {:>10.1} {:>8.0} {:>11.1} {:>9}",
                r.streams,
                if r.gating { "on" } else { "off" },
                r.in_fps,
                r.analysed_fps,
                r.gated_pct,
                r.dropped_pct,
                r.inference_ms,
                r.cpu_pct,
                r.cpu_per_stream_pct,
                r.rss_mib,
                r.rss_per_stream_mib,
                if r.sustained { "yes" } else { "NO" }
            );
        }
        out
    }
}

/// CPU seconds and memory (PSS, KiB) of this process and its direct children.
fn usage() -> (f64, f64) {
    let me = std::process::id();
    let ticks = 100.0; // USER_HZ on Linux
    let mut cpu = 0.0;
    let mut rss_kib = 0.0;
    let read = |pid: &str| -> Option<(u32, f64, f64)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command (which may hold spaces) in its parentheses.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid: u32 = fields.get(1)?.parse().ok()?;
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        // Proportional set size: shared pages (ffmpeg's libraries, the models) divided
        // among the processes mapping them, so the sum is real memory; RSS would count
        // libavcodec once per camera.
        let pss_kib = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("Pss:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        Some((ppid, (utime + stime) / ticks, pss_kib))
    };
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str() else { continue };
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Some((ppid, secs, rss)) = read(pid) {
                if pid == me.to_string() || ppid == me {
                    cpu += secs;
                    rss_kib += rss;
                }
            }
        }
    }
    (cpu, rss_kib)
}

fn totals(cameras: &Cameras) -> (u64, u64, u64, u64, u64) {
    cameras
        .metrics()
        .iter()
        .fold((0, 0, 0, 0, 0), |acc, (_, _, _, m)| {
            (
                acc.0 + m.frames_in.load(Ordering::Relaxed),
                acc.1 + m.frames_analysed.load(Ordering::Relaxed),
                acc.2 + m.frames_gated.load(Ordering::Relaxed),
                acc.3 + m.frames_dropped.load(Ordering::Relaxed),
                acc.4 + m.inference_us.load(Ordering::Relaxed),
            )
        })
}

/// Runs the benchmark: cameras in a scratch data folder (SQLite, local blobs) next to
/// nothing else, `vision` shared by all of them.
pub async fn bench_live(
    settings: &Settings,
    vision: Arc<VisionService>,
    config: &LiveBenchConfig,
) -> anyhow::Result<LiveBenchReport> {
    let scratch = tempfile::tempdir().context("creating a scratch data folder")?;
    let files = scratch.path().join("clips");
    std::fs::create_dir_all(&files)?;
    std::fs::copy(&config.clip, files.join("clip.mp4"))
        .with_context(|| format!("copying {}", config.clip.display()))?;
    let mut settings = settings.clone();
    settings.data_dir = scratch.path().to_path_buf();
    settings.database.url = None;
    settings.storage = vigil_config::StorageSettings::default();
    settings.redis_url = None;
    settings.cameras.files_dir = Some(files);
    settings.secret_key = Some(vigil_config::Secret::new(
        "live-bench-secret-key-0123456789-abcdefghij",
    ));
    let engine = vision.pipeline.engine_name().to_string();
    let workers = vision.pool.config().workers;
    let cameras = Cameras::open_for_command(&settings, Some(vision)).await?;
    let (_, baseline_kib) = usage();
    let mut rows = Vec::new();
    for &gating in &config.gating {
        for &n in &config.streams {
            let row = measure(&cameras, config, n, gating, baseline_kib).await;
            // Remove the cameras whatever happened, then report.
            for camera in cameras.list().await? {
                cameras.delete(&Actor::cli(), camera.id.as_str()).await?;
            }
            let row = row?;
            tracing::info!(streams = n, gating, sustained = row.sustained, "measured");
            rows.push(row);
        }
    }
    cameras.close().await;
    Ok(LiveBenchReport {
        engine,
        workers,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        detect_fps: config.detect_fps,
        width: config.width,
        clip: config.clip.display().to_string(),
        baseline_rss_mib: baseline_kib / 1024.0,
        rows,
    })
}

async fn measure(
    cameras: &Cameras,
    config: &LiveBenchConfig,
    n: usize,
    gating: bool,
    baseline_kib: f64,
) -> anyhow::Result<LiveBenchRow> {
    for i in 0..n {
        // Started spread over one loop of the clip: every camera looping the same clip in
        // step would see the same second of motion at the same moment, which no real set
        // of cameras does.
        if i > 0 {
            tokio::time::sleep(config.stagger / u32::try_from(n).unwrap_or(1)).await;
        }
        cameras
            .create(
                &Actor::cli(),
                NewCamera {
                    name: format!("bench-{i}"),
                    url: "file:clip.mp4".into(),
                    enabled: true,
                    settings: SettingsPatch {
                        detect_fps: Some(config.detect_fps),
                        detect_width: Some(config.width),
                        motion_gating: Some(gating),
                        ..SettingsPatch::default()
                    },
                },
            )
            .await?;
    }
    tokio::time::sleep(config.warmup).await;
    let before = totals(cameras);
    let (cpu0, _) = usage();
    let t0 = Instant::now();
    // Memory sampled through the run; the peak is reported.
    let mut rss_peak: f64 = 0.0;
    while t0.elapsed() < config.seconds {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_peak = rss_peak.max(usage().1);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let after = totals(cameras);
    let (cpu1, _) = usage();
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64;
    let (frames, analysed, gated, dropped, inference_us) = (
        d(after.0, before.0),
        d(after.1, before.1),
        d(after.2, before.2),
        d(after.3, before.3),
        d(after.4, before.4),
    );
    let per_stream = |x: f64| x / elapsed / n.max(1) as f64;
    let pct = |x: f64| {
        if frames > 0.0 {
            100.0 * x / frames
        } else {
            0.0
        }
    };
    let cpu_pct = 100.0 * (cpu1 - cpu0) / elapsed;
    let in_fps = per_stream(frames);
    Ok(LiveBenchRow {
        streams: n,
        gating,
        in_fps,
        analysed_fps: per_stream(analysed),
        gated_pct: pct(gated),
        dropped_pct: pct(dropped),
        inference_ms: if analysed > 0.0 {
            inference_us / analysed / 1000.0
        } else {
            0.0
        },
        cpu_pct,
        cpu_per_stream_pct: cpu_pct / n.max(1) as f64,
        rss_mib: rss_peak / 1024.0,
        rss_per_stream_mib: (rss_peak - baseline_kib).max(0.0) / 1024.0 / n.max(1) as f64,
        sustained: pct(dropped) < 2.0 && in_fps >= 0.9 * f64::from(config.detect_fps),
    })
}

/// Makes the default clip: 12 s of `photo` at 10 fps, 640×480, still except for one
/// second of the picture panning (a person stepping in view), as a mostly still scene.
pub fn make_clip(ffmpeg: &Path, photo: &Path, out: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new(ffmpeg)
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-loop",
            "1",
            "-i",
        ])
        .arg(photo)
        .args([
            "-vf",
            "scale=680:510,crop=640:480:x='if(between(t,10,11),(t-10)*40,0)':y=0,format=yuv420p",
            "-t",
            "12",
            "-r",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
        ])
        .arg(out)
        .status()
        .context("running ffmpeg")?;
    anyhow::ensure!(status.success(), "ffmpeg could not make the benchmark clip");
    Ok(())
}
