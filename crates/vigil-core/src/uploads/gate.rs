//! How many media transfers may run at once: a cap for the whole server and a cap per
//! caller. A transfer holds a [`MediaPermit`] for as long as it moves bytes (for a
//! download, until its body has been sent or dropped), so a few slow clients cannot tie
//! up every disk, socket and buffer the server has.
//!
//! Admission never waits: a transfer either starts now or is refused (the HTTP layer
//! answers 503 + `Retry-After` when the server is full, 429 when the caller is).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a transfer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaBusy {
    /// The server already runs `limits.media_in_flight` transfers.
    #[error("the server is busy with other media transfers")]
    Server,
    /// This caller already runs `limits.media_in_flight_per_caller` transfers.
    #[error("too many media transfers at once for this caller")]
    Caller,
}

/// The caps and the current count per caller.
#[derive(Debug)]
pub struct MediaGate {
    global: Arc<Semaphore>,
    per_caller: usize,
    callers: Arc<Mutex<HashMap<String, usize>>>,
}

/// One admitted transfer; dropping it frees both slots.
#[derive(Debug)]
pub struct MediaPermit {
    _global: OwnedSemaphorePermit,
    caller: String,
    callers: Arc<Mutex<HashMap<String, usize>>>,
}

fn lock(m: &Mutex<HashMap<String, usize>>) -> MutexGuard<'_, HashMap<String, usize>> {
    // The map holds plain counters updated in one statement; a panic elsewhere cannot
    // leave it half-changed, so a poisoned lock is still a consistent map.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MediaGate {
    /// A gate admitting `global` transfers at once, `per_caller` of them per caller
    /// (both at least 1; the settings validation guarantees it).
    pub fn new(global: usize, per_caller: usize) -> Self {
        MediaGate {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_caller: per_caller.max(1),
            callers: Arc::default(),
        }
    }

    /// Admits a transfer for `caller` (an opaque subject such as `key:…`, `user:…` or
    /// `ip:…`) now, or says which cap is full. The caller's own cap is checked first, so
    /// a client that hogs the server hears that it is the one to slow down.
    pub fn try_enter(&self, caller: &str) -> Result<MediaPermit, MediaBusy> {
        let mut callers = lock(&self.callers);
        let current = callers.get(caller).copied().unwrap_or(0);
        if current >= self.per_caller {
            return Err(MediaBusy::Caller);
        }
        let global = self
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| MediaBusy::Server)?;
        callers.insert(caller.to_string(), current + 1);
        Ok(MediaPermit {
            _global: global,
            caller: caller.to_string(),
            callers: self.callers.clone(),
        })
    }

    /// Transfers running now.
    pub fn in_flight(&self) -> usize {
        lock(&self.callers).values().sum()
    }
}

impl Drop for MediaPermit {
    fn drop(&mut self) {
        let mut callers = lock(&self.callers);
        if let Some(n) = callers.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Forget idle callers so the map does not grow with every address seen.
                callers.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_over_its_cap_is_refused_before_the_server_cap() {
        let gate = MediaGate::new(2, 1);
        let a = gate.try_enter("key:a").expect("first transfer of a");
        assert_eq!(gate.try_enter("key:a").err(), Some(MediaBusy::Caller));
        let b = gate.try_enter("key:b").expect("first transfer of b");
        assert_eq!(gate.try_enter("key:c").err(), Some(MediaBusy::Server));
        assert_eq!(gate.in_flight(), 2);
        drop(a);
        let _c = gate.try_enter("key:c").expect("a slot was freed");
        drop(b);
        assert_eq!(gate.in_flight(), 1);
    }

    #[test]
    fn idle_callers_are_forgotten() {
        let gate = MediaGate::new(4, 2);
        for i in 0..100 {
            drop(gate.try_enter(&format!("ip:192.0.2.{i}")).expect("enter"));
        }
        assert!(lock(&gate.callers).is_empty());
    }
}
