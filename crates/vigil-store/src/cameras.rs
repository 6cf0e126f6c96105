//! Rows of the live-compliance tables: cameras, violations and per-minute statistics
//! (migration `0006_cameras.sql`). Plain rows in, plain rows out; what they mean (URL
//! sealing, settings validation, events) is the application core's business.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Database, StoreError};

/// A stored camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRow {
    /// 32 hex digits.
    pub id: String,
    /// Unique display name.
    pub name: String,
    /// Source kind (`rtsp`, `file`, `browser`…).
    pub kind: String,
    /// The full URL, sealed.
    pub url_sealed: String,
    /// The URL with any password replaced by `***`.
    pub url_redacted: String,
    /// Runs whenever the server runs.
    pub enabled: bool,
    /// Analysis settings, JSON.
    pub settings: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const CAMERA_COLUMNS: &str =
    "id, name, kind, url_sealed, url_redacted, enabled, settings, created_at, updated_at";

fn camera_from_row(row: &AnyRow) -> Result<CameraRow, StoreError> {
    let e = |err: sqlx::Error| StoreError::db("reading a camera")(err);
    Ok(CameraRow {
        id: row.try_get("id").map_err(e)?,
        name: row.try_get("name").map_err(e)?,
        kind: row.try_get("kind").map_err(e)?,
        url_sealed: row.try_get("url_sealed").map_err(e)?,
        url_redacted: row.try_get("url_redacted").map_err(e)?,
        enabled: row.try_get::<i64, _>("enabled").map_err(e)? != 0,
        settings: row.try_get("settings").map_err(e)?,
        created_at: row.try_get("created_at").map_err(e)?,
        updated_at: row.try_get("updated_at").map_err(e)?,
    })
}

/// Whether an error is a unique-constraint violation (a taken camera name).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Stores a new camera; `Ok(false)` when the name is taken.
pub async fn insert_camera(db: &Database, camera: &CameraRow) -> Result<bool, StoreError> {
    let result = sqlx::query(&format!(
        "INSERT INTO cameras ({CAMERA_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&camera.id)
    .bind(&camera.name)
    .bind(&camera.kind)
    .bind(&camera.url_sealed)
    .bind(&camera.url_redacted)
    .bind(i64::from(camera.enabled))
    .bind(&camera.settings)
    .bind(camera.created_at)
    .bind(camera.updated_at)
    .execute(db.pool())
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(StoreError::db("storing a camera")(e)),
    }
}

/// Replaces a camera's fields (all but `id` and `created_at`). `Ok(None)` when it does
/// not exist, `Ok(Some(false))` when the new name is taken.
pub async fn update_camera(db: &Database, camera: &CameraRow) -> Result<Option<bool>, StoreError> {
    let result = sqlx::query(
        "UPDATE cameras SET name = $1, kind = $2, url_sealed = $3, url_redacted = $4, \
         enabled = $5, settings = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&camera.name)
    .bind(&camera.kind)
    .bind(&camera.url_sealed)
    .bind(&camera.url_redacted)
    .bind(i64::from(camera.enabled))
    .bind(&camera.settings)
    .bind(camera.updated_at)
    .bind(&camera.id)
    .execute(db.pool())
    .await;
    match result {
        Ok(done) if done.rows_affected() == 0 => Ok(None),
        Ok(_) => Ok(Some(true)),
        Err(e) if is_unique_violation(&e) => Ok(Some(false)),
        Err(e) => Err(StoreError::db("updating a camera")(e)),
    }
}

/// One camera by id.
pub async fn get_camera(db: &Database, id: &str) -> Result<Option<CameraRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CAMERA_COLUMNS} FROM cameras WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::db("loading a camera"))?;
    row.as_ref().map(camera_from_row).transpose()
}

/// One camera by its (unique) name.
pub async fn get_camera_by_name(
    db: &Database,
    name: &str,
) -> Result<Option<CameraRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CAMERA_COLUMNS} FROM cameras WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::db("loading a camera"))?;
    row.as_ref().map(camera_from_row).transpose()
}

/// Every camera, by name.
pub async fn list_cameras(db: &Database) -> Result<Vec<CameraRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CAMERA_COLUMNS} FROM cameras ORDER BY name"
    ))
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::db("listing cameras"))?;
    rows.iter().map(camera_from_row).collect()
}

/// Deletes a camera row (its violations go first, through [`delete_violations_of`]).
/// `false` when it did not exist.
pub async fn delete_camera(db: &Database, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM cameras WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(StoreError::db("deleting a camera"))?;
    sqlx::query("DELETE FROM camera_stats WHERE camera_id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(StoreError::db("deleting a camera's statistics"))?;
    Ok(done.rows_affected() > 0)
}

/// A stored violation.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolationRow {
    /// 32 hex digits.
    pub id: String,
    /// Camera id.
    pub camera_id: String,
    /// Camera name at the time.
    pub camera_name: String,
    /// Unix ms.
    pub at: i64,
    /// Track number.
    pub track: i64,
    /// Smoothed no-mask score.
    pub score: f64,
    /// Zone name.
    pub zone: Option<String>,
    /// `[x, y, w, h]` as JSON.
    pub bbox: String,
    /// Frame width in pixels.
    pub frame_width: i64,
    /// Frame height in pixels.
    pub frame_height: i64,
    /// Blob key of the annotated frame.
    pub frame_blob: Option<String>,
    /// Blob key of the face crop.
    pub face_blob: Option<String>,
    /// Who acknowledged it.
    pub ack_by: Option<String>,
    /// When (Unix ms).
    pub ack_at: Option<i64>,
    /// Their note.
    pub ack_note: Option<String>,
}

impl ViolationRow {
    /// The blob keys the row references.
    pub fn blobs(&self) -> Vec<String> {
        self.frame_blob
            .iter()
            .chain(self.face_blob.iter())
            .cloned()
            .collect()
    }
}

const VIOLATION_COLUMNS: &str = "id, camera_id, camera_name, at, track, score, zone, bbox, \
     frame_width, frame_height, frame_blob, face_blob, ack_by, ack_at, ack_note";

fn violation_from_row(row: &AnyRow) -> Result<ViolationRow, StoreError> {
    let e = |err: sqlx::Error| StoreError::db("reading a violation")(err);
    Ok(ViolationRow {
        id: row.try_get("id").map_err(e)?,
        camera_id: row.try_get("camera_id").map_err(e)?,
        camera_name: row.try_get("camera_name").map_err(e)?,
        at: row.try_get("at").map_err(e)?,
        track: row.try_get("track").map_err(e)?,
        score: row.try_get("score").map_err(e)?,
        zone: row.try_get("zone").map_err(e)?,
        bbox: row.try_get("bbox").map_err(e)?,
        frame_width: row.try_get("frame_width").map_err(e)?,
        frame_height: row.try_get("frame_height").map_err(e)?,
        frame_blob: row.try_get("frame_blob").map_err(e)?,
        face_blob: row.try_get("face_blob").map_err(e)?,
        ack_by: row.try_get("ack_by").map_err(e)?,
        ack_at: row.try_get("ack_at").map_err(e)?,
        ack_note: row.try_get("ack_note").map_err(e)?,
    })
}

/// The minute bucket (Unix ms of its start) a time falls in.
pub fn minute_of(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(60_000)
}

/// Stores a violation and counts it in its camera's minute, in one transaction, so the
/// statistics always add up to the violations stored. The blobs it names must already
/// be durable.
pub async fn insert_violation(db: &Database, v: &ViolationRow) -> Result<(), StoreError> {
    let e = |err: sqlx::Error| StoreError::db("storing a violation")(err);
    let mut tx = db.pool().begin().await.map_err(e)?;
    sqlx::query(&format!(
        "INSERT INTO violations ({VIOLATION_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&v.id)
    .bind(&v.camera_id)
    .bind(&v.camera_name)
    .bind(v.at)
    .bind(v.track)
    .bind(v.score)
    .bind(&v.zone)
    .bind(&v.bbox)
    .bind(v.frame_width)
    .bind(v.frame_height)
    .bind(&v.frame_blob)
    .bind(&v.face_blob)
    .bind(&v.ack_by)
    .bind(v.ack_at)
    .bind(&v.ack_note)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    sqlx::query(
        "INSERT INTO camera_stats (camera_id, minute, violations) VALUES ($1, $2, 1) \
         ON CONFLICT (camera_id, minute) DO UPDATE SET violations = camera_stats.violations + 1",
    )
    .bind(&v.camera_id)
    .bind(minute_of(v.at))
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    tx.commit().await.map_err(e)?;
    Ok(())
}

/// One violation by id.
pub async fn get_violation(db: &Database, id: &str) -> Result<Option<ViolationRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {VIOLATION_COLUMNS} FROM violations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::db("loading a violation"))?;
    row.as_ref().map(violation_from_row).transpose()
}

/// Which violations to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViolationFilter {
    /// Only this camera.
    pub camera_id: Option<String>,
    /// At or after (Unix ms).
    pub since: Option<i64>,
    /// Before (Unix ms).
    pub until: Option<i64>,
    /// Only acknowledged (`true`) or only open (`false`) ones.
    pub acknowledged: Option<bool>,
    /// Continue after this `(at, id)` (the last row of the previous page).
    pub after: Option<(i64, String)>,
    /// At most this many rows.
    pub limit: i64,
}

/// Violations matching `filter`, newest first.
pub async fn list_violations(
    db: &Database,
    filter: &ViolationFilter,
) -> Result<Vec<ViolationRow>, StoreError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.camera_id.is_some() {
        clauses.push(format!("camera_id = {}", next()));
    }
    if filter.since.is_some() {
        clauses.push(format!("at >= {}", next()));
    }
    if filter.until.is_some() {
        clauses.push(format!("at < {}", next()));
    }
    match filter.acknowledged {
        Some(true) => clauses.push("ack_at IS NOT NULL".into()),
        Some(false) => clauses.push("ack_at IS NULL".into()),
        None => {}
    }
    if filter.after.is_some() {
        let (a, b, c) = (next(), next(), next());
        clauses.push(format!("(at < {a} OR (at = {b} AND id < {c}))"));
    }
    let limit = next();
    let sql = format!(
        "SELECT {VIOLATION_COLUMNS} FROM violations {} ORDER BY at DESC, id DESC LIMIT {limit}",
        if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        }
    );
    let mut query = sqlx::query(&sql);
    if let Some(c) = &filter.camera_id {
        query = query.bind(c.clone());
    }
    if let Some(s) = filter.since {
        query = query.bind(s);
    }
    if let Some(u) = filter.until {
        query = query.bind(u);
    }
    if let Some((at, id)) = &filter.after {
        query = query.bind(*at).bind(*at).bind(id.clone());
    }
    let rows = query
        .bind(filter.limit)
        .fetch_all(db.pool())
        .await
        .map_err(StoreError::db("listing violations"))?;
    rows.iter().map(violation_from_row).collect()
}

/// Records an acknowledgement; `false` when the violation does not exist.
pub async fn acknowledge_violation(
    db: &Database,
    id: &str,
    by: &str,
    at: i64,
    note: &str,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE violations SET ack_by = $1, ack_at = $2, ack_note = $3 WHERE id = $4")
            .bind(by)
            .bind(at)
            .bind(note)
            .bind(id)
            .execute(db.pool())
            .await
            .map_err(StoreError::db("acknowledging a violation"))?;
    Ok(done.rows_affected() > 0)
}

/// Deletes a violation row and returns it (its blobs are the caller's to delete, after
/// the row is gone: a crash in between leaves unreferenced blobs, never a row without
/// its pictures).
pub async fn delete_violation(db: &Database, id: &str) -> Result<Option<ViolationRow>, StoreError> {
    let Some(row) = get_violation(db, id).await? else {
        return Ok(None);
    };
    let done = sqlx::query("DELETE FROM violations WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(StoreError::db("deleting a violation"))?;
    Ok((done.rows_affected() > 0).then_some(row))
}

/// Up to `limit` violations of `camera_id` older than `before` (for retention), oldest
/// first.
pub async fn expired_violations(
    db: &Database,
    camera_id: &str,
    before: i64,
    limit: i64,
) -> Result<Vec<ViolationRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {VIOLATION_COLUMNS} FROM violations WHERE camera_id = $1 AND at < $2 \
         ORDER BY at LIMIT $3"
    ))
    .bind(camera_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::db("finding expired violations"))?;
    rows.iter().map(violation_from_row).collect()
}

/// Violations whose camera no longer exists (left by a crash during a camera's
/// deletion), up to `limit`.
pub async fn orphaned_violations(
    db: &Database,
    limit: i64,
) -> Result<Vec<ViolationRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {VIOLATION_COLUMNS} FROM violations \
         WHERE camera_id NOT IN (SELECT id FROM cameras) LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::db("finding orphaned violations"))?;
    rows.iter().map(violation_from_row).collect()
}

/// Counters to add to a camera's minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsDelta {
    /// Frames received.
    pub frames: i64,
    /// Frames analysed (detection ran).
    pub analysed: i64,
    /// Frames skipped (no motion, or a newer frame replaced them).
    pub skipped: i64,
    /// Face observations (one face in one analysed frame).
    pub faces: i64,
    /// Observations labelled mask.
    pub mask: i64,
    /// Observations labelled no mask.
    pub no_mask: i64,
    /// Tracks (people) that started.
    pub people: i64,
}

impl StatsDelta {
    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        *self == StatsDelta::default()
    }
}

/// Adds `delta` to `camera_id`'s counters for the minute starting at `minute`.
pub async fn add_stats(
    db: &Database,
    camera_id: &str,
    minute: i64,
    delta: &StatsDelta,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO camera_stats (camera_id, minute, frames, analysed, skipped, faces, mask, no_mask, people) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (camera_id, minute) DO UPDATE SET \
         frames = camera_stats.frames + excluded.frames, \
         analysed = camera_stats.analysed + excluded.analysed, \
         skipped = camera_stats.skipped + excluded.skipped, \
         faces = camera_stats.faces + excluded.faces, \
         mask = camera_stats.mask + excluded.mask, \
         no_mask = camera_stats.no_mask + excluded.no_mask, \
         people = camera_stats.people + excluded.people",
    )
    .bind(camera_id)
    .bind(minute)
    .bind(delta.frames)
    .bind(delta.analysed)
    .bind(delta.skipped)
    .bind(delta.faces)
    .bind(delta.mask)
    .bind(delta.no_mask)
    .bind(delta.people)
    .execute(db.pool())
    .await
    .map_err(StoreError::db("adding camera statistics"))?;
    Ok(())
}

/// Summed counters of one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// Bucket start (Unix ms).
    pub start: i64,
    /// Camera id.
    pub camera_id: String,
    /// Sums over the bucket's minutes.
    pub delta: StatsDelta,
    /// Violations stored in the bucket.
    pub violations: i64,
}

/// Counters summed per `bucket_ms` (a multiple of a minute), per camera, from `since`
/// to before `until`, oldest first.
pub async fn stats(
    db: &Database,
    camera_id: Option<&str>,
    since: i64,
    until: i64,
    bucket_ms: i64,
) -> Result<Vec<StatsRow>, StoreError> {
    let bucket_ms = bucket_ms.max(60_000);
    // Integer division floors for the non-negative times stored here, on both databases.
    let sql = format!(
        "SELECT (minute / {bucket_ms}) * {bucket_ms} AS start, camera_id, \
         CAST(SUM(frames) AS BIGINT) AS frames, CAST(SUM(analysed) AS BIGINT) AS analysed, CAST(SUM(skipped) AS BIGINT) AS skipped, \
         CAST(SUM(faces) AS BIGINT) AS faces, CAST(SUM(mask) AS BIGINT) AS mask, CAST(SUM(no_mask) AS BIGINT) AS no_mask, \
         CAST(SUM(people) AS BIGINT) AS people, CAST(SUM(violations) AS BIGINT) AS violations \
         FROM camera_stats WHERE minute >= $1 AND minute < $2 {} \
         GROUP BY (minute / {bucket_ms}), camera_id ORDER BY start, camera_id",
        if camera_id.is_some() {
            "AND camera_id = $3"
        } else {
            ""
        }
    );
    let mut query = sqlx::query(&sql).bind(since).bind(until);
    if let Some(c) = camera_id {
        query = query.bind(c.to_string());
    }
    let rows = query
        .fetch_all(db.pool())
        .await
        .map_err(StoreError::db("reading camera statistics"))?;
    let e = |err: sqlx::Error| StoreError::db("reading camera statistics")(err);
    rows.iter()
        .map(|row| {
            // SUM over BIGINT is NUMERIC on PostgreSQL, hence the casts in the query.
            let n = |name: &str| -> Result<i64, StoreError> { row.try_get(name).map_err(e) };
            Ok(StatsRow {
                start: n("start")?,
                camera_id: row.try_get("camera_id").map_err(e)?,
                delta: StatsDelta {
                    frames: n("frames")?,
                    analysed: n("analysed")?,
                    skipped: n("skipped")?,
                    faces: n("faces")?,
                    mask: n("mask")?,
                    no_mask: n("no_mask")?,
                    people: n("people")?,
                },
                violations: n("violations")?,
            })
        })
        .collect()
}

/// Deletes statistics older than `before` (Unix ms).
pub async fn prune_stats(db: &Database, before: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM camera_stats WHERE minute < $1")
        .bind(before)
        .execute(db.pool())
        .await
        .map_err(StoreError::db("pruning camera statistics"))?;
    Ok(done.rows_affected())
}
