//! Violations: raised by a camera worker (pictures first, then the row, then the event),
//! listed, acknowledged, deleted, exported as CSV and expired by retention.

use std::sync::Arc;

use bytes::Bytes;
use image::RgbImage;
use serde::Deserialize;
use vigil_auth::audit::{Actor, AuditAction, Event as AuditEvent};
use vigil_store::cameras::{self as store, ViolationFilter, ViolationRow};
use vigil_store::{now_ms, BlobKey};
use vigil_vision::track::Violation;
use vigil_vision::BBox;

use super::model::{Acknowledgement, ViolationId, ViolationView};
use super::process::annotated;
use super::{CameraId, CameraSpec, Cameras, LiveFace};
use crate::events::EventKind;
use crate::{Error, Result};

/// Longest acknowledgement note, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;
/// Most violations per page.
pub const MAX_PAGE: i64 = 500;

/// Which violations to list (query string of `GET /api/v1/violations`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViolationQuery {
    /// Only this camera (id).
    pub camera: Option<String>,
    /// At or after (Unix ms).
    pub since: Option<i64>,
    /// Before (Unix ms).
    pub until: Option<i64>,
    /// Only acknowledged (`true`) or only open (`false`) ones.
    pub acknowledged: Option<bool>,
    /// Page size (default 50, at most 500).
    pub limit: Option<i64>,
    /// The `next_before` of the previous page.
    pub before: Option<String>,
}

/// One page of violations, newest first.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ViolationPage {
    /// The violations.
    pub items: Vec<ViolationView>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<String>,
}

fn view(row: &ViolationRow) -> ViolationView {
    let bbox: [f32; 4] = serde_json::from_str(&row.bbox).unwrap_or([0.0; 4]);
    ViolationView {
        id: ViolationId::from_stored(row.id.clone()),
        camera_id: CameraId::from_stored(row.camera_id.clone()),
        camera_name: row.camera_name.clone(),
        at: row.at,
        track: u64::try_from(row.track).unwrap_or(0),
        score: row.score as f32,
        zone: row.zone.clone(),
        bbox,
        frame_width: u32::try_from(row.frame_width).unwrap_or(0),
        frame_height: u32::try_from(row.frame_height).unwrap_or(0),
        acknowledged: match (&row.ack_by, row.ack_at) {
            (Some(by), Some(at)) => Some(Acknowledgement {
                by: by.clone(),
                at,
                note: row.ack_note.clone().unwrap_or_default(),
            }),
            _ => None,
        },
    }
}

/// Stores a violation in the background: the frame (box drawn) and the face crop as
/// JPEG blobs, then the row (with its count in the statistics), then the event. A
/// failure is logged; the camera goes on.
pub(crate) fn raise(
    cameras: Cameras,
    spec: &CameraSpec,
    image: Arc<RgbImage>,
    violation: Violation,
    at: i64,
) {
    let camera_id = spec.id.clone();
    let camera_name = spec.name.clone();
    cameras.deps().runtime.clone().spawn_tracked(async move {
        if let Err(e) =
            store_violation(&cameras, camera_id, camera_name, image, violation, at).await
        {
            tracing::error!(error = %e, "a violation could not be stored");
        }
    });
}

async fn store_violation(
    cameras: &Cameras,
    camera_id: CameraId,
    camera_name: String,
    image: Arc<RgbImage>,
    violation: Violation,
    at: i64,
) -> Result<()> {
    let b = violation.face.bbox;
    let face = LiveFace {
        track: violation.track.0,
        bbox: [b.x, b.y, b.width, b.height],
        label: "no_mask".into(),
        score: violation.score,
    };
    let (frame_width, frame_height) = image.dimensions();
    let pictures = {
        let image = Arc::clone(&image);
        tokio::task::spawn_blocking(move || {
            let frame = annotated(&image, std::slice::from_ref(&face));
            let crop = face_crop(&image, b);
            (frame, crop)
        })
        .await
        .map_err(|e| Error::Internal(format!("drawing a violation: {e}")))?
    };
    let blobs = &cameras.deps().blobs;
    let mut keys = Vec::new();
    for picture in [pictures.0, pictures.1] {
        let key = match picture {
            Some(jpeg) => Some(
                blobs
                    .put(jpeg)
                    .await
                    .map_err(vigil_store::StoreError::from)?,
            ),
            None => None,
        };
        keys.push(key);
    }
    let row = ViolationRow {
        id: ViolationId::generate().into_string(),
        camera_id: camera_id.as_str().to_string(),
        camera_name,
        at,
        track: i64::try_from(violation.track.0).unwrap_or(i64::MAX),
        score: f64::from(violation.score),
        zone: violation.zone.clone(),
        bbox: serde_json::to_string(&[b.x, b.y, b.width, b.height])
            .map_err(|e| Error::Internal(e.to_string()))?,
        frame_width: i64::from(frame_width),
        frame_height: i64::from(frame_height),
        frame_blob: keys[0].as_ref().map(|k| k.as_str().to_string()),
        face_blob: keys[1].as_ref().map(|k| k.as_str().to_string()),
        ack_by: None,
        ack_at: None,
        ack_note: None,
    };
    if let Err(e) = store::insert_violation(&cameras.deps().db, &row).await {
        // The pictures would be orphans: remove them (best effort).
        for key in keys.into_iter().flatten() {
            let _ = blobs.delete(&key).await;
        }
        return Err(e.into());
    }
    tracing::info!(camera = %row.camera_name, track = row.track, score = row.score, "violation");
    cameras
        .publish(EventKind::Violation {
            action: "created",
            violation: Box::new(view(&row)),
        })
        .await;
    Ok(())
}

/// The face with a quarter of its size around it, as JPEG.
fn face_crop(image: &RgbImage, b: BBox) -> Option<Bytes> {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let margin_x = b.width * 0.25;
    let margin_y = b.height * 0.25;
    let x1 = (b.x - margin_x).clamp(0.0, w);
    let y1 = (b.y - margin_y).clamp(0.0, h);
    let x2 = (b.x + b.width + margin_x).clamp(0.0, w);
    let y2 = (b.y + b.height + margin_y).clamp(0.0, h);
    let (cw, ch) = ((x2 - x1) as u32, (y2 - y1) as u32);
    if cw < 2 || ch < 2 {
        return None;
    }
    let crop = image::imageops::crop_imm(image, x1 as u32, y1 as u32, cw, ch).to_image();
    vigil_vision::annotate::encode_jpeg(&crop)
        .ok()
        .map(Bytes::from)
}

fn parse_cursor(before: &str) -> Result<(i64, String)> {
    let bad =
        || Error::InvalidFilter("`before` must be a next_before value from a previous page".into());
    let (at, id) = before.split_once('.').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    let id = ViolationId::parse(id).map_err(|_| bad())?;
    Ok((at, id.into_string()))
}

impl ViolationQuery {
    fn filter(&self, default_limit: i64) -> Result<ViolationFilter> {
        let limit = self.limit.unwrap_or(default_limit);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::InvalidFilter(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        if let (Some(s), Some(u)) = (self.since, self.until) {
            if s >= u {
                return Err(Error::InvalidFilter("since must be before until".into()));
            }
        }
        Ok(ViolationFilter {
            camera_id: match self.camera.as_deref().filter(|c| !c.is_empty()) {
                Some(c) => Some(
                    CameraId::parse(c)
                        .map_err(|_| Error::InvalidFilter("camera must be a camera id".into()))?
                        .into_string(),
                ),
                None => None,
            },
            since: self.since,
            until: self.until,
            acknowledged: self.acknowledged,
            after: self.before.as_deref().map(parse_cursor).transpose()?,
            limit,
        })
    }
}

impl Cameras {
    /// A page of violations, newest first.
    pub async fn violations(&self, query: &ViolationQuery) -> Result<ViolationPage> {
        let filter = query.filter(50)?;
        let mut rows = store::list_violations(
            &self.deps().db,
            &ViolationFilter {
                limit: filter.limit + 1,
                ..filter.clone()
            },
        )
        .await?;
        let more = rows.len() as i64 > filter.limit;
        rows.truncate(usize::try_from(filter.limit).unwrap_or(0));
        let next_before = more
            .then(|| rows.last().map(|r| format!("{}.{}", r.at, r.id)))
            .flatten();
        Ok(ViolationPage {
            items: rows.iter().map(view).collect(),
            next_before,
        })
    }

    /// Every violation matching `query` (ignoring paging), for CSV export, newest
    /// first, at most `cap`.
    pub async fn violations_for_export(
        &self,
        query: &ViolationQuery,
        cap: i64,
    ) -> Result<Vec<ViolationView>> {
        let mut filter = query.filter(MAX_PAGE)?;
        filter.limit = cap;
        filter.after = None;
        let rows = store::list_violations(&self.deps().db, &filter).await?;
        Ok(rows.iter().map(view).collect())
    }

    async fn violation_row(&self, id: &str) -> Result<ViolationRow> {
        let id = ViolationId::parse(id)?;
        store::get_violation(&self.deps().db, id.as_str())
            .await?
            .ok_or(Error::NotFound("violation"))
    }

    /// One violation.
    pub async fn violation(&self, id: &str) -> Result<ViolationView> {
        Ok(view(&self.violation_row(id).await?))
    }

    /// A violation's picture: the annotated frame (`face = false`) or the face crop.
    pub async fn violation_picture(&self, id: &str, face: bool) -> Result<Bytes> {
        let row = self.violation_row(id).await?;
        let key = if face {
            &row.face_blob
        } else {
            &row.frame_blob
        };
        let key = key
            .as_deref()
            .and_then(BlobKey::parse)
            .ok_or(Error::NotFound("picture"))?;
        self.deps()
            .blobs
            .get(&key)
            .await
            .map_err(vigil_store::StoreError::from)?
            .ok_or(Error::NotFound("picture"))
    }

    /// Acknowledges a violation (again: the latest acknowledgement wins).
    pub async fn acknowledge(&self, actor: &Actor, id: &str, note: &str) -> Result<ViolationView> {
        let note = note.trim();
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(Error::Invalid(format!(
                "a note has at most {MAX_NOTE_CHARS} characters"
            )));
        }
        let row = self.violation_row(id).await?;
        let by = actor.name.clone().unwrap_or_else(|| "unknown".into());
        if !store::acknowledge_violation(&self.deps().db, &row.id, &by, now_ms(), note).await? {
            return Err(Error::NotFound("violation"));
        }
        self.record(
            actor,
            AuditEvent::new(AuditAction::ViolationAcknowledge).target("violation", &row.id),
        )
        .await;
        let view = view(&self.violation_row(&row.id).await?);
        self.publish(EventKind::Violation {
            action: "acknowledged",
            violation: Box::new(view.clone()),
        })
        .await;
        Ok(view)
    }

    /// Deletes a violation and its pictures.
    pub async fn delete_violation(&self, actor: &Actor, id: &str) -> Result<()> {
        let id = ViolationId::parse(id)?;
        let row = store::delete_violation(&self.deps().db, id.as_str())
            .await?
            .ok_or(Error::NotFound("violation"))?;
        self.delete_blobs(&row).await;
        self.record(
            actor,
            AuditEvent::new(AuditAction::ViolationDelete).target("violation", &row.id),
        )
        .await;
        self.publish(EventKind::ViolationDeleted(id)).await;
        Ok(())
    }

    async fn delete_blobs(&self, row: &ViolationRow) {
        for key in row.blobs() {
            if let Some(key) = BlobKey::parse(&key) {
                if let Err(e) = self.deps().blobs.delete(&key).await {
                    tracing::warn!(error = %e, "a violation picture could not be deleted");
                }
            }
        }
    }

    /// Deletes violations past their camera's retention (and those of cameras that no
    /// longer exist), pictures after rows; returns how many.
    pub async fn expire_violations(&self) -> Result<u64> {
        let mut removed = 0;
        let cameras = store::list_cameras(&self.deps().db).await?;
        for camera in cameras {
            let days = serde_json::from_str::<super::CameraSettings>(&camera.settings)
                .map(|s| s.retention_days)
                .unwrap_or(30);
            let before = now_ms() - i64::from(days) * 86_400_000;
            loop {
                let batch =
                    store::expired_violations(&self.deps().db, &camera.id, before, 200).await?;
                if batch.is_empty() {
                    break;
                }
                for row in &batch {
                    if store::delete_violation(&self.deps().db, &row.id)
                        .await?
                        .is_some()
                    {
                        self.delete_blobs(row).await;
                        removed += 1;
                    }
                }
            }
        }
        loop {
            let batch = store::orphaned_violations(&self.deps().db, 200).await?;
            if batch.is_empty() {
                break;
            }
            for row in &batch {
                if store::delete_violation(&self.deps().db, &row.id)
                    .await?
                    .is_some()
                {
                    self.delete_blobs(row).await;
                    removed += 1;
                }
            }
        }
        // Statistics are kept for a year, whatever the violations' retention.
        store::prune_stats(&self.deps().db, now_ms() - 366 * 86_400_000).await?;
        if removed > 0 {
            tracing::info!(removed, "deleted violations past their retention");
        }
        Ok(removed)
    }
}

/// Deletes every violation of a camera (pictures after rows), for the camera's deletion.
pub(crate) async fn delete_all_of(cameras: &Cameras, camera_id: &str) -> Result<()> {
    loop {
        let batch = store::expired_violations(&cameras.deps().db, camera_id, i64::MAX, 200).await?;
        if batch.is_empty() {
            return Ok(());
        }
        for row in &batch {
            if store::delete_violation(&cameras.deps().db, &row.id)
                .await?
                .is_some()
            {
                cameras.delete_blobs(row).await;
            }
        }
    }
}

/// Writes violations as CSV (RFC 4180; cells that a spreadsheet would run as a formula
/// are prefixed with `'`).
pub fn write_csv(out: &mut Vec<u8>, items: &[ViolationView]) {
    fn cell(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    out.extend_from_slice(
        b"id,time_utc,at_ms,camera_id,camera,track,score,zone,box_x,box_y,box_w,box_h,acknowledged_by,acknowledged_at_ms,note\r\n",
    );
    for v in items {
        let t = vigil_store::UtcTime::from_unix_ms(v.at);
        let time = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        );
        let (by, at, note) = match &v.acknowledged {
            Some(a) => (a.by.clone(), a.at.to_string(), a.note.clone()),
            None => (String::new(), String::new(), String::new()),
        };
        let line = [
            v.id.to_string(),
            time,
            v.at.to_string(),
            v.camera_id.to_string(),
            cell(&v.camera_name),
            v.track.to_string(),
            format!("{:.3}", v.score),
            cell(v.zone.as_deref().unwrap_or("")),
            format!("{:.0}", v.bbox[0]),
            format!("{:.0}", v.bbox[1]),
            format!("{:.0}", v.bbox[2]),
            format!("{:.0}", v.bbox[3]),
            cell(&by),
            at,
            cell(&note),
        ]
        .join(",");
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}
