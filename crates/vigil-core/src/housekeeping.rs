//! Housekeeping that runs in the background on every server: deleting ended sessions and
//! spent or expired one-time tokens. Both are refused as soon as they end; deleting them
//! keeps the tables small and drops the addresses and browser names sessions record.
//!
//! Started through the supervised runtime ([`crate::runtime`]) as the `purge` task.

use std::time::Duration;

use vigil_auth::sessions::{self, Lifetimes};
use vigil_auth::tokens;
use vigil_store::Database;

use crate::runtime::CancellationToken;

/// What one purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Sessions past their absolute end or idle timeout.
    pub sessions: u64,
    /// One-time tokens expired or already used.
    pub tokens: u64,
}

/// Deletes ended sessions and spent or expired one-time tokens, once.
pub async fn purge_expired(db: &Database, lifetimes: Lifetimes) -> anyhow::Result<Purged> {
    Ok(Purged {
        sessions: sessions::purge_expired(db, lifetimes).await?,
        tokens: tokens::purge_expired(db).await?,
    })
}

/// The `purge` task: [`purge_expired`] every `interval` until `stop` is cancelled. A purge
/// under way when shutdown starts is finished first (it is two short statements). A
/// failed purge ends the task with the error, so the runtime reports it and restarts it
/// with back-off.
pub async fn run_purge(
    db: Database,
    lifetimes: Lifetimes,
    interval: Duration,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    tracing::debug!(interval_secs = interval.as_secs_f64(), "purge task started");
    loop {
        tokio::select! {
            // Checked first, so a shutdown never starts another purge.
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        let purged = purge_expired(&db, lifetimes).await?;
        if purged.sessions + purged.tokens > 0 {
            tracing::info!(
                sessions = purged.sessions,
                tokens = purged.tokens,
                "purged ended sessions and spent one-time tokens"
            );
        } else {
            tracing::debug!("purge found nothing to delete");
        }
    }
    tracing::info!("purge task stopped for shutdown");
    Ok(())
}
