//! The event bus end to end: Server-Sent Events with `Last-Event-ID` resume, role
//! filtering, the WebSocket and its Origin check, delivery across two `vigil serve`
//! processes on one PostgreSQL and on one Redis, and the auth cache dropping revoked
//! credentials at once on every instance.

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite;

use crate::harness::{
    databases, drop_pg_database, fresh_pg_database, postgres_url, redis_url, vigil, ChildServer,
    Db, TestServer,
};

const PASSWORD: &str = "correct horse battery staple";

/// How long a test waits for an event that should come.
const ARRIVES: Duration = Duration::from_secs(10);

/// How long a test listens to be sure an event does not come.
const QUIET: Duration = Duration::from_millis(1500);

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct Frame {
    id: Option<i64>,
    data: Value,
}

/// A Server-Sent Events reader over a streaming response.
struct Sse {
    body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<bytes_compat::Bytes>> + Send>,
    >,
    buffer: String,
}

impl Sse {
    /// Subscribes at `url` (a full URL) with `client`, resuming after `last_id`.
    async fn connect(client: &reqwest::Client, url: &str, last_id: Option<i64>) -> Sse {
        let mut req = client.get(url);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = req.send().await.expect("subscribe");
        assert_eq!(resp.status(), StatusCode::OK, "subscribing to {url}");
        assert!(resp.headers()["content-type"]
            .to_str()
            .expect("content type")
            .starts_with("text/event-stream"));
        Sse {
            body: Box::pin(resp.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or `None` after `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame {
                    id: None,
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        frame.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                frame.data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(frame);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            let chunk = chunk.expect("event stream chunk");
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    /// The next event, which must come.
    async fn expect(&mut self) -> Frame {
        self.next(ARRIVES).await.expect("an event arrives")
    }
}

/// Creates a user through the admin API (an `audit.user.create` event) with `client`, an
/// admin person's session; returns its id.
async fn create_user(client: &reqwest::Client, base: &str, name: &str, role: &str) -> String {
    let resp = client
        .post(format!("{base}/api/v1/users"))
        .json(&json!({"username": name, "password": PASSWORD, "role": role}))
        .send()
        .await
        .expect("create user");
    assert_eq!(resp.status(), StatusCode::CREATED, "creating {name}");
    let body: Value = resp.json().await.expect("user JSON");
    body["id"].as_str().expect("user id").to_string()
}

/// Creates an API key with `role` as the admin person `session` is signed in as (API
/// keys cannot create keys); returns (key, id).
async fn create_key(session: &reqwest::Client, base: &str, role: &str) -> (String, String) {
    let resp = session
        .post(format!("{base}/api/v1/apikeys"))
        .json(&json!({"name": format!("{role} app"), "role": role}))
        .send()
        .await
        .expect("create key");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.expect("key JSON");
    (
        body["key"].as_str().expect("key").to_string(),
        body["api_key"]["id"].as_str().expect("key id").to_string(),
    )
}

/// Signs `name` in; returns the `Cookie` header value.
async fn sign_in(base: &str, name: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()[SET_COOKIE]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie pair")
        .to_string()
}

/// `GET /api/v1/auth/me` status with an API key.
async fn me_with_key(base: &str, key: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/auth/me"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("me")
        .status()
}

/// `GET /api/v1/auth/me` status with a session cookie.
async fn me_with_cookie(base: &str, cookie: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/auth/me"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("me")
        .status()
}

#[tokio::test]
async fn sse_delivers_audit_events_and_resumes_after_the_last_event_id() {
    for db in databases() {
        let ts = TestServer::start(db).await;
        let admin = ts.admin_session().await;
        let url = ts.url("/api/v1/events?types=audit.");
        let mut live = Sse::connect(&ts.client, &url, None).await;
        let first_user = create_user(&admin, &ts.url(""), "evelyn", "viewer").await;
        let first = live.expect().await;
        assert_eq!(first.data["type"], "audit.user.create", "{db:?}");
        assert_eq!(first.data["payload"]["target_id"], first_user.as_str());
        assert_eq!(first.data["min_role"], "admin");
        let first_id = first.id.expect("events carry an id");
        assert_eq!(first.data["id"], first_id);
        drop(live);

        // Missed while away: exactly these two come back, in order, then nothing else.
        let missed = [
            create_user(&admin, &ts.url(""), "frank", "viewer").await,
            create_user(&admin, &ts.url(""), "grace", "viewer").await,
        ];
        let mut resumed = Sse::connect(&ts.client, &url, Some(first_id)).await;
        let again = [resumed.expect().await, resumed.expect().await];
        let targets: Vec<&str> = again
            .iter()
            .map(|f| f.data["payload"]["target_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            targets,
            missed.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(again[0].id.unwrap() > first_id && again[1].id.unwrap() > again[0].id.unwrap());
        assert!(
            resumed.next(QUIET).await.is_none(),
            "nothing beyond the two missed"
        );

        // The same through the query parameter; and live events follow the replay.
        let mut by_query = Sse::connect(
            &ts.client,
            &format!("{url}&last_event_id={}", again[0].id.unwrap()),
            None,
        )
        .await;
        assert_eq!(by_query.expect().await.id, again[1].id);
        create_user(&admin, &ts.url(""), "heidi", "viewer").await;
        let live_again = by_query.expect().await;
        assert!(live_again.id.unwrap() > again[1].id.unwrap());
        assert_eq!(resumed.expect().await.id, live_again.id);

        // A type filter that matches nothing delivers nothing.
        let mut cameras =
            Sse::connect(&ts.client, &ts.url("/api/v1/events?types=camera."), Some(0)).await;
        assert!(cameras.next(QUIET).await.is_none());

        // A bad resume id is our JSON error.
        let resp = ts
            .client
            .get(ts.url("/api/v1/events"))
            .header("last-event-id", "yesterday")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request");
        ts.stop().await;
    }
}

#[tokio::test]
async fn a_viewers_stream_never_carries_admin_only_events() {
    let ts = TestServer::start(Db::Sqlite).await;
    let base = ts.url("");
    let admin = ts.admin_session().await;
    let (viewer_key, _) = create_key(&admin, &base, "viewer").await;
    let viewer = crate::harness::client_with_key(&viewer_key);
    let mut as_viewer = Sse::connect(&viewer, &ts.url("/api/v1/events"), Some(0)).await;
    let mut as_admin = Sse::connect(&ts.client, &ts.url("/api/v1/events"), None).await;
    create_user(&admin, &base, "ivan", "viewer").await;
    assert_eq!(as_admin.expect().await.data["type"], "audit.user.create");
    // The admin has seen it, so it has been delivered: the viewer got nothing, neither
    // live nor from the replay of everything since id 0 (which includes the key's
    // creation).
    assert!(as_viewer.next(QUIET).await.is_none());
    ts.stop().await;
}

/// A WebSocket handshake request for `url` with extra headers.
fn ws_request(url: &str, headers: &[(&str, &str)]) -> tungstenite::handshake::client::Request {
    use tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().expect("ws request");
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            v.parse().expect("header value"),
        );
    }
    req
}

#[tokio::test]
async fn websocket_delivers_events_and_refuses_a_foreign_origin() {
    let ts = TestServer::start(Db::Sqlite).await;
    let base = ts.url("");
    let admin = ts.admin_session().await;
    let ws_url = format!("ws://{}/api/v1/events/ws?types=audit.user.", ts.addr);

    let (mut socket, _) = tokio_tungstenite::connect_async(ws_request(
        &ws_url,
        &[("x-api-key", ts.api_key.as_str())],
    ))
    .await
    .expect("WebSocket with an API key");
    let id = create_user(&admin, &base, "judy", "admin").await;
    let message = tokio::time::timeout(ARRIVES, socket.next())
        .await
        .expect("a message arrives")
        .expect("stream open")
        .expect("message");
    let event: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(event["type"], "audit.user.create");
    assert_eq!(event["payload"]["target_id"], id.as_str());
    socket.close(None).await.unwrap();

    // A browser session: our own origin is let in, another site's is refused.
    let cookie = sign_in(&base, "judy").await;
    let own = format!("http://{}", ts.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_request(
        &ws_url,
        &[("cookie", cookie.as_str()), ("origin", own.as_str())],
    ))
    .await
    .expect("WebSocket from our own page");
    socket.close(None).await.unwrap();
    let refused = tokio_tungstenite::connect_async(ws_request(
        &ws_url,
        &[
            ("cookie", cookie.as_str()),
            ("origin", "https://evil.example"),
        ],
    ))
    .await;
    let Err(tungstenite::Error::Http(resp)) = refused else {
        panic!("a foreign Origin must be refused: {refused:?}");
    };
    assert_eq!(resp.status(), 403);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["error"]["code"], "csrf_failed");

    // Without credentials: 401, in our shape.
    let anonymous = tokio_tungstenite::connect_async(ws_request(&ws_url, &[])).await;
    let Err(tungstenite::Error::Http(resp)) = anonymous else {
        panic!("an anonymous handshake must be refused");
    };
    assert_eq!(resp.status(), 401);
    ts.stop().await;
}

/// Two `vigil serve` processes started with `env` (plus a data directory each).
fn two_servers(env: &[(&str, String)]) -> (ChildServer, ChildServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |name: &str| {
        let mut cmd: Command = vigil();
        for (k, v) in env {
            cmd.env(k, v);
        }
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).expect("data dir");
        ChildServer::start_cmd(cmd, &data)
    };
    let a = start("a");
    let b = start("b");
    (a, b, dir)
}

/// An event caused on `a` reaches a subscriber of `b`; a key revoked on `a` stops
/// working on `b` (which had it cached) within a second.
async fn events_and_revocations_cross_instances(a: &ChildServer, b: &ChildServer) {
    let (a_url, b_url) = (a.url(""), b.url(""));
    let admin = a.admin_session("alice").await;
    let mut on_b = Sse::connect(&b.client(), &b.url("/api/v1/events?types=audit."), None).await;
    let id = create_user(&admin, &a_url, "mallory", "viewer").await;
    let frame = on_b.expect().await;
    assert_eq!(frame.data["payload"]["target_id"], id.as_str());
    assert_eq!(frame.data["type"], "audit.user.create");

    // A key B has just verified (and cached) is revoked on A.
    let (key, key_id) = create_key(&admin, &a_url, "viewer").await;
    assert_eq!(me_with_key(&b_url, &key).await, StatusCode::OK);
    assert_eq!(me_with_key(&b_url, &key).await, StatusCode::OK);
    let r = a
        .client()
        .delete(format!("{a_url}/api/v1/apikeys/{key_id}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me_with_key(&a_url, &key).await, StatusCode::UNAUTHORIZED);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut status = me_with_key(&b_url, &key).await;
    while status == StatusCode::OK && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = me_with_key(&b_url, &key).await;
    }
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "B refuses the revoked key"
    );
}

/// Environment for child servers whose auth cache would outlive the test without
/// invalidation (so only the event bus can explain a refusal).
fn long_cache() -> (&'static str, String) {
    ("VIGIL_AUTH__CACHE_SECS", "60".to_string())
}

#[tokio::test]
async fn two_servers_on_one_postgres_share_events_and_revocations() {
    let Some(admin) = postgres_url() else {
        eprintln!("note: PostgreSQL event test skipped (set VIGIL_TEST_DATABASE_URL)");
        return;
    };
    let url = fresh_pg_database(&admin).await;
    let (a, b, _dir) = two_servers(&[("DATABASE_URL", url.clone()), long_cache()]);
    events_and_revocations_cross_instances(&a, &b).await;
    drop((a, b));
    drop_pg_database(&admin, &url).await;
}

#[tokio::test]
async fn two_servers_with_their_own_sqlite_share_events_over_redis() {
    let Some(redis) = redis_url() else {
        eprintln!("note: Redis event test skipped (set VIGIL_TEST_REDIS_URL)");
        return;
    };
    // A channel of its own, so parallel runs on one Redis do not see each other.
    let channel = format!(
        "vigil:test:events:{}",
        hex::encode(rand::random::<[u8; 6]>())
    );
    let (a, b, _dir) = two_servers(&[
        ("VIGIL_REDIS_URL", redis),
        ("VIGIL_EVENTS__REDIS_CHANNEL", channel),
    ]);
    // With separate databases the key revoked on A does not exist on B; only the
    // event delivery is shared.
    let (a_url, b_url) = (a.url(""), b.url(""));
    let (admin_a, admin_b) = (a.admin_session("alice").await, b.admin_session("bob").await);
    let mut on_b = Sse::connect(&b.client(), &b.url("/api/v1/events?types=audit."), None).await;
    let id = create_user(&admin_a, &a_url, "niaj", "viewer").await;
    let frame = on_b.expect().await;
    assert_eq!(frame.data["type"], "audit.user.create");
    assert_eq!(frame.data["payload"]["target_id"], id.as_str());
    // B keeps it in its own table under its own id: a late subscriber replays it.
    let mut late = Sse::connect(&b.client(), &format!("{b_url}/api/v1/events"), Some(0)).await;
    let mut replayed = Vec::new();
    while let Some(f) = late.next(QUIET).await {
        replayed.push(f.data["payload"]["target_id"].clone());
    }
    assert_eq!(replayed.iter().filter(|t| **t == id.as_str()).count(), 1);
    // And B's own events reach A, each once.
    let mut on_a = Sse::connect(&a.client(), &a.url("/api/v1/events?types=audit."), None).await;
    let other = create_user(&admin_b, &b_url, "olivia", "viewer").await;
    assert_eq!(
        on_a.expect().await.data["payload"]["target_id"],
        other.as_str()
    );
    assert!(on_a.next(QUIET).await.is_none(), "delivered once");
}

#[tokio::test]
async fn the_auth_cache_forgets_revoked_disabled_and_signed_out_credentials_at_once() {
    let ts = TestServer::start_with(Db::Sqlite, |s| s.auth.cache_secs = 60).await;
    let base = ts.url("");
    let admin = ts.admin_session().await;
    // A revoked key.
    let (key, key_id) = create_key(&admin, &base, "viewer").await;
    assert_eq!(me_with_key(&base, &key).await, StatusCode::OK);
    assert_eq!(me_with_key(&base, &key).await, StatusCode::OK);
    let r = ts
        .client
        .delete(ts.url(&format!("/api/v1/apikeys/{key_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me_with_key(&base, &key).await, StatusCode::UNAUTHORIZED);

    // A disabled user.
    let user = create_user(&admin, &base, "peggy", "operator").await;
    let cookie = sign_in(&base, "peggy").await;
    assert_eq!(me_with_cookie(&base, &cookie).await, StatusCode::OK);
    let r = admin
        .patch(ts.url(&format!("/api/v1/users/{user}")))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        me_with_cookie(&base, &cookie).await,
        StatusCode::UNAUTHORIZED
    );

    // A session that signed out.
    create_user(&admin, &base, "quentin", "viewer").await;
    let cookie = sign_in(&base, "quentin").await;
    let me: Value = reqwest::Client::new()
        .get(ts.url("/api/v1/auth/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().map(str::to_string);
    let mut logout = reqwest::Client::new()
        .post(ts.url("/api/v1/auth/logout"))
        .header(COOKIE, &cookie)
        .header("origin", format!("http://{}", ts.addr));
    if let Some(token) = &csrf {
        logout = logout.header("x-csrf-token", token);
    }
    assert_eq!(
        logout.send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        me_with_cookie(&base, &cookie).await,
        StatusCode::UNAUTHORIZED
    );
    ts.stop().await;
}

/// In production the origin is `auth.public_url`, not whatever the `Host` header says: a
/// DNS-rebinding page reaches the server under its own name with a matching `Host`, so a
/// write or WebSocket handshake from it must still be refused.
#[tokio::test]
async fn in_production_browser_writes_and_websockets_must_come_from_the_public_url() {
    let public = "https://vigil.example.com";
    let ts = TestServer::start_with(Db::Sqlite, |s| {
        s.profile = vigil_config::Profile::Production;
        s.auth.public_url = Some(public.into());
    })
    .await;
    let base = ts.url("");
    ts.add_person("vic", vigil_auth::Role::Viewer, PASSWORD)
        .await;
    let cookie = sign_in(&base, "vic").await;
    let rebound = format!("http://{}", ts.addr);

    let login = |origin: &str| {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/login"))
            .header("origin", origin)
            .json(&json!({"username": "vic", "password": PASSWORD}))
            .send()
    };
    let refused = login(&rebound).await.expect("login");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "csrf_failed", "{body}");
    assert_eq!(login(public).await.expect("login").status(), StatusCode::OK);

    let ws_url = format!("ws://{}/api/v1/events/ws", ts.addr);
    let handshake = |origin: &str| {
        tokio_tungstenite::connect_async(ws_request(
            &ws_url,
            &[("cookie", cookie.as_str()), ("origin", origin)],
        ))
    };
    let Err(tungstenite::Error::Http(resp)) = handshake(&rebound).await else {
        panic!("a handshake from the Host-header origin must be refused in production");
    };
    assert_eq!(resp.status(), 403);
    let (mut socket, _) = handshake(public)
        .await
        .expect("WebSocket from the public URL's page");
    socket.close(None).await.expect("close");
    ts.stop().await;
}
