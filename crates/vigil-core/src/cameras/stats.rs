//! Compliance statistics: counters gathered per camera in memory, added to the
//! per-minute rows every few seconds, read back summed per minute, hour or day.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_store::cameras::{self as store, StatsDelta};
use vigil_store::{now_ms, Database};

use super::process::FrameResult;
use super::{lock, CameraId, Cameras};
use crate::{Error, Result};

/// Counters not yet written, per minute.
#[derive(Debug, Default)]
pub(crate) struct StatsBatch {
    minutes: BTreeMap<i64, StatsDelta>,
}

impl StatsBatch {
    /// Counts one frame's result.
    pub fn add(&mut self, r: &FrameResult) {
        let d = self.minutes.entry(store::minute_of(now_ms())).or_default();
        d.frames += 1;
        if r.analysed {
            d.analysed += 1;
            d.faces += r.faces.len() as i64;
            d.mask += i64::from(r.mask);
            d.no_mask += i64::from(r.no_mask);
            d.people += i64::from(r.started);
        } else {
            d.skipped += 1;
        }
    }

    /// Writes the counters; a failure is logged and the counts are lost (statistics are
    /// not worth stalling a camera for; violations are stored separately and exactly).
    pub async fn flush(self, db: &Database, camera_id: &str) {
        for (minute, delta) in self.minutes {
            if delta.is_empty() {
                continue;
            }
            if let Err(e) = store::add_stats(db, camera_id, minute, &delta).await {
                tracing::warn!(camera_id, error = %e, "camera statistics not written");
            }
        }
    }
}

/// Bucket size of a statistics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum StatsBucket {
    /// One minute.
    Minute,
    /// One hour (the default).
    #[default]
    Hour,
    /// One day (UTC).
    Day,
}

impl StatsBucket {
    fn millis(self) -> i64 {
        match self {
            StatsBucket::Minute => 60_000,
            StatsBucket::Hour => 3_600_000,
            StatsBucket::Day => 86_400_000,
        }
    }
}

/// What statistics to read.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only this camera (id).
    pub camera: Option<String>,
    /// Bucket size: `minute`, `hour` (default) or `day`.
    pub bucket: Option<StatsBucket>,
    /// From (Unix ms); default the start of today (UTC).
    pub since: Option<i64>,
    /// To (Unix ms, exclusive); default now.
    pub until: Option<i64>,
}

/// Counters of one bucket (or the totals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct StatsRow {
    /// Bucket start (Unix ms); 0 in the totals.
    pub start: i64,
    /// Camera id; `null` in the totals.
    pub camera_id: Option<String>,
    /// Frames received.
    pub frames: i64,
    /// Frames analysed.
    pub analysed: i64,
    /// Frames not analysed (no motion, or replaced by a newer frame).
    pub skipped: i64,
    /// Face observations (a face in an analysed frame).
    pub faces: i64,
    /// Observations with a mask.
    pub mask: i64,
    /// Observations without a mask.
    pub no_mask: i64,
    /// People (tracks) that appeared.
    pub people: i64,
    /// Violations stored.
    pub violations: i64,
    /// `mask / (mask + no_mask)`, `null` without observations.
    pub compliance: Option<f64>,
}

impl StatsRow {
    fn add(&mut self, d: &StatsDelta, violations: i64) {
        self.frames += d.frames;
        self.analysed += d.analysed;
        self.skipped += d.skipped;
        self.faces += d.faces;
        self.mask += d.mask;
        self.no_mask += d.no_mask;
        self.people += d.people;
        self.violations += violations;
        self.compliance = compliance(self.mask, self.no_mask);
    }
}

fn compliance(mask: i64, no_mask: i64) -> Option<f64> {
    let seen = mask + no_mask;
    (seen > 0).then(|| mask as f64 / seen as f64)
}

/// Statistics per bucket and their totals.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatsReport {
    /// The bucket size used.
    pub bucket: StatsBucket,
    /// From (Unix ms).
    pub since: i64,
    /// To (Unix ms, exclusive).
    pub until: i64,
    /// Per camera and bucket, oldest first.
    pub buckets: Vec<StatsRow>,
    /// Sums over every bucket.
    pub totals: StatsRow,
}

/// Most buckets one query may return.
const MAX_BUCKETS: i64 = 10_000;
/// How long an answer is reused: dashboards poll, the counters move every few seconds.
const CACHE_FOR: Duration = Duration::from_secs(1);

/// The last answers, keyed by their query (a handful: one per dashboard view).
#[derive(Debug, Default)]
pub(crate) struct StatsCache {
    entries: Mutex<Vec<(String, Instant, StatsReport)>>,
}

impl Cameras {
    /// Statistics for `query`, cached about a second.
    pub async fn stats(&self, query: &StatsQuery) -> Result<StatsReport> {
        let bucket = query.bucket.unwrap_or_default();
        let now = now_ms();
        let until = query.until.unwrap_or(now);
        let since = query.since.unwrap_or(now - now.rem_euclid(86_400_000));
        if since < 0 || until < 0 {
            return Err(Error::InvalidFilter(
                "since and until are Unix milliseconds, not negative".into(),
            ));
        }
        if since >= until {
            return Err(Error::InvalidFilter("since must be before until".into()));
        }
        if (until - since) / bucket.millis() > MAX_BUCKETS {
            return Err(Error::InvalidFilter(format!(
                "at most {MAX_BUCKETS} buckets per query: use a larger bucket or a shorter range"
            )));
        }
        let camera = match query.camera.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(
                CameraId::parse(c)
                    .map_err(|_| Error::InvalidFilter("camera must be a camera id".into()))?,
            ),
            None => None,
        };
        // Rounded down to the second so polls within one second share an answer.
        let key = format!(
            "{:?}|{:?}|{}|{}",
            camera.as_ref().map(CameraId::as_str),
            bucket,
            since / 1000,
            until / 1000
        );
        let cache = &self.inner.stats_cache;
        {
            let entries = lock(&cache.entries);
            if let Some((_, at, report)) = entries.iter().find(|(k, _, _)| *k == key) {
                if at.elapsed() < CACHE_FOR {
                    return Ok(report.clone());
                }
            }
        }
        let rows = store::stats(
            &self.deps().db,
            camera.as_ref().map(CameraId::as_str),
            store::minute_of(since),
            until,
            bucket.millis(),
        )
        .await?;
        let mut totals = StatsRow::default();
        let buckets = rows
            .into_iter()
            .map(|r| {
                totals.add(&r.delta, r.violations);
                let mut row = StatsRow {
                    start: r.start,
                    camera_id: Some(r.camera_id),
                    ..StatsRow::default()
                };
                row.add(&r.delta, r.violations);
                row
            })
            .collect();
        let report = StatsReport {
            bucket,
            since,
            until,
            buckets,
            totals,
        };
        let mut entries = lock(&cache.entries);
        entries.retain(|(k, at, _)| *k != key && at.elapsed() < CACHE_FOR);
        entries.truncate(16);
        entries.push((key, Instant::now(), report.clone()));
        Ok(report)
    }
}
