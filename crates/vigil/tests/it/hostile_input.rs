//! Inputs the schemathesis contract run (`scripts/api-contract.sh`) found to break the
//! server, pinned on every database: each must get its documented 4xx, never a 5xx.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{databases, TestServer};

/// PostgreSQL refuses a NUL in text: a login whose username carried one reached the
/// failed-login throttle's query and came back as 503 `service_unavailable`. It is a
/// wrong login like any other: 401, and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_with_control_characters_in_the_name_is_refused_as_unknown() {
    for db in databases() {
        let server = TestServer::start(db).await;
        for name in ["a\u{0}b", "\u{0}", "root\u{7}\u{1b}[2J"] {
            let resp = server
                .anon
                .post(server.url("/api/v1/auth/login"))
                .json(&json!({"username": name, "password": "not-the-password"}))
                .send()
                .await
                .expect("login");
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{db:?} {name:?}");
            let body: Value = resp.json().await.expect("json");
            assert_eq!(body["error"]["code"], "unauthorized", "{db:?} {name:?}");
        }
        let audit: Value = server
            .client
            .get(server.url("/api/v1/audit?action=auth.login&outcome=failure"))
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        let names: Vec<&str> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|r| r["detail"]["username"].as_str())
            .collect();
        assert!(names.contains(&"a\u{FFFD}b"), "{db:?}: {names:?}");
        server.stop().await;
    }
}
