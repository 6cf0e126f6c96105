//! `vigil analyze FILE…`: run the vision pipeline on image files. Safe while the server
//! runs (reads model files only; uses its own CPU).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vigil_vision::{
    AnalyzeOptions, DetectOptions, DetectorKind, EngineConfig, EngineKind, Pipeline, PipelineConfig,
};

/// Analyse image files: faces, masks and, on request, embeddings and liveness.
/// Safe to run while the server runs.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Image files (JPEG, PNG or WebP).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the API's JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Write the image with boxes and labels to this JPEG (single input file only).
    #[arg(long, value_name = "OUT.jpg")]
    pub annotate: Option<PathBuf>,
    /// Face detector: res10, blazeface or mtcnn.
    #[arg(long, default_value = "res10")]
    pub detector: DetectorKind,
    /// Compute a face embedding per face.
    #[arg(long)]
    pub embedding: bool,
    /// Compute a liveness score per face.
    #[arg(long)]
    pub liveness: bool,
    /// Inference engine: auto, onnxruntime or rten.
    #[arg(long, default_value = "auto")]
    pub engine: EngineKind,
    /// Directory holding the .onnx models.
    #[arg(long, default_value = "models", value_name = "DIR")]
    pub models_dir: PathBuf,
    /// Detection threshold in [0, 1].
    #[arg(long, default_value_t = 0.75)]
    pub threshold: f32,
    /// Do not run the detector on tiles (faster, misses small faces in large images).
    #[arg(long)]
    pub no_tiling: bool,
    /// Threads per model run.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Runs `vigil analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    if args.annotate.is_some() && args.files.len() != 1 {
        anyhow::bail!("--annotate needs exactly one input file");
    }
    let config = PipelineConfig {
        models_dir: args.models_dir.clone(),
        engine: EngineConfig {
            kind: args.engine,
            threads: args.threads,
            // One file at a time: one session per model is enough.
            concurrent_runs: 1,
            ..EngineConfig::default()
        },
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::load(&config).context("while loading models")?;
    if let Some(reason) = pipeline.engine().fallback_reason() {
        eprintln!("engine: rten (ONNX Runtime unavailable: {reason})");
    }
    let opts = AnalyzeOptions {
        detector: args.detector,
        detect: DetectOptions {
            threshold: args.threshold,
            tiling: !args.no_tiling,
            ..DetectOptions::default()
        },
        embedding: args.embedding,
        liveness: args.liveness,
    };
    for file in &args.files {
        let bytes =
            std::fs::read(file).with_context(|| format!("while reading {}", file.display()))?;
        let (analysis, jpeg) = if args.annotate.is_some() {
            let (a, j) = pipeline
                .analyze_annotated(&bytes, &opts)
                .with_context(|| format!("while analysing {}", file.display()))?;
            (a, Some(j))
        } else {
            let a = pipeline
                .analyze(&bytes, &opts)
                .with_context(|| format!("while analysing {}", file.display()))?;
            (a, None)
        };
        if args.json {
            println!("{}", serde_json::to_string(&analysis)?);
        } else {
            let t = &analysis.timings_ms;
            println!(
                "{}: {}x{}, {} face(s), engine {}, decode {:.1} ms, detect {:.1} ms, mask {:.1} ms, total {:.1} ms",
                file.display(),
                analysis.image.width,
                analysis.image.height,
                analysis.faces.len(),
                analysis.engine,
                t.decode,
                t.detect,
                t.mask,
                t.total
            );
            for face in &analysis.faces {
                let b = face.bbox;
                let mask = face.mask.map_or_else(
                    || "-".to_owned(),
                    |m| format!("{} {:.2}", m.label.as_str(), m.score),
                );
                let live = face.liveness.map_or_else(String::new, |l| {
                    format!(
                        "  liveness {:.2} ({})",
                        l.score,
                        if l.live { "live" } else { "not live" }
                    )
                });
                let emb = face
                    .embedding
                    .as_ref()
                    .map_or_else(String::new, |e| format!("  embedding[{}]", e.len()));
                println!(
                    "  box {:.0},{:.0} {:.0}x{:.0}  score {:.3}  {mask}{live}{emb}",
                    b.x, b.y, b.width, b.height, face.score
                );
            }
        }
        if let (Some(out), Some(jpeg)) = (&args.annotate, jpeg) {
            std::fs::write(out, jpeg)
                .with_context(|| format!("while writing {}", out.display()))?;
        }
    }
    Ok(())
}
