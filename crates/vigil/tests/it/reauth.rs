//! Re-authentication before sensitive changes (ASVS 3.7.1) and the password strength
//! rule (ASVS 2.1.7), end to end over HTTP and the CLI: TOTP enrolment, API-key creation
//! and reset links need the current password unless the sign-in is recent; API keys
//! cannot make them; a wrong password is audited and throttled; enabling TOTP ends the
//! user's other sessions; guessable passwords are refused everywhere with the reason.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_auth::{users, Role};

use crate::harness::{cookie_of, databases, sign_in_at, vigil, Db, TestServer};

const PASSWORD: &str = "violet anchor drifts past ninety kilns";

/// A signed-in browser: cookie pair and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn add_user(ts: &TestServer, name: &str, role: Role) -> users::User {
    ts.add_person(name, role, PASSWORD).await
}

async fn sign_in(ts: &TestServer, name: &str) -> Browser {
    let (cookie, csrf) = sign_in_at(&ts.url(""), name, PASSWORD).await;
    Browser { cookie, csrf }
}

/// A POST from the signed-in browser (our Origin, its CSRF token), with `body` as JSON
/// when given.
async fn post(ts: &TestServer, b: &Browser, path: &str, body: Option<Value>) -> reqwest::Response {
    let req = ts
        .anon
        .post(ts.url(path))
        .header(COOKIE, &b.cookie)
        .header("origin", format!("http://{}", ts.addr))
        .header("x-csrf-token", &b.csrf);
    let req = match body {
        Some(body) => req.json(&body),
        None => req,
    };
    req.send().await.expect("request")
}

/// The status and error code (if any) of a response.
async fn outcome(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

fn forbidden(code: &str) -> (StatusCode, String) {
    (StatusCode::FORBIDDEN, code.to_string())
}

#[tokio::test]
async fn sensitive_changes_need_the_current_password_and_api_keys_cannot_make_them() {
    for db in databases() {
        // Window 0: every sensitive change asks, however recent the sign-in.
        let ts = TestServer::start_with(db, |s| s.auth.reauth_window_secs = 0).await;
        add_user(&ts, "root", Role::Admin).await;
        let target = add_user(&ts, "frank", Role::Viewer).await;
        let b = sign_in(&ts, "root").await;
        let reset_link = format!("/api/v1/users/{}/reset-link", target.id);
        let key = json!({"name": "door camera", "role": "viewer"});
        let with_pw = |mut v: Value, pw: &str| {
            v["current_password"] = json!(pw);
            v
        };

        // Without the password: refused, for each of the three.
        for (path, body) in [
            ("/api/v1/auth/totp/enroll", None),
            ("/api/v1/auth/totp/enroll", Some(json!({}))),
            ("/api/v1/apikeys", Some(key.clone())),
            (reset_link.as_str(), None),
        ] {
            assert_eq!(
                outcome(post(&ts, &b, path, body).await).await,
                forbidden("reauth_required"),
                "{db:?} {path}"
            );
        }
        // With the right one: accepted.
        let enrol = post(
            &ts,
            &b,
            "/api/v1/auth/totp/enroll",
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
        assert_eq!(enrol.status(), StatusCode::OK);
        let enrol: Value = enrol.json().await.unwrap();
        assert!(enrol["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://"));
        let created = post(
            &ts,
            &b,
            "/api/v1/apikeys",
            Some(with_pw(key.clone(), PASSWORD)),
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let link = post(
            &ts,
            &b,
            &reset_link,
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
        assert_eq!(link.status(), StatusCode::OK);
        assert!(link.json::<Value>().await.unwrap()["url"].is_string());

        // An admin API key has no password to give: it can do neither.
        let by_key = ts
            .client
            .post(ts.url("/api/v1/apikeys"))
            .json(&with_pw(key.clone(), PASSWORD))
            .send()
            .await
            .unwrap();
        let (status, code) = outcome(by_key).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "reauth_required")
        );
        let by_key = ts.client.post(ts.url(&reset_link)).send().await.unwrap();
        assert_eq!(outcome(by_key).await, forbidden("reauth_required"));
        ts.stop().await;
    }
}

/// A PATCH from the signed-in browser, like [`post`].
async fn patch(ts: &TestServer, b: &Browser, path: &str, body: Value) -> reqwest::Response {
    ts.anon
        .patch(ts.url(path))
        .header(COOKIE, &b.cookie)
        .header("origin", format!("http://{}", ts.addr))
        .header("x-csrf-token", &b.csrf)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// Creating a user or changing one's role or state makes or revives admins: an admin
/// API key cannot (it would create an admin person, sign in as them and make keys and
/// reset links), and an old session must confirm with the password.
#[tokio::test]
async fn creating_and_changing_users_is_for_people_who_confirm() {
    let ts = TestServer::start_with(Db::Sqlite, |s| s.auth.reauth_window_secs = 0).await;
    add_user(&ts, "root", Role::Admin).await;
    let frank = add_user(&ts, "frank", Role::Viewer).await;
    let b = sign_in(&ts, "root").await;
    let evil = json!({"username": "backdoor", "password": PASSWORD, "role": "admin"});
    let promote = json!({"role": "admin"});
    let frank_path = format!("/api/v1/users/{}", frank.id);

    // The admin API key: refused outright, nothing created or changed.
    let by_key = ts.client.post(ts.url("/api/v1/users")).json(&evil).send();
    assert_eq!(
        outcome(by_key.await.unwrap()).await,
        forbidden("reauth_required")
    );
    let by_key = ts.client.patch(ts.url(&frank_path)).json(&promote).send();
    assert_eq!(
        outcome(by_key.await.unwrap()).await,
        forbidden("reauth_required")
    );

    // A session past the window (0 here) without the password: refused too.
    let r = post(&ts, &b, "/api/v1/users", Some(evil.clone())).await;
    assert_eq!(outcome(r).await, forbidden("reauth_required"));
    let r = patch(&ts, &b, &frank_path, promote.clone()).await;
    assert_eq!(outcome(r).await, forbidden("reauth_required"));
    let r = patch(
        &ts,
        &b,
        &frank_path,
        json!({"role": "admin", "current_password": "wrong"}),
    )
    .await;
    assert_eq!(outcome(r).await, forbidden("reauth_failed"));
    assert!(ts
        .state
        .identity
        .user_named("backdoor")
        .await
        .unwrap()
        .is_none());
    assert_eq!(ts.get_json(&frank_path).await["role"], "viewer");

    // With the password: done.
    let mut confirmed = evil.clone();
    confirmed["current_password"] = json!(PASSWORD);
    let r = post(&ts, &b, "/api/v1/users", Some(confirmed)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = patch(
        &ts,
        &b,
        &frank_path,
        json!({"role": "admin", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(ts.get_json(&frank_path).await["role"], "admin");
    ts.stop().await;
}

#[tokio::test]
async fn a_recent_sign_in_passes_without_the_password_until_the_window_ends() {
    let ts = TestServer::start_with(Db::Sqlite, |s| s.auth.reauth_window_secs = 2).await;
    add_user(&ts, "root", Role::Admin).await;
    let b = sign_in(&ts, "root").await;
    let key = |name: &str| json!({"name": name, "role": "viewer"});

    // Just signed in: no password needed.
    let r = post(&ts, &b, "/api/v1/apikeys", Some(key("one"))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    // The window is over: refused…
    assert_eq!(
        outcome(post(&ts, &b, "/api/v1/apikeys", Some(key("two"))).await).await,
        forbidden("reauth_required")
    );
    // …until the password is given, which restarts the window.
    let mut with_pw = key("two");
    with_pw["current_password"] = json!(PASSWORD);
    let r = post(&ts, &b, "/api/v1/apikeys", Some(with_pw)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(&ts, &b, "/api/v1/apikeys", Some(key("three"))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    ts.stop().await;
}

#[tokio::test]
async fn wrong_confirmation_passwords_are_audited_and_throttled_like_logins() {
    let ts = TestServer::start_with(Db::Sqlite, |s| {
        s.auth.reauth_window_secs = 0;
        s.auth.max_failures = 3;
    })
    .await;
    add_user(&ts, "root", Role::Admin).await;
    let b = sign_in(&ts, "root").await;
    let wrong =
        json!({"name": "k", "role": "viewer", "current_password": "not my password at all"});
    for _ in 0..3 {
        assert_eq!(
            outcome(post(&ts, &b, "/api/v1/apikeys", Some(wrong.clone())).await).await,
            forbidden("reauth_failed")
        );
    }
    // The name and address are now throttled: even the right password waits…
    let mut right = wrong.clone();
    right["current_password"] = json!(PASSWORD);
    let throttled = post(&ts, &b, "/api/v1/apikeys", Some(right)).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    // …and so does the login form for that name from that address.
    let login = ts
        .anon
        .post(ts.url("/api/v1/auth/login"))
        .json(&json!({"username": "root", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);

    let records = ts.get_json("/api/v1/audit?action=auth.reauth").await;
    let items = records["items"].as_array().unwrap();
    let reasons: Vec<&str> = items
        .iter()
        .map(|r| r["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "throttled",
            "wrong password",
            "wrong password",
            "wrong password"
        ]
    );
    for r in items {
        assert_eq!(r["outcome"], "failure");
        assert_eq!(r["actor_name"], "root");
        assert_eq!(r["detail"]["for"], "apikey.create");
    }
    // Nothing was created by the refused requests (only the harness's key exists).
    let keys = ts.get_json("/api/v1/apikeys").await;
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    ts.stop().await;
}

#[tokio::test]
async fn enabling_totp_ends_the_users_other_sessions_and_rotates_this_one() {
    for db in databases() {
        let ts = TestServer::start(db).await;
        add_user(&ts, "carol", Role::Operator).await;
        let here = sign_in(&ts, "carol").await;
        let elsewhere = sign_in(&ts, "carol").await;
        let me = |b: &Browser| {
            ts.anon
                .get(ts.url("/api/v1/auth/me"))
                .header(COOKIE, b.cookie.clone())
                .send()
        };
        assert_eq!(me(&elsewhere).await.unwrap().status(), StatusCode::OK);

        // Signed in moments ago: enrolment needs no password.
        let enrol: Value = post(&ts, &here, "/api/v1/auth/totp/enroll", None)
            .await
            .json()
            .await
            .unwrap();
        let uri = enrol["otpauth_uri"].as_str().expect("uri");
        let code = vigil_auth::totp::current_code(uri).unwrap();
        let confirmed = post(
            &ts,
            &here,
            "/api/v1/auth/totp/confirm",
            Some(json!({"code": code})),
        )
        .await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        let rotated = Browser {
            cookie: cookie_of(&confirmed),
            csrf: confirmed.json::<Value>().await.unwrap()["csrf_token"]
                .as_str()
                .unwrap()
                .to_string(),
        };
        assert_eq!(
            me(&elsewhere).await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{db:?}: the other session must end"
        );
        assert_eq!(me(&here).await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(me(&rotated).await.unwrap().status(), StatusCode::OK);
        let sessions: Value = ts
            .anon
            .get(ts.url("/api/v1/auth/sessions"))
            .header(COOKIE, &rotated.cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
        ts.stop().await;
    }
}

/// The reason a weak password was refused with, checking the code.
async fn weak(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.expect("error JSON");
    assert_eq!(body["error"]["code"], "password_too_weak", "{body}");
    body["error"]["message"]
        .as_str()
        .expect("a message")
        .to_lowercase()
}

#[tokio::test]
async fn guessable_passwords_are_refused_everywhere_with_the_reason() {
    let ts = TestServer::start(Db::Sqlite).await;
    // Setup (first admin) refuses a common password, then takes a strong one.
    let link = ts
        .state
        .identity
        .bootstrap_link("http://x")
        .await
        .unwrap()
        .unwrap();
    let token = link.split("token=").nth(1).unwrap().to_string();
    // Without the token, no strength estimate is made: a wrong token with a weak
    // password is told about the token.
    let wrong_token = ts
        .anon
        .post(ts.url("/api/v1/auth/bootstrap"))
        .json(&json!({"token": "not-the-token", "username": "root", "password": "password123456"}))
        .send()
        .await
        .unwrap();
    let body: Value = wrong_token.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
    let setup = |password: &str| {
        ts.anon
            .post(ts.url("/api/v1/auth/bootstrap"))
            .json(&json!({"token": token, "username": "root", "password": password}))
            .send()
    };
    assert!(weak(setup("password123456").await.unwrap())
        .await
        .contains("common"));
    assert_eq!(setup(PASSWORD).await.unwrap().status(), StatusCode::CREATED);

    // Admin creation: common, the username repeated, a keyboard walk; then a passphrase.
    let admin = ts.admin_session().await;
    let create = |name: &str, password: &str| {
        admin
            .post(ts.url("/api/v1/users"))
            .json(&json!({"username": name, "password": password, "role": "viewer"}))
            .send()
    };
    for (name, password, reason) in [
        ("heidi", "password123456", "common"),
        ("margaret", "margaretmargaret", "username"),
        ("heidi", "wertyuiosdfghjkl", "keyboard"),
        ("heidi", "1qaz2wsx3edc4rfv", "common"),
    ] {
        let why = weak(create(name, password).await.unwrap()).await;
        assert!(why.contains(reason), "{password}: {why}");
    }
    assert_eq!(
        create("heidi", "tangerine wombat oscillates quietly")
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );

    // Changing one's own password.
    let b = sign_in(&ts, "root").await;
    let change = |new: &str| json!({"current_password": PASSWORD, "new_password": new});
    let why = weak(
        post(
            &ts,
            &b,
            "/api/v1/auth/password",
            Some(change("rootrootrootroot")),
        )
        .await,
    )
    .await;
    assert!(why.contains("username"), "{why}");
    let ok = post(
        &ts,
        &b,
        "/api/v1/auth/password",
        Some(change("saffron lantern beneath quiet hills")),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);

    // A reset link.
    let heidi = ts
        .state
        .identity
        .user_named("heidi")
        .await
        .unwrap()
        .unwrap();
    let b = Browser {
        cookie: cookie_of(&ok),
        csrf: ok.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    let link: Value = post(
        &ts,
        &b,
        &format!("/api/v1/users/{}/reset-link", heidi.id),
        None,
    )
    .await
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
    let reset = |password: &str| {
        ts.anon
            .post(ts.url("/api/v1/auth/reset"))
            .json(&json!({"token": token, "password": password}))
            .send()
    };
    assert!(weak(reset("xcvbnm,./asdfghj").await.unwrap())
        .await
        .contains("keyboard"));
    assert_eq!(
        reset("marble otter composes seven sonnets")
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    ts.stop().await;
}

#[test]
fn the_cli_refuses_a_guessable_password_naming_why() {
    let dir = tempfile::tempdir().unwrap();
    let add = |name: &str, password: &str| {
        let mut child = vigil()
            .args(["user", "add", name, "--password-stdin", "--data-dir"])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigil user add");
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = add("ivan", "password123456");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("too easy to guess") && err.contains("common"),
        "{err}"
    );
    let out = add("ivan", "ivanivanivanivan");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("username"));
    let out = add("ivan", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
