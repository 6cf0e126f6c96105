//! Appending a record: the chain is extended under a database lock, so concurrent
//! writers (tasks, servers, the CLI) all extend one dense chain.

use std::time::Duration;

use rand::Rng;
use vigil_store::{now_ms, Backend};

use super::record::{Stored, COLUMNS};
use super::{Actor, AuditLog, AuditRecord, Event, GENESIS_HASH};
use crate::AuthError;

/// How many times an append is retried after losing a race for the next `seq`.
const MAX_ATTEMPTS: u32 = 20;

/// PostgreSQL advisory lock key serialising appends ("vigilaud" in ASCII).
const PG_APPEND_LOCK: i64 = 0x7669_6769_6c61_7564;

/// Why one append attempt failed.
enum AppendError {
    /// Someone else took this `seq` first; try again.
    Lost,
    /// Anything else; give up.
    Failed(AuthError),
}

impl AuditLog {
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
            action: event.action.as_str().to_string(),
            target_kind: event.target_kind.map(str::to_string),
            target_id: event.target_id,
            outcome: event.outcome.as_str().to_string(),
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        };
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_append(&mut draft).await {
                Ok(seq) => {
                    // The head, into the log stream: a copy the database cannot take back,
                    // so a later cut of the newest records shows (see `head`).
                    tracing::info!(
                        target: "vigil::audit_head",
                        seq,
                        mac = %draft.hash,
                        "audit chain head {seq}:{}",
                        draft.hash
                    );
                    if let Some(observer) = &self.observer {
                        observer.recorded(&AuditRecord::from(draft)).await;
                    }
                    return Ok(seq);
                }
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[tokio::test]
    async fn records_form_a_chain_from_the_genesis_hash() {
        let (log, _dir) = log().await;
        assert_eq!(
            log.record(&alice(), Event::new(AuditAction::AuthLogin))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            log.record(&Actor::system(), Event::new(AuditAction::UserCreate))
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_make_one_dense_chain() {
        let (log, _dir) = log().await;
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..10 {
                        let event = Event::new(AuditAction::AuthLogin)
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
}
