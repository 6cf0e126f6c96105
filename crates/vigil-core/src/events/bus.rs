//! The bus itself: publish (store, then deliver), subscribe (replay, then live), and the
//! pump that delivers every stored event, whoever wrote it, in id order.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch, Notify};
use vigil_store::{now_ms, Database};

use super::store::{self, Draft, Origin};
use super::{Event, EventError, EventKind, Filter};

/// Events buffered per subscriber; one that falls further behind gets a gap marker.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Events replayed per query when a subscriber resumes.
const REPLAY_PAGE: i64 = 500;

/// How often the pump looks at the table without being told to: the safety net for a
/// lost notification and the way events written by another process on the same SQLite
/// file (or a PostgreSQL without a listener) arrive.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// A function every delivered event is passed to, in id order, before subscribers see
/// it. Hooks must be quick and must not block (the auth cache drops entries here).
pub type Hook = Arc<dyn Fn(&Event) + Send + Sync>;

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// An event.
    Event(Arc<Event>),
    /// The subscriber fell behind and events after `last_id` were skipped; resume from
    /// the table with `Last-Event-ID: last_id` to get them.
    Gap {
        /// The last id delivered before the gap.
        last_id: i64,
    },
}

/// The event bus; cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    store_id: String,
    tx: broadcast::Sender<Arc<Event>>,
    /// Transient events ([`EventKind::is_transient`]): this instance only, id 0.
    transient: broadcast::Sender<Arc<Event>>,
    poke: Notify,
    hooks: RwLock<Vec<Hook>>,
    /// The newest id the pump has delivered.
    delivered: watch::Sender<i64>,
    /// Set when the bus stops; subscriptions end.
    closed: watch::Sender<bool>,
    /// Outgoing messages for Redis, when configured.
    redis_out: Option<mpsc::Sender<String>>,
    redis: Option<super::relay::RedisRelay>,
    postgres_url: Option<String>,
    retention: Duration,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("store_id", &self.inner.store_id)
            .field("delivered", &*self.inner.delivered.borrow())
            .field("redis", &self.inner.redis.is_some())
            .finish()
    }
}

/// How a bus is set up.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// How long events are kept in the table.
    pub retention: Duration,
    /// Redis URL and channel for fan-out between instances, if any.
    pub redis: Option<(String, String)>,
    /// The database URL when it is PostgreSQL, for `LISTEN`.
    pub postgres_url: Option<String>,
    /// Events buffered per subscriber ([`SUBSCRIBER_BUFFER`] unless testing lag).
    pub buffer: usize,
}

impl BusOptions {
    /// The options `settings` ask for.
    pub fn from_settings(settings: &vigil_config::Settings) -> BusOptions {
        BusOptions {
            retention: Duration::from_secs(settings.events.retention_hours.saturating_mul(3600)),
            redis: settings.redis_url.as_ref().map(|u| {
                (
                    u.expose().to_string(),
                    settings.events.redis_channel.clone(),
                )
            }),
            postgres_url: Some(settings.database_url())
                .filter(|u| u.starts_with("postgres:") || u.starts_with("postgresql:")),
            buffer: SUBSCRIBER_BUFFER,
        }
    }
}

impl EventBus {
    /// A bus over `db` (migrated). Nothing is delivered until [`EventBus::run`] runs;
    /// publishing works without it (events are stored and delivered once it runs).
    pub async fn open(db: Database, options: BusOptions) -> Result<EventBus, EventError> {
        let (store_id, last_id) = store::open_head(&db).await?;
        let (tx, _) = broadcast::channel(options.buffer.max(1));
        let (transient, _) = broadcast::channel(options.buffer.max(1));
        let (redis_out, redis) = match options.redis {
            Some((url, channel)) => {
                let (out, relay) = super::relay::RedisRelay::new(&url, channel)?;
                (Some(out), Some(relay))
            }
            None => (None, None),
        };
        Ok(EventBus {
            inner: Arc::new(Inner {
                db,
                store_id,
                tx,
                transient,
                poke: Notify::new(),
                hooks: RwLock::new(Vec::new()),
                delivered: watch::Sender::new(last_id),
                closed: watch::Sender::new(false),
                redis_out,
                redis,
                postgres_url: options.postgres_url,
                retention: options.retention,
            }),
        })
    }

    /// The database's store id (the same for every instance sharing the database).
    pub fn store_id(&self) -> &str {
        &self.inner.store_id
    }

    /// Registers `hook`, called with every event delivered from now on.
    pub fn on_event(&self, hook: Hook) {
        match self.inner.hooks.write() {
            Ok(mut hooks) => hooks.push(hook),
            Err(poisoned) => poisoned.into_inner().push(hook),
        }
    }

    fn run_hooks(&self, event: &Event) {
        let hooks = match self.inner.hooks.read() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for hook in hooks {
            hook(event);
        }
    }

    /// Stores `kind` as a new event and returns it. Hooks run before this returns (so an
    /// action's consequences, such as dropped cached credentials, hold by the time its
    /// caller answers); subscribers get it from the pump a moment later, in id order.
    /// Never waits on a subscriber.
    ///
    /// A transient kind ([`EventKind::is_transient`]) is not stored: it goes straight to
    /// this instance's current subscribers with id 0, and no hook sees it.
    pub async fn publish(&self, kind: &EventKind) -> Result<Arc<Event>, EventError> {
        let payload = kind.payload()?;
        let kind_name = kind.type_name();
        if kind.is_transient() {
            let event = Arc::new(Event {
                id: 0,
                at: now_ms(),
                kind: kind_name,
                min_role: kind.min_role(),
                payload,
            });
            // No receivers is fine: nobody is watching.
            let _ = self.inner.transient.send(Arc::clone(&event));
            return Ok(event);
        }
        let encoded = serde_json::to_string(&payload)?;
        let draft = Draft {
            at: now_ms(),
            kind: &kind_name,
            min_role: kind.min_role(),
            payload: &encoded,
        };
        let Some(id) = store::append(&self.inner.db, &self.inner.store_id, &draft, None).await?
        else {
            return Err(EventError::Internal(
                "a new event was taken for a duplicate",
            ));
        };
        let (at, min_role) = (draft.at, draft.min_role);
        let event = Arc::new(Event {
            id,
            at,
            kind: kind_name,
            min_role,
            payload,
        });
        self.run_hooks(&event);
        self.inner.poke.notify_one();
        if let Some(out) = &self.inner.redis_out {
            let message = super::relay::encode(&self.inner.store_id, &event)?;
            // A full queue means Redis is down or slow: other instances will miss this
            // event live (it is still in our table), but we never wait for Redis.
            if out.try_send(message).is_err() {
                tracing::warn!(id, "Redis event queue full; event not relayed");
            }
        }
        Ok(event)
    }

    /// Stores an event another store published (arrived over Redis) under a local id,
    /// unless it is already here; then delivers it.
    pub(crate) async fn import(&self, origin: Origin, event: &Event) -> Result<(), EventError> {
        let encoded = serde_json::to_string(&event.payload)?;
        let draft = Draft {
            at: event.at,
            kind: &event.kind,
            min_role: event.min_role,
            payload: &encoded,
        };
        if store::append(&self.inner.db, &self.inner.store_id, &draft, Some(&origin))
            .await?
            .is_some()
        {
            self.inner.poke.notify_one();
        }
        Ok(())
    }

    /// Asks the pump to look for new events now (another instance wrote some).
    pub(crate) fn poke(&self) {
        self.inner.poke.notify_one();
    }

    /// A subscription for `filter`; with `after`, first replays the stored events with
    /// a larger id (what a reconnecting client missed), then continues live. No event
    /// is delivered twice, and ids only increase.
    pub async fn subscribe(
        &self,
        filter: Filter,
        after: Option<i64>,
    ) -> Result<Subscription, EventError> {
        // Subscribe before reading the table, so nothing falls between the two.
        let rx = self.inner.tx.subscribe();
        let mut sub = Subscription {
            rx,
            transient: self.inner.transient.subscribe(),
            filter,
            last_id: after.unwrap_or(0),
            replay: std::collections::VecDeque::new(),
            closed: self.inner.closed.subscribe(),
        };
        if let Some(after) = after {
            let mut cursor = after;
            loop {
                let page = store::after(&self.inner.db, cursor, REPLAY_PAGE).await?;
                let Some(last) = page.last() else { break };
                cursor = last.id;
                let full = page.len() as i64 == REPLAY_PAGE;
                sub.replay.extend(
                    page.into_iter()
                        .filter(|e| sub.filter.matches(e))
                        .map(Arc::new),
                );
                // A very long absence: hand over what fits and mark the rest a gap.
                if sub.replay.len() >= SUBSCRIBER_BUFFER * 4 {
                    break;
                }
                if !full {
                    break;
                }
            }
            // Live events up to `cursor` were in the table: skip them on the channel.
            sub.last_id = cursor;
        } else {
            sub.last_id = *self.inner.delivered.borrow();
        }
        Ok(sub)
    }

    /// Delivers stored events in id order until `shutdown` resolves: the pump, the
    /// PostgreSQL listener and the Redis relay (when configured). Subscriptions end when
    /// this returns. Run it once per process (the runtime restarts it if it fails).
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) -> Result<(), EventError> {
        let work = async {
            tokio::try_join!(self.pump(), super::relay::listen_postgres(self), async {
                match &self.inner.redis {
                    Some(relay) => relay.run(self).await,
                    None => std::future::pending().await,
                }
            },)
            .map(|_| ())
        };
        let result = tokio::select! {
            () = shutdown => Ok(()),
            r = work => r,
        };
        self.inner.closed.send_replace(true);
        result
    }

    /// Stops every subscription (shutdown).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    async fn pump(&self) -> Result<(), EventError> {
        let mut last = *self.inner.delivered.borrow();
        loop {
            tokio::select! {
                () = self.inner.poke.notified() => {}
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
            loop {
                let page = match store::after(&self.inner.db, last, REPLAY_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        // The database is away; the next poke or poll tries again.
                        tracing::warn!(error = %e, "event pump could not read new events");
                        break;
                    }
                };
                let full = page.len() as i64 == REPLAY_PAGE;
                for event in page {
                    last = event.id;
                    let event = Arc::new(event);
                    self.run_hooks(&event);
                    // No receivers is fine: nobody is listening.
                    let _ = self.inner.tx.send(event);
                }
                self.inner.delivered.send_replace(last);
                if !full {
                    break;
                }
            }
        }
    }

    /// Deletes events older than the retention period, now and then every hour, until
    /// `shutdown` resolves.
    pub async fn run_retention(
        &self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), EventError> {
        let work = async {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                self.prune_now().await?;
            }
        };
        tokio::select! {
            () = shutdown => Ok(()),
            r = work => r,
        }
    }

    /// Deletes events older than the retention period; returns how many.
    pub async fn prune_now(&self) -> Result<u64, EventError> {
        let keep_ms = i64::try_from(self.inner.retention.as_millis()).unwrap_or(i64::MAX);
        let removed = store::prune(&self.inner.db, now_ms().saturating_sub(keep_ms)).await?;
        if removed > 0 {
            tracing::info!(removed, "deleted events past their retention");
        }
        Ok(removed)
    }

    /// The PostgreSQL URL to `LISTEN` on, if the database is PostgreSQL.
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        self.inner.postgres_url.as_deref()
    }

    /// The database the bus stores into.
    pub(crate) fn db(&self) -> &Database {
        &self.inner.db
    }
}

/// One subscriber's stream of deliveries.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    transient: broadcast::Receiver<Arc<Event>>,
    filter: Filter,
    last_id: i64,
    replay: std::collections::VecDeque<Arc<Event>>,
    closed: watch::Receiver<bool>,
}

impl Subscription {
    /// The next delivery, or `None` when the bus has stopped.
    pub async fn next(&mut self) -> Option<Delivery> {
        if let Some(event) = self.replay.pop_front() {
            return Some(Delivery::Event(event));
        }
        loop {
            if *self.closed.borrow() {
                return None;
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                r = self.transient.recv() => match r {
                    Ok(event) if self.filter.matches(&event) => {
                        return Some(Delivery::Event(event));
                    }
                    // Transient events are lossy by design: a slow subscriber skips
                    // some, without a gap marker (there is nothing to replay).
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.closed.changed() => return None,
            };
            match received {
                Ok(event) => {
                    if event.id <= self.last_id {
                        continue; // already replayed
                    }
                    self.last_id = event.id;
                    if self.filter.matches(&event) {
                        return Some(Delivery::Event(event));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(Delivery::Gap {
                        last_id: self.last_id,
                    });
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The filter this subscription applies.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }
}

#[cfg(test)]
mod tests {
    use vigil_auth::audit::AuditRecord;
    use vigil_auth::Role;
    use vigil_store::db::DbOptions;

    use super::*;

    async fn bus(buffer: usize) -> (EventBus, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("events.db").display());
        let db = Database::connect(&url, &DbOptions::default())
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let options = BusOptions {
            retention: Duration::from_secs(3600),
            redis: None,
            postgres_url: None,
            buffer,
        };
        (EventBus::open(db, options).await.unwrap(), dir)
    }

    fn record(action: &str, target: &str) -> EventKind {
        EventKind::Audit(AuditRecord {
            seq: 1,
            at: 0,
            actor_kind: "system".into(),
            actor_id: None,
            actor_name: None,
            ip: None,
            action: action.into(),
            target_kind: Some("user".into()),
            target_id: Some(target.into()),
            outcome: "success".into(),
            detail: serde_json::json!({}),
            prev_hash: String::new(),
            hash: String::new(),
        })
    }

    fn admin() -> Filter {
        Filter::new(None, Role::Admin)
    }

    async fn next_id(sub: &mut Subscription) -> Delivery {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap()
    }

    fn id_of(d: &Delivery) -> i64 {
        match d {
            Delivery::Event(e) => e.id,
            Delivery::Gap { .. } => panic!("unexpected gap"),
        }
    }

    #[tokio::test]
    async fn events_are_stored_in_order_delivered_live_and_replayed_after_an_id() {
        let (bus, _dir) = bus(SUBSCRIBER_BUFFER).await;
        let runner = bus.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            runner
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let mut live = bus.subscribe(admin(), None).await.unwrap();
        let mut ids = Vec::new();
        for target in ["a", "b", "c"] {
            let e = bus.publish(&record("user.create", target)).await.unwrap();
            assert_eq!(e.kind, "audit.user.create");
            assert_eq!(e.min_role, Role::Admin);
            ids.push(e.id);
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        for id in &ids {
            assert_eq!(id_of(&next_id(&mut live).await), *id);
        }
        // Resuming after the first replays the other two, then continues live with no
        // repeats.
        let mut resumed = bus.subscribe(admin(), Some(ids[0])).await.unwrap();
        assert_eq!(id_of(&next_id(&mut resumed).await), ids[1]);
        assert_eq!(id_of(&next_id(&mut resumed).await), ids[2]);
        let d = bus.publish(&record("user.delete", "a")).await.unwrap();
        assert_eq!(id_of(&next_id(&mut resumed).await), d.id);
        // Viewers never see audit events, even on replay.
        let mut viewer = bus
            .subscribe(Filter::new(None, Role::Viewer), Some(0))
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), viewer.next())
                .await
                .is_err()
        );
        let _ = stop_tx.send(());
        task.await.unwrap().unwrap();
        // The bus has stopped: subscriptions end.
        assert!(live.next().await.is_none());
    }

    #[tokio::test]
    async fn a_slow_subscriber_gets_a_gap_marker_and_never_blocks_publishing() {
        let (bus, _dir) = bus(2).await;
        let runner = bus.clone();
        let task = tokio::spawn(async move { runner.run(std::future::pending()).await });
        let mut slow = bus.subscribe(admin(), None).await.unwrap();
        let mut last = 0;
        for i in 0..6 {
            last = bus
                .publish(&record("user.create", &i.to_string()))
                .await
                .unwrap()
                .id;
        }
        // Wait until the pump has delivered everything.
        let mut delivered = bus.inner.delivered.subscribe();
        tokio::time::timeout(Duration::from_secs(5), delivered.wait_for(|d| *d >= last))
            .await
            .unwrap()
            .unwrap();
        let Delivery::Gap { last_id } = next_id(&mut slow).await else {
            panic!("expected a gap marker");
        };
        // Resuming from the gap's id gets everything that was skipped.
        let mut resumed = bus.subscribe(admin(), Some(last_id)).await.unwrap();
        let mut got = Vec::new();
        while got.last() != Some(&last) {
            got.push(id_of(&next_id(&mut resumed).await));
        }
        assert_eq!(got.first(), Some(&(last_id + 1)));
        task.abort();
    }

    #[tokio::test]
    async fn retention_deletes_old_events_but_ids_never_restart() {
        let (bus, _dir) = bus(SUBSCRIBER_BUFFER).await;
        let first = bus.publish(&record("user.create", "a")).await.unwrap();
        sqlx::query("UPDATE events SET at = at - $1")
            .bind(2 * 3600 * 1000_i64)
            .execute(bus.db().pool())
            .await
            .unwrap();
        assert_eq!(bus.prune_now().await.unwrap(), 1);
        let second = bus.publish(&record("user.create", "b")).await.unwrap();
        assert_eq!(second.id, first.id + 1);
        assert_eq!(bus.prune_now().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_event_from_another_store_is_imported_once() {
        let (bus, _dir) = bus(SUBSCRIBER_BUFFER).await;
        let event = Event {
            id: 41,
            at: 1,
            kind: "audit.user.create".into(),
            min_role: Role::Admin,
            payload: serde_json::json!({"target_id": "x"}),
        };
        let origin = || Origin {
            store: "elsewhere".into(),
            id: 41,
        };
        bus.import(origin(), &event).await.unwrap();
        bus.import(origin(), &event).await.unwrap();
        let stored = store::after(bus.db(), 0, 10).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].payload, event.payload);
        assert_eq!(stored[0].id, 1, "imports get a local id");
    }
}
