//! Reading the log: filtered, paged listings, newest first.

use super::record::{Stored, COLUMNS};
use super::{AuditLog, AuditRecord, Outcome};
use crate::AuthError;

/// Largest page [`AuditLog::list`] returns.
pub const MAX_LIST_LIMIT: i64 = 1000;

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

impl AuditLog {
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
}

#[cfg(test)]
mod tests {
    use vigil_store::now_ms;

    use super::super::test_support::*;
    use super::super::*;
    use crate::AuthError;

    #[tokio::test]
    async fn list_filters_and_pages() {
        let (log, _dir) = log().await;
        fill(&log, 6).await; // seq 1..6: login, create u1, failed login, login, create u4, failed
        log.record(&Actor::cli(), Event::new(AuditAction::PolicyUpdate))
            .await
            .unwrap(); // seq 7
        log.record(
            &Actor::anonymous(Some("bob".into()), None),
            Event::new(AuditAction::PolicyUpdate),
        )
        .await
        .unwrap(); // seq 8
                   // Names no action has (as an older version might have stored), to probe prefix
                   // matching at a dot and LIKE's wildcards.
        exec(
            &log,
            "UPDATE audit_log SET action = 'authx.odd' WHERE seq = 7; \
             UPDATE audit_log SET action = 'axb.c' WHERE seq = 8;",
        )
        .await;
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
}
