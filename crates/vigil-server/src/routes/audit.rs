//! Reading the audit log: a filtered, paged JSON listing and a CSV export. Both are for
//! admins only (see `routes/table.rs`); each read is itself recorded (`audit.read`,
//! `audit.export`) with the reader.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_core::audit::AuditExport;
use vigil_core::{audit, Actor, AuditRecord};

use crate::auth::middleware::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::middleware::client_ip::{ip_of, ClientAddr};
use crate::state::AppState;

/// Filters shared by the listing and the export; every one is optional.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Exact action (`auth.login`) or a prefix ending in `.` or `.*` (`auth.`, `auth.*`).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub action: Option<String>,
    /// Exact actor name (username or API key name).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub actor: Option<String>,
    /// `success` or `failure`.
    #[param(pattern = "^(success|failure)$")]
    pub outcome: Option<String>,
    /// Records at or after this time, Unix ms.
    pub since: Option<i64>,
    /// Records strictly before this time, Unix ms.
    pub until: Option<i64>,
    /// Exact target id.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub target: Option<String>,
    /// Listing: page size, 1–500 (default 100). Export: most rows, 1–100000 (default 100000).
    #[param(minimum = 1, maximum = 100_000)]
    pub limit: Option<i64>,
    /// Only records with a smaller sequence number (the previous page's `next_before_seq`).
    pub before_seq: Option<i64>,
}

impl From<AuditQuery> for audit::AuditQuery {
    fn from(q: AuditQuery) -> Self {
        audit::AuditQuery {
            action: q.action,
            actor: q.actor,
            outcome: q.outcome,
            since: q.since,
            until: q.until,
            target: q.target,
            limit: q.limit,
            before_seq: q.before_seq,
        }
    }
}

/// A page of records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The records.
    pub items: Vec<AuditRecord>,
    /// Pass as `before_seq` for the next page; null when there is none.
    pub next_before_seq: Option<i64>,
}

/// Audit records matching the filters, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "A page of records", body = AuditPage),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 422, description = "Invalid filter values", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let page = state.identity.audit_page(&actor, query.into()).await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_before_seq: page.next_before_seq,
    }))
}

/// The matching records as a CSV file (newest first, at most `limit`, default and
/// maximum 100000). Cells that a spreadsheet would evaluate as formulas are prefixed
/// with `'`.
#[utoipa::path(get, path = "/api/v1/audit/export.csv", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "CSV with a header row", content_type = "text/csv", body = String),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 422, description = "Invalid filter values", body = ErrorBody),
    ))]
pub async fn export_csv(
    State(state): State<AppState>,
    Caller(caller): Caller,
    client: Option<Extension<ClientAddr>>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let actor = Actor::principal(&caller, ip_of(client.as_ref()));
    let mut export = state.identity.audit_export(&actor, query.into()).await?;
    // The first chunk (header and first page) is read before answering, so a database
    // failure still gets a proper error status; later pages stream, keeping memory flat
    // for large exports.
    let head = export.next_chunk().await?.unwrap_or_default();
    let rest = futures::stream::try_unfold(export, next_chunk);
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
        .chain(rest);

    let disposition = format!(
        "attachment; filename=\"vigil-audit-{}.csv\"",
        vigil_core::now_ms()
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The next CSV chunk of a streaming export, or `None` when it is complete.
async fn next_chunk(
    mut export: AuditExport,
) -> Result<Option<(Bytes, AuditExport)>, std::io::Error> {
    let chunk = export.next_chunk().await.map_err(|e| {
        // The headers are sent; the client sees a truncated download. Log why.
        tracing::error!(error = %e, "audit export failed mid-stream");
        std::io::Error::other("audit export failed")
    })?;
    Ok(chunk.map(|c| (Bytes::from(c), export)))
}
