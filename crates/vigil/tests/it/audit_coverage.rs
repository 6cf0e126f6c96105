//! What the audit log records beyond identity changes: uploads created and deleted,
//! reads and exports of the log itself, each with the caller; and refused requests
//! (403), sampled so that a flood leaves a bounded number of records that still count
//! every refusal.

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::Value;
use vigil_auth::audit::{AuditFilter, AuditRecord};
use vigil_auth::{apikeys, Role};

use crate::harness::{client_with_key, databases, png, sign_in_at, Db, TestServer};

const PASSWORD: &str = "violet anchor drifts past ninety kilns";

/// Every record with `action`, oldest first.
async fn records(ts: &TestServer, action: &str) -> Vec<AuditRecord> {
    let filter = AuditFilter {
        action: Some(action.into()),
        ..AuditFilter::default()
    };
    let mut rows = ts
        .state
        .identity
        .audit
        .list(&filter, 500, None)
        .await
        .expect("list");
    rows.reverse();
    rows
}

#[tokio::test]
async fn uploads_and_reads_of_the_log_are_audited_with_the_caller() {
    for db in databases() {
        let ts = TestServer::start(db).await;
        let created: Value = ts
            .client
            .post(ts.url("/api/v1/uploads"))
            .body(png(7))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().expect("upload id").to_string();
        let deleted = ts
            .client
            .delete(ts.url(&format!("/api/v1/uploads/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

        ts.get_json("/api/v1/audit?action=upload.&limit=10").await;
        let export = ts
            .client
            .get(ts.url("/api/v1/audit/export.csv?outcome=success"))
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), StatusCode::OK);
        let csv = export.text().await.unwrap();
        assert!(csv.contains(",upload.create,"), "{csv}");

        for (action, target) in [("upload.create", Some(&id)), ("upload.delete", Some(&id))] {
            let found = records(&ts, action).await;
            assert_eq!(found.len(), 1, "{db:?} {action}");
            let r = &found[0];
            assert_eq!(r.actor_kind, "apikey", "{action}");
            assert_eq!(r.actor_name.as_deref(), Some("test admin"), "{action}");
            assert_eq!(r.ip.as_deref(), Some("127.0.0.1"), "{action}");
            assert_eq!(r.target_id.as_ref(), target, "{action}");
        }
        let create = &records(&ts, "upload.create").await[0];
        assert_eq!(create.detail["content_type"], "image/png");
        assert_eq!(create.detail["sha256"], crate::harness::sha256(&png(7)));

        let read = records(&ts, "audit.read").await;
        assert_eq!(read.len(), 1, "{db:?}");
        assert_eq!(read[0].actor_name.as_deref(), Some("test admin"));
        assert_eq!(read[0].detail["action"], "upload.");
        assert_eq!(read[0].detail["records"], 2);
        let exported = records(&ts, "audit.export").await;
        assert_eq!(exported.len(), 1, "{db:?}");
        assert_eq!(exported[0].actor_kind, "apikey");
        assert_eq!(exported[0].detail["outcome"], "success");
        // The export reads the records before its own.
        assert!(!csv.contains(",audit.export,"), "{csv}");
        ts.stop().await;
    }
}

#[tokio::test]
async fn a_flood_of_forbidden_requests_leaves_a_bounded_count_of_records() {
    let ts = TestServer::start(Db::Sqlite).await;
    let (viewer_key, viewer) = apikeys::create(&ts.state.db, "kiosk", Role::Viewer, None, None)
        .await
        .unwrap();
    let kiosk = client_with_key(&viewer_key);
    for _ in 0..100 {
        let r = kiosk.get(ts.url("/api/v1/users")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // A browser session flooding writes without its CSRF token.
    ts.add_person("olga", Role::Operator, PASSWORD).await;
    let (cookie, _csrf) = sign_in_at(&ts.url(""), "olga", PASSWORD).await;
    for _ in 0..100 {
        let r = ts
            .anon
            .post(ts.url("/api/v1/uploads"))
            .header(COOKIE, &cookie)
            .body(png(1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    // At most two records per caller and route in a minute (the first, then a count),
    // however many refusals: a minute boundary during the flood may add one each.
    let before_flush = records(&ts, "access.denied").await;
    assert!(
        (2..=4).contains(&before_flush.len()),
        "{} records: {before_flush:?}",
        before_flush.len()
    );
    ts.state.identity.flush_denials(true).await;
    let all = records(&ts, "access.denied").await;
    assert!(all.len() <= 6, "{all:?}");
    // A window's first record stands for itself; a count record for its repeats.
    let count = |route: &str| -> u64 {
        all.iter()
            .filter(|r| r.detail["route"] == route)
            .map(|r| r.detail["repeats"].as_u64().unwrap_or(1))
            .sum()
    };
    assert_eq!(count("/api/v1/users"), 100, "{all:?}");
    assert_eq!(count("/api/v1/uploads"), 100, "{all:?}");
    let by_key = all
        .iter()
        .find(|r| r.detail["route"] == "/api/v1/users")
        .unwrap();
    assert_eq!(by_key.actor_kind, "apikey");
    assert_eq!(by_key.actor_id.as_deref(), Some(viewer.id.as_str()));
    assert_eq!(by_key.detail["code"], "forbidden");
    assert_eq!(by_key.outcome, "failure");
    let by_session = all
        .iter()
        .find(|r| r.detail["route"] == "/api/v1/uploads")
        .unwrap();
    assert_eq!(by_session.actor_name.as_deref(), Some("olga"));
    assert_eq!(by_session.detail["code"], "csrf_failed");
    assert_eq!(by_session.detail["method"], "POST");
    ts.stop().await;
}
