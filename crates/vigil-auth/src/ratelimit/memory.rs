//! The in-process store: counters in a map, swept of ended windows.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{window, RateLimitError, Usage};

/// How often ended windows are removed (also done at once when the map is full).
const SWEEP_EVERY_MS: u64 = 10_000;

/// At most this many live counters. Each is a key of roughly 60–100 bytes plus two
/// integers, so about 200 MB at worst; reached only by an attack from very many
/// addresses, in which case new subjects are let through uncounted (fail open) rather
/// than the process running out of memory.
const MAX_COUNTERS: usize = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Counter {
    used: u64,
    /// When the window ends (ms since the epoch): the counter is dead from then on.
    ends_ms: u64,
}

#[derive(Debug, Default)]
struct Counters {
    map: HashMap<String, Counter>,
    next_sweep_ms: u64,
}

impl Counters {
    fn sweep(&mut self, now_ms: u64) {
        self.map.retain(|_, c| c.ends_ms > now_ms);
        self.next_sweep_ms = now_ms + SWEEP_EVERY_MS;
    }
}

/// Counters behind one mutex. The lock is held only for a few map operations and never
/// across an `.await`, so a `std` mutex is the right tool.
#[derive(Debug)]
pub(super) struct MemoryStore {
    counters: Mutex<Counters>,
    max_counters: usize,
}

impl MemoryStore {
    pub(super) fn new() -> Self {
        Self::with_capacity(MAX_COUNTERS)
    }

    fn with_capacity(max_counters: usize) -> Self {
        MemoryStore {
            counters: Mutex::new(Counters::default()),
            max_counters,
        }
    }

    /// Adds one to each `(base key, period ms)` counter's current window, all or none.
    pub(super) fn count(
        &self,
        counters: &[(String, u64)],
        now_ms: u64,
    ) -> Result<Vec<Usage>, RateLimitError> {
        // A panic elsewhere while holding the lock cannot leave a counter half-written:
        // the map is still valid, so keep using it.
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if now_ms >= c.next_sweep_ms {
            c.sweep(now_ms);
        }
        let keyed: Vec<(String, u64, u64)> = counters
            .iter()
            .map(|(base, period_ms)| {
                let (start, left) = window(now_ms, *period_ms);
                (format!("{base}:{}", start / 1000), start + period_ms, left)
            })
            .collect();
        let missing = keyed
            .iter()
            .filter(|(k, _, _)| !c.map.contains_key(k))
            .count();
        if c.map.len() + missing > self.max_counters {
            c.sweep(now_ms);
            if c.map.len() + missing > self.max_counters {
                return Err(RateLimitError::MemoryFull(self.max_counters));
            }
        }
        Ok(keyed
            .into_iter()
            .map(|(key, ends_ms, reset_ms)| {
                let counter = c.map.entry(key).or_insert(Counter { used: 0, ends_ms });
                counter.used += 1;
                Usage {
                    used: counter.used,
                    reset_ms,
                }
            })
            .collect())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.counters.lock().map(|c| c.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_040_000; // on a minute boundary

    fn one(key: &str, period_ms: u64) -> Vec<(String, u64)> {
        vec![(key.to_string(), period_ms)]
    }

    #[test]
    fn counts_restart_with_each_window() {
        let store = MemoryStore::new();
        let c = one("k", 60_000);
        assert_eq!(store.count(&c, T0).expect("count")[0].used, 1);
        let u = store.count(&c, T0 + 59_999).expect("count")[0];
        assert_eq!(
            u,
            Usage {
                used: 2,
                reset_ms: 1
            }
        );
        let u = store.count(&c, T0 + 60_000).expect("count")[0];
        assert_eq!(
            u,
            Usage {
                used: 1,
                reset_ms: 60_000
            }
        );
    }

    #[test]
    fn ended_windows_are_swept_so_memory_stays_bounded() {
        let store = MemoryStore::new();
        for i in 0..100 {
            store
                .count(&one(&format!("ip:{i}"), 1_000), T0)
                .expect("count");
        }
        store.count(&one("day", 86_400_000), T0).expect("count");
        assert_eq!(store.len(), 101);
        // Before the sweep interval nothing is removed; after it only live windows stay.
        store.count(&one("x", 1_000), T0 + 5_000).expect("count");
        assert_eq!(store.len(), 102);
        store
            .count(&one("y", 1_000), T0 + SWEEP_EVERY_MS)
            .expect("count");
        assert_eq!(store.len(), 2, "only the day counter and the newest remain");
    }

    #[test]
    fn a_full_store_sweeps_then_refuses_new_counters_but_keeps_counting_old_ones() {
        let store = MemoryStore::with_capacity(2);
        store.count(&one("a", 1_000), T0).expect("count");
        store.count(&one("b", 60_000), T0).expect("count");
        assert!(matches!(
            store.count(&one("c", 60_000), T0 + 10),
            Err(RateLimitError::MemoryFull(2))
        ));
        assert_eq!(
            store.count(&one("b", 60_000), T0 + 10).expect("count")[0].used,
            2
        );
        // Once `a`'s window has ended a full store makes room by sweeping.
        assert_eq!(
            store.count(&one("c", 60_000), T0 + 1_000).expect("count")[0].used,
            1
        );
    }

    #[test]
    fn all_counters_of_a_request_are_counted_or_none() {
        let store = MemoryStore::with_capacity(2);
        store.count(&one("a", 60_000), T0).expect("count");
        let two = vec![("a".to_string(), 60_000), ("b".to_string(), 3_600_000)];
        assert_eq!(store.count(&two, T0).expect("count").len(), 2);
        let three = vec![
            ("a".to_string(), 60_000),
            ("c".to_string(), 60_000),
            ("d".to_string(), 60_000),
        ];
        assert!(store.count(&three, T0).is_err());
        assert_eq!(
            store.count(&one("a", 60_000), T0).expect("count")[0].used,
            3
        );
    }
}
