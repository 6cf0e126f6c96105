//! Identity and access end to end: sessions and cookies, CSRF, login throttling, TOTP,
//! API keys, admin revocation, and the route × role matrix over every registered route.

use std::collections::BTreeSet;

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_auth::{users, Role};

use crate::harness::{client_with_key, databases, Db, TestServer};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser-like session: cookie header value and CSRF token.
pub(crate) struct Session {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

pub(crate) async fn add_user(ts: &TestServer, name: &str, role: Role) -> users::User {
    users::create(
        &ts.state.db,
        &ts.state.identity.passwords,
        name,
        PASSWORD,
        role,
    )
    .await
    .expect("create user")
}

async fn login(ts: &TestServer, name: &str, password: &str) -> (StatusCode, Value, HeaderMap) {
    let resp = ts
        .anon
        .post(ts.url("/api/v1/auth/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .expect("login request");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

pub(crate) async fn sign_in(ts: &TestServer, name: &str) -> Session {
    let (status, body, headers) = login(ts, name, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set = headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("session cookie")
        .to_string();
    Session {
        cookie: set.split(';').next().expect("cookie pair").to_string(),
        csrf: body["csrf_token"].as_str().expect("csrf token").to_string(),
    }
}

/// A request carrying the session cookie (and, for writes, our Origin and the token).
fn with_session(
    ts: &TestServer,
    req: reqwest::RequestBuilder,
    s: &Session,
    csrf: bool,
) -> reqwest::RequestBuilder {
    let req = req
        .header(COOKIE, &s.cookie)
        .header("origin", format!("http://{}", ts.addr));
    if csrf {
        req.header("x-csrf-token", &s.csrf)
    } else {
        req
    }
}

async fn me_status(ts: &TestServer, s: &Session) -> StatusCode {
    with_session(ts, ts.anon.get(ts.url("/api/v1/auth/me")), s, false)
        .send()
        .await
        .expect("me")
        .status()
}

#[tokio::test]
async fn login_sets_a_safe_cookie_and_logout_kills_it() {
    for db in databases() {
        let ts = TestServer::start(db).await;
        add_user(&ts, "Alice", Role::Operator).await;
        let (status, body, headers) = login(&ts, "alice", PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{db:?} {body}");
        assert_eq!(body["user"]["username"], "alice");
        assert_eq!(body["user"]["role"], "operator");
        assert!(body["user"].get("password_hash").is_none());
        let cookie = headers[SET_COOKIE].to_str().unwrap().to_string();
        assert!(cookie.starts_with("vigil_session="), "{cookie}");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie} lacks {attr}");
        }
        let s = sign_in(&ts, "alice").await;
        let me: Value = with_session(&ts, ts.anon.get(ts.url("/api/v1/auth/me")), &s, false)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["kind"], "user");
        assert_eq!(me["csrf_token"], s.csrf.as_str());

        // Logout needs the CSRF token like any cookie write.
        let denied = with_session(&ts, ts.anon.post(ts.url("/api/v1/auth/logout")), &s, false)
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        let out = with_session(&ts, ts.anon.post(ts.url("/api/v1/auth/logout")), &s, true)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), StatusCode::NO_CONTENT);
        assert!(out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
        assert_eq!(
            me_status(&ts, &s).await,
            StatusCode::UNAUTHORIZED,
            "old cookie must be dead"
        );
        ts.stop().await;
    }
}

#[tokio::test]
async fn cookie_writes_need_a_csrf_token_and_our_origin() {
    for db in databases() {
        let ts = TestServer::start(db).await;
        add_user(&ts, "root", Role::Admin).await;
        let s = sign_in(&ts, "root").await;
        let body = json!({"name": "door camera", "role": "viewer"});
        let post = || {
            ts.anon
                .post(ts.url("/api/v1/apikeys"))
                .header(COOKIE, &s.cookie)
                .json(&body)
        };

        // A forged cross-site POST: the browser sends the cookie and the attacker's Origin.
        for req in [
            post().header("origin", "https://evil.example"),
            post()
                .header("origin", "https://evil.example")
                .header("x-csrf-token", "forged"),
            post().header("x-csrf-token", "forged"),
            post(),
            post()
                .header("origin", "https://evil.example")
                .header("x-csrf-token", &s.csrf),
            post()
                .header("referer", "https://evil.example/page")
                .header("x-csrf-token", &s.csrf),
        ] {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{db:?}");
            let err: Value = resp.json().await.unwrap();
            assert_eq!(err["error"]["code"], "csrf_failed", "{err}");
        }
        // The same request from our own page, with the session's token, succeeds.
        let ok = post()
            .header("origin", format!("http://{}", ts.addr))
            .header("x-csrf-token", &s.csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::CREATED);
        // API keys are not ambient credentials: no CSRF token needed (they pass the
        // CSRF check and meet the next rule: creating users or keys is for people).
        let by_key = ts
            .client
            .post(ts.url("/api/v1/users"))
            .json(&json!({"username": "by-key", "password": PASSWORD, "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(by_key.status(), StatusCode::FORBIDDEN);
        let err: Value = by_key.json().await.unwrap();
        assert_eq!(err["error"]["code"], "reauth_required", "{err}");
        // Nothing was created by the refused requests.
        let keys: Value = ts
            .client
            .get(ts.url("/api/v1/apikeys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            keys.as_array().unwrap().len(),
            2,
            "test key + the one created: {keys}"
        );
        ts.stop().await;
    }
}

fn strip_request_id(mut v: Value) -> Value {
    if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
        e.remove("request_id");
    }
    v
}

#[tokio::test]
async fn failed_logins_look_alike_and_get_throttled_per_address() {
    let ts = TestServer::start_with(Db::Sqlite, |s| {
        // Let the test speak for several client addresses through a "proxy".
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    add_user(&ts, "bob", Role::Viewer).await;
    let attempt = |name: &'static str, password: &'static str, from: &'static str| {
        ts.anon
            .post(ts.url("/api/v1/auth/login"))
            .header("x-forwarded-for", from)
            .json(&json!({"username": name, "password": password}))
            .send()
    };
    let known = attempt("bob", "wrong password!!", "198.51.100.1")
        .await
        .unwrap();
    let unknown = attempt("nobody", "wrong password!!", "198.51.100.2")
        .await
        .unwrap();
    assert_eq!(known.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(known.status(), unknown.status());
    let (a, b) = (
        known.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap(),
    );
    assert_eq!(
        strip_request_id(a),
        strip_request_id(b),
        "same body for unknown and known users"
    );

    // Hammer bob from one address: after 5 failures that address must wait.
    for _ in 0..4 {
        assert_eq!(
            attempt("bob", "wrong password!!", "198.51.100.1")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let throttled = attempt("bob", "wrong password!!", "198.51.100.1")
        .await
        .unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    let err: Value = throttled.json().await.unwrap();
    assert_eq!(err["error"]["code"], "rate_limited");
    // Even the right password waits at that address…
    assert_eq!(
        attempt("bob", PASSWORD, "198.51.100.1")
            .await
            .unwrap()
            .status(),
        429
    );
    // …and an unknown name is throttled the same way, revealing nothing.
    for _ in 0..5 {
        let _ = attempt("ghost", "wrong password!!", "198.51.100.9").await;
    }
    assert_eq!(
        attempt("ghost", "wrong password!!", "198.51.100.9")
            .await
            .unwrap()
            .status(),
        429
    );
    // The owner elsewhere is not locked out by the attacker.
    assert_eq!(
        attempt("bob", PASSWORD, "203.0.113.7")
            .await
            .unwrap()
            .status(),
        200
    );
    ts.stop().await;
}

#[tokio::test]
async fn totp_enrolment_login_replay_and_recovery_codes() {
    let ts = TestServer::start(Db::Sqlite).await;
    add_user(&ts, "carol", Role::Admin).await;
    let s = sign_in(&ts, "carol").await;
    let enrol: Value = with_session(
        &ts,
        ts.anon.post(ts.url("/api/v1/auth/totp/enroll")),
        &s,
        true,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let uri = enrol["otpauth_uri"].as_str().expect("uri").to_string();
    assert!(uri.starts_with("otpauth://totp/Vigil:carol?"), "{uri}");
    assert!(enrol["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let wrong = with_session(
        &ts,
        ts.anon.post(ts.url("/api/v1/auth/totp/confirm")),
        &s,
        true,
    )
    .json(&json!({"code": "000000"}))
    .send()
    .await
    .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let code = vigil_auth::totp::current_code(&uri).unwrap();
    let confirmed = with_session(
        &ts,
        ts.anon.post(ts.url("/api/v1/auth/totp/confirm")),
        &s,
        true,
    )
    .json(&json!({"code": code}))
    .send()
    .await
    .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    // Enrolment is a privilege change: the session id rotates.
    assert!(confirmed.headers().get(SET_COOKIE).is_some());
    let codes: Value = confirmed.json().await.unwrap();
    let recovery: Vec<String> = serde_json::from_value(codes["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    assert_eq!(
        me_status(&ts, &s).await,
        StatusCode::UNAUTHORIZED,
        "pre-enrolment session id is dead"
    );

    let (status, body, _) = login(&ts, "carol", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "totp_required");
    let with_code = |totp: String| {
        ts.anon
            .post(ts.url("/api/v1/auth/login"))
            .json(&json!({"username": "carol", "password": PASSWORD, "totp": totp}))
            .send()
    };
    // The code used at enrolment cannot be replayed.
    let replay = with_code(code.clone()).await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let err: Value = replay.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_totp_code", "{err}");
    assert_eq!(
        with_code(recovery[0].to_uppercase())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        with_code(recovery[0].clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );
    ts.stop().await;
}

#[tokio::test]
async fn policy_can_require_totp_for_a_role() {
    let ts = TestServer::start(Db::Sqlite).await;
    add_user(&ts, "dave", Role::Operator).await;
    let put = ts
        .client
        .put(ts.url("/api/v1/auth/policy"))
        .json(&json!({"require_totp": ["operator"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let (status, body, _) = login(&ts, "dave", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["must_enroll_totp"], true);
    let s = sign_in(&ts, "dave").await;
    let uploads = with_session(&ts, ts.anon.get(ts.url("/api/v1/uploads")), &s, false)
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.status(), StatusCode::FORBIDDEN);
    let err: Value = uploads.json().await.unwrap();
    assert_eq!(err["error"]["code"], "totp_enrollment_required");
    // Enrolment itself is allowed.
    let enrol = with_session(
        &ts,
        ts.anon.post(ts.url("/api/v1/auth/totp/enroll")),
        &s,
        true,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(enrol.status(), StatusCode::OK);
    ts.stop().await;
}

#[tokio::test]
async fn api_keys_are_scoped_revocable_and_expire() {
    for db in databases() {
        let ts = TestServer::start(db).await;
        let created: Value = ts
            .admin_session()
            .await
            .post(ts.url("/api/v1/apikeys"))
            .json(&json!({"name": "dashboard", "role": "viewer"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = created["key"].as_str().unwrap().to_string();
        assert!(key.starts_with("vgl_") && key.len() == 47, "{key}");
        assert!(key.starts_with(created["api_key"]["prefix"].as_str().unwrap()));
        let viewer = client_with_key(&key);
        assert_eq!(
            viewer
                .get(ts.url("/api/v1/uploads"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        // Bearer works too.
        let bearer = ts
            .anon
            .get(ts.url("/api/v1/uploads"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status(), 200);
        // A viewer key cannot write or administer.
        let write = viewer
            .post(ts.url("/api/v1/uploads"))
            .body(crate::harness::png(1))
            .send()
            .await
            .unwrap();
        assert_eq!(write.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            viewer
                .get(ts.url("/api/v1/users"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        // Account routes are for people.
        assert_eq!(
            viewer
                .get(ts.url("/api/v1/auth/sessions"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        // Last use is recorded.
        let listed: Value = ts
            .client
            .get(ts.url("/api/v1/apikeys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "dashboard")
            .unwrap()
            .clone();
        assert!(row["last_used_at"].is_i64(), "{row}");
        assert!(row.get("key").is_none() && row.get("key_hash").is_none());
        // Revoked: 401 at once.
        let id = row["id"].as_str().unwrap();
        let revoked = ts
            .client
            .delete(ts.url(&format!("/api/v1/apikeys/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        let after = viewer.get(ts.url("/api/v1/uploads")).send().await.unwrap();
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(after.headers()["www-authenticate"], "Bearer");
        // Expired keys stop working too.
        let (old, _) = vigil_auth::apikeys::create(
            &ts.state.db,
            "old",
            Role::Viewer,
            None,
            Some(vigil_store::now_ms() + 200),
        )
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            client_with_key(&old)
                .get(ts.url("/api/v1/uploads"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        // Garbage keys are refused, not crashed on.
        for junk in ["vgl_", "vgl_ü", "nope", &"x".repeat(4000)] {
            let r = ts
                .anon
                .get(ts.url("/api/v1/uploads"))
                .header("x-api-key", junk)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{junk:.20}");
        }
        ts.stop().await;
    }
}

#[tokio::test]
async fn admins_revoke_sessions_and_role_changes_end_them() {
    let ts = TestServer::start(Db::Sqlite).await;
    let erin = add_user(&ts, "erin", Role::Operator).await;
    let s1 = sign_in(&ts, "erin").await;
    let s2 = sign_in(&ts, "erin").await;
    let listed: Value = ts
        .client
        .get(ts.url(&format!("/api/v1/users/{}/sessions", erin.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let one = listed[0]["id"].as_str().unwrap();
    let r = ts
        .client
        .delete(ts.url(&format!("/api/v1/users/{}/sessions/{one}", erin.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let alive = [me_status(&ts, &s1).await, me_status(&ts, &s2).await];
    assert_eq!(
        alive.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{alive:?}"
    );
    // Demotion ends every session (changing users is for people).
    let root = add_user(&ts, "root", Role::Admin).await;
    let admin = crate::harness::session_client(&ts.url(""), "root", PASSWORD).await;
    let r = admin
        .patch(ts.url(&format!("/api/v1/users/{}", erin.id)))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me_status(&ts, &s1).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&ts, &s2).await, StatusCode::UNAUTHORIZED);
    // Idle timeout: a session unused for longer than the idle limit is gone.
    let s3 = sign_in(&ts, "erin").await;
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - $1")
        .bind(31 * 60 * 1000_i64)
        .execute(ts.state.db.pool())
        .await
        .unwrap();
    assert_eq!(me_status(&ts, &s3).await, StatusCode::UNAUTHORIZED);
    // The last admin cannot be demoted (the test key's creator is not a user).
    let r = admin
        .patch(ts.url(&format!("/api/v1/users/{}", root.id)))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "last_admin", "{body}");
    ts.stop().await;
}

#[tokio::test]
async fn refusals_carry_specific_error_codes() {
    let ts = TestServer::start(Db::Sqlite).await;
    add_user(&ts, "grace", Role::Viewer).await;
    let admin = ts.admin_session().await;
    let create = |body: Value| admin.post(ts.url("/api/v1/users")).json(&body).send();
    let cases = [
        (
            json!({"username": "heidi", "password": "short", "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_too_short",
        ),
        (
            json!({"username": "heidi heidi", "password": PASSWORD, "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_username",
        ),
        (
            json!({"username": "heidi-the-tester", "password": "Heidi-The-Tester", "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_is_username",
        ),
        (
            json!({"username": "GRACE", "password": PASSWORD, "role": "viewer"}),
            StatusCode::CONFLICT,
            "username_taken",
        ),
    ];
    for (body, status, code) in cases {
        let r = create(body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{body} -> {err}");
    }
    let key = ts
        .admin_session()
        .await
        .post(ts.url("/api/v1/apikeys"))
        .json(&json!({"name": "k", "role": "viewer", "expires_in_days": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = key.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_expiry", "{err}");
    let reset = ts
        .anon
        .post(ts.url("/api/v1/auth/reset"))
        .json(&json!({"token": "not-a-token", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::UNAUTHORIZED);
    let err: Value = reset.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_token", "{err}");
    // A malformed id is as unknown as a missing one.
    let missing = ts
        .client
        .get(ts.url("/api/v1/users/..%2fetc"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    ts.stop().await;
}

#[tokio::test]
async fn reset_links_work_once_and_end_sessions() {
    let ts = TestServer::start(Db::Sqlite).await;
    let frank = add_user(&ts, "frank", Role::Viewer).await;
    let s = sign_in(&ts, "frank").await;
    let link: Value = ts
        .admin_session()
        .await
        .post(ts.url(&format!("/api/v1/users/{}/reset-link", frank.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap();
    let token = url.split("token=").nth(1).unwrap().to_string();
    let reset = |password: &'static str| {
        ts.anon
            .post(ts.url("/api/v1/auth/reset"))
            .json(&json!({"token": token, "password": password}))
            .send()
    };
    // A weak password is refused without spending the token.
    assert_eq!(
        reset("short").await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        reset("a brand new passphrase").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        reset("another new passphrase").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_status(&ts, &s).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&ts, "frank", "a brand new passphrase").await.0,
        StatusCode::OK
    );
    ts.stop().await;
}

/// Who calls in the matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anonymous,
    User(Role),
    Key(Role),
}

/// What the matrix expects of a route, written independently of the server's table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Open,
    AtLeast(Role),
    PeopleOnly,
    Page(Role),
    /// The account page: any signed-in person, even before a required TOTP enrolment.
    AccountPage,
    OpenPage,
    /// A sensitive change (ASVS 3.7.1): people of at least the role, confirming with
    /// their password or a recent sign-in; API keys are refused (403) whatever their role.
    Confirmed(Role),
}

/// The route × role matrix as the product promises it. A route the server registers
/// that is missing here (or in the server's table) fails the test.
fn expected() -> Vec<(&'static str, &'static str, Expect)> {
    use Expect::*;
    use Role::*;
    vec![
        ("GET", "/healthz", Open),
        ("GET", "/readyz", Open),
        ("GET", "/metrics", AtLeast(Viewer)),
        ("GET", "/api/v1/openapi.json", Open),
        ("GET", "/api/v1/docs", Open),
        ("GET", "/assets/{*path}", Open),
        ("POST", "/api/v1/auth/login", Open),
        ("POST", "/api/v1/auth/bootstrap", Open),
        ("POST", "/api/v1/auth/reset", Open),
        ("POST", "/api/v1/auth/logout", PeopleOnly),
        ("GET", "/api/v1/auth/me", AtLeast(Viewer)),
        ("POST", "/api/v1/auth/password", PeopleOnly),
        ("POST", "/api/v1/auth/totp/enroll", PeopleOnly),
        ("POST", "/api/v1/auth/totp/confirm", PeopleOnly),
        ("POST", "/api/v1/auth/totp/disable", PeopleOnly),
        ("GET", "/api/v1/auth/sessions", PeopleOnly),
        ("DELETE", "/api/v1/auth/sessions/{id}", PeopleOnly),
        ("GET", "/api/v1/auth/policy", AtLeast(Admin)),
        ("PUT", "/api/v1/auth/policy", AtLeast(Admin)),
        ("GET", "/api/v1/users", AtLeast(Admin)),
        ("POST", "/api/v1/users", Confirmed(Admin)),
        ("GET", "/api/v1/users/{id}", AtLeast(Admin)),
        ("PATCH", "/api/v1/users/{id}", Confirmed(Admin)),
        ("DELETE", "/api/v1/users/{id}", AtLeast(Admin)),
        ("POST", "/api/v1/users/{id}/reset-link", Confirmed(Admin)),
        ("GET", "/api/v1/users/{id}/sessions", AtLeast(Admin)),
        ("DELETE", "/api/v1/users/{id}/sessions", AtLeast(Admin)),
        (
            "DELETE",
            "/api/v1/users/{id}/sessions/{session_id}",
            AtLeast(Admin),
        ),
        ("GET", "/api/v1/apikeys", AtLeast(Admin)),
        ("POST", "/api/v1/apikeys", Confirmed(Admin)),
        ("DELETE", "/api/v1/apikeys/{id}", AtLeast(Admin)),
        ("GET", "/api/v1/audit", AtLeast(Admin)),
        ("GET", "/api/v1/audit/export.csv", AtLeast(Admin)),
        ("GET", "/api/v1/webhooks", AtLeast(Admin)),
        ("POST", "/api/v1/webhooks", AtLeast(Admin)),
        ("GET", "/api/v1/webhooks/{id}", AtLeast(Admin)),
        ("PATCH", "/api/v1/webhooks/{id}", AtLeast(Admin)),
        ("DELETE", "/api/v1/webhooks/{id}", AtLeast(Admin)),
        ("POST", "/api/v1/webhooks/{id}/test", AtLeast(Admin)),
        ("GET", "/api/v1/webhooks/{id}/deliveries", AtLeast(Admin)),
        ("GET", "/api/v1/events", AtLeast(Viewer)),
        ("GET", "/api/v1/events/ws", AtLeast(Viewer)),
        ("GET", "/api/v1/uploads", AtLeast(Viewer)),
        ("POST", "/api/v1/uploads", AtLeast(Operator)),
        ("GET", "/api/v1/uploads/{id}", AtLeast(Viewer)),
        ("PATCH", "/api/v1/uploads/{id}", AtLeast(Operator)),
        ("DELETE", "/api/v1/uploads/{id}", AtLeast(Operator)),
        ("GET", "/api/v1/uploads/{id}/content", AtLeast(Viewer)),
        ("POST", "/api/v1/analyze", AtLeast(Operator)),
        ("GET", "/api/v1/cameras", AtLeast(Viewer)),
        ("POST", "/api/v1/cameras", AtLeast(Operator)),
        ("POST", "/api/v1/cameras/test", AtLeast(Operator)),
        ("GET", "/api/v1/cameras/{id}", AtLeast(Viewer)),
        ("PATCH", "/api/v1/cameras/{id}", AtLeast(Operator)),
        ("DELETE", "/api/v1/cameras/{id}", AtLeast(Operator)),
        ("POST", "/api/v1/cameras/{id}/start", AtLeast(Operator)),
        ("POST", "/api/v1/cameras/{id}/stop", AtLeast(Operator)),
        ("GET", "/api/v1/cameras/{id}/snapshot.jpg", AtLeast(Viewer)),
        ("GET", "/api/v1/cameras/{id}/stream", AtLeast(Viewer)),
        ("GET", "/api/v1/cameras/{id}/ws", AtLeast(Operator)),
        ("GET", "/api/v1/violations", AtLeast(Viewer)),
        ("GET", "/api/v1/violations/export.csv", AtLeast(Viewer)),
        ("GET", "/api/v1/violations/{id}", AtLeast(Viewer)),
        ("DELETE", "/api/v1/violations/{id}", AtLeast(Operator)),
        (
            "POST",
            "/api/v1/violations/{id}/acknowledge",
            AtLeast(Operator),
        ),
        ("GET", "/api/v1/violations/{id}/frame.jpg", AtLeast(Viewer)),
        ("GET", "/api/v1/violations/{id}/face.jpg", AtLeast(Viewer)),
        ("GET", "/api/v1/stats", AtLeast(Viewer)),
        ("GET", "/", Page(Viewer)),
        ("GET", "/live", Page(Viewer)),
        ("GET", "/cameras", Page(Viewer)),
        ("GET", "/cameras/{id}", Page(Viewer)),
        ("GET", "/cameras/{id}/browser", Page(Operator)),
        ("GET", "/violations", Page(Viewer)),
        ("GET", "/stats", Page(Viewer)),
        ("GET", "/try", Page(Operator)),
        ("GET", "/login", OpenPage),
        ("GET", "/setup", OpenPage),
        ("GET", "/reset", OpenPage),
        ("GET", "/account", AccountPage),
        ("GET", "/admin/users", Page(Admin)),
        ("GET", "/admin/apikeys", Page(Admin)),
        ("GET", "/admin/audit", Page(Admin)),
    ]
}

/// Whether the status means "let through" (the handler ran: any answer but 401/403
/// and the login redirect).
fn let_through(status: StatusCode) -> bool {
    !matches!(status.as_u16(), 401 | 403 | 303)
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_matrix_says() {
    let ts = TestServer::start(Db::Sqlite).await;
    let expected = expected();

    // 1. The server's routes: the OpenAPI document plus every row of the route table
    //    (pages and assets are not in the API document). Each must be in the matrix,
    //    have a rule, and every row must be a route the server really serves.
    let doc: Value = ts
        .anon
        .get(ts.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut served = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            served.insert((method.to_uppercase(), path.clone()));
        }
    }
    for route in vigil_server::routes::table::ROUTES {
        served.insert((route.method.to_string(), route.path.to_string()));
    }
    let in_matrix: BTreeSet<(String, String)> = expected
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&in_matrix).collect();
    assert!(
        missing.is_empty(),
        "routes without an expectation in the matrix: {missing:?}"
    );
    for (method, path) in &served {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        assert!(
            vigil_server::auth::access::lookup(&m, path).is_some(),
            "{method} {path} has no access rule"
        );
    }

    // 2. Callers: anonymous, a session per role, a key per role.
    let mut sessions = Vec::new();
    let mut keys = Vec::new();
    for role in Role::ALL {
        let name = format!("matrix-{role}");
        add_user(&ts, &name, role).await;
        sessions.push((role, sign_in(&ts, &name).await));
        let (key, _) = vigil_auth::apikeys::create(&ts.state.db, &name, role, None, None)
            .await
            .unwrap();
        keys.push((role, key));
    }
    let mut callers = vec![Who::Anonymous];
    callers.extend(Role::ALL.iter().map(|r| Who::User(*r)));
    callers.extend(Role::ALL.iter().map(|r| Who::Key(*r)));

    // Logout ends the session, so it goes last.
    let mut order = expected.clone();
    order.sort_by_key(|(_, p, _)| *p == "/api/v1/auth/logout");
    let id = "0123456789abcdef0123456789abcdef";
    let mut failures = Vec::new();
    for (method, path, expect) in &order {
        let concrete = path
            .replace("{session_id}", id)
            .replace("{id}", id)
            .replace("{*path}", "css/vigil.css");
        for who in &callers {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = ts.anon.request(m.clone(), ts.url(&concrete));
            if m != reqwest::Method::GET {
                req = req.json(&json!({}));
            }
            req = match who {
                Who::Anonymous => req,
                Who::User(role) => {
                    let s = &sessions.iter().find(|(r, _)| r == role).unwrap().1;
                    with_session(&ts, req, s, true)
                }
                Who::Key(role) => req.header(
                    "x-api-key",
                    &keys.iter().find(|(r, _)| r == role).unwrap().1,
                ),
            };
            let resp = req.send().await.unwrap();
            let status = resp.status();
            if status == StatusCode::NOT_FOUND {
                // A 404 for a missing resource is fine (the ids are made up); a 404
                // because nothing is routed there means the rule names no real route.
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route for"))
                {
                    failures.push(format!("{method} {path} as {who:?}: not served"));
                    continue;
                }
            }
            let ok = match (expect, who) {
                (Expect::Open, _) => let_through(status),
                // A signed-in person may see the login form or be sent on; never refused.
                (Expect::OpenPage, _) => !matches!(status.as_u16(), 401 | 403),
                (Expect::Page(_) | Expect::AccountPage, Who::Anonymous) => {
                    status == StatusCode::SEE_OTHER
                }
                (_, Who::Anonymous) => status == StatusCode::UNAUTHORIZED,
                (
                    Expect::PeopleOnly
                    | Expect::Page(_)
                    | Expect::AccountPage
                    | Expect::Confirmed(_),
                    Who::Key(_),
                ) => status == StatusCode::FORBIDDEN,
                (Expect::PeopleOnly | Expect::AccountPage, Who::User(_)) => let_through(status),
                (Expect::AtLeast(min) | Expect::Page(min), Who::User(r) | Who::Key(r))
                | (Expect::Confirmed(min), Who::User(r)) => {
                    if r >= min {
                        let_through(status)
                    } else {
                        status == StatusCode::FORBIDDEN
                    }
                }
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {who:?}: {status} (expected {expect:?})"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "matrix violations:\n{}",
        failures.join("\n")
    );
    ts.stop().await;
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

/// Acceptance point 7: after a full scenario on a real `vigil serve` (first-admin setup,
/// logins, TOTP, API keys, a reset link, password changes), no secret appears in plain
/// text in the database files or the log files.
#[tokio::test]
async fn no_secret_is_stored_or_logged_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let mut cmd = crate::harness::vigil();
    cmd.env("VIGIL_LOG__DIR", &logs)
        .env("VIGIL_LOG__LEVEL", "trace,sqlx=trace,hyper=info,h2=info")
        .env("VIGIL_AUTH__ARGON2_MEMORY_KIB", "8192")
        .env("VIGIL_AUTH__ARGON2_ITERATIONS", "1");
    let mut server = crate::harness::ChildServer::start_cmd(cmd, &data);
    let mut secrets: Vec<(String, String)> = vec![("test API key".into(), server.api_key.clone())];
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = server.url("");
    let post = |path: &str, cookie: Option<&str>, csrf: Option<&str>, body: Value| {
        let mut req = http
            .post(server.url(path))
            .header("origin", &origin)
            .json(&body);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };

    // First start wrote a one-time setup link to a file only its owner can read, and
    // (stderr not being a terminal here) printed only where that file is.
    let link_file = data.join("setup-link.txt");
    let mut link = None;
    for _ in 0..100 {
        link = std::fs::read_to_string(&link_file).ok().and_then(|text| {
            text.lines().find_map(|l| {
                l.trim()
                    .split_once("/setup#token=")
                    .map(|(_, t)| t.to_string())
            })
        });
        if link.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let bootstrap = link.expect("setup link written to data/setup-link.txt");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&link_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the link file is the owner's only");
    }
    let mut console = String::new();
    for _ in 0..100 {
        console = std::fs::read_to_string(&server.log).unwrap();
        if console.contains(&link_file.display().to_string()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        console.contains(&link_file.display().to_string()),
        "stderr says where the link is: {console}"
    );
    secrets.push(("setup token".into(), bootstrap.clone()));
    let admin_pw = "first admin passphrase 1";
    secrets.push(("admin password".into(), admin_pw.into()));
    let r = post(
        "/api/v1/auth/bootstrap",
        None,
        None,
        json!({"token": bootstrap, "username": "root", "password": admin_pw}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(!link_file.exists(), "the spent link's file is removed");
    let again = post(
        "/api/v1/auth/bootstrap",
        None,
        None,
        json!({"token": bootstrap, "username": "x", "password": admin_pw}),
    )
    .await
    .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "the setup token works once"
    );

    let login = |name: &'static str, pw: String, totp: Option<String>| {
        let post = &post;
        async move {
            let r = post(
                "/api/v1/auth/login",
                None,
                None,
                json!({"username": name, "password": pw, "totp": totp}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let cookie = r.headers()[SET_COOKIE]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            let body: Value = r.json().await.unwrap();
            (cookie, body["csrf_token"].as_str().unwrap().to_string())
        }
    };
    let (cookie, csrf) = login("root", admin_pw.into(), None).await;
    secrets.push((
        "session cookie".into(),
        cookie.split_once('=').unwrap().1.to_string(),
    ));
    secrets.push(("CSRF token".into(), csrf.clone()));

    let enrol: Value = post(
        "/api/v1/auth/totp/enroll",
        Some(&cookie),
        Some(&csrf),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let uri = enrol["otpauth_uri"].as_str().unwrap().to_string();
    secrets.push((
        "TOTP seed".into(),
        enrol["secret_base32"].as_str().unwrap().to_string(),
    ));
    let code = vigil_auth::totp::current_code(&uri).unwrap();
    let confirmed: Value = post(
        "/api/v1/auth/totp/confirm",
        Some(&cookie),
        Some(&csrf),
        json!({"code": code}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    for c in confirmed["recovery_codes"].as_array().unwrap() {
        secrets.push(("recovery code".into(), c.as_str().unwrap().to_string()));
    }
    let recovery = confirmed["recovery_codes"][0].as_str().unwrap().to_string();
    let (cookie, csrf) = login("root", admin_pw.into(), Some(recovery)).await;
    secrets.push((
        "second session cookie".into(),
        cookie.split_once('=').unwrap().1.to_string(),
    ));

    let key: Value = post(
        "/api/v1/apikeys",
        Some(&cookie),
        Some(&csrf),
        json!({"name": "app", "role": "operator"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    secrets.push(("API key".into(), key["key"].as_str().unwrap().to_string()));
    let user_pw = "operator passphrase 22";
    secrets.push(("user password".into(), user_pw.into()));
    let user: Value = post(
        "/api/v1/users",
        Some(&cookie),
        Some(&csrf),
        json!({"username": "op", "password": user_pw, "role": "operator"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let link: Value = post(
        &format!("/api/v1/users/{}/reset-link", user["id"].as_str().unwrap()),
        Some(&cookie),
        Some(&csrf),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = link["url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    secrets.push(("reset token".into(), token.clone()));
    let new_pw = "reset passphrase 333";
    secrets.push(("reset password".into(), new_pw.into()));
    let r = post(
        "/api/v1/auth/reset",
        None,
        None,
        json!({"token": token, "password": new_pw}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (op_cookie, op_csrf) = login("op", new_pw.into(), None).await;
    let changed_pw = "changed passphrase 4444";
    secrets.push(("changed password".into(), changed_pw.into()));
    let r = post(
        "/api/v1/auth/password",
        Some(&op_cookie),
        Some(&op_csrf),
        json!({"current_password": new_pw, "new_password": changed_pw}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A failed login must not log the password tried.
    let typo = "oops-this-is-my-password";
    secrets.push(("wrong password".into(), typo.into()));
    let _ = post(
        "/api/v1/auth/login",
        None,
        None,
        json!({"username": "op", "password": typo}),
    )
    .await;
    assert_eq!(server.terminate(), Some(0));

    let mut files = files_under(&data);
    files.extend(files_under(&logs));
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "db")),
        "{files:?}"
    );
    assert!(!files_under(&logs).is_empty(), "log files were written");
    let mut leaks = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for (what, secret) in &secrets {
            if contains(&bytes, secret) {
                leaks.push(format!("{what} found in {}", file.display()));
            }
        }
    }
    // Not a terminal: stderr shows no secret, not even the setup link.
    let console = std::fs::read(&server.log).unwrap();
    for (what, secret) in &secrets {
        if contains(&console, secret) {
            leaks.push(format!("{what} found in the server's terminal output"));
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in plain text:\n{}",
        leaks.join("\n")
    );
}
