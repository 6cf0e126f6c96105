//! The supervised runtime on a real `vigil serve`: background tasks are listed in
//! `/readyz` and `/metrics`, do their work, and stop cleanly on SIGTERM within the grace
//! period (acceptance point 7).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{vigil, ChildServer};

/// How long the test allows for shutdown (`server.shutdown_grace_secs`).
const GRACE_SECS: u64 = 5;

/// Polls the server's log until it contains `needle`, or fails after `within`.
fn wait_for_log(server: &ChildServer, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "`{needle}` never appeared in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn sigterm_stops_background_tasks_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = vigil();
    cmd.env("VIGIL_AUTH__PURGE_INTERVAL_SECS", "1")
        .env("VIGIL_SERVER__SHUTDOWN_GRACE_SECS", GRACE_SECS.to_string());
    let mut server = ChildServer::start_cmd(cmd, &data);
    let client = server.client();

    // While running, /readyz lists the purge task as running and healthy.
    let ready: Value = client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["tasks"]["ok"], true, "{ready}");
    let purge = ready["tasks"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "purge")
        .unwrap_or_else(|| panic!("no purge task in /readyz: {ready}"));
    assert_eq!(purge["state"], "running", "{ready}");
    assert_eq!(purge["restarts"], 0, "{ready}");

    // Give the purge work: a reset link, used, is a spent token it must delete. Users
    // and reset links are made by people (API keys cannot).
    let admin = server.admin_session("ruth").await;
    let user: Value = admin
        .post(server.url("/api/v1/users"))
        .json(&json!({"username": "rita", "password": "a long first passphrase", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link: Value = admin
        .post(server.url(&format!(
            "/api/v1/users/{}/reset-link",
            user["id"].as_str().unwrap()
        )))
        .send()
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
        .unwrap();
    let reset = reqwest::Client::new()
        .post(server.url("/api/v1/auth/reset"))
        .json(&json!({"token": token, "password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    wait_for_log(
        &server,
        "purged ended sessions and spent one-time tokens",
        Duration::from_secs(20),
    );

    // The metrics show the task up.
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vigil_task_up{task=\"purge\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vigil_task_restarts_total{task=\"purge\"} 0"),
        "{metrics}"
    );

    // SIGTERM: the task sees the shutdown and the process exits cleanly within the grace.
    let sent = Instant::now();
    let code = server.terminate();
    let took = sent.elapsed();
    assert_eq!(code, Some(0), "exit status");
    assert!(
        took < Duration::from_secs(GRACE_SECS),
        "shutdown took {took:?}, longer than the {GRACE_SECS} s grace period"
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    let requested = log.find("shutdown requested").expect("shutdown logged");
    let stopped = log
        .find("purge task stopped for shutdown")
        .unwrap_or_else(|| panic!("the purge task did not log its stop:\n{log}"));
    assert!(requested < stopped, "{log}");
    assert!(log.contains("background tasks stopped"), "{log}");
    assert!(
        !log.contains("did not stop within the shutdown grace period"),
        "{log}"
    );
    assert!(log.contains("shutdown complete"), "{log}");
}
