//! `vigil eval detect|mask`: accuracy on the labelled test images. Safe while the
//! server runs (reads files only).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use vigil_config::Settings;
use vigil_vision::eval::{eval_detect, eval_mask, Labels};
use vigil_vision::{DetectOptions, DetectorKind};

use super::vision_flags::VisionFlags;

/// Evaluate detection (recall/precision at IoU 0.5) or mask accuracy on labelled images.
/// Safe while the server runs.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// What to evaluate.
    #[command(subcommand)]
    pub what: EvalWhat,
    /// Ground truth file (format: testdata/README.md).
    #[arg(long, global = true, default_value = "testdata/labels.json")]
    pub labels: PathBuf,
    /// Directory the label file's image names are relative to.
    #[arg(long, global = true, default_value = "testdata/images")]
    pub images: PathBuf,
    /// Models folder and engine (default: the configuration's).
    #[command(flatten)]
    pub vision: VisionFlags,
    /// Print JSON (with per-image detail) instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Evaluation target.
#[derive(Debug, Subcommand)]
pub enum EvalWhat {
    /// Face detection recall and precision at IoU 0.5.
    Detect {
        /// Detector: res10, blazeface or mtcnn.
        #[arg(long, default_value = "res10")]
        detector: DetectorKind,
        /// Score threshold [default: vision.det_threshold].
        #[arg(long)]
        threshold: Option<f32>,
        /// Disable tiling.
        #[arg(long)]
        no_tiling: bool,
    },
    /// Mask classification accuracy on the labelled face boxes.
    Mask,
}

/// Runs `vigil eval` (blocking) with `settings` from the configuration layers.
pub fn run(settings: &Settings, args: EvalArgs) -> anyhow::Result<()> {
    let labels = Labels::load(&args.labels)?;
    let mut settings = args.vision.apply(settings);
    // One image at a time: one session per model is enough.
    settings.vision.workers = Some(1);
    let pipeline = vigil_core::vision::load_pipeline(&settings).context("while loading models")?;
    match args.what {
        EvalWhat::Detect {
            detector,
            threshold,
            no_tiling,
        } => {
            let opts = DetectOptions {
                threshold: threshold.unwrap_or(settings.vision.det_threshold),
                tiling: !no_tiling,
                ..DetectOptions::default()
            };
            let report = eval_detect(pipeline.detector(detector)?, &args.images, &labels, &opts)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for r in &report.per_image {
                    println!(
                        "{:<55} labelled {:>2}  detected {:>2}  matched {:>2}",
                        r.image, r.labelled, r.detected, r.matched
                    );
                }
                println!(
                    "detector {} engine {} threshold {:.2} IoU {:.1}: recall {:.3} ({}/{}), precision {:.3} ({}/{})",
                    report.detector,
                    pipeline.engine_name(),
                    report.threshold,
                    report.iou,
                    report.recall,
                    report.true_positives,
                    report.labelled,
                    report.precision,
                    report.true_positives,
                    report.detected
                );
            }
        }
        EvalWhat::Mask => {
            let classifier = pipeline
                .mask_classifier()
                .context("the mask model is not loaded")?;
            let report = eval_mask(classifier, &args.images, &labels)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for c in &report.cases {
                    println!(
                        "{:<55} {:?} expected {:<7} got {:<7} {:.3}",
                        c.image,
                        c.bbox,
                        c.expected.as_str(),
                        c.predicted.as_str(),
                        c.score
                    );
                }
                println!(
                    "mask engine {}: accuracy {:.3} ({}/{}), masked faces recognised {}/{}",
                    pipeline.engine_name(),
                    report.accuracy,
                    report.correct,
                    report.faces,
                    report.masked_correct,
                    report.masked
                );
            }
        }
    }
    Ok(())
}
