//! API keys answer to the person who made them: they stop when the creator is disabled
//! or deleted, act with at most the creator's current role, and admin keys always expire.
//! Real server, real databases, the auth cache on (so invalidation is what is tested).

use std::time::{Duration, Instant};

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_auth::Role;

use crate::harness::{client_with_key, databases, vigil, TestServer};
use crate::identity::{add_user, sign_in, Session};

const DAY_MS: i64 = 86_400_000;

/// Creates a key as the signed-in person; returns the response status and body.
async fn create_as(ts: &TestServer, session: &Session, body: Value) -> (StatusCode, Value) {
    let resp = ts
        .anon
        .post(ts.url("/api/v1/apikeys"))
        .header(COOKIE, &session.cookie)
        .header("x-csrf-token", &session.csrf)
        .header("origin", format!("http://{}", ts.addr))
        .json(&body)
        .send()
        .await
        .expect("create key");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The status of an admin-only request (`GET /api/v1/users`) made with `key`.
async fn admin_route(ts: &TestServer, key: &str) -> StatusCode {
    client_with_key(key)
        .get(ts.url("/api/v1/users"))
        .send()
        .await
        .expect("request")
        .status()
}

/// The status of an operator request (an upload) made with `key`.
async fn operator_route(ts: &TestServer, key: &str) -> StatusCode {
    client_with_key(key)
        .post(ts.url("/api/v1/uploads"))
        .body(crate::harness::png(1))
        .send()
        .await
        .expect("request")
        .status()
}

/// Waits up to a second for `key` to be refused (401); returns how long it took.
async fn refused_within_a_second(ts: &TestServer, key: &str) -> Duration {
    let start = Instant::now();
    loop {
        let status = admin_route(ts, key).await;
        if status == StatusCode::UNAUTHORIZED {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the key still answers {status} a second later"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET path` with the harness's admin key, as JSON.
async fn get_json(ts: &TestServer, path: &str) -> Value {
    let resp = ts.client.get(ts.url(path)).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.expect("json")
}

/// The console's API keys page as `session` sees it.
async fn keys_page(ts: &TestServer, session: &Session) -> String {
    let resp = ts
        .anon
        .get(ts.url("/admin/apikeys"))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .expect("keys page");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.expect("html")
}

/// Changes a user as a new admin person (API keys cannot).
async fn patch_user(ts: &TestServer, id: &str, body: Value) {
    let r = ts
        .admin_session()
        .await
        .patch(ts.url(&format!("/api/v1/users/{id}")))
        .json(&body)
        .send()
        .await
        .expect("patch user");
    assert_eq!(r.status(), StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_key_follows_its_creator_disable_demotion_and_deletion() {
    for db in databases() {
        // A long cache: the key must stop because the cache is told, not because it ages.
        let ts = TestServer::start_with(db, |s| s.auth.cache_secs = 60).await;
        add_user(&ts, "root", Role::Admin).await;
        let root = sign_in(&ts, "root").await;
        let alice = add_user(&ts, "alice", Role::Admin).await.id;
        let session = sign_in(&ts, "alice").await;
        let (status, created) = create_as(
            &ts,
            &session,
            json!({"name": "alice's robot", "role": "admin"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{db:?} {created}");
        let key = created["key"].as_str().expect("key").to_string();
        assert_eq!(created["api_key"]["created_by"], alice.as_str());
        // The key cannot make keys of its own (a leaked key must not mint successors;
        // see vigil_core::reauth); alice makes a second one herself.
        let by_key = client_with_key(&key)
            .post(ts.url("/api/v1/apikeys"))
            .json(&json!({"name": "grandchild", "role": "operator"}))
            .send()
            .await
            .expect("create with key");
        assert_eq!(by_key.status(), StatusCode::FORBIDDEN);
        let (status, second) = create_as(
            &ts,
            &session,
            json!({"name": "alice's camera", "role": "operator"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        let child = second["key"].as_str().expect("second key").to_string();
        assert_eq!(second["api_key"]["created_by"], alice.as_str());
        // Warm the cache.
        for _ in 0..2 {
            assert_eq!(admin_route(&ts, &key).await, StatusCode::OK);
            assert_eq!(operator_route(&ts, &child).await, StatusCode::CREATED);
        }

        // Disabled: both keys stop within a second; enabled again, they work again.
        patch_user(&ts, &alice, json!({"disabled": true})).await;
        let took = refused_within_a_second(&ts, &key).await;
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert_eq!(operator_route(&ts, &child).await, StatusCode::UNAUTHORIZED);
        let page = keys_page(&ts, &root).await;
        assert_eq!(
            page.matches("suspended (creator disabled)").count(),
            2,
            "{page}"
        );
        patch_user(&ts, &alice, json!({"disabled": false})).await;
        assert_eq!(admin_route(&ts, &key).await, StatusCode::OK);

        // Demoted to operator: the admin key acts as an operator.
        patch_user(&ts, &alice, json!({"role": "operator"})).await;
        assert_eq!(admin_route(&ts, &key).await, StatusCode::FORBIDDEN);
        assert_eq!(operator_route(&ts, &key).await, StatusCode::CREATED);
        let me: Value = client_with_key(&key)
            .get(ts.url("/api/v1/auth/me"))
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["role"], "operator", "{me}");
        let page = keys_page(&ts, &root).await;
        assert!(page.contains("acts as operator"), "{page}");

        // Deleted: the keys stop within a second and are listed as revoked, audited.
        let r = ts
            .client
            .delete(ts.url(&format!("/api/v1/users/{alice}")))
            .send()
            .await
            .expect("delete user");
        assert!(r.status().is_success(), "{}", r.status());
        refused_within_a_second(&ts, &key).await;
        assert_eq!(operator_route(&ts, &child).await, StatusCode::UNAUTHORIZED);
        let listed: Value = get_json(&ts, "/api/v1/apikeys").await;
        let theirs: Vec<&Value> = listed
            .as_array()
            .expect("array")
            .iter()
            .filter(|k| k["created_by"] == alice.as_str())
            .collect();
        assert_eq!(theirs.len(), 2, "{listed}");
        assert!(theirs.iter().all(|k| k["revoked_at"].is_i64()), "{listed}");
        let audit: Value = get_json(&ts, "/api/v1/audit?action=apikey.revoke").await;
        let reasons: Vec<&Value> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["detail"]["reason"] == "creator deleted")
            .collect();
        assert_eq!(reasons.len(), 2, "{audit}");
        ts.stop().await;
    }
}

#[tokio::test]
async fn admin_keys_must_expire_and_others_may_not() {
    for db in databases() {
        let ts = TestServer::start(db).await;
        // Keys are made by people (API keys cannot make keys).
        let admin = ts.admin_session().await;
        let create = |body: Value| {
            let req = admin.post(ts.url("/api/v1/apikeys")).json(&body);
            async move {
                let resp = req.send().await.expect("create");
                let status = resp.status();
                (status, resp.json::<Value>().await.expect("json"))
            }
        };
        // Explicitly without expiry: refused, and the message says what to do.
        let (status, body) =
            create(json!({"name": "forever", "role": "admin", "expires_in_days": null})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{db:?} {body}");
        assert_eq!(body["error"]["code"], "invalid_expiry");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains("admin keys must expire"), "{message}");
        // More than a year: refused.
        let (status, body) =
            create(json!({"name": "long", "role": "admin", "expires_in_days": 366})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // No expiry given: 90 days.
        let before = vigil_core::now_ms();
        let (status, body) = create(json!({"name": "default", "role": "admin"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let expires = body["api_key"]["expires_at"].as_i64().expect("expiry");
        assert!(
            (before + 90 * DAY_MS..=vigil_core::now_ms() + 90 * DAY_MS).contains(&expires),
            "{body}"
        );
        let (status, body) =
            create(json!({"name": "year", "role": "admin", "expires_in_days": 365})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Other roles may run until revoked, asked for or by default.
        for body in [
            json!({"name": "camera", "role": "operator", "expires_in_days": null}),
            json!({"name": "dashboard", "role": "viewer"}),
        ] {
            let (status, created) = create(body).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            assert!(created["api_key"]["expires_at"].is_null(), "{created}");
        }
        ts.stop().await;
    }
}

#[test]
fn the_cli_gives_admin_keys_90_days_and_refuses_never() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        vigil()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["apikey", "create", "--name", "ops"])
            .args(args)
            .output()
            .expect("run vigil")
    };
    let out = run(&["--role", "admin"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected = time::OffsetDateTime::now_utc() + time::Duration::days(90);
    let date = format!(
        "{:04}-{:02}-{:02}",
        expected.year(),
        u8::from(expected.month()),
        expected.day()
    );
    assert!(stderr.contains(&format!("expires {date}")), "{stderr}");

    let out = run(&["--role", "admin", "--never-expires"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("admin keys must expire"), "{stderr}");
    assert!(out.stdout.is_empty(), "no key printed");

    let out = run(&["--role", "viewer", "--never-expires"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("never expires"), "{stderr}");

    // The listing shows both expiries.
    let out = vigil()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["apikey", "list"])
        .output()
        .expect("run vigil");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing
            .lines()
            .next()
            .is_some_and(|h| h.contains("expires")),
        "{listing}"
    );
    assert_eq!(listing.lines().count(), 3, "header and two keys: {listing}");
    let row = |role: &str, expires: &str| {
        listing
            .lines()
            .any(|l| l.contains(role) && l.contains(expires))
    };
    assert!(row("admin", &date) && row("viewer", "never"), "{listing}");
}
