//! `vigil analyze FILE…`: run the vision pipeline on image files. Safe while the server
//! runs (reads model files only; uses its own CPU).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vigil_config::Settings;
use vigil_core::vision::{AnalysisRequest, VisionService};
use vigil_vision::{DetectorKind, InferencePool, PoolConfig};

use super::vision_flags::VisionFlags;

/// Analyse image files: faces, masks and, on request, embeddings and liveness.
/// Models, engine, threads and decode limits come from the configuration (`--config`,
/// `VIGIL_VISION__*`, `VIGIL_LIMITS__*`); the flags below override single values.
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
    /// Models folder and engine.
    #[command(flatten)]
    pub vision: VisionFlags,
    /// Detection threshold in [0, 1] [default: vision.det_threshold].
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Do not run the detector on tiles (faster, misses small faces in large images).
    #[arg(long)]
    pub no_tiling: bool,
    /// Threads per model run [default: vision.threads].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `vigil analyze` (blocking) with `settings` from the configuration layers.
pub fn run(settings: &Settings, args: AnalyzeArgs) -> anyhow::Result<()> {
    if args.annotate.is_some() && args.files.len() != 1 {
        anyhow::bail!("--annotate needs exactly one input file");
    }
    let mut settings = args.vision.apply(settings);
    if let Some(threads) = args.threads {
        settings.vision.threads = threads;
    }
    // One file at a time: one session per model and one worker are enough.
    settings.vision.workers = Some(1);
    let models_dir = vigil_core::vision::models_dir(&settings)?;
    let pipeline = vigil_core::vision::load_pipeline(&settings).context("while loading models")?;
    if let Some(reason) = pipeline.engine().fallback_reason() {
        eprintln!("engine: rten (ONNX Runtime unavailable: {reason})");
    }
    eprintln!(
        "{} models from {}, engine {}",
        pipeline.models().len(),
        models_dir.display(),
        pipeline.engine_name()
    );
    let service = VisionService::new(
        pipeline,
        InferencePool::new(PoolConfig::new(1, 0)),
        settings.vision.det_threshold,
    );
    let request = AnalysisRequest {
        detector: Some(args.detector),
        det_threshold: args.threshold,
        embedding: args.embedding,
        liveness: args.liveness,
        tiling: Some(!args.no_tiling),
        annotate: args.annotate.is_some(),
    };
    for file in &args.files {
        let bytes =
            std::fs::read(file).with_context(|| format!("while reading {}", file.display()))?;
        let outcome = service
            .analyze_now(&bytes, &request)
            .with_context(|| format!("while analysing {}", file.display()))?;
        let (analysis, jpeg) = (outcome.analysis, outcome.annotated_jpeg);
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
