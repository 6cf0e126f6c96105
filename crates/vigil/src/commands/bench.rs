//! `vigil bench`: median latency per model, engine and thread count; with `--http URL`,
//! end-to-end throughput and latency of a running server's `POST /api/v1/analyze`
//! (see [`super::bench_http`]). Safe while the server runs, but competes with it for
//! CPU, so the model numbers are only meaningful on an idle box.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
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
    /// Directory holding the .onnx models.
    #[arg(long, default_value = "models", value_name = "DIR")]
    pub models_dir: PathBuf,
    /// Engines to measure.
    #[arg(long, value_delimiter = ',', default_value = "onnxruntime,rten")]
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
    /// --duration comes first).
    #[arg(long, default_value_t = 200, requires = "http")]
    pub requests: usize,
    /// With --http: seconds per measurement at most.
    #[arg(long, default_value_t = 60.0, value_name = "SECS", requires = "http")]
    pub duration: f64,
    /// With --http: untimed requests before each measurement.
    #[arg(long, default_value_t = 3, requires = "http")]
    pub warmup: usize,
}

/// Runs `vigil bench` (model latency; blocking, call off the async workers).
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = bench(&BenchConfig {
        models_dir: args.models_dir,
        image: args
            .image
            .unwrap_or_else(|| PathBuf::from(MODEL_BENCH_IMAGE)),
        engines: args.engines,
        threads: args.threads,
        runs: args.runs,
        ort_dylib_path: None,
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
