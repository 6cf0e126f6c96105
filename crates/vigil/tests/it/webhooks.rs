//! Webhooks end to end: a real receiver (an axum server on loopback) checks every
//! request's signature and timestamp with its own HMAC-SHA256, fails twice then
//! succeeds, and the event arrives once with the delivery log showing three attempts;
//! URLs the network guard refuses are 422; the secret is shown once; the test endpoint
//! reports the receiver's answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use vigil_core::cameras::CameraState;

use crate::harness::{camera_events as events, databases, TestServer};

const CAM: &str = "0123456789abcdef0123456789abcdef";
const VIO1: &str = "00000000000000000000000000000001";
const VIO2: &str = "00000000000000000000000000000002";
const VIO3: &str = "00000000000000000000000000000003";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// A receiver answering the statuses of `script` in turn (then the last one).
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<u16>>>,
    calls: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    r.got.lock().expect("lock").push(Received { headers, body });
    let n = r.calls.fetch_add(1, Ordering::SeqCst);
    let script = r.script.lock().expect("lock");
    let code = script.get(n).or(script.last()).copied().unwrap_or(200);
    AxumStatus::from_u16(code).expect("a status code")
}

impl Receiver {
    /// Serves on a random loopback port; returns its address.
    async fn start(script: Vec<u16>) -> (Receiver, SocketAddr) {
        let receiver = Receiver {
            got: Arc::default(),
            script: Arc::new(Mutex::new(script)),
            calls: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    /// From now on, answers the statuses of `script` in turn.
    fn answer(&self, script: Vec<u16>) {
        *self.script.lock().expect("lock") = script;
        self.calls.store(0, Ordering::SeqCst);
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits until `n` requests arrived.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests, expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// HMAC-SHA256 written out from RFC 2104, so the check does not reuse Vigil's code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// What a receiver does: the signature over "{timestamp}.{body}" must match, and the
/// timestamp must be within five minutes of now.
fn verify(secret: &str, request: &Received) -> Result<(), String> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("no {name} header"))
    };
    let timestamp: i64 = header("x-vigil-timestamp")?
        .parse()
        .map_err(|_| "bad timestamp".to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock")
        .as_secs() as i64;
    if (now - timestamp).abs() > 300 {
        return Err(format!("timestamp {timestamp} is too far from {now}"));
    }
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let expected = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &signed))
    );
    if header("x-vigil-signature")? != expected {
        return Err("signature mismatch".into());
    }
    Ok(())
}

async fn loopback_server(db: crate::harness::Db) -> TestServer {
    TestServer::start_with(db, |s| {
        s.cameras.allowed_networks = vec!["127.0.0.1/32".parse().expect("a CIDR")];
        s.webhooks.retry_secs = vec![1];
        s.webhooks.max_attempts = 5;
        s.webhooks.timeout_secs = 5;
    })
    .await
}

async fn deliveries(ts: &TestServer, id: &str) -> Vec<Value> {
    let log = ts
        .get_json(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await;
    log.as_array().expect("a list").clone()
}

/// Waits until the webhook's one delivery is `delivered`; returns its log entry.
async fn delivered(ts: &TestServer, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(ts, id).await;
        assert_eq!(log.len(), 1, "one delivery: {log:?}");
        if log[0]["status"] == "delivered" {
            return log[0].clone();
        }
        assert!(Instant::now() < deadline, "never delivered: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a webhook (the answer must be 201); returns the answer.
async fn create(ts: &TestServer, body: Value) -> Value {
    let resp = ts
        .client
        .post(ts.url("/api/v1/webhooks"))
        .json(&body)
        .send()
        .await
        .expect("POST webhook");
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.expect("JSON")
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_once_after_retries_signed_and_logged() {
    for db in databases() {
        let (receiver, addr) = Receiver::start(vec![500, 500, 200]).await;
        let ts = loopback_server(db).await;
        let created = create(
            &ts,
            json!({
                "name": "alarm desk",
                "url": format!("http://alarm:s3cret@{addr}/hook?token=abc"),
                "event_types": ["violation."]
            }),
        )
        .await;
        let secret = created["secret"]
            .as_str()
            .expect("secret shown once")
            .to_string();
        assert!(secret.len() >= 32, "a generated secret is long: {secret}");
        let id = created["webhook"]["id"].as_str().unwrap().to_string();
        let shown = created["webhook"]["url"].as_str().unwrap();
        assert!(
            !shown.contains("s3cret") && !shown.contains("abc"),
            "the URL is shown redacted: {shown}"
        );
        // Never again: not in the listing, not in the record.
        let one = ts.get_json(&format!("/api/v1/webhooks/{id}")).await;
        assert!(one.get("secret").is_none(), "{one}");
        let listing = ts.get_json("/api/v1/webhooks").await.to_string();
        assert!(!listing.contains(&secret) && !listing.contains("s3cret"));

        // An event it does not want, then one it does.
        ts.publish(events::state(CAM, "Entrance", CameraState::Online, None))
            .await;
        let event_id = ts.publish(events::violation(VIO1, CAM)).await;

        let got = receiver.wait_for(3, Duration::from_secs(30)).await;
        let delivery_id = got[0].headers["x-vigil-delivery"].clone();
        for request in &got {
            verify(&secret, request).unwrap();
            assert_eq!(request.headers["x-vigil-event"], "violation.created");
            assert_eq!(
                request.headers["x-vigil-delivery"], delivery_id,
                "one delivery, retried"
            );
            assert_eq!(request.headers["content-type"], "application/json");
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["id"], event_id);
            assert_eq!(body["type"], "violation.created");
            assert_eq!(body["payload"]["violation"]["id"], VIO1);
            assert_eq!(body["payload"]["violation"]["camera_id"], CAM);
            assert!(body["at"].as_i64().is_some());
        }
        // A forged body or an altered timestamp fails the receiver's check.
        let mut forged = got[2].clone();
        forged.body = Bytes::from_static(b"{\"id\":1}");
        assert!(verify(&secret, &forged).is_err());
        let mut replayed = got[2].clone();
        replayed
            .headers
            .insert("x-vigil-timestamp", "1700000000".parse().unwrap());
        assert!(verify(&secret, &replayed).is_err());

        // The log: one delivery, three attempts, the last answered 200.
        let entry = delivered(&ts, &id).await;
        assert_eq!(entry["attempts"], 3);
        assert_eq!(entry["last_status_code"], 200);
        assert_eq!(entry["event_type"], "violation.created");
        assert_eq!(entry["event_id"], event_id);
        assert_eq!(entry["id"], delivery_id.to_str().unwrap());
        assert!(entry["delivered_at"].as_i64().is_some());
        assert!(entry["next_attempt_at"].is_null());

        // Nothing more arrives: exactly once.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(receiver.got().len(), 3);
        ts.stop().await;
    }
}

#[tokio::test]
async fn urls_to_this_machine_or_cloud_metadata_are_refused_with_422() {
    let ts = TestServer::start(crate::harness::Db::Sqlite).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://localhost:9/hook",
        "ftp://example.com/hook",
        "http://example.com/a b",
    ] {
        let resp = ts
            .client
            .post(ts.url("/api/v1/webhooks"))
            .json(&json!({"name": "x", "url": url, "event_types": ["violation."]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let body: Value = resp.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("url:"), "{url}: {message}");
    }
    let refused: Value = ts
        .client
        .post(ts.url("/api/v1/webhooks"))
        .json(&json!({"name": "x", "url": "http://169.254.169.254/", "event_types": ["a."]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("metadata"), "{message}");
    // Other mistakes say what is wrong.
    for (body, word) in [
        (
            json!({"name": "x", "url": "http://192.0.2.1/", "event_types": []}),
            "event_types",
        ),
        (
            json!({"name": "", "url": "http://192.0.2.1/", "event_types": ["a."]}),
            "name",
        ),
        (
            json!({"name": "x", "url": "http://192.0.2.1/", "event_types": ["a."], "secret": "short"}),
            "secret",
        ),
    ] {
        let resp = ts
            .client
            .post(ts.url("/api/v1/webhooks"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(word),
            "{answer}"
        );
    }
    assert!(ts
        .get_json("/api/v1/webhooks")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    ts.stop().await;
}

#[tokio::test]
async fn the_allowance_lets_loopback_in_but_never_vigil_itself() {
    let ts = TestServer::start_with(crate::harness::Db::Sqlite, |s| {
        s.cameras.allowed_networks = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let resp = ts
        .client
        .post(ts.url("/api/v1/webhooks"))
        .json(&json!({"name": "loop", "url": ts.url("/api/v1/events"), "event_types": ["a."]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Vigil itself"),
        "{body}"
    );
    ts.stop().await;
}

#[tokio::test]
async fn test_patch_and_delete_a_webhook() {
    let (receiver, addr) = Receiver::start(vec![200, 503]).await;
    let ts = loopback_server(crate::harness::Db::Sqlite).await;
    let secret = "a-chosen-secret-0123456789";
    let created = create(
        &ts,
        json!({"name": "desk", "url": format!("http://{addr}/hook"),
                      "event_types": ["camera.state"], "secret": secret}),
    )
    .await;
    assert_eq!(created["secret"], secret);
    let id = created["webhook"]["id"].as_str().unwrap().to_string();

    let ok: Value = ts
        .client
        .post(ts.url(&format!("/api/v1/webhooks/{id}/test")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["status_code"], 200);
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    verify(secret, &got[0]).unwrap();
    assert_eq!(got[0].headers["x-vigil-event"], "webhook.test");
    let failed: Value = ts
        .client
        .post(ts.url(&format!("/api/v1/webhooks/{id}/test")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["status_code"], 503);
    assert!(
        deliveries(&ts, &id).await.is_empty(),
        "tests are not logged"
    );

    let patched: Value = ts
        .client
        .patch(ts.url(&format!("/api/v1/webhooks/{id}")))
        .json(&json!({"enabled": false, "event_types": ["violation.", "camera.state"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["enabled"], false);
    assert_eq!(
        patched["event_types"],
        json!(["violation.", "camera.state"])
    );
    // Disabled: events are not delivered.
    ts.publish(events::violation(VIO2, CAM)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.got().len(), 2);
    assert!(deliveries(&ts, &id).await.is_empty());

    let bad = ts
        .client
        .patch(ts.url(&format!("/api/v1/webhooks/{id}")))
        .json(&json!({"url": "http://169.254.169.254/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let gone = ts
        .client
        .delete(ts.url(&format!("/api/v1/webhooks/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let missing = ts
        .client
        .get(ts.url(&format!("/api/v1/webhooks/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Every change is in the audit log, without the secret.
    let audit = ts.get_json("/api/v1/audit?action=webhook.&limit=10").await;
    let text = audit.to_string();
    for action in ["webhook.create", "webhook.update", "webhook.delete"] {
        assert!(text.contains(action), "{action} missing: {text}");
    }
    assert!(!text.contains(secret));
    ts.stop().await;
}

#[tokio::test]
async fn queued_deliveries_survive_a_restart() {
    let (receiver, addr) = Receiver::start(vec![500]).await;
    let data = tempfile::tempdir().unwrap();
    let adjust = |s: &mut vigil_config::Settings| {
        s.data_dir = data.path().to_path_buf();
        s.cameras.allowed_networks = vec!["127.0.0.1/32".parse().unwrap()];
        s.webhooks.retry_secs = vec![1];
        s.webhooks.max_attempts = 50;
    };
    let first = TestServer::start_with(crate::harness::Db::Sqlite, adjust).await;
    let created = create(
        &first,
        json!({"name": "desk", "url": format!("http://{addr}/hook"),
                      "event_types": ["violation."]}),
    )
    .await;
    let (id, secret) = (
        created["webhook"]["id"].as_str().unwrap().to_string(),
        created["secret"].as_str().unwrap().to_string(),
    );
    first.publish(events::violation(VIO3, CAM)).await;
    receiver.wait_for(2, Duration::from_secs(20)).await;
    // Stopped while the receiver keeps failing: the delivery stays queued.
    first.stop().await;
    let failed = receiver.got().len();
    receiver.answer(vec![200]);

    let second = TestServer::start_with(crate::harness::Db::Sqlite, adjust).await;
    let got = receiver.wait_for(failed + 1, Duration::from_secs(20)).await;
    let entry = delivered(&second, &id).await;
    assert_eq!(
        entry["attempts"],
        failed + 1,
        "every attempt counted across the restart"
    );
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let got_after = receiver.got();
    assert_eq!(got_after.len(), failed + 1, "delivered once");
    for request in &got {
        verify(&secret, request).unwrap();
        assert_eq!(
            request.headers["x-vigil-delivery"],
            got[0].headers["x-vigil-delivery"]
        );
    }
    second.stop().await;
}
