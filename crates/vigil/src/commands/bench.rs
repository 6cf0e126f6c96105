//! `vigil bench`: median latency per model, engine and thread count. Safe while the
//! server runs, but competes with it for CPU, so numbers are only meaningful on an idle box.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vigil_vision::bench::{bench, BenchConfig};
use vigil_vision::EngineKind;

/// Measure model latency per engine (onnxruntime, rten) at 1 and 2 threads.
/// Safe while the server runs; numbers are skewed if it is busy.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Input image.
    #[arg(long, default_value = "testdata/images/group_insightface_t1.jpg")]
    pub image: PathBuf,
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
}

/// Runs `vigil bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = bench(&BenchConfig {
        models_dir: args.models_dir,
        image: args.image,
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
