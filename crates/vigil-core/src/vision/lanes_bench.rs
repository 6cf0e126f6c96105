//! The lanes benchmark (`vigil bench --lanes`): does a saturated batch lane plus a live
//! camera slow down interactive requests?
//!
//! Phase *idle*: `requests` interactive analyses of one image, one after another,
//! exactly as `POST /api/v1/analyze` runs them ([`VisionService::analyze`], without the
//! HTTP around it). Phase *loaded*: the same, while enough batch callers keep the batch
//! lane full and one live source submits a frame every `1/live_fps` s (each frame its
//! own caller, as a camera task would). The report gives interactive p50/p99 for both
//! phases and their ratio, batch and live throughput during the loaded phase, how many
//! live frames were superseded, and the most frames any live source ever had pending
//! (the lanes keep it at 1).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use vigil_vision::LiveOutcome;

use super::{AnalysisRequest, AnalyzeError, VisionService};

/// What to measure.
#[derive(Debug, Clone)]
pub struct LanesBenchConfig {
    /// The image every job analyses (JPEG, PNG or WebP bytes).
    pub image: Arc<[u8]>,
    /// Its name, for the report.
    pub image_name: String,
    /// Interactive requests per phase (timed).
    pub requests: usize,
    /// Untimed interactive requests before the idle phase.
    pub warmup: usize,
    /// Frames per second the live source submits.
    pub live_fps: f64,
    /// How long the background load runs before the loaded phase is timed.
    pub settle: Duration,
    /// Options of every job (interactive, live and batch alike).
    pub request: AnalysisRequest,
}

/// One phase's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// `idle` or `loaded`.
    pub phase: String,
    /// Interactive requests answered.
    pub requests: usize,
    /// Interactive requests refused (lane full) or failed.
    pub failed: usize,
    /// Wall time of the phase, seconds.
    pub seconds: f64,
    /// Median interactive latency, ms (submit → result).
    pub p50_ms: f64,
    /// 99th percentile interactive latency, ms (nearest rank).
    pub p99_ms: f64,
    /// Slowest interactive request, ms.
    pub max_ms: f64,
    /// Batch jobs finished per second during the phase.
    pub batch_per_s: f64,
    /// Live frames analysed per second during the phase.
    pub live_per_s: f64,
    /// Live frames submitted during the phase.
    pub live_submitted: u64,
    /// Live frames replaced by a newer one before they ran.
    pub live_superseded: u64,
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct LanesBenchReport {
    /// Engine that ran the models.
    pub engine: String,
    /// Inference workers.
    pub workers: usize,
    /// Workers live and batch may occupy together.
    pub background_workers: usize,
    /// Image analysed.
    pub image: String,
    /// Frames per second of the live source.
    pub live_fps: f64,
    /// Interactive alone, then under load.
    pub phases: Vec<PhaseReport>,
    /// Loaded p99 ÷ idle p99 (goal ≤ 1.5).
    pub p99_ratio: f64,
    /// Most frames any live source had pending at once (must be ≤ 1).
    pub max_pending_per_source: usize,
}

impl LanesBenchReport {
    /// The report as a Markdown table with the ratio and the live-lane invariant below.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "lanes: engine {}, {} workers (live + batch may use {}), image {}, live source at {} frames/s\n",
            self.engine, self.workers, self.background_workers, self.image, self.live_fps
        );
        let _ = writeln!(
            out,
            "| phase | interactive requests | p50 ms | p99 ms | max ms | batch jobs/s | live frames analysed/s | live frames submitted | superseded |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for p in &self.phases {
            let _ = writeln!(
                out,
                "| {} | {}{} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
                p.phase,
                p.requests,
                if p.failed > 0 {
                    format!(" ({} failed)", p.failed)
                } else {
                    String::new()
                },
                p.p50_ms,
                p.p99_ms,
                p.max_ms,
                p.batch_per_s,
                p.live_per_s,
                p.live_submitted,
                p.live_superseded
            );
        }
        let _ = writeln!(
            out,
            "\ninteractive p99 loaded / idle: {:.2} (goal ≤ 1.5)",
            self.p99_ratio
        );
        let _ = writeln!(
            out,
            "most frames pending for one live source: {} (must be ≤ 1)",
            self.max_pending_per_source
        );
        out
    }
}

/// Runs both phases on `service` (async; the analyses run on its inference workers).
pub async fn bench_lanes(
    service: Arc<VisionService>,
    config: &LanesBenchConfig,
) -> Result<LanesBenchReport, AnalyzeError> {
    for _ in 0..config.warmup {
        service
            .analyze(Arc::clone(&config.image), &config.request)
            .await?;
    }
    let idle = interactive_phase("idle", &service, config, None).await;

    let load = Load::start(&service, config)?;
    tokio::time::sleep(config.settle).await;
    let loaded = interactive_phase("loaded", &service, config, Some(&load)).await;
    load.stop().await;

    let pool = service.pool.config();
    let stats = service.pool.stats();
    let p99_ratio = if idle.p99_ms > 0.0 {
        loaded.p99_ms / idle.p99_ms
    } else {
        f64::NAN
    };
    Ok(LanesBenchReport {
        engine: service.pipeline.engine_name().to_owned(),
        workers: pool.workers,
        background_workers: pool.background_workers(),
        image: config.image_name.clone(),
        live_fps: config.live_fps,
        phases: vec![idle, loaded],
        p99_ratio,
        max_pending_per_source: stats.max_pending_per_source,
    })
}

async fn interactive_phase(
    name: &str,
    service: &VisionService,
    config: &LanesBenchConfig,
    load: Option<&Load>,
) -> PhaseReport {
    let before = load.map(Load::counts);
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(config.requests);
    let mut failed = 0;
    for _ in 0..config.requests {
        let t = Instant::now();
        match service
            .analyze(Arc::clone(&config.image), &config.request)
            .await
        {
            Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                tracing::warn!(error = %e, "interactive request failed");
                failed += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = load.map(Load::counts);
    let delta = match (before, after) {
        (Some(b), Some(a)) => Counts {
            batch_done: a.batch_done - b.batch_done,
            live_submitted: a.live_submitted - b.live_submitted,
            live_done: a.live_done - b.live_done,
            live_superseded: a.live_superseded - b.live_superseded,
        },
        _ => Counts::default(),
    };
    latencies.sort_by(f64::total_cmp);
    PhaseReport {
        phase: name.to_owned(),
        requests: latencies.len(),
        failed,
        seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        batch_per_s: per_second(delta.batch_done, seconds),
        live_per_s: per_second(delta.live_done, seconds),
        live_submitted: delta.live_submitted,
        live_superseded: delta.live_superseded,
    }
}

fn per_second(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    batch_done: u64,
    live_submitted: u64,
    live_done: u64,
    live_superseded: u64,
}

/// The background load: batch callers keeping the batch lane full, one live source.
struct Load {
    stop: Arc<AtomicBool>,
    batch_done: Arc<AtomicU64>,
    live_submitted: Arc<AtomicU64>,
    live_done: Arc<AtomicU64>,
    live_superseded: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(
        service: &Arc<VisionService>,
        config: &LanesBenchConfig,
    ) -> Result<Self, AnalyzeError> {
        let options = service.options(&config.request)?;
        let stop = Arc::new(AtomicBool::new(false));
        let batch_done = Arc::new(AtomicU64::new(0));
        let live_submitted = Arc::new(AtomicU64::new(0));
        let live_done = Arc::new(AtomicU64::new(0));
        let live_superseded = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();

        // Enough callers that the batch queue is full and more wait for a place.
        let pool = service.pool.config();
        let producers = pool.batch_queue + pool.workers + 1;
        for _ in 0..producers {
            let (service, image, stop, done) = (
                Arc::clone(service),
                Arc::clone(&config.image),
                Arc::clone(&stop),
                Arc::clone(&batch_done),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (pipeline, image) = (Arc::clone(&service.pipeline), Arc::clone(&image));
                    match service
                        .pool
                        .run_batch(move || pipeline.analyze(&image, &options))
                        .await
                    {
                        Ok(Ok(_)) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Err(e)) | Err(e) => {
                            tracing::warn!(error = %e, lane = "batch", "job failed");
                        }
                    }
                }
            }));
        }

        // One camera: a frame every 1/fps s whatever happened to the previous one.
        let period = Duration::from_secs_f64(1.0 / config.live_fps.clamp(0.1, 1000.0));
        {
            let (service, image, stop) = (
                Arc::clone(service),
                Arc::clone(&config.image),
                Arc::clone(&stop),
            );
            let (submitted, done, superseded) = (
                Arc::clone(&live_submitted),
                Arc::clone(&live_done),
                Arc::clone(&live_superseded),
            );
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut frames = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    ticks.tick().await;
                    submitted.fetch_add(1, Ordering::Relaxed);
                    let (service, image, done, superseded) = (
                        Arc::clone(&service),
                        Arc::clone(&image),
                        Arc::clone(&done),
                        Arc::clone(&superseded),
                    );
                    frames.push(tokio::spawn(async move {
                        let pipeline = Arc::clone(&service.pipeline);
                        let frame = service
                            .pool
                            .run_live("bench-camera", move || pipeline.analyze(&image, &options))
                            .await;
                        match frame {
                            Ok(LiveOutcome::Done(Ok(_))) => {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(LiveOutcome::Superseded) => {
                                superseded.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(LiveOutcome::Done(Err(e))) | Err(e) => {
                                tracing::warn!(error = %e, lane = "live", "frame failed");
                            }
                        }
                    }));
                    frames.retain(|f| !f.is_finished());
                }
                for f in frames {
                    let _ = f.await;
                }
            }));
        }
        Ok(Self {
            stop,
            batch_done,
            live_submitted,
            live_done,
            live_superseded,
            tasks,
        })
    }

    fn counts(&self) -> Counts {
        Counts {
            batch_done: self.batch_done.load(Ordering::Relaxed),
            live_submitted: self.live_submitted.load(Ordering::Relaxed),
            live_done: self.live_done.load(Ordering::Relaxed),
            live_superseded: self.live_superseded.load(Ordering::Relaxed),
        }
    }

    /// Stops submitting and waits for the jobs already submitted.
    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
