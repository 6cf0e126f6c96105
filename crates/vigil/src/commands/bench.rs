//! `vigil bench`: median latency per model, engine and thread count; with `--http URL`,
//! end-to-end throughput and latency of a running server's `POST /api/v1/analyze`
//! (see [`super::bench_http`]); with `--lanes`, interactive latency alone and under a
//! saturated batch lane plus a 30 frames/s live source
//! (`vigil_core::vision::lanes_bench`). Models, engine and workers come from the
//! configuration. Safe while the server runs, but competes with it for CPU, so the
//! numbers are only meaningful on an idle box.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use vigil_config::{Settings, VisionEngine};
use vigil_core::vision::lanes_bench::{bench_lanes, LanesBenchConfig};
use vigil_core::vision::{AnalysisRequest, VisionService};
use vigil_vision::bench::{bench, BenchConfig};
use vigil_vision::EngineKind;

use super::bench_http::{bench_http, parse_loopback_url, HttpBenchConfig};

/// Default input of the model benchmark (6 faces, 1280×886).
const MODEL_BENCH_IMAGE: &str = "testdata/images/group_insightface_t1.jpg";
/// Default input of the HTTP benchmark (one face, 640×480).
const HTTP_BENCH_IMAGE: &str = "testdata/images/bench_640x480.jpg";

/// Measure model latency per engine (onnxruntime, rten) at 1 and 2 threads, or with
/// `--http URL` the throughput and p50/p99 latency of a running server's
/// `POST /api/v1/analyze` (loopback only).
/// Safe while the server runs; numbers are skewed if it is busy.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Input image [default: testdata/images/group_insightface_t1.jpg; with --http
    /// testdata/images/bench_640x480.jpg].
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Directory holding the .onnx models [default: vision.models_dir, else beside the
    /// binary, /usr/share/vigil/models or ./models].
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Engines to measure [default: vision.engine, or onnxruntime,rten when it is auto].
    /// With --lanes: the first one runs the benchmark.
    #[arg(long, value_delimiter = ',')]
    pub engines: Vec<EngineKind>,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Timed runs per measurement.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Instead of the models, measure a running server at this base URL
    /// (`http://127.0.0.1:PORT`; loopback only): POST the image to `/api/v1/analyze`
    /// as `image/jpeg` from concurrent clients.
    #[arg(long, value_name = "URL", value_parser = parse_loopback_url)]
    pub http: Option<reqwest::Url>,
    /// With --http: concurrent clients, one measurement per value.
    #[arg(long, value_delimiter = ',', default_value = "1,2", requires = "http")]
    pub concurrency: Vec<usize>,
    /// With --http: requests per measurement (it stops at whichever of --requests and
    /// --duration comes first). With --lanes: interactive requests per phase.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// With --http: seconds per measurement at most.
    #[arg(long, default_value_t = 60.0, value_name = "SECS", requires = "http")]
    pub duration: f64,
    /// With --http or --lanes: untimed requests before each measurement.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Instead of the models, measure the inference lanes: interactive analyses of the
    /// image alone, then with the batch lane saturated and a live source submitting
    /// --fps frames per second (workers, engine and models from the configuration).
    #[arg(long, conflicts_with = "http")]
    pub lanes: bool,
    /// With --lanes: frames per second of the live source.
    #[arg(long, default_value_t = 30.0, requires = "lanes")]
    pub fps: f64,
    /// Instead of the models, measure live cameras: N `file` cameras looping a clip
    /// through ffmpeg at 5 detect-fps each, with motion gating off and on; frames
    /// analysed, dropped, CPU and memory (PSS) per stream (needs ffmpeg).
    #[arg(long, conflicts_with_all = ["http", "lanes"])]
    pub live: bool,
    /// With --live: stream counts to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,4,8,12,16,20,24",
        requires = "live"
    )]
    pub streams: Vec<usize>,
    /// With --live: motion gating settings to measure (`off`, `on`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "off,on",
        requires = "live"
    )]
    pub gating: Vec<String>,
    /// With --live: timed seconds per measurement (after 4 s of warm-up).
    #[arg(long, default_value_t = 15.0, requires = "live")]
    pub seconds: f64,
    /// With --live: the clip to loop [default: made from testdata/images/bench_640x480.jpg,
    /// still but for one second of panning in every 12].
    #[arg(long, requires = "live")]
    pub clip: Option<PathBuf>,
}

impl BenchArgs {
    /// `settings` with --models-dir and a single --engines value applied.
    fn apply(&self, settings: &Settings) -> Settings {
        let mut s = settings.clone();
        if let Some(dir) = &self.models_dir {
            s.vision.models_dir = Some(dir.clone());
        }
        if let Some(&engine) = self.engines.first() {
            s.vision.engine = vigil_core::vision::engine_setting(engine);
        }
        s
    }
}

/// Runs `vigil bench` (model latency; blocking, call off the async workers).
pub fn run(settings: &Settings, args: BenchArgs) -> anyhow::Result<()> {
    let settings = args.apply(settings);
    let config = vigil_core::vision::pipeline_config(&settings)?;
    let engines = match (args.engines.is_empty(), settings.vision.engine) {
        (false, _) => args.engines,
        (true, VisionEngine::Auto) => vec![EngineKind::OnnxRuntime, EngineKind::Rten],
        (true, engine) => vec![vigil_core::vision::engine_kind(engine)],
    };
    let report = bench(&BenchConfig {
        models_dir: config.models_dir,
        image: args
            .image
            .unwrap_or_else(|| PathBuf::from(MODEL_BENCH_IMAGE)),
        engines,
        threads: args.threads,
        runs: args.runs,
        ort_dylib_path: config.engine.ort_dylib_path,
    })
    .context("while benchmarking")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

/// Runs `vigil bench --http URL`.
pub async fn run_http(args: BenchArgs) -> anyhow::Result<()> {
    let Some(base) = args.http else {
        anyhow::bail!("run_http needs --http URL");
    };
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 3600.0) {
        anyhow::bail!("--duration must be in (0, 3600] seconds");
    }
    if args.concurrency.is_empty() || args.concurrency.iter().any(|&c| c == 0 || c > 64) {
        anyhow::bail!("--concurrency values must be between 1 and 64");
    }
    let report = bench_http(&HttpBenchConfig {
        base,
        image: args
            .image
            .unwrap_or_else(|| PathBuf::from(HTTP_BENCH_IMAGE)),
        concurrency: args.concurrency,
        requests: args.requests.max(1),
        duration: Duration::from_secs_f64(args.duration),
        warmup: args.warmup,
        timeout: Duration::from_secs(60),
    })
    .await
    .context("while benchmarking over HTTP")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

/// Runs `vigil bench --live`.
pub async fn run_live(settings: &Settings, args: BenchArgs) -> anyhow::Result<()> {
    use vigil_core::cameras::live_bench::{bench_live, make_clip, LiveBenchConfig};
    if !(args.seconds.is_finite() && args.seconds >= 1.0 && args.seconds <= 3600.0) {
        anyhow::bail!("--seconds must be between 1 and 3600");
    }
    if args.streams.is_empty() || args.streams.iter().any(|&n| n == 0 || n > 256) {
        anyhow::bail!("--streams values must be between 1 and 256");
    }
    let gating = args
        .gating
        .iter()
        .map(|g| match g.as_str() {
            "on" => Ok(true),
            "off" => Ok(false),
            other => Err(anyhow::anyhow!(
                "--gating takes `on` or `off`, not `{other}`"
            )),
        })
        .collect::<anyhow::Result<Vec<bool>>>()?;
    let settings = args.apply(settings);
    let scratch = tempfile::tempdir()?;
    let clip = match &args.clip {
        Some(clip) => clip.clone(),
        None => {
            let ffmpeg = vigil_core::cameras::MediaTools::from_settings(&settings)
                .ffmpeg()
                .map_err(|e| anyhow::anyhow!(e.plain_words()))?;
            let out = scratch.path().join("bench-clip.mp4");
            let photo = args
                .image
                .clone()
                .unwrap_or_else(|| PathBuf::from(HTTP_BENCH_IMAGE));
            make_clip(ffmpeg.path(), &photo, &out)?;
            out
        }
    };
    let load = settings.clone();
    let service = tokio::task::spawn_blocking(move || VisionService::load(&load))
        .await
        .context("the model loader thread failed")?
        .context("while loading models")?;
    let report = bench_live(
        &settings,
        Arc::new(service),
        &LiveBenchConfig {
            streams: args.streams.clone(),
            gating,
            clip,
            detect_fps: 5.0,
            width: 640,
            warmup: Duration::from_secs(4),
            seconds: Duration::from_secs_f64(args.seconds),
            stagger: Duration::from_secs(12),
        },
    )
    .await
    .context("while benchmarking live cameras")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

/// Runs `vigil bench --lanes`.
pub async fn run_lanes(settings: &Settings, args: BenchArgs) -> anyhow::Result<()> {
    if !(args.fps.is_finite() && args.fps > 0.0 && args.fps <= 1000.0) {
        anyhow::bail!("--fps must be in (0, 1000]");
    }
    let settings = args.apply(settings);
    let image_path = args
        .image
        .clone()
        .unwrap_or_else(|| PathBuf::from(HTTP_BENCH_IMAGE));
    let image = std::fs::read(&image_path)
        .with_context(|| format!("while reading {}", image_path.display()))?;
    let service = tokio::task::spawn_blocking(move || VisionService::load(&settings))
        .await
        .context("the model loader thread failed")?
        .context("while loading models")?;
    let report = bench_lanes(
        Arc::new(service),
        &LanesBenchConfig {
            image: Arc::from(image),
            image_name: image_path.display().to_string(),
            requests: args.requests.max(1),
            warmup: args.warmup,
            live_fps: args.fps,
            settle: Duration::from_secs(1),
            request: AnalysisRequest::default(),
        },
    )
    .await
    .context("while benchmarking the lanes")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
