//! Rate limits over real HTTP: headers counting down, the JSON 429, separate budgets per
//! client and per configured route, exempt routes, and two `vigil serve` processes
//! sharing one budget through a real Redis.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::harness::{redis_url, vigil, ChildServer, Db, TestServer};

/// A limited route that exists today.
const LIMITED: &str = "/api/v1/uploads";

/// Makes `req` come from the client holding `key` (budgets are per API key).
fn as_client(req: RequestBuilder, key: &str) -> RequestBuilder {
    req.header("x-api-key", key)
}

/// A fresh viewer API key: one client.
async fn client_key(server: &TestServer, n: u8) -> String {
    let name = format!("client {n}");
    let (key, _) = vigil_auth::apikeys::create(
        &server.state.db,
        &name,
        vigil_auth::Role::Viewer,
        None,
        None,
    )
    .await
    .expect("create a client key");
    key
}

/// Waits, if needed, so that the next ~10 s lie inside one minute window: the tests
/// count on no window boundary falling between their requests.
async fn wait_for_fresh_minute() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let into_minute = now.as_millis() % 60_000;
    if into_minute > 48_000 {
        let wait = 60_000 - into_minute + 200;
        eprintln!("note: waiting {wait} ms for a fresh minute window");
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

fn header(resp: &reqwest::Response, name: &str) -> Option<u64> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// (X-RateLimit-Limit, X-RateLimit-Remaining) of a response that must carry them,
/// checking X-RateLimit-Reset is within the minute window.
fn counters(resp: &reqwest::Response) -> (u64, u64) {
    let what = format!("{} {}", resp.status(), resp.url());
    let limit = header(resp, "x-ratelimit-limit").unwrap_or_else(|| panic!("Limit on {what}"));
    let remaining =
        header(resp, "x-ratelimit-remaining").unwrap_or_else(|| panic!("Remaining on {what}"));
    let reset = header(resp, "x-ratelimit-reset").unwrap_or_else(|| panic!("Reset on {what}"));
    assert!((1..=60).contains(&reset), "reset {reset} s on {what}");
    (limit, remaining)
}

/// Checks a refusal: 429, the counters at zero, Retry-After within the window and our
/// JSON error shape.
async fn assert_refused(resp: reqwest::Response) {
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        resp.url()
    );
    assert_eq!(counters(&resp).1, 0);
    let retry = header(&resp, "retry-after").expect("Retry-After on a 429");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = resp.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().is_some(), "{body}");
    assert!(body["error"]["request_id"].as_str().is_some(), "{body}");
}

async fn limited_server(default: &[&str], routes: &[(&str, &str)]) -> TestServer {
    TestServer::start_with(Db::Sqlite, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.default = default.iter().map(|r| r.to_string()).collect();
        for (route, rate) in routes {
            s.rate_limit
                .routes
                .insert(route.to_string(), vec![rate.to_string()]);
        }
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await
}

#[tokio::test]
async fn ratelimit_headers_count_down_then_a_json_429_with_retry_after() {
    let server = limited_server(&["3/minute"], &[]).await;
    let (one, two) = (client_key(&server, 1).await, client_key(&server, 2).await);
    wait_for_fresh_minute().await;
    let get = || as_client(server.anon.get(server.url(LIMITED)), &one);

    for expected in [2, 1, 0] {
        let resp = get().send().await.expect("request");
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(counters(&resp), (3, expected));
    }
    assert_refused(get().send().await.expect("request")).await;
    assert_refused(get().send().await.expect("request")).await;

    // Another client has its own budget.
    let other = as_client(server.anon.get(server.url(LIMITED)), &two)
        .send()
        .await
        .expect("request");
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(counters(&other), (3, 2));

    // Health, metrics and the API docs are not limited and carry no headers.
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        let resp = as_client(server.anon.get(server.url(path)), &one)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(
            resp.headers().get("x-ratelimit-limit").is_none(),
            "{path} has no rate-limit headers"
        );
    }
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("vigil_rate_limited_total{scope=\"default\"} 2"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn ratelimit_a_configured_route_has_its_own_budget_on_top_of_the_default() {
    let server = limited_server(&["5/minute"], &[("GET /api/v1/uploads", "2/minute")]).await;
    let one = client_key(&server, 1).await;
    wait_for_fresh_minute().await;
    let send = |path: &str| as_client(server.anon.get(server.url(path)), &one).send();

    // The route's own budget is the tighter one, so the headers describe it.
    assert_eq!(counters(&send(LIMITED).await.expect("request")), (2, 1));
    assert_eq!(counters(&send(LIMITED).await.expect("request")), (2, 0));
    assert_refused(send(LIMITED).await.expect("request")).await;
    // Other API routes spend only the default budget, which those three requests
    // also spent from.
    let resp = send("/api/v1/uploads/does-not-exist")
        .await
        .expect("request");
    assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(counters(&resp), (5, 1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratelimit_two_processes_on_one_redis_enforce_one_shared_limit() {
    let Some(url) = redis_url() else {
        eprintln!(
            "note: Redis rate-limit test skipped (set VIGIL_TEST_REDIS_URL=redis://… to run it)"
        );
        return;
    };
    // A prefix of its own so reruns and parallel runs never share counters.
    let prefix = format!("vigil:test:{}:", rand::random::<u64>());
    let dir = tempfile::tempdir().expect("tempdir");
    // Both processes share one database (SQLite in WAL mode allows that), so the API
    // key made for the first is known to the second: one caller, one budget.
    let data = dir.path().join("shared");
    std::fs::create_dir_all(&data).expect("mkdir");
    let start = |_name: &str| {
        let mut cmd = vigil();
        cmd.env("VIGIL_REDIS_URL", &url)
            .env("VIGIL_RATE_LIMIT__ENABLED", "true")
            .env("VIGIL_RATE_LIMIT__DEFAULT", r#"["5/minute"]"#)
            .env("VIGIL_RATE_LIMIT__REDIS_PREFIX", &prefix);
        ChildServer::start_cmd(cmd, &data)
    };
    let a = start("a");
    let b = start("b");
    let client = reqwest::Client::new();

    let ready: Value = as_client(client.get(a.url("/readyz")), &a.api_key)
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("JSON");
    assert_eq!(ready["redis"]["ok"], true, "{ready}");

    wait_for_fresh_minute().await;
    let mut seen = Vec::new();
    for server in [&a, &b, &a, &b, &a] {
        let resp = as_client(client.get(server.url(LIMITED)), &a.api_key)
            .send()
            .await
            .expect("request");
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        seen.push(counters(&resp));
    }
    assert_eq!(seen, [(5, 4), (5, 3), (5, 2), (5, 1), (5, 0)]);
    for server in [&a, &b] {
        let resp = as_client(client.get(server.url(LIMITED)), &a.api_key)
            .send()
            .await
            .expect("request");
        assert_refused(resp).await;
    }
}

#[tokio::test]
async fn ratelimit_with_redis_down_requests_are_served_unlimited_and_readyz_says_so() {
    let server = TestServer::start_with(Db::Sqlite, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.default = vec!["1/minute".into()];
        s.rate_limit.login = vec!["2/minute".into()];
        // Nothing listens on port 1: every connection is refused at once.
        s.redis_url = Some(vigil_config::Secret::new("redis://127.0.0.1:1"));
    })
    .await;
    let one = client_key(&server, 1).await;
    for _ in 0..3 {
        let resp = as_client(server.anon.get(server.url(LIMITED)), &one)
            .send()
            .await
            .expect("request");
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "fails open");
        assert!(resp.headers().get("x-ratelimit-limit").is_none());
    }
    let resp = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a limiter outage is not an outage"
    );
    let ready: Value = resp.json().await.expect("JSON");
    assert_eq!(ready["redis"]["ok"], false, "{ready}");
    assert_eq!(ready["redis"]["detail"], "redis 127.0.0.1:1", "{ready}");
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("vigil_rate_limit_store_errors_total 3"),
        "{metrics}"
    );

    // The login budget does not fail open: it is kept in this instance's memory.
    wait_for_fresh_minute().await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let resp = server
            .anon
            .post(server.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "nobody", "password": "wrong password 1"}))
            .send()
            .await
            .expect("login");
        statuses.push(resp.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "login stays limited while Redis is down"
    );
    server.stop().await;
}
