//! Reading the audit log: a filtered, paged listing and a CSV export that streams page
//! by page. Writing happens inside each use case ([`Identity`]'s methods); the one
//! record written here is of the reading itself (`audit.read`, `audit.export`, with the
//! reader and the filters), since who looked at the log is part of the log.

use vigil_auth::audit::{
    self, Actor, AuditAction, AuditFilter, AuditLog, AuditRecord, Event, Outcome,
};

use crate::error::{Error, Result};
use crate::identity::Identity;

/// Default page size of the listing.
pub const LIST_DEFAULT: i64 = 100;
/// Largest page of the listing.
pub const LIST_MAX: i64 = 500;
/// Most rows one export holds; narrow the filters or page with `before_seq` for more.
pub const EXPORT_MAX: i64 = 100_000;
/// Rows fetched per query while streaming an export.
const EXPORT_PAGE: i64 = 1000;
/// Longest text filter accepted (actions, names and ids are far shorter).
const MAX_FILTER_LEN: usize = 200;

/// Filters as a front end received them; every one is optional. Checked by
/// [`Identity::audit_page`] and [`Identity::audit_export`].
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Exact action (`auth.login`) or a prefix ending in `.` or `.*`.
    pub action: Option<String>,
    /// Exact actor name.
    pub actor: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// At or after this time, Unix ms.
    pub since: Option<i64>,
    /// Strictly before this time, Unix ms.
    pub until: Option<i64>,
    /// Exact target id.
    pub target: Option<String>,
    /// Most rows (listing: a page; export: the whole file).
    pub limit: Option<i64>,
    /// Only records with a smaller sequence number.
    pub before_seq: Option<i64>,
}

/// A checked query.
struct Parsed {
    filter: AuditFilter,
    limit: i64,
    before_seq: Option<i64>,
}

impl AuditQuery {
    /// The filters that were set, for the record of a read.
    fn describe(&self, event: Event) -> Event {
        let mut event = event;
        let texts = [
            ("action", &self.action),
            ("actor", &self.actor),
            ("outcome", &self.outcome),
            ("target", &self.target),
        ];
        for (name, value) in texts {
            if let Some(v) = value {
                event = event.detail(name, v.chars().take(MAX_FILTER_LEN).collect::<String>());
            }
        }
        let numbers = [
            ("since", self.since),
            ("until", self.until),
            ("limit", self.limit),
            ("before_seq", self.before_seq),
        ];
        for (name, value) in numbers {
            if let Some(v) = value {
                event = event.detail(name, v);
            }
        }
        event
    }

    fn parse(self, default_limit: i64, max_limit: i64) -> Result<Parsed> {
        let text = |name: &str, value: Option<String>| -> Result<Option<String>> {
            match value {
                // No stored action, name or id has control characters, and PostgreSQL
                // refuses a NUL in text outright (an error, not "no match").
                Some(v)
                    if v.is_empty()
                        || v.chars().count() > MAX_FILTER_LEN
                        || v.chars().any(char::is_control) =>
                {
                    Err(Error::InvalidFilter(format!(
                        "{name} must have 1 to {MAX_FILTER_LEN} characters, none of them control characters"
                    )))
                }
                other => Ok(other),
            }
        };
        let limit = self.limit.unwrap_or(default_limit);
        if !(1..=max_limit).contains(&limit) {
            return Err(Error::InvalidFilter(format!(
                "limit must be between 1 and {max_limit}"
            )));
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(Error::InvalidFilter(
                    "since must be earlier than until".into(),
                ));
            }
        }
        let outcome = self
            .outcome
            .map(|o| o.parse::<Outcome>())
            .transpose()
            .map_err(Error::InvalidFilter)?;
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
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// The records.
    pub items: Vec<AuditRecord>,
    /// Pass as `before_seq` for the next page; `None` when there is none.
    pub next_before_seq: Option<i64>,
}

/// Maps an error from the log: a bad filter value stays a filter error.
fn log_error(e: vigil_auth::AuthError) -> Error {
    match e {
        vigil_auth::AuthError::Invalid(message) => Error::InvalidFilter(message),
        other => other.into(),
    }
}

/// A CSV export in progress: call [`AuditExport::next_chunk`] until it returns `None`.
#[derive(Debug)]
pub struct AuditExport {
    log: AuditLog,
    filter: AuditFilter,
    remaining: i64,
    before_seq: Option<i64>,
    header_sent: bool,
}

impl AuditExport {
    /// The next piece of the CSV file (the header row comes with the first), or `None`
    /// when the export is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut chunk = Vec::new();
        if !self.header_sent {
            audit::write_csv_header(&mut chunk).map_err(|e| Error::Internal(e.to_string()))?;
            self.header_sent = true;
        } else if self.remaining == 0 {
            return Ok(None);
        }
        let size = self.remaining.min(EXPORT_PAGE);
        if size > 0 {
            let page = self
                .log
                .list(&self.filter, size, self.before_seq)
                .await
                .map_err(log_error)?;
            let got = i64::try_from(page.len()).unwrap_or(size);
            // A short page is the last one.
            self.remaining = if got < size { 0 } else { self.remaining - got };
            self.before_seq = page.last().map(|r| r.seq).or(self.before_seq);
            audit::write_csv_records(&mut chunk, &page)
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
        if chunk.is_empty() {
            return Ok(None);
        }
        Ok(Some(chunk))
    }
}

impl Identity {
    /// Records matching `query`, newest first, one page (default [`LIST_DEFAULT`], at
    /// most [`LIST_MAX`]). The read is recorded after the page is taken, so the page
    /// does not show its own record.
    pub async fn audit_page(&self, actor: &Actor, query: AuditQuery) -> Result<AuditPage> {
        let event = query.describe(Event::new(AuditAction::AuditRead));
        let q = query.parse(LIST_DEFAULT, LIST_MAX)?;
        // One extra row tells whether another page exists without a second query.
        let mut items = self
            .audit
            .list(&q.filter, q.limit + 1, q.before_seq)
            .await
            .map_err(log_error)?;
        let limit = usize::try_from(q.limit).unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next_before_seq = if more {
            items.last().map(|r| r.seq)
        } else {
            None
        };
        self.record(actor, event.detail("records", items.len()))
            .await;
        Ok(AuditPage {
            items,
            next_before_seq,
        })
    }

    /// Starts a CSV export of the records matching `query` (at most [`EXPORT_MAX`]).
    /// The filters are checked now, so a bad one is an error before any byte is sent;
    /// the export is recorded as it starts (newer records than its own are not in it:
    /// it reads from the newest record existing before).
    pub async fn audit_export(&self, actor: &Actor, query: AuditQuery) -> Result<AuditExport> {
        let event = query.describe(Event::new(AuditAction::AuditExport));
        let q = query.parse(EXPORT_MAX, EXPORT_MAX)?;
        // Pin the export to the records before its own, so it reads one fixed set.
        let newest = self.audit.head().await?.map(|h| h.seq + 1);
        let before_seq = match (q.before_seq, newest) {
            (Some(b), Some(n)) => Some(b.min(n)),
            (b, n) => b.or(n),
        };
        self.record(actor, event).await;
        Ok(AuditExport {
            log: self.audit.clone(),
            filter: q.filter,
            remaining: q.limit,
            before_seq,
            header_sent: false,
        })
    }
}
