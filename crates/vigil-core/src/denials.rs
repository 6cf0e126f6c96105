//! Audit records of refused requests (403: a role too low, a CSRF or origin check
//! failed, a confirmation missing), sampled so that a flood cannot fill the audit
//! table: per caller (user, key, or address when anonymous, IPv6 per /64), route and
//! minute, the first refusal is recorded at once, and any further ones in that minute
//! are counted and recorded as one `access.denied` record with `repeats: N` when the
//! minute is over (by the `denial-flush` task, at the next refusal of the same caller
//! and route, or at shutdown). So each caller and route costs at most two records a
//! minute.
//!
//! Anonymous callers are keyed like the login throttle and the rate limiter key them
//! ([`vigil_auth::throttle::address_key`]): one host owns its whole IPv6 /64, so
//! rotating addresses inside it does not open new entries. Callers with many real
//! addresses are bounded by a global cap: at most [`MAX_NEW_PER_MINUTE`] windows open
//! (and so first records are written) a minute; refusals beyond it are counted under
//! one shared entry, written when the minute is over as one record with `route: "*"`
//! and `repeats: N` (every refusal it stands for: it had no first record).
//!
//! The counts live in memory, per server: bounded by [`MAX_TRACKED`] pairs; past that,
//! refusals are counted under the shared entry too so memory stays flat.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use vigil_auth::audit::{Actor, ActorKind, AuditAction, Event};
use vigil_auth::throttle::address_key;
use vigil_store::now_ms;

use crate::identity::Identity;
use crate::runtime::CancellationToken;

/// Most caller-and-route pairs counted at once.
pub const MAX_TRACKED: usize = 10_000;
/// Most sampling windows opened a minute, over all callers; later refusals in that
/// minute that would open one are counted under the shared entry instead.
pub const MAX_NEW_PER_MINUTE: usize = 1_000;
/// The sampling window.
const WINDOW_MS: i64 = 60_000;
/// The entry refusals share past [`MAX_NEW_PER_MINUTE`] or [`MAX_TRACKED`].
const SHARED: &str = "*";

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
    /// Refusals not yet recorded: after the first in this window, or every one for
    /// the shared entry.
    repeats: u64,
    /// The latest refusal, for the summary record.
    last: Denial,
}

type Key = (String, String);

#[derive(Debug, Default)]
struct Counts {
    windows: HashMap<Key, Window>,
    /// The minute [`Counts::opened`] counts for.
    opened_start: i64,
    /// Windows opened in that minute (the shared entry not included).
    opened: usize,
}

/// Counts refusals per caller, route and minute; see the module docs.
#[derive(Debug, Default)]
pub struct DenialSampler {
    counts: Mutex<Counts>,
}

fn who(actor: &Actor) -> String {
    match (actor.kind, &actor.id) {
        (ActorKind::Anonymous, _) | (_, None) => {
            let ip = actor.ip.as_deref().map(address_key).unwrap_or_default();
            format!("{}:{ip}", actor.kind.as_str())
        }
        (kind, Some(id)) => format!("{}:{id}", kind.as_str()),
    }
}

fn shared_key() -> Key {
    (SHARED.into(), SHARED.into())
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
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.opened_start != start {
            counts.opened_start = start;
            counts.opened = 0;
        }
        let mut key = (who(&d.actor), format!("{} {}", d.method, d.route));
        let opens = !matches!(counts.windows.get(&key), Some(w) if w.start == start);
        if opens {
            let new_entry = !counts.windows.contains_key(&key);
            if new_entry && counts.windows.len() >= MAX_TRACKED {
                out.extend(Self::take_ended(&mut counts.windows, start));
            }
            let full = new_entry && counts.windows.len() >= MAX_TRACKED;
            if full || counts.opened >= MAX_NEW_PER_MINUTE {
                // Count under one shared entry rather than write or grow.
                key = shared_key();
            } else {
                counts.opened += 1;
            }
        }
        let shared = key.0 == SHARED;
        // The shared entry writes nothing at once: its record comes with the count.
        let first = if shared { 1 } else { 0 };
        match counts.windows.get_mut(&key) {
            Some(w) if w.start == start => {
                w.repeats += 1;
                w.last = d;
            }
            Some(w) => {
                out.extend(summary(shared, w));
                if !shared {
                    out.push((d.actor.clone(), event(&d)));
                }
                *w = Window {
                    start,
                    repeats: first,
                    last: d,
                };
            }
            None => {
                if !shared {
                    out.push((d.actor.clone(), event(&d)));
                }
                counts.windows.insert(
                    key,
                    Window {
                        start,
                        repeats: first,
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
        windows: &mut HashMap<Key, Window>,
        current: impl Into<Option<i64>>,
    ) -> Vec<(Actor, Event)> {
        let current = current.into();
        let mut out = Vec::new();
        windows.retain(|key, w| {
            if current.is_some_and(|c| w.start >= c) {
                return true;
            }
            out.extend(summary(key.0 == SHARED, w));
            false
        });
        out
    }

    /// The summaries of windows that are over (every window with `all`), which are
    /// forgotten.
    fn drain(&self, all: bool, now: i64) -> Vec<(Actor, Event)> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let current = (!all).then(|| now - now.rem_euclid(WINDOW_MS));
        Self::take_ended(&mut counts.windows, current)
    }
}

/// The record counting a window's repeats, if it had any. The shared entry's record
/// names no caller nor route (it stands for many).
fn summary(shared: bool, w: &Window) -> Option<(Actor, Event)> {
    (w.repeats > 0).then(|| {
        let (actor, event) = if shared {
            let event = Event::new(AuditAction::AccessDenied)
                .failed()
                .detail("method", SHARED)
                .detail("route", SHARED)
                .detail("code", SHARED);
            (Actor::anonymous(None, None), event)
        } else {
            (w.last.actor.clone(), event(&w.last))
        };
        (
            actor,
            event
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

    fn tracked(s: &DenialSampler) -> usize {
        s.counts.lock().unwrap().windows.len()
    }

    #[test]
    fn an_ipv6_host_rotating_addresses_in_its_64_is_one_caller() {
        let s = DenialSampler::default();
        let t0 = 3 * WINDOW_MS;
        let mut records = Vec::new();
        for i in 0..10_000u32 {
            let ip = format!("2001:db8:1:2:{:x}:{:x}::1", i >> 8, i & 0xff);
            records.extend(s.admit(denial(&ip, "/api/v1/auth/login"), t0 + i64::from(i)));
        }
        assert_eq!(tracked(&s), 1);
        assert_eq!(repeats(&records), [None]);
        assert_eq!(repeats(&s.drain(true, t0)), [Some(9_999)]);
        // Another /64 is another caller.
        assert_eq!(s.admit(denial("2001:db8:1:3::1", "/x"), t0).len(), 1);
    }

    #[test]
    fn many_addresses_open_a_bounded_count_of_windows_a_minute() {
        let s = DenialSampler::default();
        for minute in 0..3 {
            let t0 = (20 + minute) * WINDOW_MS;
            let mut records = Vec::new();
            for i in 0..10_000u32 {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
                records.extend(s.admit(denial(&ip, "/api/v1/auth/login"), t0 + 1));
            }
            // The minute's flush writes the shared count.
            records.extend(s.drain(false, t0 + WINDOW_MS));
            assert_eq!(records.len(), MAX_NEW_PER_MINUTE + 1, "minute {minute}");
            let shared = records.last().unwrap();
            assert_eq!(shared.0.ip, None);
            assert_eq!(shared.1.detail["route"], "*");
            let overflow = u64::try_from(10_000 - MAX_NEW_PER_MINUTE).unwrap();
            assert_eq!(shared.1.detail["repeats"], overflow);
            assert!(tracked(&s) == 0);
        }
    }

    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let s = DenialSampler::default();
        let mut records = 0;
        // Never flushed: the windows of past minutes pile up until the cap.
        for minute in 0..15 {
            let t0 = (7 + minute) * WINDOW_MS;
            for i in 0..(MAX_NEW_PER_MINUTE + 10) {
                let ip = format!("10.{minute}.{}.{}", i / 256, i % 256);
                records += s.admit(denial(&ip, "/x"), t0).len();
                assert!(tracked(&s) <= MAX_TRACKED + 1);
            }
        }
        // Each minute: its opened windows, and the shared count of the one before.
        assert!(records <= 15 * (MAX_NEW_PER_MINUTE + 1), "{records}");
    }
}
