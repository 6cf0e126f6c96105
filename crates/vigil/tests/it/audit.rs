//! The audit log end to end, on every database: appends from many tasks and two pools
//! form one dense chain; the real `vigil verify` passes an intact log and names the
//! record that was edited, removed or swapped; the admin API lists, filters, pages and
//! exports it as CSV.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::Value;
use vigil_auth::audit::{Actor, ActorKind, AuditAction, AuditLog, Event};
use vigil_auth::Keys;
use vigil_store::db::DbOptions;
use vigil_store::Database;

use crate::harness::{
    databases, drop_pg_database, fresh_pg_database, postgres_url, vigil, Db, TestServer,
};

const SECRET: &str = "audit-test-secret-0123456789-abcdefghijkl";

/// A migrated database for one test case: its URL, the data directory the CLI is
/// pointed at, and what to drop afterwards.
struct Store {
    url: String,
    dir: tempfile::TempDir,
    pg: Option<String>,
}

impl Store {
    async fn new(db: Db) -> Store {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, pg) = match db {
            // The same file `vigil --data-dir DIR` opens by default.
            Db::Sqlite => (
                format!("sqlite://{}", dir.path().join("vigil.db").display()),
                None,
            ),
            Db::Postgres => {
                let admin = postgres_url().expect("PostgreSQL configured");
                (fresh_pg_database(&admin).await, Some(admin))
            }
        };
        let store = Store { url, dir, pg };
        store.connect().await.migrate().await.expect("migrate");
        store
    }

    async fn connect(&self) -> Database {
        Database::connect(&self.url, &DbOptions::default())
            .await
            .expect("connect")
    }

    async fn log(&self) -> AuditLog {
        AuditLog::new(self.connect().await, Keys::from_secret(SECRET.as_bytes()))
    }

    /// Runs raw SQL against the store, as someone with database access would.
    async fn tamper(&self, sql: &str) {
        let db = self.connect().await;
        sqlx::raw_sql(sql).execute(db.pool()).await.expect("tamper");
        db.close().await;
    }

    /// Runs `vigil verify` with the store's data directory, database and `secret`.
    async fn verify(&self, secret: &str) -> Output {
        self.run(secret, &["verify"]).await
    }

    /// Runs `vigil ARGS…` with the store's data directory, database and `secret`.
    async fn run(&self, secret: &str, args: &[&str]) -> Output {
        let mut cmd = vigil();
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.dir.path())
            .env("VIGIL_SECRET_KEY", secret);
        if self.pg.is_some() {
            cmd.env("DATABASE_URL", &self.url);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("run vigil"))
            .await
            .expect("join")
    }

    async fn remove(self) {
        if let Some(admin) = &self.pg {
            drop_pg_database(admin, &self.url).await;
        }
    }
}

fn stdout(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn user(name: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(format!("id-{name}")),
        name: Some(name.to_string()),
        ip: Some("192.0.2.7".to_string()),
    }
}

/// Six events of different shapes.
async fn record_six(log: &AuditLog) {
    let events = [
        Event::new(AuditAction::AuthLogin).detail("method", "password"),
        Event::new(AuditAction::UserCreate).target("user", "u2"),
        Event::new(AuditAction::AuthLogin).failed(),
        Event::new(AuditAction::ApiKeyCreate).target("apikey", "k1"),
        Event::new(AuditAction::AuthLogout),
        Event::new(AuditAction::UserDelete).target("user", "u2"),
    ];
    for event in events {
        log.record(&user("alice"), event).await.expect("record");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_verify_passes_an_intact_log_and_names_the_tampered_record() {
    let cases = [
        (
            "edited",
            "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3",
            "record #3 was altered",
        ),
        (
            "deleted",
            "DELETE FROM audit_log WHERE seq = 3",
            "record #3 is missing",
        ),
        (
            "swapped",
            "UPDATE audit_log SET seq = -3 WHERE seq = 3; \
             UPDATE audit_log SET seq = 3 WHERE seq = 4; \
             UPDATE audit_log SET seq = 4 WHERE seq = -3;",
            "record #3 does not follow record #2",
        ),
    ];
    for db in databases() {
        for (name, sql, expected) in cases {
            let store = Store::new(db).await;
            record_six(&store.log().await).await;

            let out = store.verify(SECRET).await;
            assert!(out.status.success(), "{db:?} {name}: {}", stdout(&out));
            assert!(
                stdout(&out).contains("audit log: 6 records, chain intact"),
                "{db:?} {name}: {}",
                stdout(&out)
            );

            store.tamper(sql).await;
            let out = store.verify(SECRET).await;
            assert_eq!(
                out.status.code(),
                Some(1),
                "{db:?} {name}: {}",
                stdout(&out)
            );
            assert!(
                stdout(&out).contains(expected),
                "{db:?} {name}: expected {expected:?} in {}",
                stdout(&out)
            );
            store.remove().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_verify_with_another_secret_key_reports_the_first_record() {
    for db in databases() {
        let store = Store::new(db).await;
        record_six(&store.log().await).await;
        let out = store
            .verify("a-different-secret-key-0123456789abcdef")
            .await;
        assert_eq!(out.status.code(), Some(1), "{db:?}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("record #1 was altered"),
            "{db:?}: {}",
            stdout(&out)
        );
        store.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_through_two_pools_form_one_dense_chain() {
    const TASKS_PER_POOL: usize = 4;
    const EVENTS_PER_TASK: usize = 15;
    for db in databases() {
        let store = Store::new(db).await;
        // Two pools stand in for two processes (two servers, or the CLI and a server).
        let logs = [store.log().await, store.log().await];
        let mut tasks = Vec::new();
        for (p, log) in logs.iter().enumerate() {
            for t in 0..TASKS_PER_POOL {
                let log = log.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..EVENTS_PER_TASK {
                        let event = Event::new(AuditAction::AuthLogin)
                            .detail("pool", p)
                            .detail("task", t)
                            .detail("i", i);
                        log.record(&Actor::system(), event).await.expect("append");
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("task");
        }
        let total = 2 * TASKS_PER_POOL * EVENTS_PER_TASK;
        let report = logs[0].verify().await.expect("verify");
        assert_eq!(report.problem, None, "{db:?}");
        assert_eq!(report.records, total as u64, "{db:?}");
        let out = store.verify(SECRET).await;
        assert!(
            stdout(&out).contains(&format!("audit log: {total} records, chain intact")),
            "{db:?}: {}",
            stdout(&out)
        );
        store.remove().await;
    }
}

/// A GET with the credentials the audit routes require. The one place to change when
/// the auth middleware lands (it will need an admin API key here).
fn admin_get(server: &TestServer, path: &str) -> reqwest::RequestBuilder {
    server.client.get(server.url(path))
}

async fn json_ok(server: &TestServer, path: &str) -> Value {
    let resp = admin_get(server, path).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.expect("json")
}

fn seqs(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["seq"].as_i64().expect("seq"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_api_filters_pages_and_exports_csv() {
    for db in databases() {
        let server = TestServer::start(db).await;
        let log = &server.state.identity.audit;
        record_six(log).await;
        log.record(
            &user("=cmd|' /C calc'!A0"),
            Event::new(AuditAction::AuthLogin).failed(),
        )
        .await
        .expect("record"); // seq 7

        let all = json_ok(&server, "/api/v1/audit").await;
        assert_eq!(seqs(&all), [7, 6, 5, 4, 3, 2, 1], "{db:?}");
        assert_eq!(all["next_before_seq"], Value::Null);
        let first = &all["items"][6];
        assert_eq!(first["action"], "auth.login");
        assert_eq!(first["actor_name"], "alice");
        assert_eq!(first["detail"]["method"], "password");
        assert_eq!(first["prev_hash"], "0".repeat(64));

        // Prefix filter, paged two at a time.
        let page1 = json_ok(&server, "/api/v1/audit?action=auth.&limit=2").await;
        assert_eq!(seqs(&page1), [7, 5]);
        let next = page1["next_before_seq"].as_i64().expect("next page");
        let page2 = json_ok(
            &server,
            &format!("/api/v1/audit?action=auth.&limit=2&before_seq={next}"),
        )
        .await;
        assert_eq!(seqs(&page2), [3, 1]);
        assert_eq!(page2["next_before_seq"], Value::Null);

        let failures = json_ok(&server, "/api/v1/audit?outcome=failure&actor=alice").await;
        assert_eq!(seqs(&failures), [3]);
        let target = json_ok(&server, "/api/v1/audit?target=u2").await;
        assert_eq!(seqs(&target), [6, 2]);
        let none = json_ok(&server, "/api/v1/audit?since=0&until=1").await;
        assert_eq!(seqs(&none), Vec::<i64>::new());

        for (query, status, code) in [
            (
                "limit=0",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
            ),
            (
                "limit=501",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
            ),
            (
                "outcome=maybe",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
            ),
            (
                "since=5&until=5",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
            ),
            // A NUL reached PostgreSQL and came back as 503 (found by schemathesis).
            (
                "target=a%00b",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
            ),
            (
                "actor=%01",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
            ),
            ("limit=many", StatusCode::BAD_REQUEST, "bad_request"),
            ("colour=red", StatusCode::BAD_REQUEST, "bad_request"),
        ] {
            let resp = admin_get(&server, &format!("/api/v1/audit?{query}"))
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), status, "{query}");
            let body: Value = resp.json().await.expect("json");
            assert_eq!(body["error"]["code"], code, "{query}");
        }

        let resp = admin_get(&server, "/api/v1/audit/export.csv?action=auth.login")
            .send()
            .await
            .expect("export");
        assert_eq!(resp.status(), StatusCode::OK);
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(header("content-type").starts_with("text/csv"), "{db:?}");
        assert!(header("content-disposition").starts_with("attachment; filename=\"vigil-audit-"));
        let csv = resp.text().await.expect("body");
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].starts_with("seq,at_ms,time_utc,actor_kind,"),
            "{csv}"
        );
        assert_eq!(lines.len(), 4, "header + seq 7, 3, 1: {csv}");
        assert!(lines[1].starts_with("7,"), "{csv}");
        // The formula-looking actor name is neutralised with a leading quote.
        assert!(lines[1].contains(",'=cmd|' /C calc'!A0,"), "{csv}");

        let limited = admin_get(&server, "/api/v1/audit/export.csv?limit=2")
            .send()
            .await
            .expect("export")
            .text()
            .await
            .expect("body");
        assert_eq!(limited.lines().count(), 3, "header + 2 rows: {limited}");

        assert_eq!(log.verify().await.expect("verify").problem, None);
        server.stop().await;
    }
}

/// Truncation of the newest records leaves a chain that verifies on its own; only a head
/// saved elsewhere shows it. `vigil verify --head SEQ:MAC` (or `--head-from` a backup,
/// whose manifest holds the head) then fails naming the cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_verify_detects_a_cut_tail_against_a_saved_head() {
    for db in databases() {
        let store = Store::new(db).await;
        let log = store.log().await;
        record_six(&log).await;
        let head = log.head().await.expect("head").expect("six records");
        assert_eq!(head.seq, 6);
        let saved = head.to_string();

        let out = store.run(SECRET, &["verify", "--head", &saved]).await;
        assert!(out.status.success(), "{db:?}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("reaches the saved head #6"),
            "{}",
            stdout(&out)
        );

        // A backup's manifest carries the head.
        let archive = store.dir.path().join("backup.tar");
        let archive_arg = archive.to_string_lossy().to_string();
        let out = store.run(SECRET, &["backup", &archive_arg]).await;
        assert!(out.status.success(), "{db:?}: {}", stdout(&out));
        assert!(
            stdout(&out).contains(&format!("audit chain head: {saved}")),
            "{}",
            stdout(&out)
        );
        let manifest = vigil_store::backup::read_manifest(&archive).expect("manifest");
        let in_manifest = manifest.audit_head.expect("the manifest records the head");
        assert_eq!((in_manifest.seq, in_manifest.mac), (6, head.mac.clone()));

        // Someone with database access removes the two newest records.
        store.tamper("DELETE FROM audit_log WHERE seq >= 5").await;
        let alone = store.verify(SECRET).await;
        assert!(
            alone.status.success(),
            "the shorter chain is intact by itself"
        );
        for args in [
            vec!["verify", "--head", saved.as_str()],
            vec!["verify", "--head-from", archive_arg.as_str()],
        ] {
            let out = store.run(SECRET, &args).await;
            assert_eq!(
                out.status.code(),
                Some(1),
                "{db:?} {args:?}: {}",
                stdout(&out)
            );
            let text = stdout(&out);
            assert!(
                text.contains("the chain ends at record #4 but the saved head is record #6")
                    && text.contains("truncated"),
                "{text}"
            );
        }
        // A head that is not of this chain: rewritten.
        let forged = format!("3:{}", "0".repeat(64));
        let out = store.run(SECRET, &["verify", "--head", &forged]).await;
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("rewritten"), "{}", stdout(&out));
        let out = store.run(SECRET, &["verify", "--head", "six"]).await;
        assert_eq!(out.status.code(), Some(2), "clap refuses a malformed head");
        store.remove().await;
    }
}

/// Every append logs the chain head under target `vigil::audit_head`, so the log stream
/// keeps a copy the database cannot take back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_append_logs_the_chain_head() {
    let store = Store::new(Db::Sqlite).await;
    let mut cmd = vigil();
    cmd.args([
        "apikey",
        "create",
        "--name",
        "logged",
        "--role",
        "viewer",
        "--data-dir",
    ])
    .arg(store.dir.path())
    .env("VIGIL_SECRET_KEY", SECRET)
    .env("RUST_LOG", "info");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run vigil"))
        .await
        .expect("join");
    assert!(out.status.success(), "{}", stdout(&out));
    let head = store
        .log()
        .await
        .head()
        .await
        .expect("head")
        .expect("one record");
    let text = stdout(&out);
    assert!(
        text.contains("vigil::audit_head") && text.contains(&format!("audit chain head {head}")),
        "{text}"
    );
    store.remove().await;
}
