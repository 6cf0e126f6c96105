//! The audit log: who did what, when, from where, chained by MAC so that `vigil verify`
//! finds the first record that was altered, removed or reordered.
//!
//! Each record's `hash` is `HMAC-SHA256(keys.derive(AUDIT), canonical)` where `canonical`
//! is the JSON array of every other column, including `prev_hash`, the previous record's
//! `hash` (64 zeros for record 1). Sequence numbers are dense from 1, so a removed record
//! leaves a gap, a reordered one breaks the `prev_hash` link, and an edited one no longer
//! matches its own hash. Because the MAC is keyed by `secret_key`, someone with write
//! access to the database but not the key cannot forge a consistent chain; by the same
//! token, changing `secret_key` makes every existing record fail verification.
//!
//! Limits: removing the newest records (truncating the tail) leaves a valid shorter
//! chain, which only a copy of the head kept elsewhere (a backup, an exported CSV) can
//! reveal; and anyone holding `secret_key` can rewrite the whole chain.
//!
//! Concurrency: appends are serialised by the database itself, so several tasks, several
//! servers on one PostgreSQL, or the CLI next to a server on one SQLite file all extend
//! one chain. PostgreSQL takes a transaction-scoped advisory lock; SQLite takes its write
//! lock up front (`BEGIN IMMEDIATE`). A unique-key violation on `seq` (someone appended
//! without the lock) is retried a bounded number of times; when that is exhausted the
//! caller gets an error, never a silently dropped event.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use vigil_store::{now_ms, Backend, Database};

use crate::keys::purpose;
use crate::{AuthError, Keys, Principal, PrincipalKind};

/// What kind of caller acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A signed-in person.
    User,
    /// An application key.
    ApiKey,
    /// The command line on the server (`vigil user add`…).
    Cli,
    /// Vigil itself (start-up, retention…).
    System,
    /// Nobody authenticated (for example a failed login).
    Anonymous,
}

impl ActorKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "apikey",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// Who acted and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Kind of caller.
    pub kind: ActorKind,
    /// User or key id.
    pub id: Option<String>,
    /// Username or key name (kept even if the user is later deleted).
    pub name: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

impl Actor {
    /// The actor for an authenticated principal.
    pub fn principal(p: &Principal, ip: Option<String>) -> Actor {
        Actor {
            kind: match p.kind {
                PrincipalKind::Session { .. } => ActorKind::User,
                PrincipalKind::ApiKey => ActorKind::ApiKey,
            },
            id: Some(p.id.clone()),
            name: Some(p.name.clone()),
            ip,
        }
    }

    /// An unauthenticated caller, optionally naming who they claimed to be.
    pub fn anonymous(claimed_name: Option<String>, ip: Option<String>) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: None,
            name: claimed_name,
            ip,
        }
    }

    /// The command line.
    pub fn cli() -> Actor {
        let name = std::env::var("USER").ok();
        Actor {
            kind: ActorKind::Cli,
            id: None,
            name,
            ip: None,
        }
    }

    /// Vigil itself.
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: None,
            ip: None,
        }
    }
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and refused or failed.
    Failure,
}

impl Outcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Outcome::Success),
            "failure" => Ok(Outcome::Failure),
            other => Err(format!("unknown outcome {other:?}; use success or failure")),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Dotted action name, e.g. `auth.login`, `user.create`, `apikey.revoke`.
    pub action: &'static str,
    /// Kind of thing acted on (`user`, `apikey`, `session`…).
    pub target_kind: Option<&'static str>,
    /// Its id.
    pub target_id: Option<String>,
    /// Success or failure.
    pub outcome: Outcome,
    /// Extra facts (never secrets), as a JSON object.
    pub detail: serde_json::Value,
}

impl Event {
    /// A successful `action` with no target.
    pub fn new(action: &'static str) -> Event {
        Event {
            action,
            target_kind: None,
            target_id: None,
            outcome: Outcome::Success,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// Sets the target.
    pub fn target(mut self, kind: &'static str, id: impl Into<String>) -> Event {
        self.target_kind = Some(kind);
        self.target_id = Some(id.into());
        self
    }

    /// Marks the event a failure.
    pub fn failed(mut self) -> Event {
        self.outcome = Outcome::Failure;
        self
    }

    /// Adds a detail field.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Event {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(key.to_string(), value.into());
        }
        self
    }
}

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many times an append is retried after losing a race for the next `seq`.
const MAX_ATTEMPTS: u32 = 20;

/// Rows fetched per round trip by [`AuditLog::verify`].
const VERIFY_PAGE: i64 = 1000;

/// Largest page [`AuditLog::list`] returns.
pub const MAX_LIST_LIMIT: i64 = 1000;

/// PostgreSQL advisory lock key serialising appends ("vigilaud" in ASCII).
const PG_APPEND_LOCK: i64 = 0x7669_6769_6c61_7564;

const COLUMNS: &str = "seq, at, actor_kind, actor_id, actor_name, ip, action, target_kind, \
                       target_id, outcome, detail, prev_hash, hash";

/// One stored record, exactly as in the table (`detail` as its stored JSON text, so the
/// MAC is computed over the very bytes that were stored).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    seq: i64,
    at: i64,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: Option<String>,
    ip: Option<String>,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    outcome: String,
    detail: String,
    prev_hash: String,
    hash: String,
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

    fn expected_hash(&self, keys: &Keys) -> Result<String, AuthError> {
        Ok(keys.mac_hex(purpose::AUDIT, &self.canonical()?))
    }

    fn read(row: &AnyRow) -> Result<Stored, AuthError> {
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

/// Which records [`AuditLog::list`] returns; every field left `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact action (`auth.login`), or a prefix when it ends with `.` (`auth.`) or `.*`
    /// (`auth.*`).
    pub action: Option<String>,
    /// Exact actor name.
    pub actor: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// At or after this time, Unix ms.
    pub since: Option<i64>,
    /// Strictly before this time, Unix ms.
    pub until: Option<i64>,
    /// Exact target id.
    pub target: Option<String>,
}

/// A value bound into a dynamically built query.
enum Bind {
    Text(String),
    Int(i64),
}

impl AuditFilter {
    /// The `WHERE` conditions and their values, placeholders numbered from 1.
    fn conditions(&self) -> (Vec<String>, Vec<Bind>) {
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        let mut push = |cond: &str, value: Bind| {
            binds.push(value);
            conds.push(cond.replace('?', &format!("${}", binds.len())));
        };
        if let Some(action) = &self.action {
            match action_prefix(action) {
                // LIKE with an escape character works alike in both databases; `%` and `_`
                // in the prefix are escaped so they match literally.
                Some(prefix) => push(
                    "action LIKE ? ESCAPE '\\'",
                    Bind::Text(format!("{}%", escape_like(prefix))),
                ),
                None => push("action = ?", Bind::Text(action.clone())),
            }
        }
        if let Some(actor) = &self.actor {
            push("actor_name = ?", Bind::Text(actor.clone()));
        }
        if let Some(outcome) = self.outcome {
            push("outcome = ?", Bind::Text(outcome.as_str().to_string()));
        }
        if let Some(since) = self.since {
            push("at >= ?", Bind::Int(since));
        }
        if let Some(until) = self.until {
            push("at < ?", Bind::Int(until));
        }
        if let Some(target) = &self.target {
            push("target_id = ?", Bind::Text(target.clone()));
        }
        (conds, binds)
    }
}

/// The prefix an action filter asks for, if it is a prefix filter.
fn action_prefix(action: &str) -> Option<&str> {
    if let Some(stem) = action.strip_suffix('*') {
        Some(stem)
    } else if action.ends_with('.') {
        Some(action)
    } else {
        None
    }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Its contents no longer match its hash.
    Altered,
    /// The sequence has a gap: this record was removed.
    Missing,
    /// Its `prev_hash` is not the previous record's hash: records were reordered, or this
    /// one was replaced wholesale.
    ChainBroken,
}

/// The first problem [`AuditLog::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The record concerned (for [`ProblemKind::Missing`], the first absent number).
    pub seq: i64,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = self.seq;
        match self.kind {
            ProblemKind::Altered => write!(
                f,
                "record #{seq} was altered (its contents no longer match its hash)"
            ),
            ProblemKind::Missing => write!(f, "record #{seq} is missing (removed)"),
            ProblemKind::ChainBroken => write!(
                f,
                "record #{seq} does not follow record #{} (reordered or replaced)",
                seq - 1
            ),
        }
    }
}

/// The result of [`AuditLog::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records read (up to and including the one with the problem).
    pub records: u64,
    /// The first problem, or `None` when the chain is intact.
    pub problem: Option<Problem>,
}

/// Why one append attempt failed.
enum AppendError {
    /// Someone else took this `seq` first; try again.
    Lost,
    /// Anything else; give up.
    Failed(AuthError),
}

/// The audit log.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Database,
    keys: Keys,
}

impl AuditLog {
    /// The log stored in `db`, chained with a key derived from `keys`.
    pub fn new(db: Database, keys: Keys) -> AuditLog {
        AuditLog { db, keys }
    }

    /// Appends one record; returns its sequence number. Fails (rather than dropping the
    /// event) when the database does, or when the append keeps losing races.
    pub async fn record(&self, actor: &Actor, event: Event) -> Result<i64, AuthError> {
        let detail = serde_json::to_string(&event.detail)
            .map_err(|e| AuthError::Internal(format!("encoding audit detail: {e}")))?;
        let mut draft = Stored {
            seq: 0,
            at: 0,
            actor_kind: actor.kind.as_str().to_string(),
            actor_id: actor.id.clone(),
            actor_name: actor.name.clone(),
            ip: actor.ip.clone(),
            action: event.action.to_string(),
            target_kind: event.target_kind.map(str::to_string),
            target_id: event.target_id,
            outcome: event.outcome.as_str().to_string(),
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        };
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_append(&mut draft).await {
                Ok(seq) => return Ok(seq),
                Err(AppendError::Failed(e)) => return Err(e),
                Err(AppendError::Lost) => {
                    // Random back-off so racing writers do not collide again in lockstep.
                    let ms = rand::thread_rng().gen_range(1..=2 * u64::from(attempt));
                    tracing::debug!(attempt, "audit append lost a race; retrying");
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
        }
        Err(AuthError::Internal(format!(
            "could not append to the audit log after {MAX_ATTEMPTS} attempts (too much contention)"
        )))
    }

    /// One attempt: lock, read the head, insert the next record, commit.
    async fn try_append(&self, draft: &mut Stored) -> Result<i64, AppendError> {
        let failed = |what: &'static str| move |e| AppendError::Failed(AuthError::db(what)(e));
        let pool = self.db.pool();
        let begun = match self.db.backend() {
            // Take SQLite's write lock now (waiting up to busy_timeout): a plain BEGIN
            // would read under a shared lock and then fail to upgrade it if another
            // process wrote in between.
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => pool.begin().await,
        };
        let mut tx = begun.map_err(failed("starting an audit append"))?;
        if self.db.backend() == Backend::Postgres {
            // Serialises appends across servers; released at commit or rollback. The
            // function returns `void`, which the Any driver cannot decode, hence the
            // wrapping count.
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked",
            )
            .bind(PG_APPEND_LOCK)
            .fetch_one(&mut *tx)
            .await
            .map_err(failed("locking the audit log"))?;
        }
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed("reading the audit log head"))?;
        let (last_seq, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_string()));
        draft.seq = last_seq + 1;
        draft.prev_hash = prev_hash;
        // Taken under the lock so that time never goes backwards along the chain
        // (clock steps aside).
        draft.at = now_ms();
        draft.hash = draft
            .expected_hash(&self.keys)
            .map_err(AppendError::Failed)?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO audit_log ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(draft.seq)
        .bind(draft.at)
        .bind(&draft.actor_kind)
        .bind(draft.actor_id.as_deref())
        .bind(draft.actor_name.as_deref())
        .bind(draft.ip.as_deref())
        .bind(&draft.action)
        .bind(draft.target_kind.as_deref())
        .bind(draft.target_id.as_deref())
        .bind(&draft.outcome)
        .bind(&draft.detail)
        .bind(&draft.prev_hash)
        .bind(&draft.hash)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                // Dropping the transaction rolls it back.
                return Err(AppendError::Lost);
            }
            Err(e) => return Err(failed("appending to the audit log")(e)),
        }
        match tx.commit().await {
            Ok(()) => Ok(draft.seq),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AppendError::Lost),
            Err(e) => Err(failed("committing an audit append")(e)),
        }
    }

    /// Records matching `filter`, newest first: at most `limit` (1 to
    /// [`MAX_LIST_LIMIT`]), with `seq` below `before_seq` when given (for paging).
    pub async fn list(
        &self,
        filter: &AuditFilter,
        limit: i64,
        before_seq: Option<i64>,
    ) -> Result<Vec<AuditRecord>, AuthError> {
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(AuthError::Invalid(format!(
                "limit must be between 1 and {MAX_LIST_LIMIT}"
            )));
        }
        let (mut conds, mut binds) = filter.conditions();
        if let Some(before) = before_seq {
            binds.push(Bind::Int(before));
            conds.push(format!("seq < ${}", binds.len()));
        }
        binds.push(Bind::Int(limit));
        let where_clause = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log {where_clause} ORDER BY seq DESC LIMIT ${}",
            binds.len()
        );
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = match bind {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query
            .fetch_all(self.db.pool())
            .await
            .map_err(AuthError::db("listing the audit log"))?;
        rows.iter()
            .map(|r| Stored::read(r).map(AuditRecord::from))
            .collect()
    }

    /// Walks the whole chain in order of `seq` and reports the first record that was
    /// altered, removed or reordered. Reads [`VERIFY_PAGE`] rows per query, so memory
    /// stays flat however long the log is.
    pub async fn verify(&self) -> Result<VerifyReport, AuthError> {
        self.verify_paged(VERIFY_PAGE).await
    }

    async fn verify_paged(&self, page: i64) -> Result<VerifyReport, AuthError> {
        let mut records = 0u64;
        let mut expected_seq = 1i64;
        let mut prev_hash = GENESIS_HASH.to_string();
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))
            .bind(after)
            .bind(page)
            .fetch_all(self.db.pool())
            .await
            .map_err(AuthError::db("reading the audit log"))?;
            let Some(last) = rows.last() else {
                return Ok(VerifyReport {
                    records,
                    problem: None,
                });
            };
            after = last
                .try_get("seq")
                .map_err(AuthError::db("reading the audit log"))?;
            for row in &rows {
                let record = Stored::read(row)?;
                records += 1;
                let problem = |seq, kind| -> Result<VerifyReport, AuthError> {
                    Ok(VerifyReport {
                        records,
                        problem: Some(Problem { seq, kind }),
                    })
                };
                if record.seq > expected_seq {
                    return problem(expected_seq, ProblemKind::Missing);
                }
                // A seq below the expected one can only be a record slipped in before
                // record 1 (seq 0 or negative): it does not belong to the chain.
                if record.seq < expected_seq {
                    return problem(record.seq, ProblemKind::ChainBroken);
                }
                // The link is checked before the contents so that swapped records are
                // reported as out of order rather than as edited.
                if !crate::token::ct_eq(&record.prev_hash, &prev_hash) {
                    return problem(record.seq, ProblemKind::ChainBroken);
                }
                if !crate::token::ct_eq(&record.expected_hash(&self.keys)?, &record.hash) {
                    return problem(record.seq, ProblemKind::Altered);
                }
                prev_hash = record.hash;
                expected_seq += 1;
            }
        }
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 14] = [
    "seq",
    "at_ms",
    "time_utc",
    "actor_kind",
    "actor_id",
    "actor_name",
    "ip",
    "action",
    "target_kind",
    "target_id",
    "outcome",
    "detail",
    "prev_hash",
    "hash",
];

/// Writes the CSV header line (RFC 4180, CRLF line ends).
pub fn write_csv_header(out: &mut impl Write) -> io::Result<()> {
    write_csv_line(out, CSV_COLUMNS.iter().map(|c| (*c).to_string()))
}

/// Writes `records` as CSV lines (no header). Text cells that a spreadsheet would run
/// as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) get a leading `'`.
pub fn write_csv_records(out: &mut impl Write, records: &[AuditRecord]) -> io::Result<()> {
    for r in records {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        write_csv_line(
            out,
            [
                r.seq.to_string(),
                r.at.to_string(),
                utc_timestamp(r.at),
                csv_text(&r.actor_kind),
                csv_text(&opt(&r.actor_id)),
                csv_text(&opt(&r.actor_name)),
                csv_text(&opt(&r.ip)),
                csv_text(&r.action),
                csv_text(&opt(&r.target_kind)),
                csv_text(&opt(&r.target_id)),
                csv_text(&r.outcome),
                csv_text(&r.detail.to_string()),
                csv_text(&r.prev_hash),
                csv_text(&r.hash),
            ],
        )?;
    }
    Ok(())
}

fn write_csv_line(out: &mut impl Write, cells: impl IntoIterator<Item = String>) -> io::Result<()> {
    let mut first = true;
    for cell in cells {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        out.write_all(csv_cell(&cell).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

/// A text value made safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab
/// or carriage return would make Excel or LibreOffice evaluate the cell as a formula
/// (CSV injection), so such values get a leading `'`. Actor names, target ids and
/// details come from users, hence this applies to every text column.
fn csv_text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// Quotes one cell per RFC 4180 when it holds a comma, quote or line break.
fn csv_cell(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// `2024-05-01T12:34:56.789Z` for Unix ms; spreadsheets sort this text correctly.
fn utc_timestamp(ms: i64) -> String {
    let t = vigil_store::UtcTime::from_unix_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.milli
    )
}

#[cfg(test)]
mod tests {
    use vigil_store::db::DbOptions;

    use super::*;

    /// A migrated SQLite database in a temporary folder (kept alive by the returned dir).
    async fn log() -> (AuditLog, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        let db = Database::connect(&url, &DbOptions::default())
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let keys = Keys::from_secret(b"unit-test secret unit-test secret");
        (AuditLog::new(db, keys), dir)
    }

    fn alice() -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some("u1".into()),
            name: Some("alice".into()),
            ip: Some("192.0.2.1".into()),
        }
    }

    /// Records `n` varied events.
    async fn fill(log: &AuditLog, n: usize) {
        for i in 0..n {
            let event = match i % 3 {
                0 => Event::new("auth.login").detail("method", "password"),
                1 => Event::new("user.create").target("user", format!("u{i}")),
                _ => Event::new("auth.login").failed(),
            };
            log.record(&alice(), event).await.unwrap();
        }
    }

    async fn exec(log: &AuditLog, sql: &str) {
        sqlx::raw_sql(sql).execute(log.db.pool()).await.unwrap();
    }

    #[tokio::test]
    async fn records_form_a_chain_from_the_genesis_hash() {
        let (log, _dir) = log().await;
        assert_eq!(log.record(&alice(), Event::new("a.one")).await.unwrap(), 1);
        assert_eq!(
            log.record(&Actor::system(), Event::new("a.two"))
                .await
                .unwrap(),
            2
        );
        let rows = log.list(&AuditFilter::default(), 10, None).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(rows[1].prev_hash, GENESIS_HASH);
        assert_eq!(rows[0].prev_hash, rows[1].hash);
        assert_eq!(rows[1].actor_name.as_deref(), Some("alice"));
        assert_eq!(rows[0].actor_kind, "system");
        assert_eq!(rows[0].detail, serde_json::json!({}));
        assert_eq!(
            log.verify().await.unwrap(),
            VerifyReport {
                records: 2,
                problem: None
            }
        );
    }

    #[tokio::test]
    async fn an_empty_log_verifies() {
        let (log, _dir) = log().await;
        let report = log.verify().await.unwrap();
        assert_eq!((report.records, report.problem), (0, None));
    }

    #[tokio::test]
    async fn verify_finds_the_first_tampered_record() {
        use ProblemKind::*;
        let cases: &[(&str, &str, Problem)] = &[
            (
                "edited actor",
                "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3",
                Problem { seq: 3, kind: Altered },
            ),
            (
                "edited detail",
                "UPDATE audit_log SET detail = '{\"method\":\"totp\"}' WHERE seq = 4",
                Problem { seq: 4, kind: Altered },
            ),
            (
                "removed record",
                "DELETE FROM audit_log WHERE seq = 3",
                Problem { seq: 3, kind: Missing },
            ),
            (
                "removed first record",
                "DELETE FROM audit_log WHERE seq = 1",
                Problem { seq: 1, kind: Missing },
            ),
            (
                "swapped records",
                "UPDATE audit_log SET seq = -1 WHERE seq = 3; \
                 UPDATE audit_log SET seq = 3 WHERE seq = 4; \
                 UPDATE audit_log SET seq = 4 WHERE seq = -1;",
                Problem { seq: 3, kind: ChainBroken },
            ),
            (
                "record slipped in front",
                "INSERT INTO audit_log SELECT 0, at, actor_kind, actor_id, actor_name, ip, action, \
                 target_kind, target_id, outcome, detail, prev_hash, hash FROM audit_log WHERE seq = 1",
                Problem { seq: 0, kind: ChainBroken },
            ),
            (
                "two edits: the first is reported",
                "UPDATE audit_log SET outcome = 'success' WHERE seq IN (3, 5)",
                Problem { seq: 3, kind: Altered },
            ),
        ];
        for (name, sql, expected) in cases {
            let (log, _dir) = log().await;
            fill(&log, 6).await;
            exec(&log, sql).await;
            // Pages of 2 make sure the walk carries its state across page boundaries.
            for report in [
                log.verify().await.unwrap(),
                log.verify_paged(2).await.unwrap(),
            ] {
                assert_eq!(report.problem, Some(*expected), "{name}");
            }
        }
    }

    #[tokio::test]
    async fn another_key_sees_every_record_as_altered() {
        let (log, _dir) = log().await;
        fill(&log, 2).await;
        let other = AuditLog::new(log.db.clone(), Keys::from_secret(b"a different secret"));
        let report = other.verify().await.unwrap();
        assert_eq!(
            report.problem,
            Some(Problem {
                seq: 1,
                kind: ProblemKind::Altered
            })
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_make_one_dense_chain() {
        let (log, _dir) = log().await;
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..10 {
                        let event = Event::new("test.concurrent")
                            .detail("task", t)
                            .detail("i", i);
                        log.record(&Actor::system(), event).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let report = log.verify().await.unwrap();
        assert_eq!((report.records, report.problem), (80, None));
    }

    #[tokio::test]
    async fn list_filters_and_pages() {
        let (log, _dir) = log().await;
        fill(&log, 6).await; // seq 1..6: login, create u1, failed login, login, create u4, failed
        log.record(&Actor::cli(), Event::new("authx.odd"))
            .await
            .unwrap(); // seq 7
        log.record(
            &Actor::anonymous(Some("bob".into()), None),
            Event::new("axb.c"),
        )
        .await
        .unwrap(); // seq 8
        let seqs = |filter: AuditFilter, limit, before| {
            let log = log.clone();
            async move {
                log.list(&filter, limit, before)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.seq)
                    .collect::<Vec<_>>()
            }
        };
        let f = |action: &str| AuditFilter {
            action: Some(action.into()),
            ..Default::default()
        };
        assert_eq!(seqs(f("auth.login"), 100, None).await, [6, 4, 3, 1]);
        assert_eq!(seqs(f("auth."), 100, None).await, [6, 4, 3, 1]);
        assert_eq!(seqs(f("auth.*"), 100, None).await, [6, 4, 3, 1]);
        assert_eq!(seqs(f("auth"), 100, None).await, Vec::<i64>::new());
        // `_` is literal in a prefix, not LIKE's any-character.
        assert_eq!(seqs(f("axb."), 100, None).await, [8]);
        assert_eq!(seqs(f("a_b."), 100, None).await, Vec::<i64>::new());
        let failed = AuditFilter {
            action: Some("auth.".into()),
            outcome: Some(Outcome::Failure),
            ..Default::default()
        };
        assert_eq!(seqs(failed, 100, None).await, [6, 3]);
        let by_bob = AuditFilter {
            actor: Some("bob".into()),
            ..Default::default()
        };
        assert_eq!(seqs(by_bob, 100, None).await, [8]);
        let target = AuditFilter {
            target: Some("u4".into()),
            ..Default::default()
        };
        assert_eq!(seqs(target, 100, None).await, [5]);
        assert_eq!(seqs(AuditFilter::default(), 3, None).await, [8, 7, 6]);
        assert_eq!(seqs(AuditFilter::default(), 3, Some(6)).await, [5, 4, 3]);

        let all = log.list(&AuditFilter::default(), 100, None).await.unwrap();
        let at3 = all.iter().find(|r| r.seq == 3).unwrap().at;
        let window = AuditFilter {
            since: Some(at3),
            until: Some(at3 + 1),
            ..Default::default()
        };
        assert!(seqs(window, 100, None).await.contains(&3));
        let future = AuditFilter {
            since: Some(now_ms() + 60_000),
            ..Default::default()
        };
        assert!(seqs(future, 100, None).await.is_empty());

        assert!(matches!(
            log.list(&AuditFilter::default(), 0, None).await,
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            log.list(&AuditFilter::default(), MAX_LIST_LIMIT + 1, None)
                .await,
            Err(AuthError::Invalid(_))
        ));
    }

    fn sample(actor_name: &str, detail: serde_json::Value) -> AuditRecord {
        AuditRecord {
            seq: 7,
            at: 1_714_566_896_789,
            actor_kind: "user".into(),
            actor_id: None,
            actor_name: Some(actor_name.into()),
            ip: Some("192.0.2.1".into()),
            action: "auth.login".into(),
            target_kind: None,
            target_id: None,
            outcome: "failure".into(),
            detail,
            prev_hash: "ab".into(),
            hash: "cd".into(),
        }
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes_cells() {
        let mut out = Vec::new();
        write_csv_header(&mut out).unwrap();
        write_csv_records(
            &mut out,
            &[
                sample(
                    "=HYPERLINK(\"http://x\",\"y\")",
                    serde_json::json!({"a": "b,c"}),
                ),
                sample("+1", serde_json::json!({})),
                sample("-2", serde_json::json!({})),
                sample("@SUM(A1)", serde_json::json!({})),
                sample("\tx", serde_json::json!({})),
                sample("\rx", serde_json::json!({})),
                sample("plain name", serde_json::json!({})),
            ],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "7,1714566896789,2024-05-01T12:34:56.789Z,user,,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\
             192.0.2.1,auth.login,,,failure,\"{\"\"a\"\":\"\"b,c\"\"}\",ab,cd"
        );
        let names: Vec<&str> = lines[2..7]
            .iter()
            .map(|l| l.split(',').nth(5).unwrap())
            .collect();
        assert_eq!(names, ["'+1", "'-2", "'@SUM(A1)", "'\tx", "\"'\rx\""]);
        assert!(lines[7].contains(",plain name,"));
        assert_eq!(lines[8], "");
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_timestamp(-1), "1969-12-31T23:59:59.999Z");
    }
}
