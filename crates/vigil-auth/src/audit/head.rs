//! The chain's head (the newest record's sequence number and MAC), kept outside the
//! database so that removing the newest records is detectable: the chain itself cannot
//! show a clean cut at its tail. Copies are written into every backup manifest and into
//! the log stream (target `vigil::audit_head`, one line per append); `vigil verify
//! --head SEQ:MAC` checks the stored chain still reaches that head unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use vigil_store::Database;

use super::record::{Stored, COLUMNS};
use super::AuditLog;
use crate::AuthError;

/// The log target of the head line written after every append.
pub const HEAD_LOG_TARGET: &str = "vigil::audit_head";

/// A record's place in the chain and its MAC: enough to recognise the chain later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number (from 1).
    pub seq: i64,
    /// That record's MAC (`hash`), lowercase hex.
    pub mac: String,
}

impl fmt::Display for ChainHead {
    /// `SEQ:MAC`, the form `vigil verify --head` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.mac)
    }
}

impl FromStr for ChainHead {
    type Err = String;

    /// Parses `SEQ:MAC` (a positive number, a colon, 64 hex digits).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{s}` is not a chain head: expected SEQ:MAC (a number, a colon, 64 hex digits)"
            )
        };
        let (seq, mac) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        let mac = mac.to_ascii_lowercase();
        if seq < 1 || mac.len() != 64 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(ChainHead { seq, mac })
    }
}

/// How the stored chain compares with a saved head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadMismatch {
    /// The chain ends before the saved head: its newest records were removed.
    Truncated {
        /// The saved head.
        saved: ChainHead,
        /// The newest stored sequence number (0 when the log is empty).
        stored_last: i64,
    },
    /// The record at the saved head's sequence number has another MAC: the chain was
    /// rewritten from there or earlier.
    Rewritten {
        /// The saved head.
        saved: ChainHead,
        /// The MAC stored at that sequence number.
        stored_mac: String,
    },
}

impl fmt::Display for HeadMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadMismatch::Truncated { saved, stored_last } => write!(
                f,
                "the chain ends at record #{stored_last} but the saved head is record #{}: \
                 the newest {} record(s) were removed (truncated)",
                saved.seq,
                saved.seq - stored_last
            ),
            HeadMismatch::Rewritten { saved, stored_mac } => write!(
                f,
                "record #{} has MAC {stored_mac}, not the saved head's {}: the chain was \
                 rewritten at or before that record",
                saved.seq, saved.mac
            ),
        }
    }
}

/// The newest record's sequence number and MAC in `db`; `None` for an empty log. Needs
/// no key: the head is copied, not checked (a backup takes it this way).
pub async fn read_head(db: &Database) -> Result<Option<ChainHead>, AuthError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(db.pool())
            .await
            .map_err(AuthError::db("reading the audit log head"))?;
    Ok(row.map(|(seq, mac)| ChainHead { seq, mac }))
}

impl AuditLog {
    /// The newest record's sequence number and MAC; `None` for an empty log.
    pub async fn head(&self) -> Result<Option<ChainHead>, AuthError> {
        read_head(&self.db).await
    }

    /// Whether the stored chain still reaches `saved` unchanged: the record at its
    /// sequence number exists and has its MAC. (Whether the chain up to there is intact
    /// is [`AuditLog::verify`]'s job; together they show nothing before the saved head
    /// was altered, removed or cut off.)
    pub async fn check_head(&self, saved: &ChainHead) -> Result<Option<HeadMismatch>, AuthError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq = $1"))
            .bind(saved.seq)
            .fetch_optional(self.db.pool())
            .await
            .map_err(AuthError::db("reading the audit log"))?;
        let Some(row) = row else {
            let stored_last = self.head().await?.map_or(0, |h| h.seq);
            return Ok(Some(HeadMismatch::Truncated {
                saved: saved.clone(),
                stored_last,
            }));
        };
        let record = Stored::read(&row)?;
        if crate::token::ct_eq(&record.hash, &saved.mac) {
            Ok(None)
        } else {
            Ok(Some(HeadMismatch::Rewritten {
                saved: saved.clone(),
                stored_mac: record.hash,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn heads_parse_and_print_as_seq_colon_mac() {
        let mac = "ab".repeat(32);
        let head: ChainHead = format!("12:{}", mac.to_uppercase()).parse().unwrap();
        assert_eq!(
            head,
            ChainHead {
                seq: 12,
                mac: mac.clone()
            }
        );
        assert_eq!(head.to_string(), format!("12:{mac}"));
        for bad in [
            "12".to_string(),
            format!("0:{mac}"),
            format!("x:{mac}"),
            "3:abc".to_string(),
        ] {
            assert!(bad.parse::<ChainHead>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_cut_or_rewritten_tail_is_named_against_a_saved_head() {
        let (log, _dir) = log().await;
        assert_eq!(log.head().await.unwrap(), None);
        fill(&log, 5).await;
        let saved = log.head().await.unwrap().unwrap();
        assert_eq!(saved.seq, 5);
        assert_eq!(log.check_head(&saved).await.unwrap(), None);
        fill(&log, 1).await;
        assert_eq!(
            log.check_head(&saved).await.unwrap(),
            None,
            "growth is fine"
        );

        exec(&log, "DELETE FROM audit_log WHERE seq >= 4").await;
        let cut = log.check_head(&saved).await.unwrap().unwrap();
        assert!(
            matches!(cut, HeadMismatch::Truncated { stored_last: 3, .. }),
            "{cut:?}"
        );
        assert!(cut.to_string().contains("truncated"), "{cut}");
        // The shortened chain on its own still verifies: only the saved head shows it.
        assert_eq!(log.verify().await.unwrap().problem, None);

        let other = ChainHead {
            seq: 2,
            mac: "00".repeat(32),
        };
        let rewritten = log.check_head(&other).await.unwrap().unwrap();
        assert!(
            matches!(rewritten, HeadMismatch::Rewritten { .. }),
            "{rewritten:?}"
        );
    }
}
