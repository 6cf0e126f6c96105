//! MQTT against the real Mosquitto (`VIGIL_TEST_MQTT_URL`, set by `.ci/run`; outside CI a
//! broker on 127.0.0.1:1883 is used when one answers, else the test says it skipped):
//! a subscriber sees Vigil's availability, Home Assistant discovery, a camera's state,
//! the no-mask sensor and compliance rate following its frames, and a violation; discovery comes again when Home Assistant says it is online, and is
//! removed with the camera; when the server's connection dies, the broker publishes the
//! last will (`offline`) and `/readyz` shows the `mqtt` task restarting.
//!
//! The server reaches the broker through a small TCP relay the test can cut, which is
//! how a dead connection (no MQTT goodbye) looks to the broker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use vigil_core::cameras::CameraState;

use crate::harness::{camera_events as events, in_ci, workspace_root, Db, TestServer};

/// The broker for the test: `VIGIL_TEST_MQTT_URL`, else a local one if it answers.
async fn broker() -> Option<(String, u16)> {
    let url = match std::env::var("VIGIL_TEST_MQTT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                !in_ci(),
                "CI must set VIGIL_TEST_MQTT_URL so the MQTT tests run"
            );
            "mqtt://127.0.0.1:1883".to_string()
        }
    };
    let parsed = vigil_config::parse_mqtt_url(&url).expect("a valid broker URL");
    let reachable = tokio::time::timeout(
        Duration::from_secs(2),
        TcpStream::connect((parsed.host.as_str(), parsed.port)),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if !reachable {
        assert!(!in_ci(), "the MQTT broker at {url} does not answer");
        eprintln!(
            "note: MQTT test skipped: no broker at {url} (start one with \
             `mosquitto -d -c /etc/mosquitto/mosquitto.conf` or set VIGIL_TEST_MQTT_URL)"
        );
        return None;
    }
    Some((parsed.host, parsed.port))
}

/// A TCP relay to the broker; `cut` closes every connection and refuses new ones.
struct Relay {
    port: u16,
    cut: watch::Sender<bool>,
}

impl Relay {
    async fn start(host: String, port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let local = listener.local_addr().expect("local address").port();
        let (cut, cut_rx) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let mut cut_accept = cut_rx.clone();
                let (mut inbound, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(c) => c, Err(_) => return },
                    _ = cut_accept.wait_for(|c| *c) => return,
                };
                let (host, mut cut_conn) = (host.clone(), cut_rx.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect((host.as_str(), port)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_conn.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Relay { port: local, cut }
    }
}

/// Every message received: topic, payload, retain flag.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>, bool)>>>;

/// A subscriber keeping the latest payload per topic and every message in order.
struct Watcher {
    client: AsyncClient,
    seen: Seen,
}

impl Watcher {
    async fn start(host: &str, port: u16, filters: &[String]) -> Watcher {
        let id = format!("vigil-test-{}", hex::encode(rand::random::<[u8; 4]>()));
        let mut options = MqttOptions::new(id, host, port);
        options.set_max_packet_size(16 * 1024 * 1024, 64 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let seen: Seen = Arc::default();
        let (subscribed_tx, mut subscribed) = watch::channel(0usize);
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        record
                            .lock()
                            .expect("lock")
                            .push((p.topic, p.payload.to_vec(), p.retain));
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subscribed_tx.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        for filter in filters {
            client
                .subscribe(filter.clone(), QoS::AtLeastOnce)
                .await
                .expect("subscribe");
        }
        let wanted = filters.len();
        tokio::time::timeout(
            Duration::from_secs(5),
            subscribed.wait_for(|n| *n >= wanted),
        )
        .await
        .expect("the broker acknowledged the subscription")
        .expect("the watch channel");
        Watcher { client, seen }
    }

    fn latest(&self) -> HashMap<String, Vec<u8>> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(t, p, _)| (t.clone(), p.clone()))
            .collect()
    }

    fn count(&self, topic: &str) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|(t, _, _)| t == topic)
            .count()
    }

    /// Waits until the latest payload on `topic` satisfies `ok`; returns it.
    async fn wait(&self, topic: &str, ok: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(p) = self.latest().get(topic).filter(|p| ok(p.as_slice())) {
                return p.clone();
            }
            assert!(
                Instant::now() < deadline,
                "nothing acceptable on {topic}; saw {:?}",
                self.latest()
                    .iter()
                    .map(|(t, p)| (t.clone(), String::from_utf8_lossy(p).into_owned()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_text(&self, topic: &str, text: &str) {
        self.wait(topic, |p| p == text.as_bytes()).await;
    }

    async fn wait_json(&self, topic: &str) -> Value {
        let payload = self
            .wait(topic, |p| serde_json::from_slice::<Value>(p).is_ok())
            .await;
        serde_json::from_slice(&payload).expect("JSON")
    }

    /// Clears every retained message the test left on the broker (it persists them).
    async fn clean_up(&self) {
        let retained: Vec<String> = self
            .seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, p, _)| !p.is_empty())
            .map(|(t, _, _)| t.clone())
            .collect();
        for topic in retained {
            let _ = self
                .client
                .publish(topic, QoS::AtLeastOnce, true, Vec::<u8>::new())
                .await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn mqtt_task(ts: &TestServer) -> Value {
    let ready = ts.get_json("/readyz").await;
    ready["tasks"]["tasks"]
        .as_array()
        .expect("a task list")
        .iter()
        .find(|t| t["name"] == "mqtt")
        .cloned()
        .unwrap_or_else(|| panic!("no mqtt task in /readyz: {ready}"))
}

#[tokio::test]
async fn mqtt_publishes_discovery_state_violations_and_the_last_will() {
    let Some((host, port)) = broker().await else {
        return;
    };
    let tag = hex::encode(rand::random::<[u8; 4]>());
    let prefix = format!("vigiltest{tag}");
    let discovery = format!("hatest{tag}");
    let watcher = Watcher::start(
        &host,
        port,
        &[format!("{prefix}/#"), format!("{discovery}/#")],
    )
    .await;
    let relay = Relay::start(host.clone(), port).await;
    let ts = TestServer::start_with(Db::Sqlite, |s| {
        s.mqtt.url = Some(format!("mqtt://127.0.0.1:{}", relay.port));
        s.mqtt.topic_prefix = prefix.clone();
        s.mqtt.discovery_prefix = discovery.clone();
        s.mqtt.client_id = Some(format!("vigil-{tag}"));
    })
    .await;

    let status = format!("{prefix}/status");
    watcher.wait_text(&status, "online").await;
    assert_eq!(mqtt_task(&ts).await["state"], "running");

    // A camera comes online: discovery for its three entities, its state, availability.
    let cam = "0123456789abcdef0123456789abcdef";
    ts.publish(events::state(cam, "Entrance", CameraState::Online, None))
        .await;
    let base = format!("{prefix}/cameras/{cam}");
    let sensor = format!("{discovery}/binary_sensor/vigil_{cam}/no_mask/config");
    let config = watcher.wait_json(&sensor).await;
    assert_eq!(config["unique_id"], format!("vigil_{cam}_no_mask"));
    assert_eq!(config["state_topic"], format!("{base}/no_mask"));
    assert_eq!(config["device"]["name"], "Entrance");
    assert_eq!(config["availability"][0]["topic"], status);
    assert_eq!(
        config["availability"][1]["topic"],
        format!("{base}/availability")
    );
    let compliance = watcher
        .wait_json(&format!("{discovery}/sensor/vigil_{cam}/compliance/config"))
        .await;
    assert_eq!(compliance["unit_of_measurement"], "%");
    assert_eq!(compliance["state_topic"], format!("{base}/compliance"));
    let camera = watcher
        .wait_json(&format!("{discovery}/camera/vigil_{cam}/snapshot/config"))
        .await;
    assert_eq!(camera["topic"], format!("{base}/snapshot"));
    let state = watcher.wait_json(&format!("{base}/state")).await;
    assert_eq!(state["state"], "online");
    watcher
        .wait_text(&format!("{base}/availability"), "online")
        .await;

    // Frames: a face without a mask in view turns the binary sensor on, the compliance
    // rate counts both faces, and a summary goes out.
    ts.publish(events::detections(cam, &["no_mask", "mask"]))
        .await;
    watcher.wait_text(&format!("{base}/no_mask"), "ON").await;
    watcher.wait_text(&format!("{base}/compliance"), "50").await;
    let summary = watcher.wait_json(&format!("{base}/detections")).await;
    assert_eq!(
        (summary["faces"].as_u64(), summary["no_mask"].as_u64()),
        (Some(2), Some(1))
    );
    ts.publish(events::detections(cam, &["mask"])).await;
    watcher.wait_text(&format!("{base}/no_mask"), "OFF").await;
    watcher.wait_text(&format!("{base}/compliance"), "67").await;

    // A violation is published as it happened, and its stored picture becomes the
    // camera entity's image.
    let vio = "fedcba9876543210fedcba9876543210";
    let jpeg = std::fs::read(workspace_root().join("testdata/images/bench_640x480.jpg"))
        .expect("a JPEG from testdata");
    let key = ts
        .state
        .blobs
        .put(jpeg.clone().into())
        .await
        .expect("store the picture");
    let view = events::violation_view(vio, cam);
    vigil_store::cameras::insert_violation(
        &ts.state.db,
        &vigil_store::cameras::ViolationRow {
            id: vio.into(),
            camera_id: cam.into(),
            camera_name: view.camera_name.clone(),
            at: view.at,
            track: 7,
            score: 0.93,
            zone: None,
            bbox: "[10.0,20.0,64.0,64.0]".into(),
            frame_width: 640,
            frame_height: 480,
            frame_blob: Some(key.as_str().to_string()),
            face_blob: None,
            ack_by: None,
            ack_at: None,
            ack_note: None,
        },
    )
    .await
    .expect("store the violation");
    ts.publish(events::violation(vio, cam)).await;
    let violation = watcher.wait_json(&format!("{base}/violations")).await;
    assert_eq!(violation["id"], vio);
    assert_eq!(violation["track"], 7);
    let picture = watcher
        .wait(&format!("{base}/snapshot"), |p| !p.is_empty())
        .await;
    assert!(
        picture == jpeg,
        "the snapshot is the violation's stored frame"
    );

    // The camera goes offline: its availability follows.
    ts.publish(events::state(
        cam,
        "Entrance",
        CameraState::Offline,
        Some("the camera stopped answering"),
    ))
    .await;
    watcher
        .wait_text(&format!("{base}/availability"), "offline")
        .await;

    // Home Assistant restarts and says so: discovery comes again.
    let before = watcher.count(&sensor);
    watcher
        .client
        .publish(
            format!("{discovery}/status"),
            QoS::AtLeastOnce,
            false,
            "online",
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while watcher.count(&sensor) == before {
        assert!(Instant::now() < deadline, "discovery was not republished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The camera is deleted: its entities are removed (empty retained configs).
    ts.publish(events::deleted(cam, "Entrance")).await;
    watcher.wait(&sensor, <[u8]>::is_empty).await;
    watcher
        .wait(&format!("{base}/state"), <[u8]>::is_empty)
        .await;

    // The connection dies without a goodbye: the broker publishes the last will, and
    // the task reports the failure while it retries.
    relay.cut.send(true).unwrap();
    watcher.wait_text(&status, "offline").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let task = mqtt_task(&ts).await;
        if task["consecutive_failures"].as_u64().unwrap_or(0) >= 1 {
            let error = task["last_error"].as_str().unwrap_or_default();
            assert!(error.contains("MQTT broker"), "{task}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the mqtt task never failed: {task}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    ts.stop().await;
    watcher.clean_up().await;
}

#[tokio::test]
async fn a_graceful_stop_says_offline() {
    let Some((host, port)) = broker().await else {
        return;
    };
    let tag = hex::encode(rand::random::<[u8; 4]>());
    let prefix = format!("vigiltest{tag}");
    let watcher = Watcher::start(&host, port, &[format!("{prefix}/#")]).await;
    let ts = TestServer::start_with(Db::Sqlite, |s| {
        s.mqtt.url = Some(format!("mqtt://{host}:{port}"));
        s.mqtt.topic_prefix = prefix.clone();
        s.mqtt.discovery = false;
        s.mqtt.client_id = Some(format!("vigil-{tag}"));
    })
    .await;
    let status = format!("{prefix}/status");
    watcher.wait_text(&status, "online").await;
    ts.stop().await;
    watcher.wait_text(&status, "offline").await;
    watcher.clean_up().await;
}

#[tokio::test]
async fn cameras_from_the_api_appear_in_home_assistant_and_leave_with_it() {
    let Some((host, port)) = broker().await else {
        return;
    };
    let tag = hex::encode(rand::random::<[u8; 4]>());
    let (prefix, discovery) = (format!("vigiltest{tag}"), format!("hatest{tag}"));
    let data = tempfile::tempdir().unwrap();
    let config = |cam: &str| format!("{discovery}/binary_sensor/vigil_{cam}/no_mask/config");

    // A camera added (disabled) while MQTT was not configured: announced from the camera
    // list when the bridge connects, though no event about it comes.
    let before = TestServer::start_with(Db::Sqlite, |s| s.data_dir = data.path().into()).await;
    let lobby: Value = before
        .client
        .post(before.url("/api/v1/cameras"))
        .json(&serde_json::json!({"name": "Lobby", "url": "browser", "enabled": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lobby = lobby["id"].as_str().expect("camera id").to_string();
    before.stop().await;

    let watcher = Watcher::start(
        &host,
        port,
        &[format!("{prefix}/#"), format!("{discovery}/#")],
    )
    .await;
    let ts = TestServer::start_with(Db::Sqlite, |s| {
        s.data_dir = data.path().into();
        s.mqtt.url = Some(format!("mqtt://{host}:{port}"));
        s.mqtt.topic_prefix = prefix.clone();
        s.mqtt.discovery_prefix = discovery.clone();
        s.mqtt.client_id = Some(format!("vigil-{tag}"));
    })
    .await;
    let announced = watcher.wait_json(&config(&lobby)).await;
    assert_eq!(announced["device"]["name"], "Lobby");
    let state = watcher
        .wait_json(&format!("{prefix}/cameras/{lobby}/state"))
        .await;
    assert_eq!(state["state"], "stopped");
    watcher
        .wait_text(&format!("{prefix}/cameras/{lobby}/availability"), "offline")
        .await;

    // A camera added now is announced from its event; a deleted one is removed.
    let porch: Value = ts
        .client
        .post(ts.url("/api/v1/cameras"))
        .json(&serde_json::json!({"name": "Porch", "url": "browser"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let porch = porch["id"].as_str().expect("camera id").to_string();
    let announced = watcher.wait_json(&config(&porch)).await;
    assert_eq!(announced["device"]["name"], "Porch");
    let gone = ts
        .client
        .delete(ts.url(&format!("/api/v1/cameras/{lobby}")))
        .send()
        .await
        .unwrap();
    assert!(gone.status().is_success(), "{}", gone.status());
    watcher.wait(&config(&lobby), <[u8]>::is_empty).await;
    assert!(!watcher.latest()[&config(&porch)].is_empty());

    ts.stop().await;
    watcher.clean_up().await;
}
