//! The in-process store: counters per scope, each scope behind its own mutex with its own
//! cap, swept of ended windows a few entries at a time.
//!
//! Why per scope: a flood of distinct subjects on one budget (say the default API budget,
//! from many addresses) fills only that scope; the login and recovery budgets keep their
//! room and keep being enforced. One lock per scope also means requests on different
//! budgets never wait for each other.
//!
//! Why incremental: each counter's window end is queued in a min-heap when the counter is
//! made. Every operation first removes at most [`SWEEP_PER_OPERATION`] ended counters
//! (more, still bounded, when the scope is full), so no request ever pays for sweeping a
//! whole map, and since each operation makes at most a few counters but removes up to
//! [`SWEEP_PER_OPERATION`], ended counters never pile up while requests keep coming.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{window, Usage};

/// Ended counters removed by each operation before it counts.
const SWEEP_PER_OPERATION: usize = 16;

/// Ended counters an operation may remove when its scope is full, to make room.
const SWEEP_WHEN_FULL: usize = 1024;

/// At most this many live counters per scope. Each costs roughly 200 bytes (the key,
/// shared by the map and the expiry heap, and two integers), so about 50 MB per scope at
/// worst; reached only by an attack from very many addresses, in which case new subjects
/// of that scope are let through uncounted (known ones keep counting) rather than the
/// process running out of memory.
pub(super) const MAX_COUNTERS_PER_SCOPE: usize = 250_000;

/// At most this many scopes. Scopes come from the configuration (the default, login and
/// recovery budgets and one per configured route), so this is never reached in practice;
/// it only keeps a programming error from growing the map without bound.
const MAX_SCOPES: usize = 1024;

/// One counter to add to: its scope, its name without the window, its period.
#[derive(Debug, Clone)]
pub(super) struct CounterRef<'a> {
    /// The budget it belongs to (`default`, `login`, `route:…`).
    pub scope: &'a str,
    /// `{prefix}{scope}:{subject}:{count}/{period}`.
    pub base: &'a str,
    /// The window length in milliseconds.
    pub period_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    used: u64,
}

/// One scope's counters.
#[derive(Debug, Default)]
struct ScopeCounters {
    map: HashMap<Arc<str>, Counter>,
    /// (window end in ms, key) of every counter in `map`, soonest end first.
    expiry: BinaryHeap<Reverse<(u64, Arc<str>)>>,
}

impl ScopeCounters {
    /// Removes up to `budget` counters whose window ended by `now_ms`.
    fn sweep(&mut self, now_ms: u64, budget: usize) {
        for _ in 0..budget {
            match self.expiry.peek() {
                Some(Reverse((ends, _))) if *ends <= now_ms => {}
                _ => return,
            }
            if let Some(Reverse((_, key))) = self.expiry.pop() {
                self.map.remove(&key);
            }
        }
    }
}

/// The counters, one [`ScopeCounters`] per scope. The outer lock is held only to find or
/// add a scope; each scope's lock only for a few map and heap operations, never across an
/// `.await`, so `std` mutexes are the right tool.
#[derive(Debug)]
pub(super) struct MemoryStore {
    scopes: Mutex<HashMap<String, Arc<Mutex<ScopeCounters>>>>,
    max_per_scope: usize,
}

/// A panic elsewhere while holding a lock cannot leave a counter half-written: the map is
/// still valid, so keep using it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStore {
    pub(super) fn new() -> Self {
        Self::with_capacity(MAX_COUNTERS_PER_SCOPE)
    }

    /// A store holding at most `max_per_scope` live counters in each scope.
    pub(super) fn with_capacity(max_per_scope: usize) -> Self {
        MemoryStore {
            scopes: Mutex::new(HashMap::new()),
            max_per_scope,
        }
    }

    fn scope(&self, name: &str) -> Option<Arc<Mutex<ScopeCounters>>> {
        let mut scopes = lock(&self.scopes);
        if let Some(s) = scopes.get(name) {
            return Some(s.clone());
        }
        if scopes.len() >= MAX_SCOPES {
            return None;
        }
        let s = Arc::new(Mutex::new(ScopeCounters::default()));
        scopes.insert(name.to_string(), s.clone());
        Some(s)
    }

    /// Adds one to each counter's current window. A counter whose scope is full (and has
    /// no ended counter to make room with) is not counted: its entry is `None`. Within one
    /// scope a request's counters are counted all or none.
    pub(super) fn count(&self, counters: &[CounterRef<'_>], now_ms: u64) -> Vec<Option<Usage>> {
        let mut out = vec![None; counters.len()];
        // Group by scope, keeping the request's order inside each group.
        let mut scopes: Vec<&str> = counters.iter().map(|c| c.scope).collect();
        scopes.sort_unstable();
        scopes.dedup();
        for scope_name in scopes {
            let Some(scope) = self.scope(scope_name) else {
                continue;
            };
            let mut s = lock(&scope);
            s.sweep(now_ms, SWEEP_PER_OPERATION);
            let mine: Vec<(usize, String, u64, u64)> = counters
                .iter()
                .enumerate()
                .filter(|(_, c)| c.scope == scope_name)
                .map(|(i, c)| {
                    let (start, left) = window(now_ms, c.period_ms);
                    (
                        i,
                        format!("{}:{}", c.base, start / 1000),
                        start + c.period_ms.max(1),
                        left,
                    )
                })
                .collect();
            let missing = mine
                .iter()
                .filter(|(_, k, _, _)| !s.map.contains_key(k.as_str()))
                .count();
            if s.map.len() + missing > self.max_per_scope {
                s.sweep(now_ms, SWEEP_WHEN_FULL);
                if s.map.len() + missing > self.max_per_scope {
                    continue;
                }
            }
            for (i, key, ends_ms, reset_ms) in mine {
                let used = match s.map.get_mut(key.as_str()) {
                    Some(c) => {
                        c.used += 1;
                        c.used
                    }
                    None => {
                        let key: Arc<str> = Arc::from(key);
                        s.map.insert(key.clone(), Counter { used: 1 });
                        s.expiry.push(Reverse((ends_ms, key)));
                        1
                    }
                };
                out[i] = Some(Usage { used, reset_ms });
            }
        }
        out
    }

    /// Live and not yet swept counters in `scope`.
    #[cfg(test)]
    pub(super) fn len(&self, scope: &str) -> usize {
        lock(&self.scopes)
            .get(scope)
            .map_or(0, |s| lock(s).map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_040_000; // on a minute boundary

    fn one(key: &str, period_ms: u64) -> Vec<CounterRef<'_>> {
        vec![CounterRef {
            scope: "default",
            base: key,
            period_ms,
        }]
    }

    fn used(store: &MemoryStore, key: &str, period_ms: u64, now: u64) -> Option<u64> {
        store.count(&one(key, period_ms), now)[0].map(|u| u.used)
    }

    #[test]
    fn counts_restart_with_each_window() {
        let store = MemoryStore::new();
        let c = one("k", 60_000);
        assert_eq!(store.count(&c, T0)[0].map(|u| u.used), Some(1));
        let u = store.count(&c, T0 + 59_999)[0];
        assert_eq!(
            u,
            Some(Usage {
                used: 2,
                reset_ms: 1
            })
        );
        let u = store.count(&c, T0 + 60_000)[0];
        assert_eq!(
            u,
            Some(Usage {
                used: 1,
                reset_ms: 60_000
            })
        );
    }

    #[test]
    fn ended_windows_are_swept_a_few_at_a_time() {
        let store = MemoryStore::new();
        for i in 0..100 {
            used(&store, &format!("ip:{i}"), 1_000, T0);
        }
        used(&store, "day", 86_400_000, T0);
        assert_eq!(store.len("default"), 101);
        // Each later operation removes at most SWEEP_PER_OPERATION ended counters.
        used(&store, "x", 1_000, T0 + 5_000);
        assert_eq!(store.len("default"), 102 - SWEEP_PER_OPERATION);
        for _ in 0..10 {
            used(&store, "x", 1_000, T0 + 5_000);
        }
        assert_eq!(
            store.len("default"),
            2,
            "only the day counter and the newest remain"
        );
    }

    /// A flood of distinct subjects (a botnet, or one host rotating IPv6 addresses) keeps
    /// the store within its cap, in this scope, while other scopes keep counting.
    #[test]
    fn a_flood_of_distinct_keys_stays_bounded_and_leaves_other_scopes_alone() {
        let cap = 1_000;
        let store = MemoryStore::with_capacity(cap);
        let mut uncounted = 0;
        // 50 000 distinct subjects over five minutes, 1-minute windows.
        for i in 0..50_000u64 {
            let now = T0 + i * 6;
            if used(&store, &format!("ip:{i}"), 60_000, now).is_none() {
                uncounted += 1;
            }
            assert!(
                store.len("default") <= cap,
                "at {i}: {}",
                store.len("default")
            );
        }
        assert!(uncounted > 0, "the cap was reached");
        // The login scope has its own room and is enforced throughout.
        let login = |n| {
            store.count(
                &[CounterRef {
                    scope: "login",
                    base: "login:ip:192.0.2.1",
                    period_ms: 60_000,
                }],
                T0 + 300_000 + n,
            )[0]
            .map(|u| u.used)
        };
        assert_eq!(login(0), Some(1));
        assert_eq!(login(1), Some(2));
        // Once the flood's windows end, new subjects are counted again.
        assert_eq!(used(&store, "ip:new", 60_000, T0 + 600_000), Some(1));
        assert!(store.len("default") <= cap);
    }

    #[test]
    fn a_full_scope_sweeps_then_refuses_new_counters_but_keeps_counting_old_ones() {
        let store = MemoryStore::with_capacity(2);
        used(&store, "a", 1_000, T0);
        used(&store, "b", 60_000, T0);
        assert_eq!(used(&store, "c", 60_000, T0 + 10), None);
        assert_eq!(used(&store, "b", 60_000, T0 + 10), Some(2));
        // Once `a`'s window has ended a full store makes room by sweeping.
        assert_eq!(used(&store, "c", 60_000, T0 + 1_000), Some(1));
    }

    #[test]
    fn all_counters_of_a_request_in_one_scope_are_counted_or_none() {
        let store = MemoryStore::with_capacity(2);
        used(&store, "a", 60_000, T0);
        let c = |base, period_ms| CounterRef {
            scope: "default",
            base,
            period_ms,
        };
        let two = [c("a", 60_000), c("b", 3_600_000)];
        assert!(store.count(&two, T0).iter().all(Option::is_some));
        let three = [c("a", 60_000), c("c", 60_000), c("d", 60_000)];
        assert!(store.count(&three, T0).iter().all(Option::is_none));
        assert_eq!(used(&store, "a", 60_000, T0), Some(3));
    }
}
