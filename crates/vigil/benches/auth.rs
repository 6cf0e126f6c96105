//! The access layer's per-request cost, with and without the auth cache.
//!
//! Builds a real application on a fresh SQLite file (or on PostgreSQL when
//! `VIGIL_BENCH_DATABASE_URL` names an empty database) and sends `GET /api/v1/auth/me`,
//! the cheapest authenticated route, through the full router in process (no sockets, so
//! the numbers are the server's own work), first with an API key and then with a
//! session cookie, each with `auth.cache_secs = 0` and with the default cache. Prints a
//! table of microseconds per request (median and p99) and requests per second on one
//! task. Run: `cargo bench -p vigil --bench auth` (`-- --requests N` to change the count).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;
use vigil_config::{Profile, Secret, Settings};
use vigil_server::{router, AppState, Application};

const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug)]
enum Credential {
    ApiKey,
    Session,
}

struct Row {
    credential: Credential,
    cache_secs: u64,
    median_us: f64,
    p99_us: f64,
    per_sec: f64,
}

async fn app(cache_secs: u64, dir: &std::path::Path) -> anyhow::Result<Application> {
    let mut s = Settings {
        profile: Profile::Development,
        data_dir: dir.to_path_buf(),
        secret_key: Some(Secret::new("bench-secret-key-0123456789-abcdefghijklmnop")),
        ..Settings::default()
    };
    s.server.listen = "127.0.0.1:0".parse()?;
    s.vision.enabled = false;
    s.rate_limit.enabled = false;
    s.auth.argon2_memory_kib = 8 * 1024;
    s.auth.argon2_iterations = 1;
    s.auth.cache_secs = cache_secs;
    if let Ok(url) = std::env::var("VIGIL_BENCH_DATABASE_URL") {
        s.database.url = Some(Secret::new(url));
    }
    Application::build(s).await
}

/// A request for `/api/v1/auth/me` with `credential`.
fn request(credential: Credential, secret: &str) -> Request<Body> {
    let builder = Request::get("/api/v1/auth/me");
    let builder = match credential {
        Credential::ApiKey => builder.header("x-api-key", secret),
        Credential::Session => builder.header(header::COOKIE, secret),
    };
    builder.body(Body::empty()).unwrap_or_default()
}

/// The credential's header value: a fresh admin key, or a signed-in admin's cookie.
async fn credential(state: &AppState, credential: Credential, n: usize) -> anyhow::Result<String> {
    match credential {
        Credential::ApiKey => {
            let (key, _) = vigil_auth::apikeys::create(
                &state.db,
                &format!("bench {n}"),
                vigil_auth::Role::Admin,
                None,
                None,
            )
            .await?;
            Ok(key)
        }
        Credential::Session => {
            let name = format!("bench{n}");
            vigil_auth::users::create(
                &state.db,
                &state.identity.passwords,
                &name,
                PASSWORD,
                vigil_auth::Role::Admin,
            )
            .await?;
            let login = Request::post("/api/v1/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(
                    r#"{{"username":"{name}","password":"{PASSWORD}"}}"#
                )))?;
            let resp = router(state.clone()).oneshot(login).await?;
            anyhow::ensure!(resp.status() == StatusCode::OK, "login: {}", resp.status());
            let cookie = resp
                .headers()
                .get(header::SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .ok_or_else(|| anyhow::anyhow!("no session cookie"))?;
            Ok(cookie.to_string())
        }
    }
}

async fn measure(
    credential_kind: Credential,
    cache_secs: u64,
    requests: usize,
) -> anyhow::Result<Row> {
    let dir = tempfile::tempdir()?;
    let app = app(cache_secs, dir.path()).await?;
    let state = app.state().clone();
    let secret = credential(&state, credential_kind, 0).await?;
    let service = router(state.clone());
    // Warm-up: connections opened, caches filled, code paged in.
    for _ in 0..50 {
        let resp = service
            .clone()
            .oneshot(request(credential_kind, &secret))
            .await?;
        anyhow::ensure!(resp.status() == StatusCode::OK, "{}", resp.status());
    }
    let mut times = Vec::with_capacity(requests);
    let started = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        let resp = service
            .clone()
            .oneshot(request(credential_kind, &secret))
            .await?;
        times.push(t.elapsed());
        anyhow::ensure!(resp.status() == StatusCode::OK, "{}", resp.status());
    }
    let total = started.elapsed();
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).copied().unwrap_or(Duration::ZERO)
    };
    state.db.close().await;
    Ok(Row {
        credential: credential_kind,
        cache_secs,
        median_us: at(0.5).as_secs_f64() * 1e6,
        p99_us: at(0.99).as_secs_f64() * 1e6,
        per_sec: requests as f64 / total.as_secs_f64(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let requests = args
        .iter()
        .position(|a| a == "--requests")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let database = if std::env::var("VIGIL_BENCH_DATABASE_URL").is_ok() {
        "postgres"
    } else {
        "sqlite"
    };
    println!(
        "GET /api/v1/auth/me through the full router, {requests} sequential requests, {database}"
    );
    println!(
        "{:<10} {:>8} {:>12} {:>12} {:>12}",
        "credential", "cache", "median µs", "p99 µs", "req/s"
    );
    for credential in [Credential::ApiKey, Credential::Session] {
        for cache_secs in [0, 5] {
            let row = measure(credential, cache_secs, requests).await?;
            let cache = if row.cache_secs == 0 {
                "off".to_string()
            } else {
                format!("{}s", row.cache_secs)
            };
            let name = match row.credential {
                Credential::ApiKey => "API key",
                Credential::Session => "session",
            };
            println!(
                "{:<10} {:>8} {:>12.1} {:>12.1} {:>12.0}",
                name, cache, row.median_us, row.p99_us, row.per_sec
            );
        }
    }
    Ok(())
}
