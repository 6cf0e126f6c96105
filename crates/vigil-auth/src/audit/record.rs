//! A record as stored (every column, `detail` as its exact stored text) and as shown
//! ([`AuditRecord`]), and the canonical bytes its MAC covers.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::keys::purpose;
use crate::{AuthError, Keys};

pub(super) const COLUMNS: &str =
    "seq, at, actor_kind, actor_id, actor_name, ip, action, target_kind, \
                       target_id, outcome, detail, prev_hash, hash";

/// One stored record, exactly as in the table (`detail` as its stored JSON text, so the
/// MAC is computed over the very bytes that were stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    pub(super) seq: i64,
    pub(super) at: i64,
    pub(super) actor_kind: String,
    pub(super) actor_id: Option<String>,
    pub(super) actor_name: Option<String>,
    pub(super) ip: Option<String>,
    pub(super) action: String,
    pub(super) target_kind: Option<String>,
    pub(super) target_id: Option<String>,
    pub(super) outcome: String,
    pub(super) detail: String,
    pub(super) prev_hash: String,
    pub(super) hash: String,
}

impl Stored {
    /// The bytes the MAC covers: a JSON array of every column except `hash`. JSON keeps
    /// field boundaries and null-versus-empty unambiguous; the leading label lets a later
    /// format coexist.
    fn canonical(&self) -> Result<Vec<u8>, AuthError> {
        serde_json::to_vec(&(
            "vigil-audit-v1",
            self.seq,
            self.at,
            &self.actor_kind,
            &self.actor_id,
            &self.actor_name,
            &self.ip,
            &self.action,
            &self.target_kind,
            &self.target_id,
            &self.outcome,
            &self.detail,
            &self.prev_hash,
        ))
        .map_err(|e| AuthError::Internal(format!("encoding an audit record: {e}")))
    }

    pub(super) fn expected_hash(&self, keys: &Keys) -> Result<String, AuthError> {
        Ok(keys.mac_hex(purpose::AUDIT, &self.canonical()?))
    }

    pub(super) fn read(row: &AnyRow) -> Result<Stored, AuthError> {
        let e = AuthError::db("reading an audit record");
        let get_text = |name: &str| row.try_get::<String, _>(name);
        let get_opt = |name: &str| row.try_get::<Option<String>, _>(name);
        let read = || -> Result<Stored, sqlx::Error> {
            Ok(Stored {
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                actor_kind: get_text("actor_kind")?,
                actor_id: get_opt("actor_id")?,
                actor_name: get_opt("actor_name")?,
                ip: get_opt("ip")?,
                action: get_text("action")?,
                target_kind: get_opt("target_kind")?,
                target_id: get_opt("target_id")?,
                outcome: get_text("outcome")?,
                detail: get_text("detail")?,
                prev_hash: get_text("prev_hash")?,
                hash: get_text("hash")?,
            })
        };
        read().map_err(e)
    }
}

/// A record as listed and exported (the API returns it as is).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, Unix ms.
    pub at: i64,
    /// `user`, `apikey`, `cli`, `system` or `anonymous`.
    pub actor_kind: String,
    /// User or key id.
    pub actor_id: Option<String>,
    /// Username or key name at the time.
    pub actor_name: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Dotted action name.
    pub action: String,
    /// Kind of thing acted on.
    pub target_kind: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Extra facts. A stored value that is not JSON (only possible if someone edited the
    /// table) is shown as a string rather than hiding the record.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's MAC.
    pub hash: String,
}

impl From<Stored> for AuditRecord {
    fn from(s: Stored) -> Self {
        let detail = serde_json::from_str(&s.detail)
            .unwrap_or_else(|_| serde_json::Value::String(s.detail.clone()));
        AuditRecord {
            seq: s.seq,
            at: s.at,
            actor_kind: s.actor_kind,
            actor_id: s.actor_id,
            actor_name: s.actor_name,
            ip: s.ip,
            action: s.action,
            target_kind: s.target_kind,
            target_id: s.target_id,
            outcome: s.outcome,
            detail,
            prev_hash: s.prev_hash,
            hash: s.hash,
        }
    }
}
