//! Latency benchmark: median time of one model run per model × engine × thread count,
//! plus the whole pipeline per image and the resize implementations, printed as a table
//! by `vigil bench`. Runs are sequential on purpose (latency, not throughput).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;

use crate::decode::{decode, DecodeLimits};
use crate::detect::{DetectOptions, Detector, DetectorKind};
use crate::error::VisionError;
use crate::model::{EngineConfig, EngineKind, ModelError};
use crate::pipeline::{AnalyzeOptions, ModelFiles, Pipeline, PipelineConfig};
use crate::preprocess::{crop_resize, crop_resize_with_image_crate};
use crate::result::{BBox, Face, ImageSize, MaskLabel, MaskResult};
use crate::track::{MotionConfig, MotionGate, Tracker, TrackerConfig};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Models directory.
    pub models_dir: PathBuf,
    /// Image used as input (its faces feed the mask model).
    pub image: PathBuf,
    /// Engines to try; one whose library is missing is reported and skipped.
    pub engines: Vec<EngineKind>,
    /// Thread counts to try.
    pub threads: Vec<usize>,
    /// Timed runs per cell (after one warm-up run).
    pub runs: usize,
    /// Path of libonnxruntime (None = `ORT_DYLIB_PATH` or `runtime/`).
    pub ort_dylib_path: Option<PathBuf>,
}

/// One measured cell.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// What ran: a model role, `pipeline:<detector>`, `resize:<impl>`, `track:20_faces`
    /// (one tracker update) or `motion_gate:frame` (one gate decision on the image).
    pub what: String,
    /// Engine (`-` for resize).
    pub engine: String,
    /// Threads per run.
    pub threads: usize,
    /// Median wall time of one run, ms.
    pub median_ms: f64,
    /// Fastest run, ms.
    pub min_ms: f64,
    /// Timed runs.
    pub runs: usize,
}

/// All measurements plus engines that could not be used.
#[derive(Debug, Clone, Serialize, Default)]
pub struct BenchReport {
    /// Measured cells.
    pub rows: Vec<BenchRow>,
    /// `(engine, reason)` for engines skipped.
    pub skipped: Vec<(String, String)>,
}

impl BenchReport {
    /// A fixed-width text table.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<22} {:<12} {:>7} {:>11} {:>9} {:>5}\n",
            "what", "engine", "threads", "median_ms", "min_ms", "runs"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<22} {:<12} {:>7} {:>11.3} {:>9.3} {:>5}",
                r.what, r.engine, r.threads, r.median_ms, r.min_ms, r.runs
            );
        }
        for (engine, reason) in &self.skipped {
            let _ = writeln!(out, "skipped {engine}: {reason}");
        }
        out
    }
}

fn time_runs(
    runs: usize,
    mut f: impl FnMut() -> Result<(), VisionError>,
) -> Result<(f64, f64), VisionError> {
    f()?; // warm-up
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times[0]))
}

/// One [`Tracker::update`] with 20 faces on a grid drifting 2 px per frame (tracks
/// matched, windows full after the first runs): the per-frame cost of tracking.
fn time_tracker(runs: usize) -> Result<(f64, f64), VisionError> {
    let mut tracker = Tracker::new(TrackerConfig::default())
        .map_err(|e| VisionError::Internal(format!("tracker config: {e}")))?;
    let size = ImageSize {
        width: 640,
        height: 480,
    };
    let mut frame_no = 0u64;
    time_runs(runs, || {
        frame_no += 1;
        let drift = (frame_no % 20) as f32 * 2.0;
        let faces: Vec<Face> = (0..20)
            .map(|i| Face {
                bbox: BBox {
                    x: 20.0 + 120.0 * (i % 5) as f32 + drift,
                    y: 20.0 + 110.0 * (i / 5) as f32,
                    width: 60.0,
                    height: 80.0,
                },
                score: 0.9,
                landmarks: Vec::new(),
                mask: Some(MaskResult {
                    label: MaskLabel::Mask,
                    score: 0.9,
                }),
                liveness: None,
                embedding: None,
            })
            .collect();
        let at = Duration::from_millis(frame_no * 200);
        std::hint::black_box(tracker.update(at, size, &faces));
        Ok(())
    })
}

/// Runs the benchmark.
pub fn bench(config: &BenchConfig) -> Result<BenchReport, VisionError> {
    let bytes = std::fs::read(&config.image).map_err(|source| ModelError::Io {
        path: config.image.clone(),
        source,
    })?;
    let img = decode(&bytes, &DecodeLimits::default())?;
    let mut report = BenchReport::default();
    let row =
        |what: &str, engine: &str, threads: usize, (median_ms, min_ms): (f64, f64)| BenchRow {
            what: what.to_owned(),
            engine: engine.to_owned(),
            threads,
            median_ms,
            min_ms,
            runs: config.runs,
        };

    let full = BBox {
        x: 0.0,
        y: 0.0,
        width: img.width() as f32,
        height: img.height() as f32,
    };
    report.rows.push(row(
        "resize:fast_image_resize",
        "-",
        1,
        time_runs(config.runs, || {
            std::hint::black_box(crop_resize(&img, full, 300, 300));
            Ok(())
        })?,
    ));
    report.rows.push(row(
        "resize:image",
        "-",
        1,
        time_runs(config.runs, || {
            std::hint::black_box(crop_resize_with_image_crate(&img, full, 300, 300));
            Ok(())
        })?,
    ));

    report
        .rows
        .push(row("track:20_faces", "-", 1, time_tracker(config.runs)?));
    let mut gate = MotionGate::new(MotionConfig::default());
    let mut frame_no = 0u64;
    report.rows.push(row(
        "motion_gate:frame",
        "-",
        1,
        time_runs(config.runs, || {
            // The same image at 5 fps: a still scene, every call shrinks and compares.
            frame_no += 1;
            let now = Duration::from_millis(frame_no * 200);
            std::hint::black_box(gate.should_detect(&img, now));
            Ok(())
        })?,
    ));

    for &kind in &config.engines {
        for &threads in &config.threads {
            let pipeline_config = PipelineConfig {
                models_dir: config.models_dir.clone(),
                files: ModelFiles::default(),
                engine: EngineConfig {
                    kind,
                    ort_dylib_path: config.ort_dylib_path.clone(),
                    threads,
                    concurrent_runs: 2,
                },
                ..PipelineConfig::default()
            };
            let pipeline = match Pipeline::load(&pipeline_config) {
                Ok(p) => p,
                Err(e @ ModelError::RuntimeUnavailable { .. }) => {
                    report.skipped.push((kind.to_string(), e.to_string()));
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            let engine = pipeline.engine_name();
            bench_models(
                &pipeline,
                &img,
                config.runs,
                threads,
                &mut report.rows,
                &row,
            )?;
            for detector in [
                DetectorKind::Res10,
                DetectorKind::BlazeFace,
                DetectorKind::Mtcnn,
            ] {
                if pipeline.detector(detector).is_err() {
                    continue;
                }
                let opts = AnalyzeOptions {
                    detector,
                    ..AnalyzeOptions::default()
                };
                let timing =
                    time_runs(config.runs, || pipeline.analyze(&bytes, &opts).map(|_| ()))?;
                report.rows.push(row(
                    &format!("pipeline:{}", detector.as_str()),
                    engine,
                    threads,
                    timing,
                ));
            }
            // Throughput: two callers at once (the InferencePool's 2 workers on the
            // reference box), wall time per image.
            let opts = AnalyzeOptions::default();
            let per_image = throughput(&pipeline, &bytes, &opts, 2, config.runs)?;
            report.rows.push(BenchRow {
                what: "2 concurrent:res10".to_owned(),
                engine: engine.to_owned(),
                threads,
                median_ms: per_image,
                min_ms: per_image,
                runs: config.runs * 2,
            });
        }
    }
    Ok(report)
}

/// Wall time per image (ms) when `callers` threads each analyse the image `runs` times.
fn throughput(
    pipeline: &Pipeline,
    bytes: &[u8],
    opts: &AnalyzeOptions,
    callers: usize,
    runs: usize,
) -> Result<f64, VisionError> {
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                s.spawn(|| {
                    (0..runs.max(1)).try_for_each(|_| pipeline.analyze(bytes, opts).map(|_| ()))
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| VisionError::Internal("benchmark thread panicked".to_owned()))?
        })
    })?;
    Ok(start.elapsed().as_secs_f64() * 1000.0 / (callers * runs.max(1)) as f64)
}

/// Builds a [`BenchRow`] from (what, engine, threads, (median, min)).
type RowFn<'a> = dyn Fn(&str, &str, usize, (f64, f64)) -> BenchRow + 'a;

fn bench_models(
    pipeline: &Pipeline,
    img: &RgbImage,
    runs: usize,
    threads: usize,
    rows: &mut Vec<BenchRow>,
    row: &RowFn<'_>,
) -> Result<(), VisionError> {
    let engine = pipeline.engine_name();
    let single = DetectOptions {
        tiling: false,
        ..DetectOptions::default()
    };
    let detectors: Vec<&Detector> = [
        DetectorKind::Res10,
        DetectorKind::BlazeFace,
        DetectorKind::Mtcnn,
    ]
    .into_iter()
    .filter_map(|k| pipeline.detector(k).ok())
    .collect();
    for d in detectors {
        // The whole image without tiles (one model run; MTCNN: its whole cascade),
        // pre/post-processing included.
        let timing = time_runs(runs, || {
            d.detect(img, &single).map(|_| ()).map_err(Into::into)
        })?;
        rows.push(row(
            &format!("detect:{}", d.kind().as_str()),
            engine,
            threads,
            timing,
        ));
    }
    let faces = pipeline
        .detector(DetectorKind::Res10)?
        .detect(img, &DetectOptions::default())?;
    let one = faces.first().cloned().into_iter().collect::<Vec<_>>();
    if let Some(m) = pipeline.mask_classifier() {
        if !one.is_empty() {
            let timing = time_runs(runs, || {
                m.classify(img, &one).map(|_| ()).map_err(Into::into)
            })?;
            rows.push(row("mask (1 face)", engine, threads, timing));
        }
        if faces.len() > 1 {
            let timing = time_runs(runs, || {
                m.classify(img, &faces).map(|_| ()).map_err(Into::into)
            })?;
            rows.push(row(
                &format!("mask ({} faces)", faces.len()),
                engine,
                threads,
                timing,
            ));
        }
    }
    if let (Some(e), false) = (pipeline.embedder(), one.is_empty()) {
        let timing = time_runs(runs, || e.embed(img, &one).map(|_| ()).map_err(Into::into))?;
        rows.push(row("embedding (1 face)", engine, threads, timing));
    }
    if let (Some(l), false) = (pipeline.liveness_model(), one.is_empty()) {
        let timing = time_runs(runs, || l.score(img, &one).map(|_| ()).map_err(Into::into))?;
        rows.push(row("liveness (1 face)", engine, threads, timing));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_update_is_timed_and_cheap() {
        let (median, min) = time_tracker(20).unwrap();
        assert!(min > 0.0 && min <= median, "{min} {median}");
        // Generous bound for an unoptimised test build on a busy 2-core box: 20 faces
        // must cost far less than one 5 fps frame period (200 ms).
        assert!(median < 20.0, "{median} ms");
    }
}
