//! Fan-out between instances. PostgreSQL: every append sends its id on
//! [`PG_CHANNEL`](super::store::PG_CHANNEL), and each instance's listener wakes its pump,
//! which reads the new rows from the shared table. Redis: every event published here is
//! also sent, whole, on the configured channel; an instance receiving one from its own
//! database (same store id) just wakes its pump, one with another database imports it
//! under a local id. Either way each instance delivers from its own table, so ids stay
//! ordered and nothing is delivered twice.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Mutex};
use vigil_store::Backend;

use super::store::{Origin, PG_CHANNEL};
use super::{Event, EventBus, EventError};

/// Messages waiting for Redis; beyond this, publishing drops relaying rather than wait.
const REDIS_QUEUE: usize = 4096;

/// Wait before reconnecting after a lost connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// One event on the Redis channel.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    /// Store id of the database the event was first stored in.
    store: String,
    /// The event, with its id in that store.
    event: Event,
}

/// Encodes `event` for the Redis channel.
pub(crate) fn encode(store: &str, event: &Event) -> Result<String, EventError> {
    #[derive(Serialize)]
    struct Out<'a> {
        store: &'a str,
        event: &'a Event,
    }
    Ok(serde_json::to_string(&Out { store, event })?)
}

/// The Redis side of the bus: a publisher draining the outgoing queue and a subscriber.
pub(crate) struct RedisRelay {
    client: redis::Client,
    channel: String,
    outgoing: Mutex<mpsc::Receiver<String>>,
}

impl RedisRelay {
    /// A relay on `url`/`channel` and the queue publishing feeds.
    pub(crate) fn new(
        url: &str,
        channel: String,
    ) -> Result<(mpsc::Sender<String>, RedisRelay), EventError> {
        let client = redis::Client::open(url)?;
        let (tx, rx) = mpsc::channel(REDIS_QUEUE);
        Ok((
            tx,
            RedisRelay {
                client,
                channel,
                outgoing: Mutex::new(rx),
            },
        ))
    }

    /// Publishes and subscribes until the bus stops; reconnects after failures.
    pub(crate) async fn run(&self, bus: &EventBus) -> Result<(), EventError> {
        tokio::join!(self.publish_loop(), self.subscribe_loop(bus));
        Ok(())
    }

    async fn publish_loop(&self) {
        let mut outgoing = self.outgoing.lock().await;
        let mut conn = None;
        while let Some(message) = outgoing.recv().await {
            if conn.is_none() {
                match self.client.get_multiplexed_async_connection().await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reach Redis; an event was not relayed");
                        continue;
                    }
                }
            }
            if let Some(c) = conn.as_mut() {
                let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(&message)
                    .query_async(c)
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "Redis publish failed; an event was not relayed");
                    conn = None;
                }
            }
        }
    }

    async fn subscribe_loop(&self, bus: &EventBus) {
        loop {
            if let Err(e) = self.subscribe_once(bus).await {
                tracing::warn!(error = %e, "Redis event subscription lost; reconnecting");
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    }

    async fn subscribe_once(&self, bus: &EventBus) -> Result<(), EventError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        // Events may have arrived while we were away; the table has those of our store.
        bus.poke();
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let message: Message = match serde_json::from_slice(msg.get_payload_bytes()) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring a malformed event on the Redis channel");
                    continue;
                }
            };
            if message.store == bus.store_id() {
                bus.poke();
            } else {
                let origin = Origin {
                    store: message.store,
                    id: message.event.id,
                };
                if let Err(e) = bus.import(origin, &message.event).await {
                    tracing::warn!(error = %e, "could not store an event from another instance");
                }
            }
        }
        Ok(())
    }
}

/// On PostgreSQL, wakes the pump whenever any instance appends an event; elsewhere
/// never returns (the pump's polling covers one SQLite file shared by processes).
pub(crate) async fn listen_postgres(bus: &EventBus) -> Result<(), EventError> {
    let Some(url) = bus.postgres_url().map(str::to_string) else {
        return std::future::pending().await;
    };
    if bus.db().backend() != Backend::Postgres {
        return std::future::pending().await;
    }
    loop {
        match listen_once(bus, &url).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "PostgreSQL event listener failed; reconnecting"),
        }
        bus.poke();
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn listen_once(bus: &EventBus, url: &str) -> Result<(), EventError> {
    let mut listener = sqlx::postgres::PgListener::connect(url)
        .await
        .map_err(EventError::db("connecting the event listener"))?;
    listener
        .listen(PG_CHANNEL)
        .await
        .map_err(EventError::db("listening for events"))?;
    bus.poke();
    loop {
        match listener
            .try_recv()
            .await
            .map_err(EventError::db("receiving event notifications"))?
        {
            Some(_) => bus.poke(),
            // The connection dropped; notifications may have been lost meanwhile.
            None => bus.poke(),
        }
    }
}
