//! Sampling of login lockouts for the audit log: a flood of attempts against a full
//! budget must not fill the table, so each budget (scope and what it counts: account,
//! address, pair or device) is audited at most once per window, per process. Memory is
//! bounded: past [`MAX_ENTRIES`] the entries whose window ended are dropped, and if the
//! map is still full it starts over (at worst a lockout is audited again).

use std::collections::HashMap;
use std::sync::Mutex;

/// Most budgets remembered at once.
pub const MAX_ENTRIES: usize = 10_000;

/// When each budget's lockout was last audited (Unix ms), by budget key.
#[derive(Debug, Default)]
pub struct LockoutSampler {
    last: Mutex<HashMap<String, i64>>,
}

impl LockoutSampler {
    /// Whether a lockout of `key` at `now` should be audited: not if one was within
    /// `window_ms` before. Remembers this one when it should.
    pub fn should_record(&self, key: &str, now: i64, window_ms: i64) -> bool {
        // A panic while holding the lock leaves a map of plain values: still usable.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(key).is_some_and(|&t| now - t < window_ms) {
            return false;
        }
        if last.len() >= MAX_ENTRIES {
            last.retain(|_, t| now - *t < window_ms);
            if last.len() >= MAX_ENTRIES {
                last.clear();
            }
        }
        last.insert(key.to_string(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockout_is_audited_once_per_window() {
        let s = LockoutSampler::default();
        assert!(s.should_record("account\0bob", 0, 1000));
        assert!(!s.should_record("account\0bob", 999, 1000));
        assert!(s.should_record("address:1.2.3.4", 999, 1000));
        assert!(s.should_record("account\0bob", 1000, 1000));
    }

    #[test]
    fn memory_stays_bounded() {
        let s = LockoutSampler::default();
        for i in 0..(MAX_ENTRIES + 10) {
            s.should_record(&i.to_string(), 0, 1000);
        }
        let len = s.last.lock().unwrap().len();
        assert!(len <= MAX_ENTRIES, "{len}");
    }
}
