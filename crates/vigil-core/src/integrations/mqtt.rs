//! The MQTT bridge: one connection to the broker in `mqtt.url`, publishing what the
//! [`Tracker`] derives from the event bus, with Home Assistant discovery.
//!
//! Connection: a last will makes the broker publish `offline` (retained) on
//! `{prefix}/status` when the connection dies without a goodbye; on every connect
//! Vigil publishes `online` and every retained topic again (the broker may have
//! restarted without persistence). When Home Assistant announces itself on
//! `{discovery_prefix}/status` (`online`), discovery and states are republished, as HA
//! asks of integrations. On a lost connection the task fails; the supervised runtime
//! restarts it with back-off (state `restarting` and the broker's error in `/readyz`),
//! and the new run resumes the event stream after the last event it handled, so state
//! changes during the outage are not lost. Violations older than [`STALE_VIOLATION_MS`]
//! at that point are not sent: a late alarm misleads more than a missing one.
//!
//! Threading: the rumqttc event loop runs in its own tokio task (its `poll` must not be
//! cancelled mid-write), reporting connects, incoming messages and errors over a
//! channel; publishing never waits (`try_publish`): when the client queue is full the
//! message is dropped and logged, and the next reconnect republishes everything
//! retained.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::mpsc;
use vigil_auth::Role;
use vigil_config::{MqttSettings, Settings};

use super::topics::{Message, Topics, OFFLINE, ONLINE};
use super::tracker::{Output, SnapshotRequest, Tracker};
use crate::events::{Delivery, EventBus, Filter};
use crate::runtime::{CancellationToken, Runtime};

/// A violation replayed after an outage is published only if it is newer than this.
pub const STALE_VIOLATION_MS: i64 = 60_000;
/// Queue between the bridge and the connection, in messages.
const CLIENT_QUEUE: usize = 1024;
/// Largest message sent (violation pictures), in bytes.
const MAX_OUTGOING: usize = 8 * 1024 * 1024;
/// Largest message accepted (only Home Assistant's status arrives), in bytes.
const MAX_INCOMING: usize = 64 * 1024;

/// A boxed future, for the hooks below.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Fetches the JPEG of a violation's annotated frame by violation id (`None`: no
/// picture). Wired by the server to the violations use case.
pub type SnapshotSource =
    Arc<dyn Fn(String) -> BoxFuture<anyhow::Result<Option<Vec<u8>>>> + Send + Sync>;

/// Lists every camera as its API JSON (`{"id","name","status":{…}}`), to announce
/// cameras that have not changed since the bridge started. Wired by the server to the
/// cameras use case.
pub type CameraSource =
    Arc<dyn Fn() -> BoxFuture<anyhow::Result<Vec<serde_json::Value>>> + Send + Sync>;

struct Shared {
    tracker: Tracker,
    /// The last stored event handled: a run resumes after it.
    last_id: Option<i64>,
}

/// The MQTT bridge; cheap to clone (the runtime's factory clones it per run).
#[derive(Clone)]
pub struct MqttBridge {
    settings: Arc<MqttSettings>,
    host: String,
    port: u16,
    bus: EventBus,
    shared: Arc<Mutex<Shared>>,
    snapshots: Option<SnapshotSource>,
    cameras: Option<CameraSource>,
}

impl std::fmt::Debug for MqttBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttBridge")
            .field("broker", &format_args!("{}:{}", self.host, self.port))
            .field("prefix", &self.settings.topic_prefix)
            .finish()
    }
}

/// What the connection task reports.
enum Note {
    Connected,
    Message(String, Vec<u8>),
    Failed(String),
}

impl MqttBridge {
    /// The bridge `settings` ask for, or `None` when `mqtt.url` is not set. It will
    /// handle every event published from now on, even before its task subscribes.
    pub async fn from_settings(
        settings: &Settings,
        bus: EventBus,
    ) -> anyhow::Result<Option<MqttBridge>> {
        let mqtt = &settings.mqtt;
        let Some(url) = &mqtt.url else {
            return Ok(None);
        };
        let broker =
            vigil_config::parse_mqtt_url(url).map_err(|why| anyhow::anyhow!("mqtt.url {why}"))?;
        let head = crate::events::store::last_id(bus.db())
            .await
            .context("reading the event counter")?;
        let window_ms = i64::try_from(mqtt.compliance_window_minutes.saturating_mul(60_000))
            .unwrap_or(i64::MAX);
        Ok(Some(MqttBridge {
            settings: Arc::new(mqtt.clone()),
            host: broker.host,
            port: broker.port,
            bus,
            shared: Arc::new(Mutex::new(Shared {
                tracker: Tracker::new(Topics::from_settings(mqtt), window_ms),
                last_id: Some(head),
            })),
            snapshots: None,
            cameras: None,
        }))
    }

    /// Publishes violation pictures fetched by `source` on the `snapshot` topics.
    pub fn with_snapshots(mut self, source: SnapshotSource) -> MqttBridge {
        self.snapshots = Some(source);
        self
    }

    /// Announces the cameras `source` lists on every connect.
    pub fn with_cameras(mut self, source: CameraSource) -> MqttBridge {
        self.cameras = Some(source);
        self
    }

    /// Starts the bridge as the supervised task `mqtt`.
    pub fn spawn(self, runtime: &Runtime) {
        runtime.spawn_supervised("mqtt", move |stop| {
            let bridge = self.clone();
            async move { bridge.run(stop).await }
        });
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Each update is a whole tracker step; a panic mid-step at worst leaves a
        // camera's last published value stale until its next event.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn options(&self) -> MqttOptions {
        let s = &self.settings;
        let topics = Topics::from_settings(s);
        let mut options = MqttOptions::new(s.client_id(), self.host.clone(), self.port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
            .set_last_will(LastWill::new(
                topics.status(),
                OFFLINE,
                QoS::AtLeastOnce,
                true,
            ));
        if let Some(user) = &s.username {
            let password = s.password.as_ref().map(|p| p.expose().to_string());
            options.set_credentials(user.clone(), password.unwrap_or_default());
        }
        options
    }

    /// Runs one connection until `stop` (then says `offline` and disconnects) or until
    /// the connection fails (returns the error; the runtime retries).
    pub async fn run(&self, stop: CancellationToken) -> anyhow::Result<()> {
        let broker = format!("{}:{}", self.host, self.port);
        let topics = self.lock().tracker.topics().clone();
        let filter = Filter::new(Some("camera.,violation."), Role::Admin);
        // Subscribed before connecting, so nothing published meanwhile is missed.
        let after = self.lock().last_id;
        let mut sub = self
            .bus
            .subscribe(filter.clone(), after)
            .await
            .context("subscribing to the event bus")?;

        let (client, mut eventloop) = AsyncClient::new(self.options(), CLIENT_QUEUE);
        let (note_tx, mut notes) = mpsc::channel::<Note>(64);
        let connection = tokio::spawn(async move {
            loop {
                let note = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => Note::Connected,
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        Note::Message(p.topic, p.payload.to_vec())
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => continue,
                    Err(e) => Note::Failed(e.to_string()),
                };
                let failed = matches!(note, Note::Failed(_));
                if note_tx.send(note).await.is_err() || failed {
                    return;
                }
            }
        });
        // Dropping the run (restart, shutdown) ends the connection with it.
        let _connection = AbortOnDrop(connection);

        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    goodbye(&client, &mut notes, &topics).await;
                    tracing::info!(broker = %broker, "MQTT bridge stopped");
                    return Ok(());
                }
                note = notes.recv() => match note {
                    Some(Note::Connected) => {
                        tracing::info!(broker = %broker, "connected to the MQTT broker");
                        if topics.discovery {
                            let _ = client.try_subscribe(topics.ha_status(), QoS::AtLeastOnce);
                        }
                        self.announce_cameras(&client).await;
                        let all = self.lock().tracker.republish();
                        all.iter().for_each(|m| publish(&client, m));
                    }
                    Some(Note::Message(topic, payload)) => {
                        if topic == topics.ha_status() && payload == ONLINE.as_bytes() {
                            tracing::info!("Home Assistant is online; republishing discovery");
                            let all = self.lock().tracker.republish();
                            all.iter().for_each(|m| publish(&client, m));
                        }
                    }
                    Some(Note::Failed(e)) => {
                        anyhow::bail!("MQTT broker {broker}: {e}");
                    }
                    None => anyhow::bail!("MQTT broker {broker}: the connection task ended"),
                },
                delivery = sub.next() => match delivery {
                    Some(Delivery::Event(event)) => {
                        let now = vigil_store::now_ms();
                        let out = {
                            let mut shared = self.lock();
                            if event.id > 0 {
                                shared.last_id = Some(event.id);
                            }
                            if event.kind == "violation.created" && now - event.at > STALE_VIOLATION_MS {
                                Output::default()
                            } else {
                                shared.tracker.on_event(&event.kind, &event.payload, now)
                            }
                        };
                        self.send(&client, out);
                    }
                    Some(Delivery::Gap { last_id }) => {
                        tracing::warn!(last_id, "MQTT bridge fell behind the event bus; resuming");
                        sub = self.bus.subscribe(filter.clone(), Some(last_id)).await
                            .context("resubscribing to the event bus")?;
                    }
                    // The bus stopped: the server is shutting down.
                    None => {
                        stop.cancelled().await;
                        goodbye(&client, &mut notes, &topics).await;
                        tracing::info!(broker = %broker, "MQTT bridge stopped");
                        return Ok(());
                    }
                },
                _ = tick.tick() => {
                    let out = self.lock().tracker.tick(vigil_store::now_ms());
                    self.send(&client, out);
                }
            }
        }
    }

    /// Feeds the cameras the camera source lists through the tracker (as updates).
    async fn announce_cameras(&self, client: &AsyncClient) {
        let Some(source) = &self.cameras else { return };
        match source().await {
            Ok(cameras) => {
                let now = vigil_store::now_ms();
                for camera in cameras {
                    let payload = serde_json::json!({ "camera": camera });
                    let out = self
                        .lock()
                        .tracker
                        .on_event("camera.updated", &payload, now);
                    self.send(client, out);
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "MQTT: could not list cameras"),
        }
    }

    fn send(&self, client: &AsyncClient, out: Output) {
        for m in &out.messages {
            publish(client, m);
        }
        for request in out.snapshots {
            self.publish_snapshot(client, request);
        }
    }

    fn publish_snapshot(&self, client: &AsyncClient, request: SnapshotRequest) {
        let Some(source) = self.snapshots.clone() else {
            return;
        };
        let topic = self
            .lock()
            .tracker
            .topics()
            .camera(&request.camera_id, "snapshot");
        let client = client.clone();
        // Reading the picture must not hold up the event stream.
        tokio::spawn(async move {
            let fetched = tokio::time::timeout(
                Duration::from_secs(10),
                source(request.violation_id.clone()),
            )
            .await;
            match fetched {
                Ok(Ok(Some(jpeg))) => publish(&client, &Message::retained(topic, jpeg)),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(
                    violation = %request.violation_id,
                    error = %format!("{e:#}"),
                    "MQTT: could not read the violation picture"
                ),
                Err(_) => tracing::warn!(
                    violation = %request.violation_id,
                    "MQTT: reading the violation picture took too long"
                ),
            }
        });
    }
}

/// Says `offline` and disconnects, giving the goodbye up to two seconds to leave (the
/// last will says the same if it does not).
async fn goodbye(client: &AsyncClient, notes: &mut mpsc::Receiver<Note>, topics: &Topics) {
    publish(client, &Message::retained(topics.status(), OFFLINE));
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(note) = notes.recv().await {
            if matches!(note, Note::Failed(_)) {
                break;
            }
        }
    })
    .await;
}

/// Queues `message` without waiting; a full queue drops it (logged).
fn publish(client: &AsyncClient, message: &Message) {
    // Detections are frequent and superseded within a second: at most once is enough.
    let qos = if message.topic.ends_with("/detections") {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    if let Err(e) = client.try_publish(
        message.topic.clone(),
        qos,
        message.retain,
        message.payload.clone(),
    ) {
        tracing::debug!(topic = %message.topic, error = %e, "MQTT message dropped");
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
