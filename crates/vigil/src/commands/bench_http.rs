//! `vigil bench --http URL`: end-to-end load on `POST /api/v1/analyze` of a running
//! server. C clients post the same image back to back (closed loop) until N requests
//! were sent or T seconds passed, for each concurrency asked; the report gives
//! throughput (200s per second of wall time), p50/p99 latency of the 200s, and counts
//! 503 (overloaded: the inference queue was full, expected under overload) apart from
//! any other answer. Loopback only: this is a measuring tool, not a load-testing one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::{StatusCode, Url};
use serde::Serialize;

/// What to measure.
#[derive(Debug, Clone)]
pub struct HttpBenchConfig {
    /// Server base URL (`http://127.0.0.1:PORT`); the path `/api/v1/analyze` is appended.
    pub base: Url,
    /// JPEG posted as the raw body.
    pub image: PathBuf,
    /// Concurrent clients, one measurement each.
    pub concurrency: Vec<usize>,
    /// Requests per measurement (upper bound).
    pub requests: usize,
    /// Wall time per measurement (upper bound).
    pub duration: Duration,
    /// Untimed requests sent one by one before each measurement.
    pub warmup: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// One measurement (one concurrency level).
#[derive(Debug, Clone, Serialize)]
pub struct HttpBenchRow {
    /// Concurrent clients.
    pub concurrency: usize,
    /// Requests sent (answered or not).
    pub requests: usize,
    /// 200 answers.
    pub ok: usize,
    /// 503 answers (inference queue full).
    pub overloaded: usize,
    /// Other statuses, by code.
    pub other_status: BTreeMap<u16, usize>,
    /// Requests that got no answer (connection error, timeout).
    pub transport_errors: usize,
    /// Wall time of the measurement, seconds.
    pub seconds: f64,
    /// 200 answers per second of wall time.
    pub throughput_rps: f64,
    /// Median latency of the 200s, ms (send → whole body read).
    pub p50_ms: f64,
    /// 99th percentile latency of the 200s, ms (nearest rank).
    pub p99_ms: f64,
    /// Slowest 200, ms.
    pub max_ms: f64,
}

/// All measurements.
#[derive(Debug, Clone, Serialize)]
pub struct HttpBenchReport {
    /// Endpoint measured.
    pub url: String,
    /// Image posted.
    pub image: String,
    /// Its size in bytes.
    pub image_bytes: usize,
    /// Faces in the warm-up answer (from its JSON), when it parsed.
    pub faces: Option<usize>,
    /// One row per concurrency.
    pub rows: Vec<HttpBenchRow>,
}

impl HttpBenchReport {
    /// A fixed-width text table.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "POST {} ({}, {} bytes, faces in answer: {})\n",
            self.url,
            self.image,
            self.image_bytes,
            self.faces.map_or_else(|| "?".to_owned(), |n| n.to_string())
        );
        let _ = writeln!(
            out,
            "{:>11} {:>8} {:>6} {:>5} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "concurrency",
            "requests",
            "ok",
            "503",
            "other",
            "failed",
            "seconds",
            "req/s",
            "p50_ms",
            "p99_ms",
            "max_ms"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:>11} {:>8} {:>6} {:>5} {:>6} {:>6} {:>8.2} {:>8.2} {:>8.1} {:>8.1} {:>8.1}",
                r.concurrency,
                r.requests,
                r.ok,
                r.overloaded,
                r.other_status.values().sum::<usize>(),
                r.transport_errors,
                r.seconds,
                r.throughput_rps,
                r.p50_ms,
                r.p99_ms,
                r.max_ms
            );
            for (status, n) in &r.other_status {
                let _ = writeln!(out, "{:>11} status {status}: {n}", "");
            }
        }
        out
    }
}

/// Parses `--http`: an `http://` URL whose host is a loopback address or `localhost`.
pub fn parse_loopback_url(s: &str) -> anyhow::Result<Url> {
    let url = Url::parse(s).with_context(|| format!("while parsing --http `{s}`"))?;
    if url.scheme() != "http" {
        bail!(
            "--http must be a plain http:// URL on loopback (got scheme `{}`)",
            url.scheme()
        );
    }
    // `host_str` keeps IPv6 brackets: `[::1]`.
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--http only measures a server on this machine (127.0.0.1, ::1 or localhost)");
    }
    Ok(url)
}

/// The analyze endpoint under `base` (keeps a path prefix such as `/vigil`).
fn analyze_url(base: &Url) -> anyhow::Result<Url> {
    let mut url = base.clone();
    let path = format!("{}/api/v1/analyze", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    Ok(url)
}

/// Nearest-rank percentile of sorted values (`p` in (0, 1]); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The outcome of one request.
enum Outcome {
    Status(StatusCode, f64),
    Failed,
}

async fn post(client: &reqwest::Client, url: &Url, body: &[u8]) -> (Outcome, Option<Vec<u8>>) {
    let start = Instant::now();
    let sent = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
        .body(body.to_vec())
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(_) => return (Outcome::Failed, None),
    };
    let status = response.status();
    match response.bytes().await {
        Ok(b) => (
            Outcome::Status(status, start.elapsed().as_secs_f64() * 1000.0),
            Some(b.to_vec()),
        ),
        Err(_) => (Outcome::Failed, None),
    }
}

/// Runs every measurement.
pub async fn bench_http(config: &HttpBenchConfig) -> anyhow::Result<HttpBenchReport> {
    let body: Arc<[u8]> = std::fs::read(&config.image)
        .with_context(|| format!("while reading {}", config.image.display()))?
        .into();
    let url = analyze_url(&config.base)?;
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .no_proxy()
        .pool_max_idle_per_host(config.concurrency.iter().copied().max().unwrap_or(1))
        .build()
        .context("while building the HTTP client")?;

    let mut faces = None;
    let mut rows = Vec::with_capacity(config.concurrency.len());
    for &concurrency in &config.concurrency {
        for i in 0..config.warmup {
            match post(&client, &url, &body).await {
                (Outcome::Status(StatusCode::OK, _), Some(answer)) => {
                    if faces.is_none() {
                        faces = serde_json::from_slice::<serde_json::Value>(&answer)
                            .ok()
                            .and_then(|v| v.get("faces")?.as_array().map(Vec::len));
                    }
                }
                (Outcome::Status(status, _), answer) => bail!(
                    "warm-up request {} to {url} answered {status}: {}",
                    i + 1,
                    String::from_utf8_lossy(answer.as_deref().unwrap_or_default())
                        .chars()
                        .take(300)
                        .collect::<String>()
                ),
                (Outcome::Failed, _) => {
                    bail!(
                        "warm-up request {} to {url} got no answer (is the server up?)",
                        i + 1
                    )
                }
            }
        }
        rows.push(measure(&client, &url, &body, concurrency.max(1), config).await?);
    }
    Ok(HttpBenchReport {
        url: url.to_string(),
        image: config.image.display().to_string(),
        image_bytes: body.len(),
        faces,
        rows,
    })
}

async fn measure(
    client: &reqwest::Client,
    url: &Url,
    body: &Arc<[u8]>,
    concurrency: usize,
    config: &HttpBenchConfig,
) -> anyhow::Result<HttpBenchRow> {
    let issued = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, body, issued) = (
            client.clone(),
            url.clone(),
            Arc::clone(body),
            Arc::clone(&issued),
        );
        let limit = config.requests;
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < limit {
                outcomes.push(post(&client, &url, &body).await.0);
            }
            outcomes
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outcomes.extend(done.context("a benchmark client task failed")?);
    }
    let seconds = start.elapsed().as_secs_f64();

    let mut row = HttpBenchRow {
        concurrency,
        requests: outcomes.len(),
        ok: 0,
        overloaded: 0,
        other_status: BTreeMap::new(),
        transport_errors: 0,
        seconds,
        throughput_rps: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
    };
    let mut latencies = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        match o {
            Outcome::Status(StatusCode::OK, ms) => {
                row.ok += 1;
                latencies.push(ms);
            }
            Outcome::Status(StatusCode::SERVICE_UNAVAILABLE, _) => row.overloaded += 1,
            Outcome::Status(s, _) => *row.other_status.entry(s.as_u16()).or_default() += 1,
            Outcome::Failed => row.transport_errors += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    row.throughput_rps = row.ok as f64 / seconds.max(1e-9);
    row.p50_ms = percentile(&latencies, 0.50);
    row.p99_ms = percentile(&latencies, 0.99);
    row.max_ms = latencies.last().copied().unwrap_or(0.0);
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.50), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v[..10], 0.99), 10.0);
        assert_eq!(percentile(&[7.0], 0.5), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn only_loopback_http_urls_are_accepted() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9/",
            "http://127.0.0.2:80/prefix",
        ] {
            assert!(parse_loopback_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "https://127.0.0.1:8443",
            "http://example.com",
            "not a url",
        ] {
            assert!(parse_loopback_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn analyze_path_is_appended_to_the_base() {
        let base = parse_loopback_url("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            analyze_url(&base).unwrap().as_str(),
            "http://127.0.0.1:8080/api/v1/analyze"
        );
        let base = parse_loopback_url("http://127.0.0.1:8080/vigil?x=1").unwrap();
        assert_eq!(
            analyze_url(&base).unwrap().as_str(),
            "http://127.0.0.1:8080/vigil/api/v1/analyze"
        );
    }
}
