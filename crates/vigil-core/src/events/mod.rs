//! The event bus: typed events, published once, delivered to every subscriber that may
//! see them — on this instance and, through PostgreSQL `LISTEN/NOTIFY` or Redis pub/sub,
//! on every other.
//!
//! Flow: [`EventBus::publish`] stores the event in the `events` table under the next id
//! (see `store`), runs the hooks (the auth cache listens there), and wakes the pump.
//! The pump ([`EventBus::run`]) reads new rows in id order, whoever wrote them, and
//! broadcasts them to [`Subscription`]s; each subscriber has a bounded buffer and, when
//! it falls behind, gets [`Delivery::Gap`] instead of slowing anyone down. A subscriber
//! that reconnects with the last id it saw replays the table, then continues live.
//! Events older than `events.retention_hours` are deleted by
//! [`EventBus::run_retention`].
//!
//! Where to add things: a new kind of event is a variant of [`EventKind`] (`kind.rs`);
//! publishing it is one `bus.publish(&EventKind::…)` call from the use case.
//! Audit records become events through [`AuditPublisher`], the audit log's observer.

mod audit;
mod bus;
mod kind;
mod relay;
pub mod store;

pub use audit::AuditPublisher;
pub use bus::{BusOptions, Delivery, EventBus, Hook, Subscription, SUBSCRIBER_BUFFER};
pub use kind::{Event, EventKind, Filter};

/// Why the bus could not store, read or relay an event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The database failed.
    #[error("{what}: {source}")]
    Db {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A payload could not be encoded or decoded.
    #[error("encoding an event: {0}")]
    Encode(#[from] serde_json::Error),
    /// Redis failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A broken invariant.
    #[error("{0}")]
    Internal(&'static str),
}

impl EventError {
    /// Wraps a database error with what was being done.
    pub fn db(what: &'static str) -> impl Fn(sqlx::Error) -> EventError {
        move |source| EventError::Db { what, source }
    }
}
