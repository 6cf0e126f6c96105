//! A brief memory of verified credentials, so a burst of requests with one API key or
//! session costs one database lookup, not one each.
//!
//! Entries are keyed by the SHA-256 of the presented credential (the credential itself
//! is never kept) and live `auth.cache_secs` at most, never past the session's idle or
//! absolute end. They are dropped at once when the event bus delivers an audit event
//! that changes what a credential may do (key revoked, user disabled, deleted, role or
//! password changed, TOTP switched, session ended, policy changed), from this instance
//! or any other; an API key's entry goes too when the person who made it is disabled,
//! deleted or given a new role. A lookup that raced such an event is not stored: inserts
//! carry the invalidation generation they started under.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vigil_auth::Principal;
use vigil_core::events::Event;

/// Most entries kept; beyond it the cache is cleared (a flood of distinct credentials
/// must not grow memory).
const MAX_ENTRIES: usize = 10_000;

/// Identifiers an entry is dropped by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    /// The user behind a session, or the person who made an API key (whose disable,
    /// deletion or new role changes what the key may do).
    pub user_id: Option<String>,
    /// The API key's id.
    pub key_id: Option<String>,
    /// The session's public id.
    pub session_id: Option<String>,
}

#[derive(Debug)]
struct Entry {
    principal: Principal,
    until: Instant,
    owners: Owners,
}

/// The cache; one per process, shared through the identity state.
#[derive(Debug)]
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    generation: AtomicU64,
}

impl AuthCache {
    /// A cache keeping entries `ttl`; a zero `ttl` disables it.
    pub fn new(ttl: Duration) -> AuthCache {
        AuthCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The cache key of a credential of `kind` (`key` or `session`).
    pub fn key(kind: &str, credential: &str) -> String {
        vigil_store::sha256_hex(format!("{kind}\0{credential}").as_bytes())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a map of plain values: still usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached principal for `key`, if fresh.
    pub fn get(&self, key: &str) -> Option<Principal> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.lock();
        match entries.get(key) {
            Some(e) if e.until > Instant::now() => Some(e.principal.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// The invalidation generation to pass to [`AuthCache::insert`]; take it before
    /// looking the credential up.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Remembers `principal` for `key` until the TTL or `not_after`, whichever is
    /// first, unless an invalidation happened since `generation` was taken.
    pub fn insert(
        &self,
        key: String,
        principal: Principal,
        owners: Owners,
        not_after: Option<Instant>,
        generation: u64,
    ) {
        if !self.enabled() {
            return;
        }
        let mut until = Instant::now() + self.ttl;
        if let Some(limit) = not_after {
            until = until.min(limit);
        }
        let mut entries = self.lock();
        // Checked under the lock: invalidations bump the generation under it too.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                principal,
                until,
                owners,
            },
        );
    }

    /// Drops every entry.
    pub fn clear(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    /// Drops the entries `event` makes stale; a bus hook.
    pub fn on_event(&self, event: &Event) {
        let Some(action) = event.kind.strip_prefix("audit.") else {
            return;
        };
        let field = |name: &str| event.payload.get(name).and_then(|v| v.as_str());
        if field("outcome") == Some("failure") {
            return;
        }
        match action {
            // Actions that grant nothing to an existing credential.
            "auth.login" | "user.create" | "user.bootstrap" | "user.reset_link"
            | "apikey.create" | "totp.enroll_start" | "auth.reauth" | "upload.create"
            | "upload.delete" | "access.denied" | "audit.read" | "audit.export" => return,
            "policy.update" => return self.clear(),
            _ => {}
        }
        let (Some(kind), Some(id)) = (field("target_kind"), field("target_id")) else {
            // An action we cannot attribute: be safe.
            return self.clear();
        };
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        let id = Some(id);
        entries.retain(|_, e| {
            let o = &e.owners;
            let hit = match kind {
                "user" => o.user_id.as_deref() == id,
                "apikey" => o.key_id.as_deref() == id,
                "session" => o.session_id.as_deref() == id,
                _ => true,
            };
            !hit
        });
    }
}

#[cfg(test)]
mod tests {
    use vigil_auth::{PrincipalKind, Role};

    use super::*;

    fn principal(id: &str) -> Principal {
        Principal {
            id: id.into(),
            name: id.into(),
            role: Role::Admin,
            kind: PrincipalKind::ApiKey,
        }
    }

    fn audit(action: &str, target: (&str, &str)) -> Event {
        Event {
            id: 1,
            at: 0,
            kind: format!("audit.{action}"),
            min_role: Role::Admin,
            payload: serde_json::json!({
                "outcome": "success", "target_kind": target.0, "target_id": target.1
            }),
        }
    }

    fn owners(user: &str, key: Option<&str>, session: Option<&str>) -> Owners {
        Owners {
            user_id: Some(user.into()),
            key_id: key.map(str::to_string),
            session_id: session.map(str::to_string),
        }
    }

    fn filled() -> AuthCache {
        let cache = AuthCache::new(Duration::from_secs(60));
        let g = cache.generation();
        cache.insert(
            "k1".into(),
            principal("k1"),
            owners("alice", Some("k1"), None),
            None,
            g,
        );
        cache.insert(
            "s1".into(),
            principal("alice"),
            owners("alice", None, Some("s1")),
            None,
            g,
        );
        cache.insert(
            "s2".into(),
            principal("bob"),
            owners("bob", None, Some("s2")),
            None,
            g,
        );
        cache
    }

    #[test]
    fn events_drop_exactly_the_entries_they_concern() {
        let cases: &[(&str, (&str, &str), [bool; 3])] = &[
            ("apikey.revoke", ("apikey", "k1"), [false, true, true]),
            ("user.update", ("user", "alice"), [false, false, true]),
            ("auth.logout", ("session", "s2"), [true, true, false]),
            ("user.password_change", ("user", "bob"), [true, true, false]),
            ("auth.login", ("session", "s1"), [true, true, true]),
            ("policy.update", ("policy", "x"), [false, false, false]),
        ];
        for (action, target, kept) in cases {
            let cache = filled();
            cache.on_event(&audit(action, *target));
            let now = ["k1", "s1", "s2"].map(|k| cache.get(k).is_some());
            assert_eq!(&now, kept, "{action}");
        }
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_stored() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let before = cache.generation();
        cache.on_event(&audit("apikey.revoke", ("apikey", "k1")));
        cache.insert(
            "k1".into(),
            principal("k1"),
            Owners::default(),
            None,
            before,
        );
        assert!(cache.get("k1").is_none());
    }

    #[test]
    fn entries_expire_at_the_earlier_of_ttl_and_the_credentials_end() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let g = cache.generation();
        let past = Instant::now();
        cache.insert("s".into(), principal("a"), Owners::default(), Some(past), g);
        assert!(cache.get("s").is_none());
        let off = AuthCache::new(Duration::ZERO);
        off.insert(
            "s".into(),
            principal("a"),
            Owners::default(),
            None,
            off.generation(),
        );
        assert!(off.get("s").is_none());
    }
}
