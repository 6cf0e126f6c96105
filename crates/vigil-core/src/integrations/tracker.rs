//! What MQTT should say about each camera, derived from the event bus: a pure state
//! machine fed events and clock ticks, returning the messages to publish. Kept apart
//! from the connection so every rule here is tested without a broker.
//!
//! Rules:
//! - `camera.state` / `camera.created|updated` → retained `state` JSON, `availability`
//!   (`online` only while the camera is `online`), discovery the first time a camera is
//!   seen or when its name changes; `camera.deleted` clears every retained topic.
//! - `camera.detections` (several a second) → `no_mask` `ON` while a face labelled
//!   `no_mask` is in the latest frame (`OFF` again when none is, when the camera leaves
//!   `online`, or when no frame came for [`NO_MASK_STALE_MS`]); a `detections` summary
//!   at most once a second per camera (the latest wins); and the `compliance` rate: the
//!   share of face observations with a mask over the window, in whole percent, published
//!   when it changes. Frames whose detection was skipped (no motion) repeat the last
//!   boxes and are not counted again.
//! - `violation.created` → the violation JSON on `violations`, and a request for its
//!   picture (the caller fetches it and publishes the JPEG on `snapshot`).

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value};

use super::topics::{Message, Topics, OFFLINE, ONLINE};

/// Shortest gap between two `detections` summaries of one camera.
pub const SUMMARY_EVERY_MS: i64 = 1000;
/// `no_mask` turns `OFF` when no analysed frame arrived for this long.
pub const NO_MASK_STALE_MS: i64 = 10_000;

/// A violation whose picture should go to the camera's `snapshot` topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRequest {
    /// The camera (as on the bus).
    pub camera_id: String,
    /// The violation.
    pub violation_id: String,
}

/// What to do after an event or tick.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Messages to publish, in order.
    pub messages: Vec<Message>,
    /// Pictures to fetch and publish.
    pub snapshots: Vec<SnapshotRequest>,
}

#[derive(Debug, Default)]
struct Camera {
    name: String,
    /// The retained `state` document, once known.
    state: Option<Value>,
    online: bool,
    no_mask: bool,
    last_frame_at: i64,
    /// Face observations per second: (second, mask, no_mask).
    observations: VecDeque<(i64, u64, u64)>,
    /// The compliance payload last published.
    compliance: Option<String>,
    /// When the last summary went out.
    summary_at: Option<i64>,
    pending_summary: Option<Value>,
    /// Whether discovery was published under the current name.
    announced: bool,
}

/// Every camera's MQTT-visible state.
#[derive(Debug)]
pub struct Tracker {
    topics: Topics,
    window_ms: i64,
    cameras: BTreeMap<String, Camera>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl Tracker {
    /// A tracker publishing under `topics`, with a compliance window of `window_ms`.
    pub fn new(topics: Topics, window_ms: i64) -> Tracker {
        Tracker {
            topics,
            window_ms: window_ms.max(1000),
            cameras: BTreeMap::new(),
        }
    }

    /// The topic layout.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// How many cameras it knows.
    pub fn len(&self) -> usize {
        self.cameras.len()
    }

    /// Whether it knows no camera.
    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
    }

    /// Applies one bus event (type name and JSON payload) seen at `now` (Unix ms).
    pub fn on_event(&mut self, kind: &str, payload: &Value, now: i64) -> Output {
        let mut out = Output::default();
        match kind {
            "camera.state" => {
                if let Some(id) = str_of(payload, "camera_id") {
                    let name = str_of(payload, "name").unwrap_or(id).to_string();
                    self.set_state(id, &name, payload.clone(), &mut out);
                }
            }
            "camera.created" | "camera.updated" => {
                let camera = payload.get("camera").unwrap_or(&Value::Null);
                if let Some(id) = str_of(camera, "id") {
                    let name = str_of(camera, "name").unwrap_or(id).to_string();
                    let status = camera.get("status").cloned().unwrap_or(Value::Null);
                    let mut state = json!({ "camera_id": id, "name": name });
                    if let (Some(state), Some(status)) = (state.as_object_mut(), status.as_object())
                    {
                        state.extend(status.clone());
                    }
                    self.set_state(id, &name, state, &mut out);
                }
            }
            "camera.deleted" => {
                let camera = payload.get("camera").unwrap_or(&Value::Null);
                if let Some(id) = str_of(camera, "id") {
                    self.cameras.remove(id);
                    out.messages.extend(self.topics.forget(id));
                }
            }
            "camera.detections" => self.on_detections(payload, now, &mut out),
            "violation.created" => {
                let violation = payload.get("violation").unwrap_or(&Value::Null);
                if let (Some(camera_id), Some(id)) =
                    (str_of(violation, "camera_id"), str_of(violation, "id"))
                {
                    out.messages.push(Message::live(
                        self.topics.camera(camera_id, "violations"),
                        violation.to_string(),
                    ));
                    out.snapshots.push(SnapshotRequest {
                        camera_id: camera_id.to_string(),
                        violation_id: id.to_string(),
                    });
                }
            }
            _ => {}
        }
        out
    }

    fn camera(&mut self, id: &str, name: &str, out: &mut Output) -> &mut Camera {
        let topics = &self.topics;
        let cam = self.cameras.entry(id.to_string()).or_default();
        if !cam.announced || cam.name != name {
            cam.name = name.to_string();
            cam.announced = true;
            out.messages.extend(topics.discovery(id, name));
        }
        cam
    }

    fn set_state(&mut self, id: &str, name: &str, state: Value, out: &mut Output) {
        let topics = self.topics.clone();
        let cam = self.camera(id, name, out);
        let online = str_of(&state, "state") == Some(ONLINE);
        out.messages.push(Message::retained(
            topics.camera(id, "state"),
            state.to_string(),
        ));
        out.messages.push(Message::retained(
            topics.camera(id, "availability"),
            if online { ONLINE } else { OFFLINE },
        ));
        if !online && cam.no_mask {
            cam.no_mask = false;
            out.messages
                .push(Message::retained(topics.camera(id, "no_mask"), "OFF"));
        }
        cam.online = online;
        cam.state = Some(state);
    }

    fn on_detections(&mut self, payload: &Value, now: i64, out: &mut Output) {
        let Some(id) = str_of(payload, "camera_id") else {
            return;
        };
        let topics = self.topics.clone();
        let window_ms = self.window_ms;
        let known = self.cameras.get(id).map(|c| c.name.clone());
        let cam = self.camera(id, known.as_deref().unwrap_or(id), out);
        let faces = payload
            .get("faces")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let count = |label: &str| {
            faces
                .iter()
                .filter(|f| str_of(f, "label") == Some(label))
                .count() as u64
        };
        let (mask, no_mask, unknown) = (count("mask"), count("no_mask"), count("unknown"));
        let at = payload.get("at").and_then(Value::as_i64).unwrap_or(now);
        cam.last_frame_at = now;

        let present = no_mask > 0;
        if present != cam.no_mask {
            cam.no_mask = present;
            out.messages.push(Message::retained(
                topics.camera(id, "no_mask"),
                if present { "ON" } else { "OFF" },
            ));
        }

        let skipped = payload.get("skipped").and_then(Value::as_bool) == Some(true);
        if !skipped && mask + no_mask > 0 {
            let second = at.div_euclid(1000);
            match cam.observations.back_mut() {
                Some((s, m, n)) if *s == second => {
                    *m += mask;
                    *n += no_mask;
                }
                _ => cam.observations.push_back((second, mask, no_mask)),
            }
        }

        let summary = json!({
            "camera_id": id,
            "at": at,
            "faces": faces.len(),
            "mask": mask,
            "no_mask": no_mask,
            "unknown": unknown,
        });
        if cam.summary_at.is_none_or(|t| now - t >= SUMMARY_EVERY_MS) {
            cam.summary_at = Some(now);
            cam.pending_summary = None;
            out.messages.push(Message::live(
                topics.camera(id, "detections"),
                summary.to_string(),
            ));
        } else {
            cam.pending_summary = Some(summary);
        }
        Self::update_compliance(&topics, id, cam, now, window_ms, out);
    }

    fn update_compliance(
        topics: &Topics,
        id: &str,
        cam: &mut Camera,
        now: i64,
        window_ms: i64,
        out: &mut Output,
    ) {
        let oldest = (now - window_ms).div_euclid(1000);
        while cam
            .observations
            .front()
            .is_some_and(|(s, _, _)| *s < oldest)
        {
            cam.observations.pop_front();
        }
        let (mask, no_mask) = cam
            .observations
            .iter()
            .fold((0u64, 0u64), |(m, n), (_, dm, dn)| (m + dm, n + dn));
        let value = if mask + no_mask == 0 {
            // Home Assistant reads `None` as "unknown": nobody was seen.
            "None".to_string()
        } else {
            let rate = (mask as f64 * 100.0 / (mask + no_mask) as f64).round();
            format!("{rate:.0}")
        };
        if cam.compliance.as_deref() != Some(value.as_str()) {
            out.messages.push(Message::retained(
                topics.camera(id, "compliance"),
                value.clone(),
            ));
            cam.compliance = Some(value);
        }
    }

    /// Time passing: pending summaries go out, old observations leave the compliance
    /// window, and `no_mask` turns `OFF` on a camera that stopped sending frames.
    pub fn tick(&mut self, now: i64) -> Output {
        let mut out = Output::default();
        let topics = self.topics.clone();
        let window_ms = self.window_ms;
        for (id, cam) in &mut self.cameras {
            if cam.summary_at.is_none_or(|t| now - t >= SUMMARY_EVERY_MS) {
                if let Some(summary) = cam.pending_summary.take() {
                    cam.summary_at = Some(now);
                    out.messages.push(Message::live(
                        topics.camera(id, "detections"),
                        summary.to_string(),
                    ));
                }
            }
            if cam.no_mask && now - cam.last_frame_at >= NO_MASK_STALE_MS {
                cam.no_mask = false;
                out.messages
                    .push(Message::retained(topics.camera(id, "no_mask"), "OFF"));
            }
            if !cam.observations.is_empty() {
                Self::update_compliance(&topics, id, cam, now, window_ms, &mut out);
            }
        }
        out
    }

    /// Everything retained, again: after connecting (the broker may have lost it) and
    /// when Home Assistant comes online (it may have lost its entities).
    pub fn republish(&self) -> Vec<Message> {
        let mut out = vec![Message::retained(self.topics.status(), ONLINE)];
        for (id, cam) in &self.cameras {
            out.extend(self.topics.discovery(id, &cam.name));
            if let Some(state) = &cam.state {
                out.push(Message::retained(
                    self.topics.camera(id, "state"),
                    state.to_string(),
                ));
            }
            out.push(Message::retained(
                self.topics.camera(id, "availability"),
                if cam.online { ONLINE } else { OFFLINE },
            ));
            out.push(Message::retained(
                self.topics.camera(id, "no_mask"),
                if cam.no_mask { "ON" } else { "OFF" },
            ));
            if let Some(c) = &cam.compliance {
                out.push(Message::retained(
                    self.topics.camera(id, "compliance"),
                    c.clone(),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Tracker {
        Tracker::new(
            Topics {
                prefix: "v".into(),
                discovery_prefix: "ha".into(),
                discovery: true,
            },
            60_000,
        )
    }

    fn find<'a>(out: &'a Output, topic: &str) -> Vec<&'a str> {
        out.messages
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| std::str::from_utf8(&m.payload).unwrap())
            .collect()
    }

    fn frame(labels: &[&str], at: i64) -> Value {
        let faces: Vec<Value> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| json!({"track": i, "box": [0, 0, 10, 10], "label": l, "score": 0.9}))
            .collect();
        json!({"camera_id": "c1", "at": at, "width": 640, "height": 480, "faces": faces,
               "skipped": false})
    }

    #[test]
    fn state_changes_give_retained_state_availability_and_discovery_once() {
        let mut t = tracker();
        let state = json!({"camera_id": "c1", "name": "Door", "state": "online",
                           "error": null, "since": 5, "fps": 5.0});
        let out = t.on_event("camera.state", &state, 0);
        assert_eq!(find(&out, "v/cameras/c1/availability"), ["online"]);
        assert_eq!(find(&out, "ha/sensor/vigil_c1/compliance/config").len(), 1);
        let doc: Value = serde_json::from_str(find(&out, "v/cameras/c1/state")[0]).unwrap();
        assert_eq!(doc["state"], "online");
        let off = json!({"camera_id": "c1", "name": "Door", "state": "offline",
                         "error": "connection refused", "since": 9, "fps": 0.0});
        let out = t.on_event("camera.state", &off, 1);
        assert_eq!(find(&out, "v/cameras/c1/availability"), ["offline"]);
        assert!(find(&out, "ha/sensor/vigil_c1/compliance/config").is_empty());
        // A rename announces again; a deletion clears every retained topic.
        let renamed = json!({"camera": {"id": "c1", "name": "Front door",
                             "status": {"state": "online", "error": null, "since": 1, "fps": 5.0}}});
        let out = t.on_event("camera.updated", &renamed, 2);
        let doc: Value =
            serde_json::from_str(find(&out, "ha/camera/vigil_c1/snapshot/config")[0]).unwrap();
        assert_eq!(doc["device"]["name"], "Front door");
        let out = t.on_event("camera.deleted", &renamed, 3);
        assert_eq!(find(&out, "ha/binary_sensor/vigil_c1/no_mask/config"), [""]);
        assert_eq!(find(&out, "v/cameras/c1/state"), [""]);
        assert!(t.is_empty());
    }

    #[test]
    fn no_mask_follows_the_latest_frame_and_goes_off_when_frames_stop() {
        let mut t = tracker();
        let out = t.on_event("camera.detections", &frame(&["no_mask", "mask"], 0), 0);
        assert_eq!(find(&out, "v/cameras/c1/no_mask"), ["ON"]);
        let out = t.on_event("camera.detections", &frame(&["no_mask"], 200), 200);
        assert!(
            find(&out, "v/cameras/c1/no_mask").is_empty(),
            "only changes"
        );
        let out = t.on_event("camera.detections", &frame(&["mask"], 400), 400);
        assert_eq!(find(&out, "v/cameras/c1/no_mask"), ["OFF"]);
        t.on_event("camera.detections", &frame(&["no_mask"], 600), 600);
        assert!(find(&t.tick(5_000), "v/cameras/c1/no_mask").is_empty());
        assert_eq!(find(&t.tick(10_600), "v/cameras/c1/no_mask"), ["OFF"]);
    }

    #[test]
    fn summaries_are_at_most_one_a_second_and_the_latest_is_not_lost() {
        let mut t = tracker();
        let topic = "v/cameras/c1/detections";
        let first = t.on_event("camera.detections", &frame(&["mask"], 0), 0);
        assert_eq!(find(&first, topic).len(), 1);
        for ms in [200, 400, 600] {
            let out = t.on_event("camera.detections", &frame(&["mask", "no_mask"], ms), ms);
            assert!(find(&out, topic).is_empty());
        }
        let flushed = t.tick(1_000);
        let doc: Value = serde_json::from_str(find(&flushed, topic)[0]).unwrap();
        assert_eq!(
            (doc["faces"].as_u64(), doc["no_mask"].as_u64()),
            (Some(2), Some(1))
        );
        assert!(find(&t.tick(2_500), topic).is_empty(), "nothing new to say");
    }

    #[test]
    fn compliance_is_the_masked_share_over_the_window() {
        let mut t = tracker();
        let topic = "v/cameras/c1/compliance";
        let out = t.on_event("camera.detections", &frame(&["mask", "mask", "mask"], 0), 0);
        assert_eq!(find(&out, topic), ["100"]);
        let out = t.on_event("camera.detections", &frame(&["no_mask"], 2_000), 2_000);
        assert_eq!(find(&out, topic), ["75"]);
        // Skipped frames repeat boxes: not counted again.
        let mut skipped = frame(&["no_mask"], 3_000);
        skipped["skipped"] = json!(true);
        assert!(find(&t.on_event("camera.detections", &skipped, 3_000), topic).is_empty());
        // The window moves on: the masked faces at 0 s leave first, then everyone.
        assert_eq!(find(&t.tick(61_000), topic), ["0"]);
        assert_eq!(find(&t.tick(63_000), topic), ["None"]);
    }

    #[test]
    fn violations_are_published_with_a_snapshot_request_and_republish_covers_all() {
        let mut t = tracker();
        let v = json!({"violation": {"id": "v9", "camera_id": "c1", "camera_name": "Door",
                       "at": 1, "track": 3, "score": 0.9}});
        let out = t.on_event("violation.created", &v, 0);
        let doc: Value = serde_json::from_str(find(&out, "v/cameras/c1/violations")[0]).unwrap();
        assert_eq!(doc["id"], "v9");
        assert!(!out
            .messages
            .iter()
            .any(|m| m.retain && m.topic.ends_with("violations")));
        assert_eq!(
            out.snapshots,
            [SnapshotRequest {
                camera_id: "c1".into(),
                violation_id: "v9".into()
            }]
        );
        t.on_event("camera.detections", &frame(&["mask"], 0), 0);
        let all = t.republish();
        assert_eq!(all[0].topic, "v/status");
        assert!(all
            .iter()
            .any(|m| m.topic == "ha/camera/vigil_c1/snapshot/config"));
        assert!(all.iter().any(|m| m.topic == "v/cameras/c1/compliance"));
        assert!(all.iter().all(|m| m.retain));
    }
}
