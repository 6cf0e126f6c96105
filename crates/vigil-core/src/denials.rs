//! Audit records of refused requests (403: a role too low, a CSRF or origin check
//! failed, a confirmation missing), sampled so that a flood cannot fill the audit
//! table: per caller (user, key, or address when anonymous), route and minute, the
//! first refusal is recorded at once, and any further ones in that minute are counted
//! and recorded as one `access.denied` record with `repeats: N` when the minute is
//! over (by the `denial-flush` task, at the next refusal of the same caller and route,
//! or at shutdown). So each caller and route costs at most two records a minute.
//!
//! The counts live in memory, per server: bounded by [`MAX_TRACKED`] pairs; past that,
//! refusals are counted under one shared entry so memory stays flat under a flood from
//! many addresses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use vigil_auth::audit::{Actor, ActorKind, AuditAction, Event};
use vigil_store::now_ms;

use crate::identity::Identity;
use crate::runtime::CancellationToken;

/// Most caller-and-route pairs counted at once.
pub const MAX_TRACKED: usize = 10_000;
/// The sampling window.
const WINDOW_MS: i64 = 60_000;

/// A refused request, as the HTTP layer saw it.
#[derive(Debug, Clone)]
pub struct Denial {
    /// Who was refused (anonymous with the address when no credential was valid).
    pub actor: Actor,
    /// The request method.
    pub method: String,
    /// The route template (`/api/v1/users/{id}`), not the raw path, so ids do not
    /// multiply the entries.
    pub route: String,
    /// The error code answered (`forbidden`, `csrf_failed`, …).
    pub code: String,
}

#[derive(Debug)]
struct Window {
    /// Start of the window, Unix ms (a multiple of the window length).
    start: i64,
    /// Refusals after the first in this window, not yet recorded.
    repeats: u64,
    /// The latest refusal, for the summary record.
    last: Denial,
}

/// Counts refusals per caller, route and minute; see the module docs.
#[derive(Debug, Default)]
pub struct DenialSampler {
    windows: Mutex<HashMap<(String, String), Window>>,
}

fn who(actor: &Actor) -> String {
    match (actor.kind, &actor.id) {
        (ActorKind::Anonymous, _) | (_, None) => {
            format!(
                "{}:{}",
                actor.kind.as_str(),
                actor.ip.as_deref().unwrap_or("")
            )
        }
        (kind, Some(id)) => format!("{}:{id}", kind.as_str()),
    }
}

fn event(d: &Denial) -> Event {
    Event::new(AuditAction::AccessDenied)
        .failed()
        .detail("method", d.method.clone())
        .detail("route", d.route.clone())
        .detail("code", d.code.clone())
}

impl DenialSampler {
    /// Takes `d` into the counts; returns what to record now: the refusal itself when
    /// it is the first of its window, and the summary of an earlier window it closes.
    fn admit(&self, d: Denial, now: i64) -> Vec<(Actor, Event)> {
        let start = now - now.rem_euclid(WINDOW_MS);
        let mut out = Vec::new();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = (who(&d.actor), format!("{} {}", d.method, d.route));
        if !windows.contains_key(&key) && windows.len() >= MAX_TRACKED {
            out.extend(Self::take_ended(&mut windows, start));
            if windows.len() >= MAX_TRACKED {
                // Still full: count under one shared entry rather than grow.
                key = ("*".into(), "*".into());
            }
        }
        match windows.get_mut(&key) {
            Some(w) if w.start == start => {
                w.repeats += 1;
                w.last = d;
            }
            Some(w) => {
                if let Some(summary) = summary(w) {
                    out.push(summary);
                }
                out.push((d.actor.clone(), event(&d)));
                *w = Window {
                    start,
                    repeats: 0,
                    last: d,
                };
            }
            None => {
                out.push((d.actor.clone(), event(&d)));
                windows.insert(
                    key,
                    Window {
                        start,
                        repeats: 0,
                        last: d,
                    },
                );
            }
        }
        out
    }

    /// Removes the windows that started before `current` (all of them with `None`),
    /// returning the summaries of those that counted repeats.
    fn take_ended(
        windows: &mut HashMap<(String, String), Window>,
        current: impl Into<Option<i64>>,
    ) -> Vec<(Actor, Event)> {
        let current = current.into();
        let mut out = Vec::new();
        windows.retain(|_, w| {
            if current.is_some_and(|c| w.start >= c) {
                return true;
            }
            out.extend(summary(w));
            false
        });
        out
    }

    /// The summaries of windows that are over (every window with `all`), which are
    /// forgotten.
    fn drain(&self, all: bool, now: i64) -> Vec<(Actor, Event)> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let current = (!all).then(|| now - now.rem_euclid(WINDOW_MS));
        Self::take_ended(&mut windows, current)
    }
}

/// The record counting a window's repeats, if it had any.
fn summary(w: &Window) -> Option<(Actor, Event)> {
    (w.repeats > 0).then(|| {
        (
            w.last.actor.clone(),
            event(&w.last)
                .detail("repeats", w.repeats)
                .detail("window_start", w.start),
        )
    })
}

impl Identity {
    /// Records a refused request, sampled (see [`crate::denials`]).
    pub async fn record_denial(&self, denial: Denial) {
        for (actor, event) in self.denials.admit(denial, now_ms()) {
            self.record(&actor, event).await;
        }
    }

    /// Writes the counts of sampling windows that are over (all of them with `all`, as
    /// at shutdown); returns how many records that wrote.
    pub async fn flush_denials(&self, all: bool) -> usize {
        let records = self.denials.drain(all, now_ms());
        let n = records.len();
        for (actor, event) in records {
            self.record(&actor, event).await;
        }
        n
    }

    /// The `denial-flush` task: [`Identity::flush_denials`] every `interval`, and once
    /// more for everything when `stop` is cancelled.
    pub async fn run_denial_flush(
        &self,
        interval: Duration,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
            self.flush_denials(false).await;
        }
        self.flush_denials(true).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(ip: &str, route: &str) -> Denial {
        Denial {
            actor: Actor::anonymous(None, Some(ip.into())),
            method: "POST".into(),
            route: route.into(),
            code: "csrf_failed".into(),
        }
    }

    fn repeats(records: &[(Actor, Event)]) -> Vec<Option<u64>> {
        records
            .iter()
            .map(|(_, e)| e.detail.get("repeats").and_then(serde_json::Value::as_u64))
            .collect()
    }

    #[test]
    fn one_record_per_caller_route_and_minute_then_a_count() {
        let s = DenialSampler::default();
        let t0 = 1_000 * WINDOW_MS;
        assert_eq!(repeats(&s.admit(denial("a", "/x"), t0)), [None]);
        for i in 1..100 {
            assert!(s.admit(denial("a", "/x"), t0 + i).is_empty());
        }
        // Another route or caller is its own entry.
        assert_eq!(s.admit(denial("a", "/y"), t0 + 5).len(), 1);
        assert_eq!(s.admit(denial("b", "/x"), t0 + 5).len(), 1);
        // Nothing is over yet within the minute.
        assert!(s.drain(false, t0 + 10).is_empty());
        // The next minute's first refusal closes the old window with its count.
        let next = s.admit(denial("a", "/x"), t0 + WINDOW_MS);
        assert_eq!(repeats(&next), [Some(99), None]);
        // At shutdown, everything is written (windows without repeats write nothing).
        s.admit(denial("a", "/x"), t0 + WINDOW_MS + 1);
        assert_eq!(repeats(&s.drain(true, t0 + WINDOW_MS + 2)), [Some(1)]);
        assert!(s.drain(true, t0).is_empty());
    }

    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let s = DenialSampler::default();
        let t0 = 7 * WINDOW_MS;
        let mut records = 0;
        for i in 0..(MAX_TRACKED + 500) {
            records += s.admit(denial(&format!("10.0.{i}"), "/x"), t0).len();
        }
        assert!(s.windows.lock().unwrap().len() <= MAX_TRACKED + 1);
        assert_eq!(records, MAX_TRACKED + 1, "the overflow shares one entry");
    }
}
