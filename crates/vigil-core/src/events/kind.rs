//! The typed events Vigil publishes, and the stored form every subscriber receives.
//!
//! Adding an event source (cameras, violations, jobs, proctoring) is one variant of
//! [`EventKind`] and its arm in each of the three `match`es below: its stable type name,
//! the least role that may see it, and its JSON payload.

use serde::{Deserialize, Serialize};
use vigil_auth::audit::AuditRecord;
use vigil_auth::Role;

use crate::cameras::model::{CameraView, Detections, StateChange, ViolationView};
use crate::cameras::ViolationId;

/// Something that happened, typed, before it is published.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// An audit record was appended (`audit.<action>`, e.g. `audit.user.create`);
    /// admins only, like the audit log itself (it names users and addresses).
    Audit(AuditRecord),
    /// A camera was added, changed or removed (`camera.created|updated|deleted`).
    CameraChanged {
        /// `created`, `updated` or `deleted`.
        action: &'static str,
        /// The camera as it is now (as it was, for `deleted`).
        camera: Box<CameraView>,
    },
    /// A camera's state changed (`camera.state`).
    CameraState(StateChange),
    /// The faces of an analysed frame (`camera.detections`): transient, see
    /// [`EventKind::is_transient`].
    Detections(Detections),
    /// A violation was stored or acknowledged (`violation.created|acknowledged`).
    Violation {
        /// `created` or `acknowledged`.
        action: &'static str,
        /// The violation.
        violation: Box<ViolationView>,
    },
    /// A violation was deleted (`violation.deleted`).
    ViolationDeleted(ViolationId),
}

impl EventKind {
    /// The stable, dotted type name clients filter on (`?types=audit.`).
    pub fn type_name(&self) -> String {
        match self {
            EventKind::Audit(record) => format!("audit.{}", record.action),
            EventKind::CameraChanged { action, .. } => format!("camera.{action}"),
            EventKind::CameraState(_) => "camera.state".into(),
            EventKind::Detections(_) => "camera.detections".into(),
            EventKind::Violation { action, .. } => format!("violation.{action}"),
            EventKind::ViolationDeleted(_) => "violation.deleted".into(),
        }
    }

    /// The least role that may receive this event.
    pub fn min_role(&self) -> Role {
        match self {
            EventKind::Audit(_) => Role::Admin,
            // Viewers watch cameras and their violations.
            EventKind::CameraChanged { .. }
            | EventKind::CameraState(_)
            | EventKind::Detections(_)
            | EventKind::Violation { .. }
            | EventKind::ViolationDeleted(_) => Role::Viewer,
        }
    }

    /// The event's JSON payload.
    pub fn payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            EventKind::Audit(record) => serde_json::to_value(record),
            EventKind::CameraChanged { camera, .. } => Ok(serde_json::json!({ "camera": camera })),
            EventKind::CameraState(change) => serde_json::to_value(change),
            EventKind::Detections(detections) => serde_json::to_value(detections),
            EventKind::Violation { violation, .. } => {
                Ok(serde_json::json!({ "violation": violation }))
            }
            EventKind::ViolationDeleted(id) => Ok(serde_json::json!({ "id": id })),
        }
    }

    /// Whether the event is delivered live only, never stored or replayed: per-frame
    /// detections, several a second per camera, which nobody needs after the moment
    /// (stats and violations keep what lasts). They reach this instance's subscribers
    /// only, with id 0.
    pub fn is_transient(&self) -> bool {
        matches!(self, EventKind::Detections(_))
    }
}

/// A published event, as stored in the `events` table and delivered to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Increasing id on this instance's stream (the SSE `id`; resume with
    /// `Last-Event-ID`).
    pub id: i64,
    /// When it was published, Unix ms.
    pub at: i64,
    /// Dotted type name (`audit.user.create`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The least role that may receive it.
    pub min_role: Role,
    /// What happened, shaped by the type.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// Which events a subscriber wants and may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Type prefixes (`audit.`, `camera.`); empty means every type.
    pub types: Vec<String>,
    /// The subscriber's role: events above it are never delivered.
    pub role: Role,
}

impl Filter {
    /// Parses `?types=audit.,camera.` (comma-separated prefixes; blanks ignored).
    pub fn new(types: Option<&str>, role: Role) -> Filter {
        let types = types
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        Filter { types, role }
    }

    /// Whether `event` goes to this subscriber.
    pub fn matches(&self, event: &Event) -> bool {
        self.role >= event.min_role
            && (self.types.is_empty() || self.types.iter().any(|t| event.kind.starts_with(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, min_role: Role) -> Event {
        Event {
            id: 1,
            at: 0,
            kind: kind.into(),
            min_role,
            payload: serde_json::json!({}),
        }
    }

    #[test]
    fn filters_match_type_prefixes_and_never_exceed_the_role() {
        let audit = event("audit.user.create", Role::Admin);
        let camera = event("camera.online", Role::Viewer);
        let admin_all = Filter::new(None, Role::Admin);
        assert!(admin_all.matches(&audit) && admin_all.matches(&camera));
        let viewer_all = Filter::new(Some(""), Role::Viewer);
        assert!(!viewer_all.matches(&audit) && viewer_all.matches(&camera));
        let admin_cams = Filter::new(Some(" camera. , ,"), Role::Admin);
        assert_eq!(admin_cams.types, ["camera."]);
        assert!(!admin_cams.matches(&audit) && admin_cams.matches(&camera));
        let viewer_audit = Filter::new(Some("audit.,camera."), Role::Viewer);
        assert!(!viewer_audit.matches(&audit));
    }
}
