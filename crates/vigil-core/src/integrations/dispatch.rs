//! The webhook dispatcher (supervised task `webhooks`): turns events into queued
//! deliveries, sends the due ones, records every attempt, retries with back-off.
//!
//! Guarantees:
//! - One delivery per (webhook, event): the unique key of `webhook_deliveries`; a second
//!   instance seeing the same event (shared database) queues nothing.
//! - Nothing is lost across restarts: the queue is the table, and the event stream
//!   resumes after the last event turned into deliveries (`webhook_cursor`).
//! - One attempt at a time per delivery: a sender claims a due row by moving its due
//!   time forward by a lease; an attempt that never records its outcome (the process
//!   died mid-request) is retried when the lease ends. A receiver may therefore, rarely,
//!   see a delivery twice: the `X-Vigil-Delivery` header lets it drop the repeat.
//! - Events older than a webhook are not sent to it; transient events (id 0, camera
//!   detections) never are.
//!
//! Back-off: `webhooks.retry_secs` in order (the last repeats) until
//! `webhooks.max_attempts`, then the delivery is `failed` and stays in the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use vigil_auth::token::new_id;
use vigil_auth::Role;
use vigil_config::WebhookSettings;
use vigil_store::webhooks::{self as store, AttemptOutcome, DeliveryRow};
use vigil_store::{now_ms, Database};

use super::delivery::{Attempt, Sender};
use super::webhooks::{Target, Webhooks};
use crate::events::{Delivery, Event, EventBus, Filter};
use crate::runtime::{CancellationToken, Runtime};

/// Attempts in flight at once.
const MAX_IN_FLIGHT: usize = 8;
/// Finished deliveries stay in the log this long.
const KEEP_LOG_MS: i64 = 30 * 86_400_000;

/// When a failed attempt is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Waits between attempts, in ms (the last repeats).
    pub waits_ms: Vec<i64>,
    /// Attempts before giving up.
    pub max_attempts: i64,
}

impl RetryPolicy {
    /// From `[webhooks]`.
    pub fn from_settings(settings: &WebhookSettings) -> RetryPolicy {
        RetryPolicy {
            waits_ms: settings
                .retry_secs
                .iter()
                .map(|s| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX))
                .collect(),
            max_attempts: i64::from(settings.max_attempts.max(1)),
        }
    }

    /// When attempt number `made + 1` is due after `made` failed ones, at `now`; `None`
    /// when `made` attempts are all there will be.
    pub fn next(&self, made: i64, now: i64) -> Option<i64> {
        if made >= self.max_attempts {
            return None;
        }
        let index = usize::try_from(made.saturating_sub(1)).unwrap_or(0);
        let wait = self
            .waits_ms
            .get(index)
            .or(self.waits_ms.last())
            .copied()
            .unwrap_or(60_000);
        Some(now.saturating_add(wait))
    }
}

/// The dispatcher; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    webhooks: Webhooks,
    bus: EventBus,
    retry: Arc<RetryPolicy>,
    lease_ms: i64,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The JSON body of an event's delivery: `{"id","type","at","payload"}`.
pub fn body_of(event: &Event) -> String {
    serde_json::json!({
        "id": event.id,
        "type": event.kind,
        "at": event.at,
        "payload": event.payload,
    })
    .to_string()
}

impl Dispatcher {
    /// A dispatcher for `webhooks`, fed by `bus`. On a database that never had one, the
    /// cursor starts at the newest event now, so every event published from here on
    /// (even before the task subscribes) is considered, and none from before.
    pub async fn open(
        webhooks: Webhooks,
        bus: EventBus,
        settings: &WebhookSettings,
    ) -> anyhow::Result<Dispatcher> {
        if store::cursor(webhooks.db()).await?.is_none() {
            let head = crate::events::store::last_id(bus.db()).await?;
            store::advance_cursor(webhooks.db(), head).await?;
        }
        let timeout_ms = i64::try_from(settings.timeout_secs.saturating_mul(1000)).unwrap_or(0);
        Ok(Dispatcher {
            webhooks,
            bus,
            retry: Arc::new(RetryPolicy::from_settings(settings)),
            lease_ms: timeout_ms.saturating_add(30_000),
        })
    }

    /// Starts it as the supervised task `webhooks`.
    pub fn spawn(self, runtime: &Runtime) {
        runtime.spawn_supervised("webhooks", move |stop| {
            let dispatcher = self.clone();
            async move { dispatcher.run(stop).await }
        });
    }

    fn db(&self) -> &Database {
        self.webhooks.db()
    }

    /// Runs until `stop`; fails (and is restarted) when the database does.
    pub async fn run(&self, stop: CancellationToken) -> anyhow::Result<()> {
        let filter = Filter::new(None, Role::Admin);
        let after = store::cursor(self.db()).await?;
        let mut sub = self
            .bus
            .subscribe(filter.clone(), after)
            .await
            .context("subscribing to the event bus")?;
        let mut inflight: JoinSet<()> = JoinSet::new();
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                delivery = sub.next() => match delivery {
                    Some(Delivery::Event(event)) => {
                        self.enqueue(&event).await?;
                        self.start_due(&mut inflight).await?;
                    }
                    Some(Delivery::Gap { last_id }) => {
                        sub = self.bus.subscribe(filter.clone(), Some(last_id)).await
                            .context("resubscribing to the event bus")?;
                    }
                    None => {
                        stop.cancelled().await;
                        break;
                    }
                },
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {
                    self.start_due(&mut inflight).await?;
                }
                _ = poll.tick() => self.start_due(&mut inflight).await?,
                _ = prune.tick() => {
                    let removed = store::prune(self.db(), now_ms() - KEEP_LOG_MS).await?;
                    if removed > 0 {
                        tracing::info!(removed, "deleted old webhook deliveries");
                    }
                }
            }
        }
        // Let attempts under way record their outcome (each is time-limited).
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            while inflight.join_next().await.is_some() {}
        })
        .await;
        tracing::info!("webhook dispatcher stopped");
        Ok(())
    }

    /// Queues one delivery per webhook that wants `event`, then moves the cursor.
    async fn enqueue(&self, event: &Event) -> anyhow::Result<()> {
        // Transient events have no id to be unique on and are too frequent to post.
        if event.id <= 0 {
            return Ok(());
        }
        let targets = self.webhooks.enabled_targets().await?;
        let wanted: Vec<&Target> = targets
            .iter()
            .filter(|t| t.wants(&event.kind) && event.at >= t.created_at)
            .collect();
        if !wanted.is_empty() {
            let body = body_of(event);
            let now = now_ms();
            for target in wanted {
                let row = DeliveryRow {
                    id: new_id(),
                    webhook_id: target.id.clone(),
                    event_id: event.id,
                    event_type: event.kind.clone(),
                    body: body.clone(),
                    attempts: 0,
                    last_status: None,
                    last_error: None,
                    next_attempt_at: Some(now),
                    delivered_at: None,
                    created_at: now,
                };
                store::enqueue(self.db(), &row).await?;
            }
        }
        store::advance_cursor(self.db(), event.id).await?;
        Ok(())
    }

    /// Claims due deliveries (up to the in-flight limit) and starts their attempts.
    async fn start_due(&self, inflight: &mut JoinSet<()>) -> anyhow::Result<()> {
        let room = MAX_IN_FLIGHT.saturating_sub(inflight.len());
        if room == 0 {
            return Ok(());
        }
        let now = now_ms();
        let due = store::due(self.db(), now, i64::try_from(room).unwrap_or(1)).await?;
        if due.is_empty() {
            return Ok(());
        }
        let targets: HashMap<String, Target> = self
            .webhooks
            .enabled_targets()
            .await?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        for row in due {
            let Some(seen) = row.next_attempt_at else {
                continue;
            };
            if !store::claim(self.db(), &row.id, seen, now + self.lease_ms).await? {
                continue; // another instance took it
            }
            let Some(target) = targets.get(&row.webhook_id).cloned() else {
                // Disabled since it was queued: give up rather than wait for ever.
                let outcome = AttemptOutcome {
                    status: None,
                    error: Some("the webhook is disabled".into()),
                    delivered_at: None,
                    next_attempt_at: None,
                };
                store::record_attempt(self.db(), &row.id, &outcome).await?;
                continue;
            };
            let db = self.db().clone();
            let sender: Sender = self.webhooks.sender().clone();
            let retry = Arc::clone(&self.retry);
            inflight.spawn(async move {
                let attempt = sender
                    .send(&target, &row.id, &row.event_type, &row.body)
                    .await;
                let made = row.attempts + 1;
                let now = now_ms();
                let outcome = match attempt {
                    Attempt::Delivered { status } => AttemptOutcome {
                        status: Some(i64::from(status)),
                        error: None,
                        delivered_at: Some(now),
                        next_attempt_at: None,
                    },
                    Attempt::Failed { status, error } => {
                        let next = retry.next(made, now);
                        tracing::warn!(
                            webhook = %row.webhook_id,
                            delivery = %row.id,
                            attempt = made,
                            error = %error,
                            retry = next.is_some(),
                            "webhook delivery failed"
                        );
                        AttemptOutcome {
                            status: status.map(i64::from),
                            error: Some(error),
                            delivered_at: None,
                            next_attempt_at: next,
                        }
                    }
                };
                if let Err(e) = store::record_attempt(&db, &row.id, &outcome).await {
                    // The lease runs out and the attempt is made again.
                    tracing::error!(delivery = %row.id, error = %e, "could not record a webhook attempt");
                }
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_give_up() {
        let policy = RetryPolicy {
            waits_ms: vec![10_000, 30_000, 120_000],
            max_attempts: 5,
        };
        assert_eq!(policy.next(1, 0), Some(10_000));
        assert_eq!(policy.next(2, 0), Some(30_000));
        assert_eq!(policy.next(3, 0), Some(120_000));
        assert_eq!(policy.next(4, 0), Some(120_000), "the last wait repeats");
        assert_eq!(policy.next(5, 0), None);
        let defaults = RetryPolicy::from_settings(&WebhookSettings::default());
        assert_eq!(defaults.waits_ms[0], 10_000);
        assert_eq!(defaults.max_attempts, 8);
    }
}
