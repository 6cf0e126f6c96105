//! Reading the audit log: a filtered, paged JSON listing and a CSV export. Both are for
//! admins only (see `routes/table.rs`); nothing here writes to the log.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_auth::audit::{self, AuditFilter, AuditLog, AuditRecord, Outcome};
use vigil_auth::AuthError;

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Default page size of the listing.
const LIST_DEFAULT: i64 = 100;
/// Largest page of the listing.
const LIST_MAX: i64 = 500;
/// Most rows one export holds; narrow the filters or page with `before_seq` for more.
const EXPORT_MAX: i64 = 100_000;
/// Rows fetched per query while streaming an export.
const EXPORT_PAGE: i64 = 1000;
/// Longest text filter accepted (actions, names and ids are far shorter).
const MAX_FILTER_LEN: usize = 200;

/// Filters shared by the listing and the export; every one is optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Exact action (`auth.login`) or a prefix ending in `.` or `.*` (`auth.`, `auth.*`).
    pub action: Option<String>,
    /// Exact actor name (username or API key name).
    pub actor: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Records at or after this time, Unix ms.
    pub since: Option<i64>,
    /// Records strictly before this time, Unix ms.
    pub until: Option<i64>,
    /// Exact target id.
    pub target: Option<String>,
    /// Listing: page size, 1–500 (default 100). Export: most rows, 1–100000 (default 100000).
    pub limit: Option<i64>,
    /// Only records with a smaller sequence number (the previous page's `next_before_seq`).
    pub before_seq: Option<i64>,
}

/// A validated [`AuditQuery`].
struct Parsed {
    filter: AuditFilter,
    limit: i64,
    before_seq: Option<i64>,
}

impl AuditQuery {
    /// Checks the values; `default_limit` and `max_limit` depend on the route.
    fn parse(self, default_limit: i64, max_limit: i64) -> ApiResult<Parsed> {
        let invalid = |msg: String| ApiError::new(ErrorCode::ValidationFailed, msg);
        let text = |name: &str, value: Option<String>| -> ApiResult<Option<String>> {
            match value {
                Some(v) if v.is_empty() || v.chars().count() > MAX_FILTER_LEN => Err(invalid(
                    format!("{name} must have 1 to {MAX_FILTER_LEN} characters"),
                )),
                other => Ok(other),
            }
        };
        let limit = self.limit.unwrap_or(default_limit);
        if !(1..=max_limit).contains(&limit) {
            return Err(invalid(format!("limit must be between 1 and {max_limit}")));
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(invalid("since must be earlier than until".into()));
            }
        }
        let outcome = self
            .outcome
            .map(|o| o.parse::<Outcome>())
            .transpose()
            .map_err(invalid)?;
        Ok(Parsed {
            filter: AuditFilter {
                action: text("action", self.action)?,
                actor: text("actor", self.actor)?,
                outcome,
                since: self.since,
                until: self.until,
                target: text("target", self.target)?,
            },
            limit,
            before_seq: self.before_seq,
        })
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

/// Maps an identity error from the log to the API's error table.
fn audit_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Invalid(message) => ApiError::new(ErrorCode::ValidationFailed, message),
        AuthError::Store(store) => store.into(),
        other => ApiError::internal(other),
    }
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
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let q = query.parse(LIST_DEFAULT, LIST_MAX)?;
    // One extra row tells whether another page exists without a second query.
    let mut rows = state
        .identity
        .audit
        .list(&q.filter, q.limit + 1, q.before_seq)
        .await
        .map_err(audit_error)?;
    let more = rows.len() > usize::try_from(q.limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(q.limit).unwrap_or(usize::MAX));
    let next_before_seq = if more {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: rows,
        next_before_seq,
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
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let q = query.parse(EXPORT_MAX, EXPORT_MAX)?;
    let log = state.identity.audit.clone();
    // The first page is read before answering, so a database failure still gets a
    // proper error status; later pages stream, keeping memory flat for large exports.
    let mut export = Export {
        log,
        filter: q.filter,
        remaining: q.limit,
        before_seq: q.before_seq,
    };
    let first = export.next_page().await.map_err(audit_error)?;
    let mut head = Vec::new();
    audit::write_csv_header(&mut head).map_err(ApiError::internal)?;
    audit::write_csv_records(&mut head, &first).map_err(ApiError::internal)?;

    let rest = futures::stream::try_unfold(export, next_chunk);
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
        .chain(rest);

    let disposition = format!(
        "attachment; filename=\"vigil-audit-{}.csv\"",
        vigil_store::now_ms()
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

/// Where a streaming export has got to.
struct Export {
    log: AuditLog,
    filter: AuditFilter,
    remaining: i64,
    before_seq: Option<i64>,
}

impl Export {
    /// The next page (empty when finished), advancing the cursor.
    async fn next_page(&mut self) -> Result<Vec<AuditRecord>, AuthError> {
        let size = self.remaining.min(EXPORT_PAGE);
        if size == 0 {
            return Ok(Vec::new());
        }
        let page = self.log.list(&self.filter, size, self.before_seq).await?;
        let got = i64::try_from(page.len()).unwrap_or(size);
        // A short page is the last one.
        self.remaining = if got < size { 0 } else { self.remaining - got };
        self.before_seq = page.last().map(|r| r.seq).or(self.before_seq);
        Ok(page)
    }
}

/// The next CSV chunk of a streaming export, or `None` when it is complete.
async fn next_chunk(mut export: Export) -> Result<Option<(Bytes, Export)>, std::io::Error> {
    if export.remaining == 0 {
        return Ok(None);
    }
    let page = export.next_page().await.map_err(|e| {
        // The headers are sent; the client sees a truncated download. Log why.
        tracing::error!(error = %e, "audit export failed mid-stream");
        std::io::Error::other("audit export failed")
    })?;
    if page.is_empty() {
        return Ok(None);
    }
    let mut chunk = Vec::new();
    audit::write_csv_records(&mut chunk, &page)?;
    Ok(Some((Bytes::from(chunk), export)))
}
