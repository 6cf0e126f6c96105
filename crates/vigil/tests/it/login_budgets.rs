//! Login budgets against attackers who rotate addresses: the per-account budget, the
//! second-factor budget, IPv6 counted per /64, and the device cookie that keeps the
//! owner able to sign in while an attack runs. Real server behind a "trusted proxy"
//! (the test speaks for many client addresses with `X-Forwarded-For`).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::header::SET_COOKIE;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use vigil_auth::Role;
use vigil_config::Settings;

use crate::harness::{databases, Db, TestServer};
use crate::identity::{add_user, sign_in, PASSWORD};

const WRONG: &str = "wrong password, surely";
/// The per-account budget these tests configure (small, to keep them fast).
const ACCOUNT_BUDGET: u32 = 20;
/// The second-factor budget these tests configure.
const SECOND_FACTOR_BUDGET: u32 = 5;

fn behind_a_proxy(s: &mut Settings) {
    s.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    s.auth.max_failures_per_account = ACCOUNT_BUDGET;
    s.auth.max_second_factor_failures = SECOND_FACTOR_BUDGET;
}

/// One login attempt from `from`, with the device cookie when given.
async fn attempt(ts: &TestServer, body: Value, from: &str, device: Option<&str>) -> Response {
    let mut req = ts
        .anon
        .post(ts.url("/api/v1/auth/login"))
        .header("x-forwarded-for", from)
        .json(&body);
    if let Some(d) = device {
        req = req.header("cookie", format!("vigil_device={d}"));
    }
    req.send().await.expect("login request")
}

fn password(name: &str, password: &str) -> Value {
    json!({"username": name, "password": password})
}

/// The device cookie a successful sign-in set, checked for its attributes.
fn device_cookie(resp: &Response) -> String {
    let set = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("vigil_device="))
        .expect("a device cookie")
        .to_string();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/v1/auth/login",
        "Max-Age=31536000",
    ] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    set.split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("vigil_device="))
        .expect("value")
        .to_string()
}

/// `count` distinct client addresses for `batch`.
fn addresses(batch: u8, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("198.{}.{}.{}", 18 + batch, i / 200, i % 200 + 1))
        .collect()
}

/// Sends one wrong password for `name` from each address, `parallel` at a time; returns
/// the statuses and the Argon2 runs it caused.
async fn spray(
    ts: &TestServer,
    name: &str,
    from: &[String],
    parallel: usize,
) -> (Vec<StatusCode>, u64) {
    let before = ts.state.identity.passwords.verifications();
    let mut statuses = Vec::new();
    for chunk in from.chunks(parallel) {
        let sent = chunk
            .iter()
            .map(|ip| attempt(ts, password(name, WRONG), ip, None));
        for resp in join_all(sent).await {
            if resp.status() == StatusCode::TOO_MANY_REQUESTS {
                let wait: u64 = resp.headers()["retry-after"]
                    .to_str()
                    .expect("text")
                    .parse()
                    .expect("seconds");
                assert!((1..=3600).contains(&wait), "Retry-After {wait}");
            }
            statuses.push(resp.status());
        }
    }
    let runs = ts.state.identity.passwords.verifications() - before;
    (statuses, runs)
}

async fn audited_lockouts(ts: &TestServer, scope: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND detail LIKE $1",
    )
    .bind(format!("%\"scope\":\"{scope}\"%"))
    .fetch_one(ts.state.db.pool())
    .await
    .expect("count audit records")
}

#[tokio::test]
async fn an_attack_from_300_addresses_is_held_to_the_account_budget_and_the_owner_still_signs_in() {
    for db in databases() {
        let ts = TestServer::start_with(db, behind_a_proxy).await;
        add_user(&ts, "owner", Role::Operator).await;
        // The owner signed in from this browser before the attack.
        let earlier = attempt(&ts, password("owner", PASSWORD), "192.0.2.10", None).await;
        assert_eq!(earlier.status(), StatusCode::OK);
        let device = device_cookie(&earlier);

        let start = Instant::now();
        // Seven at a time: the budget (20) is reached in the middle of a burst, where
        // simultaneous attempts race for its last places.
        let (statuses, argon2_runs) = spray(&ts, "owner", &addresses(0, 300), 7).await;
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            start.elapsed()
        );
        let tried = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(tried + refused, 300, "{db:?} {statuses:?}");
        assert!(
            (1..=ACCOUNT_BUDGET as usize).contains(&tried),
            "{db:?}: {tried} passwords tried"
        );
        // Every refusal was decided before any password work.
        assert_eq!(argon2_runs, tried as u64, "{db:?}");
        // One audit record for the lockout, not one per refused attempt.
        assert_eq!(audited_lockouts(&ts, "account").await, 1, "{db:?}");

        // The owner, from a new address with the device cookie, signs in…
        let with_cookie = attempt(
            &ts,
            password("owner", PASSWORD),
            "192.0.2.99",
            Some(&device),
        )
        .await;
        assert_eq!(with_cookie.status(), StatusCode::OK, "{db:?}");
        // …but without it waits like everyone else, right password or not.
        let without = attempt(&ts, password("owner", PASSWORD), "192.0.2.77", None).await;
        assert_eq!(without.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(without.headers().contains_key("retry-after"));
        let err: Value = without.json().await.expect("json");
        assert_eq!(err["error"]["code"], "rate_limited", "{err}");
        // A device cookie only counts for its own user.
        add_user(&ts, "other", Role::Operator).await;
        let (_, _) = spray(&ts, "other", &addresses(1, 30), 1).await;
        let borrowed = attempt(
            &ts,
            password("other", PASSWORD),
            "192.0.2.99",
            Some(&device),
        )
        .await;
        assert_eq!(borrowed.status(), StatusCode::TOO_MANY_REQUESTS);

        // A stolen device cookie buys only the device's own small budget.
        let mut device_statuses = Vec::new();
        for _ in 0..7 {
            let r = attempt(&ts, password("owner", WRONG), "192.0.2.99", Some(&device)).await;
            device_statuses.push(r.status().as_u16());
        }
        assert_eq!(device_statuses, [401, 401, 401, 401, 401, 429, 429]);
        ts.stop().await;
    }
}

#[tokio::test]
async fn unknown_and_known_accounts_meet_the_same_budget() {
    let ts = TestServer::start_with(Db::Sqlite, behind_a_proxy).await;
    add_user(&ts, "real", Role::Operator).await;
    let (known, known_runs) = spray(&ts, "real", &addresses(0, 40), 1).await;
    let (unknown, unknown_runs) = spray(&ts, "ghost", &addresses(1, 40), 1).await;
    assert_eq!(known, unknown);
    assert_eq!(known_runs, unknown_runs);
    assert_eq!(known_runs, u64::from(ACCOUNT_BUDGET));
    ts.stop().await;
}

#[tokio::test]
async fn ipv6_addresses_in_one_64_share_a_budget() {
    let ts = TestServer::start_with(Db::Sqlite, behind_a_proxy).await;
    add_user(&ts, "carol", Role::Operator).await;
    // Five failures (the pair budget), each from another address of one /64.
    for host in 1..=5 {
        let r = attempt(
            &ts,
            password("carol", WRONG),
            &format!("2001:db8:1:2::{host:x}"),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Any other address of that /64 now waits…
    let same_64 = attempt(
        &ts,
        password("carol", PASSWORD),
        "2001:db8:1:2:ffff:ffff:ffff:fffe",
        None,
    )
    .await;
    assert_eq!(same_64.status(), StatusCode::TOO_MANY_REQUESTS);
    // …while the next /64 is another client.
    let next_64 = attempt(&ts, password("carol", PASSWORD), "2001:db8:1:3::1", None).await;
    assert_eq!(next_64.status(), StatusCode::OK);
    ts.stop().await;
}

#[tokio::test]
async fn second_factor_guessing_is_cut_off_per_account() {
    let ts = TestServer::start_with(Db::Sqlite, behind_a_proxy).await;
    add_user(&ts, "dana", Role::Operator).await;
    let first = attempt(&ts, password("dana", PASSWORD), "192.0.2.10", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let device = device_cookie(&first);
    let session = sign_in(&ts, "dana").await;
    // Enrol TOTP.
    let post = |path: &str| {
        ts.anon
            .post(ts.url(path))
            .header("cookie", &session.cookie)
            .header("x-csrf-token", &session.csrf)
            .header("origin", format!("http://{}", ts.addr))
    };
    let enrol: Value = post("/api/v1/auth/totp/enroll")
        .send()
        .await
        .expect("enrol")
        .json()
        .await
        .expect("json");
    let uri = enrol["otpauth_uri"].as_str().expect("uri");
    let code = vigil_auth::totp::current_code(uri).expect("code");
    let confirmed: Value = post("/api/v1/auth/totp/confirm")
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("confirm")
        .json()
        .await
        .expect("json");
    let recovery = confirmed["recovery_codes"][0]
        .as_str()
        .expect("recovery code")
        .to_string();

    // The password is known to the attacker; the codes are guessed from many addresses.
    let mut statuses = Vec::new();
    for (i, ip) in addresses(0, 20).iter().enumerate() {
        let guess = json!({"username": "dana", "password": PASSWORD, "totp": format!("{:06}", i * 7919 % 1_000_000)});
        statuses.push(attempt(&ts, guess, ip, None).await.status().as_u16());
    }
    let budget = SECOND_FACTOR_BUDGET as usize;
    assert!(statuses[..budget].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[budget..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(audited_lockouts(&ts, "second_factor").await, 1);

    // Without the device cookie even a right recovery code waits (and is not spent)…
    let with_code = json!({"username": "dana", "password": PASSWORD, "totp": recovery});
    let without = attempt(&ts, with_code.clone(), "192.0.2.10", None).await;
    assert_eq!(without.status(), StatusCode::TOO_MANY_REQUESTS);
    // …with it, the owner signs in.
    let owner = attempt(&ts, with_code, "192.0.2.10", Some(&device)).await;
    assert_eq!(owner.status(), StatusCode::OK);
    ts.stop().await;
}

/// A password confirmation (creating an API key) from the signed-in `session`.
async fn confirm(ts: &TestServer, session: &crate::identity::Session, pw: &str) -> Response {
    ts.anon
        .post(ts.url("/api/v1/apikeys"))
        .header("cookie", &session.cookie)
        .header("origin", format!("http://{}", ts.addr))
        .header("x-csrf-token", &session.csrf)
        .json(&json!({"name": "k", "role": "viewer", "current_password": pw}))
        .send()
        .await
        .expect("confirmation request")
}

#[tokio::test]
async fn simultaneous_wrong_confirmations_are_held_to_the_budget() {
    const BUDGET: u32 = 3;
    for db in databases() {
        let ts = TestServer::start_with(db, |s| {
            s.auth.reauth_window_secs = 0;
            s.auth.max_failures = BUDGET;
        })
        .await;
        add_user(&ts, "root", Role::Admin).await;
        let session = sign_in(&ts, "root").await;
        let before = ts.state.identity.passwords.verifications();
        let answers = join_all((0..20).map(|_| confirm(&ts, &session, WRONG))).await;
        let runs = ts.state.identity.passwords.verifications() - before;
        let statuses: Vec<StatusCode> = answers.iter().map(Response::status).collect();
        assert!(
            runs <= u64::from(BUDGET),
            "{runs} Argon2 runs: {statuses:?}"
        );
        let tried = statuses
            .iter()
            .filter(|s| **s == StatusCode::FORBIDDEN)
            .count();
        assert_eq!(tried as u64, runs, "{statuses:?}");
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count(),
            20 - tried,
            "{statuses:?}"
        );
        ts.stop().await;
    }
}

#[tokio::test]
async fn failed_logins_sprayed_at_the_account_do_not_block_its_owners_confirmations() {
    let ts = TestServer::start_with(Db::Sqlite, |s| {
        behind_a_proxy(s);
        s.auth.reauth_window_secs = 0;
    })
    .await;
    add_user(&ts, "owner", Role::Admin).await;
    let session = sign_in(&ts, "owner").await;
    let (statuses, _) = spray(&ts, "owner", &addresses(3, 30), 5).await;
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "the account budget is full: {statuses:?}"
    );
    // The owner, signed in before, still confirms with their password.
    let r = confirm(&ts, &session, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    ts.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_the_device_cookies_of_the_old_password() {
    let ts = TestServer::start_with(Db::Sqlite, behind_a_proxy).await;
    let owner = add_user(&ts, "owner", Role::Operator).await;
    let earlier = attempt(&ts, password("owner", PASSWORD), "192.0.2.10", None).await;
    assert_eq!(earlier.status(), StatusCode::OK);
    let device = device_cookie(&earlier);
    // The password changes (a reset, say: whoever knew the old one kept that browser).
    let new_password = "marble heron counts the slow barges";
    vigil_auth::users::set_password(
        &ts.state.db,
        &ts.state.identity.passwords,
        &owner.id,
        new_password,
    )
    .await
    .expect("set the password");
    let (statuses, _) = spray(&ts, "owner", &addresses(4, 30), 5).await;
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The old cookie has no budget of its own any more: the full account budget holds.
    let with_old_cookie = attempt(
        &ts,
        password("owner", new_password),
        "192.0.2.10",
        Some(&device),
    )
    .await;
    assert_eq!(with_old_cookie.status(), StatusCode::TOO_MANY_REQUESTS);
    ts.stop().await;
}
