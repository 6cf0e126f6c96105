//! Checking the chain: the first record that was altered, removed or reordered.

use std::fmt;

use serde::Serialize;
use sqlx::Row;

use super::record::{Stored, COLUMNS};
use super::{AuditLog, GENESIS_HASH};
use crate::AuthError;

/// Rows fetched per round trip by [`AuditLog::verify`].
const VERIFY_PAGE: i64 = 1000;

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

impl AuditLog {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

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
}
