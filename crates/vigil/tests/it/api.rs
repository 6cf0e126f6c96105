//! The HTTP contract: security headers, the error shape, limits, health, metrics,
//! OpenAPI, uploads — on every database.

use axum::routing::get;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{databases, png, sha256, Db, TestServer};

const REQUIRED_HEADERS: &[(&str, &str)] = &[
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("cross-origin-opener-policy", "same-origin"),
];

fn assert_security_headers(resp: &reqwest::Response) {
    let h = resp.headers();
    for (name, value) in REQUIRED_HEADERS {
        assert_eq!(
            h.get(*name).and_then(|v| v.to_str().ok()),
            Some(*value),
            "{name} on {}",
            resp.url()
        );
    }
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("CSP");
    if resp.url().path().ends_with("/content") {
        // Media routes answer everything, errors too, with the sandboxing CSP.
        assert_eq!(csp, "sandbox; default-src 'none'", "{}", resp.url());
    } else {
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
    }
    let pp = h
        .get("permissions-policy")
        .and_then(|v| v.to_str().ok())
        .expect("Permissions-Policy");
    // No page captures today: camera and microphone are denied on every response.
    for needed in [
        "camera=()",
        "microphone=()",
        "geolocation=()",
        "payment=()",
        "usb=()",
    ] {
        assert!(pp.contains(needed), "{pp} lacks {needed}");
    }
    assert!(
        h.get("x-request-id").is_some(),
        "X-Request-Id on {}",
        resp.url()
    );
}

async fn error_of(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status, "{}", resp.url());
    assert_security_headers(&resp);
    let rid = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "error content type"
    );
    let body: Value = resp.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body["error"]["request_id"].as_str(),
        rid.as_deref(),
        "request id in body and header"
    );
    body
}

#[tokio::test]
async fn healthz_answers_ok_with_every_security_header() {
    let s = TestServer::start(Db::Sqlite).await;
    let resp = s
        .client
        .get(s.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_security_headers(&resp);
    assert!(
        resp.headers().get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP in development"
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    s.stop().await;
}

#[tokio::test]
async fn errors_from_every_layer_share_the_json_shape() {
    for db in databases() {
        let s = TestServer::start(db).await;
        let c = &s.client;
        let nope = c.get(s.url("/nope")).send().await.expect("req");
        let body = error_of(nope, StatusCode::NOT_FOUND, "not_found").await;
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/nope")));

        let wrong_method = c
            .delete(s.url("/api/v1/uploads"))
            .send()
            .await
            .expect("req");
        error_of(
            wrong_method,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;

        let id = "0123456789abcdef0123456789abcdef";
        let (status, body) = crate::harness::post_declaring_length(
            s.addr,
            &s.api_key,
            "/api/v1/auth/login",
            "application/json",
            20 * 1024 * 1024,
        )
        .await;
        assert_eq!(status, 413);
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");

        let malformed = c
            .patch(s.url(&format!("/api/v1/uploads/{id}")))
            .header("content-type", "application/json")
            .body("{\"name\": ")
            .send()
            .await
            .expect("req");
        error_of(malformed, StatusCode::BAD_REQUEST, "invalid_json").await;

        let wrong_type = c
            .patch(s.url(&format!("/api/v1/uploads/{id}")))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .expect("req");
        error_of(
            wrong_type,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;

        let wrong_shape = c
            .patch(s.url(&format!("/api/v1/uploads/{id}")))
            .json(&serde_json::json!({"name": 42}))
            .send()
            .await
            .expect("req");
        error_of(
            wrong_shape,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;

        // serde alone reads a struct from an array of its fields: `[]` cleared the name.
        for not_an_object in [
            serde_json::json!([]),
            serde_json::json!(["x"]),
            serde_json::json!(null),
        ] {
            let resp = c
                .patch(s.url(&format!("/api/v1/uploads/{id}")))
                .json(&not_an_object)
                .send()
                .await
                .expect("req");
            error_of(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        }

        let bad_query = c
            .get(s.url("/api/v1/uploads?limit=lots"))
            .send()
            .await
            .expect("req");
        error_of(bad_query, StatusCode::BAD_REQUEST, "bad_request").await;
        s.stop().await;
    }
}

#[tokio::test]
async fn a_handler_panic_becomes_a_logged_json_500() {
    let s = TestServer::start(Db::Sqlite).await;
    let app = axum::Router::new().route(
        "/boom",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("secret internal detail /etc/vigil");
            }
            "unreachable"
        }),
    );
    let app = vigil_server::with_global_layers(app, &s.state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let resp = s
        .client
        .get(format!("http://{addr}/boom"))
        .send()
        .await
        .expect("connection kept");
    let body = error_of(resp, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    let text = body.to_string();
    assert!(
        !text.contains("secret internal detail") && !text.contains("/etc/vigil"),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test]
async fn request_ids_are_propagated_when_sane_and_replaced_otherwise() {
    let s = TestServer::start(Db::Sqlite).await;
    let kept = s
        .client
        .get(s.url("/healthz"))
        .header("x-request-id", "trace-abc_123.x")
        .send()
        .await
        .expect("req");
    assert_eq!(kept.headers()["x-request-id"], "trace-abc_123.x");
    let replaced = s
        .client
        .get(s.url("/healthz"))
        .header("x-request-id", "bad id with spaces and <tags>")
        .send()
        .await
        .expect("req");
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_ne!(id, "bad id with spaces and <tags>");
    assert_eq!(id.len(), 36, "a UUID");
    s.stop().await;
}

/// `/readyz` until its status is `status`, or panics after ten seconds (the probes run
/// every second in these tests).
async fn readyz_until(s: &TestServer, client: &reqwest::Client, status: StatusCode) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let resp = client.get(s.url("/readyz")).send().await.expect("req");
        let got = resp.status();
        let body: Value = resp.json().await.expect("json");
        if got == status {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz stayed {got}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The keys of a JSON object.
fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn readyz_tells_anonymous_callers_only_readiness_and_viewers_the_details() {
    for db in databases() {
        let s = TestServer::start_with(db, |c| c.server.readiness_interval_secs = 1).await;
        let anonymous = readyz_until(&s, &s.anon, StatusCode::OK).await;
        assert_eq!(anonymous, serde_json::json!({"status": "ready"}));

        let (viewer, _) =
            vigil_auth::apikeys::create(&s.state.db, "probe", vigil_auth::Role::Viewer, None, None)
                .await
                .expect("viewer key");
        let details = readyz_until(
            &s,
            &crate::harness::client_with_key(&viewer),
            StatusCode::OK,
        )
        .await;
        assert_eq!(details["status"], "ready");
        assert_eq!(details["database"]["ok"], true);
        assert_eq!(details["storage"]["ok"], true);
        assert_eq!(
            details["database"]["detail"],
            if db == Db::Sqlite {
                "sqlite"
            } else {
                "postgres"
            }
        );
        assert!(
            details["storage"]["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{details}"
        );
        assert!(details["tasks"]["tasks"].is_array(), "{details}");
        assert_eq!(details["vision"]["enabled"], false, "{details}");

        // The database goes away: 503 names it, to anyone, and still says nothing more.
        s.state.db.pool().close().await;
        let anonymous = readyz_until(&s, &s.anon, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(keys(&anonymous), ["failing", "status"], "{anonymous}");
        assert_eq!(anonymous["status"], "not ready");
        assert_eq!(anonymous["failing"], serde_json::json!(["database"]));
        s.stop().await;
    }
}

/// A blob store that stops accepting writes makes `/readyz` answer 503 naming `storage`.
#[tokio::test]
async fn readyz_names_a_failing_blob_store() {
    let s = TestServer::start_with(Db::Sqlite, |c| c.server.readiness_interval_secs = 1).await;
    readyz_until(&s, &s.anon, StatusCode::OK).await;
    // Writes are staged in `.tmp`: a file in its place makes every write fail (even for
    // root, which file modes would not stop).
    let staging = s.state.settings.blob_dir().join(".tmp");
    std::fs::remove_dir_all(&staging).expect("remove staging");
    std::fs::write(&staging, b"not a folder").expect("block staging");
    let body = readyz_until(&s, &s.anon, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        body,
        serde_json::json!({"status": "not ready", "failing": ["storage"]})
    );
    let details = readyz_until(&s, &s.client, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(details["storage"]["ok"], false, "{details}");
    assert_eq!(details["database"]["ok"], true, "{details}");
    std::fs::remove_file(&staging).expect("unblock");
    std::fs::create_dir(&staging).expect("staging again");
    readyz_until(&s, &s.anon, StatusCode::OK).await;
    s.stop().await;
}

/// Every entry (files and folders) under `dir`, recursively.
fn entries_under(dir: &std::path::Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            count += 1;
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    count
}

/// Anyone may call `/readyz`, so it must cost no I/O: a thousand anonymous calls write no
/// blob. (The probe's blob is deleted after each write, so the writes are seen in what
/// they leave: the shard folder each one makes, and the staging folder's change time.)
#[tokio::test]
async fn a_thousand_anonymous_readyz_calls_write_no_blob() {
    let s = TestServer::start_with(Db::Sqlite, |c| c.server.readiness_interval_secs = 3600).await;
    readyz_until(&s, &s.anon, StatusCode::OK).await;
    let blobs = s.state.settings.blob_dir();
    let staging = blobs.join(".tmp");
    let mtime = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let (entries, staging_changed) = (entries_under(&blobs), mtime(&staging));
    for _ in 0..1000 {
        let resp = s.anon.get(s.url("/readyz")).send().await.expect("req");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert_eq!(entries_under(&blobs), entries, "no blob folder was made");
    assert_eq!(mtime(&staging), staging_changed, "nothing was staged");
    s.stop().await;
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_requests() {
    let s = TestServer::start(Db::Sqlite).await;
    for _ in 0..3 {
        s.client.get(s.url("/healthz")).send().await.expect("req");
    }
    s.client.get(s.url("/nope")).send().await.expect("req");
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let healthz = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "vigil_http_requests_total"
                && s.labels.get("route") == Some("/healthz")
                && s.labels.get("status") == Some("200")
        })
        .expect("healthz counter");
    // OpenMetrics names the family without `_total`, so this classic-format parser reads
    // the sample as untyped; the value is what matters.
    assert!(
        matches!(healthz.value, prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) if v >= 3.0),
        "{:?}",
        healthz.value
    );
    assert!(
        text.trim_end().ends_with("# EOF"),
        "a complete OpenMetrics exposition"
    );
    for name in [
        "vigil_http_request_duration_seconds_count",
        "vigil_http_requests_in_flight",
        "vigil_db_pool_connections",
        "vigil_build_info",
    ] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == name),
            "{name} missing"
        );
    }
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "vigil_http_requests_total"
                && s.labels.get("route") == Some("unmatched")),
        "unknown paths are grouped, never recorded raw"
    );
    s.stop().await;
}

#[tokio::test]
async fn metrics_can_move_to_their_own_listener() {
    let port = crate::harness::free_port();
    let s = TestServer::start_with(Db::Sqlite, |c| {
        c.server.metrics_listen = Some(format!("127.0.0.1:{port}").parse().expect("addr"));
    })
    .await;
    let public = s.client.get(s.url("/metrics")).send().await.expect("req");
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let private = s
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("req");
    assert_eq!(private.status(), StatusCode::OK);
    assert_security_headers(&private);
    s.stop().await;
}

#[tokio::test]
async fn openapi_document_and_docs_page_are_served() {
    let s = TestServer::start(Db::Sqlite).await;
    let doc: Value = s
        .client
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/uploads",
        "/api/v1/uploads/{id}",
        "/api/v1/uploads/{id}/content",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    let page = s
        .client
        .get(s.url("/api/v1/docs"))
        .send()
        .await
        .expect("req");
    assert_eq!(page.status(), StatusCode::OK);
    assert_security_headers(&page);
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style"
    );
    for asset in [
        "/assets/vendor/swagger-ui/swagger-ui-bundle.js",
        "/assets/js/api-docs.js",
        "/assets/css/vigil.css",
    ] {
        assert!(html.contains(asset), "{asset} referenced");
        let resp = s.client.get(s.url(asset)).send().await.expect("req");
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        assert_security_headers(&resp);
    }
    let traversal = s
        .client
        .get(s.url("/assets/..%2f..%2fCargo.toml"))
        .send()
        .await
        .expect("req");
    assert_eq!(traversal.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let s = TestServer::start_with(Db::Sqlite, |c| {
        c.server.cors_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let allowed = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/api/v1/uploads"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("req");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://app.example.com"[..])
    );
    let denied = s
        .client
        .get(s.url("/healthz"))
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .expect("req");
    assert!(denied
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    s.stop().await;
}

#[tokio::test]
async fn uploads_round_trip_on_every_database() {
    for db in databases() {
        let s = TestServer::start(db).await;
        let c = &s.client;
        let bytes = png(7);
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name("../../secret/face.png"),
        );
        let resp = c
            .post(s.url("/api/v1/uploads"))
            .multipart(form)
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: Value = resp.json().await.expect("json");
        let id = created["id"].as_str().expect("id").to_string();
        assert_eq!(created["content_type"], "image/png");
        assert_eq!(created["name"], "face.png", "no path survives");
        assert_eq!(created["sha256"], sha256(&bytes));

        let raw = c
            .post(s.url("/api/v1/uploads"))
            .body(png(8))
            .send()
            .await
            .expect("req");
        assert_eq!(
            raw.status(),
            StatusCode::CREATED,
            "raw bodies are accepted too"
        );

        let content = c
            .get(s.url(&format!("/api/v1/uploads/{id}/content")))
            .send()
            .await
            .expect("req");
        assert_eq!(content.headers()["content-type"], "image/png");
        assert_eq!(
            content.bytes().await.expect("bytes").as_ref(),
            bytes.as_slice()
        );

        let list: Value = c
            .get(s.url("/api/v1/uploads?limit=10"))
            .send()
            .await
            .expect("req")
            .json()
            .await
            .expect("json");
        assert_eq!(list.as_array().map(Vec::len), Some(2));

        let renamed: Value = c
            .patch(s.url(&format!("/api/v1/uploads/{id}")))
            .json(&serde_json::json!({"name": "entrance.png"}))
            .send()
            .await
            .expect("req")
            .json()
            .await
            .expect("json");
        assert_eq!(renamed["name"], "entrance.png");

        let text = c
            .post(s.url("/api/v1/uploads"))
            .body("just some text, not media")
            .send()
            .await
            .expect("req");
        error_of(
            text,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        let empty = c
            .post(s.url("/api/v1/uploads"))
            .body(Vec::<u8>::new())
            .send()
            .await
            .expect("req");
        error_of(empty, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let traversal = c
            .get(s.url("/api/v1/uploads/..%2f..%2fvigil.db/content"))
            .send()
            .await
            .expect("req");
        error_of(traversal, StatusCode::NOT_FOUND, "not_found").await;

        let gone = c
            .delete(s.url(&format!("/api/v1/uploads/{id}")))
            .send()
            .await
            .expect("req");
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
        let again = c
            .get(s.url(&format!("/api/v1/uploads/{id}")))
            .send()
            .await
            .expect("req");
        error_of(again, StatusCode::NOT_FOUND, "not_found").await;
        s.stop().await;
    }
}

#[tokio::test]
async fn slow_header_senders_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(Db::Sqlite, |c| c.server.header_read_timeout_secs = 1).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut buf),
    )
    .await;
    assert!(
        read.is_ok(),
        "the server closes a connection that never finishes its headers"
    );
    s.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_an_upload_in_flight() {
    let s = TestServer::start(Db::Sqlite).await;
    let url = s.url("/api/v1/uploads");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let client = s.client.clone();
    let request = tokio::spawn(async move { client.post(url).body(body).send().await });
    let bytes = png(99);
    let (head, tail) = bytes.split_at(10);
    tx.send(Ok(head.to_vec())).await.expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let db = s.state.db.clone();
    let stopping = tokio::spawn(s.stop());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tx.send(Ok(tail.to_vec())).await.expect("send");
    drop(tx);
    let resp = request
        .await
        .expect("join")
        .expect("the in-flight request completes");
    assert_eq!(resp.status(), StatusCode::CREATED);
    stopping.await.expect("stopped");
    drop(db);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Served media answer with a CSP that sandboxes them and loads nothing, whatever the
/// answer (whole file, range, not modified, unsatisfiable range); pages keep the console
/// CSP. Camera and microphone are denied everywhere (no page declares capture).
#[tokio::test]
async fn served_media_are_sandboxed_and_no_response_allows_the_camera() {
    const MEDIA_CSP: &str = "sandbox; default-src 'none'";
    let s = TestServer::start(Db::Sqlite).await;
    let created: Value = s
        .client
        .post(s.url("/api/v1/uploads"))
        .body(png(11))
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let content = s.url(&format!(
        "/api/v1/uploads/{}/content",
        created["id"].as_str().expect("id")
    ));
    let sha = created["sha256"].as_str().expect("sha256");
    let cases = [
        (None, StatusCode::OK),
        (
            Some(("range", "bytes=0-3".to_string())),
            StatusCode::PARTIAL_CONTENT,
        ),
        (
            Some(("if-none-match", format!("\"{sha}\""))),
            StatusCode::NOT_MODIFIED,
        ),
        (
            Some(("range", "bytes=999999-".to_string())),
            StatusCode::RANGE_NOT_SATISFIABLE,
        ),
    ];
    for (header, status) in cases {
        let mut req = s.client.get(&content);
        if let Some((name, value)) = &header {
            req = req.header(*name, value);
        }
        let resp = req.send().await.expect("content");
        assert_eq!(resp.status(), status, "{header:?}");
        let csp: Vec<_> = resp
            .headers()
            .get_all("content-security-policy")
            .iter()
            .collect();
        assert_eq!(csp, [MEDIA_CSP], "{header:?}");
        let pp = resp.headers()["permissions-policy"]
            .to_str()
            .expect("ascii");
        assert!(pp.contains("camera=()"), "{pp}");
    }
    for path in [
        "/login",
        "/setup",
        "/api/v1/uploads",
        "/assets/js/console.js",
    ] {
        let resp = s.client.get(s.url(path)).send().await.expect("get");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let pp = resp.headers()["permissions-policy"]
            .to_str()
            .expect("ascii");
        assert!(
            pp.contains("camera=()") && pp.contains("microphone=()"),
            "{path}: {pp}"
        );
    }
    s.stop().await;
}
