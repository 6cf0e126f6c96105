//! MQTT topic names and the Home Assistant discovery documents.
//!
//! Per camera, under `{prefix}/cameras/{id}/`: `state` (retained JSON), `availability`
//! (retained `online`/`offline`), `detections` (JSON summary, at most one a second),
//! `no_mask` (retained `ON`/`OFF`), `compliance` (retained 0–100, or `None` when no face
//! was seen in the window), `violations` (JSON, one per violation) and `snapshot`
//! (retained JPEG of the latest violation). `{prefix}/status` is `online`, or `offline`
//! from the broker's last will.
//!
//! Discovery (Home Assistant's MQTT discovery, one retained config per entity, removed
//! with an empty retained payload): `{discovery}/binary_sensor/vigil_{id}/no_mask/config`,
//! `{discovery}/sensor/vigil_{id}/compliance/config`,
//! `{discovery}/camera/vigil_{id}/snapshot/config`. Each names the device (one per
//! camera), a `unique_id`, and the availability topics (Vigil's status and, for the
//! sensors, the camera's own: a camera that is not `online` shows as unavailable).

use serde_json::{json, Value};

/// `online` / `offline`, the availability payloads.
pub const ONLINE: &str = "online";
/// See [`ONLINE`].
pub const OFFLINE: &str = "offline";

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Full topic.
    pub topic: String,
    /// Payload bytes (empty with `retain` clears a retained message).
    pub payload: Vec<u8>,
    /// Whether the broker keeps it for new subscribers.
    pub retain: bool,
}

impl Message {
    /// A retained message.
    pub fn retained(topic: String, payload: impl Into<Vec<u8>>) -> Message {
        Message {
            topic,
            payload: payload.into(),
            retain: true,
        }
    }

    /// A message for current subscribers only.
    pub fn live(topic: String, payload: impl Into<Vec<u8>>) -> Message {
        Message {
            topic,
            payload: payload.into(),
            retain: false,
        }
    }
}

/// The topic layout for one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `mqtt.topic_prefix`.
    pub prefix: String,
    /// `mqtt.discovery_prefix`.
    pub discovery_prefix: String,
    /// `mqtt.discovery`.
    pub discovery: bool,
}

/// A camera id made safe as one topic level and in a Home Assistant object id: letters,
/// digits, `_` and `-` kept, anything else (`/`, `+`, `#`, spaces) becomes `_`.
pub fn topic_id(camera_id: &str) -> String {
    camera_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Topics {
    /// From the settings.
    pub fn from_settings(mqtt: &vigil_config::MqttSettings) -> Topics {
        Topics {
            prefix: mqtt.topic_prefix.clone(),
            discovery_prefix: mqtt.discovery_prefix.clone(),
            discovery: mqtt.discovery,
        }
    }

    /// `{prefix}/status`: Vigil's availability (the last will).
    pub fn status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// `{discovery_prefix}/status`: Home Assistant's birth and will messages.
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }

    /// `{prefix}/cameras/{id}/{leaf}`.
    pub fn camera(&self, camera_id: &str, leaf: &str) -> String {
        format!("{}/cameras/{}/{leaf}", self.prefix, topic_id(camera_id))
    }

    /// The three discovery config topics of a camera: (component, object, topic).
    pub fn discovery_topics(&self, camera_id: &str) -> [String; 3] {
        let id = topic_id(camera_id);
        let d = &self.discovery_prefix;
        [
            format!("{d}/binary_sensor/vigil_{id}/no_mask/config"),
            format!("{d}/sensor/vigil_{id}/compliance/config"),
            format!("{d}/camera/vigil_{id}/snapshot/config"),
        ]
    }

    /// The retained discovery configs announcing a camera's entities (none when
    /// discovery is off).
    pub fn discovery(&self, camera_id: &str, name: &str) -> Vec<Message> {
        if !self.discovery {
            return Vec::new();
        }
        let id = topic_id(camera_id);
        let version = env!("CARGO_PKG_VERSION");
        let device = json!({
            "identifiers": [format!("vigil_{id}")],
            "name": name,
            "manufacturer": "Vigil",
            "model": "Mask compliance camera",
            "sw_version": version,
        });
        let origin = json!({ "name": "Vigil", "sw_version": version });
        let both = json!([
            { "topic": self.status() },
            { "topic": self.camera(camera_id, "availability") },
        ]);
        let entity = |extra: Value, availability: Value| {
            let mut doc = json!({
                "device": device,
                "origin": origin,
                "availability": availability,
                "availability_mode": "all",
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            });
            if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
                doc.extend(extra);
            }
            doc.to_string().into_bytes()
        };
        let no_mask = entity(
            json!({
                "name": "No mask",
                "unique_id": format!("vigil_{id}_no_mask"),
                "state_topic": self.camera(camera_id, "no_mask"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "problem",
                "icon": "mdi:face-mask-outline",
            }),
            both.clone(),
        );
        let compliance = entity(
            json!({
                "name": "Mask compliance",
                "unique_id": format!("vigil_{id}_compliance"),
                "state_topic": self.camera(camera_id, "compliance"),
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "suggested_display_precision": 0,
                "icon": "mdi:face-mask",
            }),
            both,
        );
        // The last violation's picture stays worth seeing while the camera is offline.
        let snapshot = entity(
            json!({
                "name": "Last violation",
                "unique_id": format!("vigil_{id}_snapshot"),
                "topic": self.camera(camera_id, "snapshot"),
            }),
            json!([{ "topic": self.status() }]),
        );
        let [a, b, c] = self.discovery_topics(camera_id);
        vec![
            Message::retained(a, no_mask),
            Message::retained(b, compliance),
            Message::retained(c, snapshot),
        ]
    }

    /// Empty retained payloads on every retained topic of a deleted camera: Home
    /// Assistant removes its entities, and new subscribers see nothing stale.
    pub fn forget(&self, camera_id: &str) -> Vec<Message> {
        let mut out: Vec<Message> = Vec::new();
        if self.discovery {
            out.extend(
                self.discovery_topics(camera_id)
                    .into_iter()
                    .map(|t| Message::retained(t, Vec::new())),
            );
        }
        for leaf in ["state", "availability", "no_mask", "compliance", "snapshot"] {
            out.push(Message::retained(self.camera(camera_id, leaf), Vec::new()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Topics {
        Topics {
            prefix: "vigil".into(),
            discovery_prefix: "homeassistant".into(),
            discovery: true,
        }
    }

    #[test]
    fn camera_ids_cannot_inject_topic_levels_or_wildcards() {
        assert_eq!(topic_id("cam_1-a"), "cam_1-a");
        assert_eq!(topic_id("a/b+#c d"), "a_b__c_d");
        assert_eq!(topics().camera("x/#", "state"), "vigil/cameras/x__/state");
    }

    #[test]
    fn discovery_names_the_device_availability_and_state_topics() {
        let msgs = topics().discovery("c1", "Entrance");
        assert_eq!(msgs.len(), 3);
        assert!(msgs.iter().all(|m| m.retain));
        assert_eq!(
            msgs[0].topic,
            "homeassistant/binary_sensor/vigil_c1/no_mask/config"
        );
        let doc: Value = serde_json::from_slice(&msgs[0].payload).unwrap();
        assert_eq!(doc["unique_id"], "vigil_c1_no_mask");
        assert_eq!(doc["state_topic"], "vigil/cameras/c1/no_mask");
        assert_eq!(doc["device"]["identifiers"][0], "vigil_c1");
        assert_eq!(doc["device"]["name"], "Entrance");
        assert_eq!(doc["availability"][0]["topic"], "vigil/status");
        assert_eq!(
            doc["availability"][1]["topic"],
            "vigil/cameras/c1/availability"
        );
        let cam: Value = serde_json::from_slice(&msgs[2].payload).unwrap();
        assert_eq!(cam["topic"], "vigil/cameras/c1/snapshot");
        let off = Topics {
            discovery: false,
            ..topics()
        };
        assert!(off.discovery("c1", "Entrance").is_empty());
        assert!(topics()
            .forget("c1")
            .iter()
            .all(|m| m.retain && m.payload.is_empty()));
    }
}
