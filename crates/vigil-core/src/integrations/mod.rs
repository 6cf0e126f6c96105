//! Integrations: live mask compliance leaves Vigil by MQTT (for Home Assistant and other
//! automation) and by webhooks (for anything with an HTTP endpoint). Both are driven by
//! the event bus alone (`camera.*`, `violation.*`), so the camera pipeline knows nothing
//! about them, and both run as supervised runtime tasks (`mqtt`, `webhooks`) whose
//! state `/readyz` shows.
//!
//! Where things are:
//! - MQTT: [`mqtt`] (the connection and its task), [`tracker`] (what to publish, from
//!   events and time: pure, tested without a broker), [`topics`] (topic names and the
//!   Home Assistant discovery documents), [`camera_feed`] (the camera list and violation
//!   pictures it reads from the camera core).
//! - Webhooks: [`webhooks`] (the admin use case: create, list, change, delete, test,
//!   delivery log), [`dispatch`] (the task: events → queued deliveries → attempts with
//!   back-off), [`delivery`] (one attempt under the SSRF guard), [`signature`]
//!   (`X-Vigil-Signature`).
//!
//! Start-up (the server's `Application::build`, then `start_tasks`):
//! `MqttBridge::from_settings(…).await` (`None` unless `mqtt.url` is set) and
//! `Dispatcher::open(…).await` before serving, so both consider every event published
//! from then on; then `.spawn(&runtime)` each (the dispatcher idles without webhooks).

pub mod camera_feed;
pub mod delivery;
pub mod dispatch;
pub mod mqtt;
pub mod signature;
pub mod topics;
pub mod tracker;
pub mod webhooks;

pub use dispatch::Dispatcher;
pub use mqtt::MqttBridge;
pub use webhooks::{WebhookId, Webhooks};
