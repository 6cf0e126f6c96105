//! `vigil backup` while the server takes writes, then `vigil restore` into an empty data
//! directory: the copy is consistent and every blob matches its checksum.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;

use crate::harness::{
    databases, drop_pg_database, fresh_pg_database, png, postgres_url, sha256, spawn_upload_writer,
    vigil, Acked, ChildServer, Db,
};

fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("run vigil");
    assert!(
        out.status.success(),
        "vigil failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn rows(url: &str) -> Vec<(String, String, String)> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("open restored database");
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, blob_key, sha256 FROM uploads")
            .fetch_all(&mut conn)
            .await
            .expect("read uploads");
    let _ = conn.close().await;
    rows
}

fn blob_path(data: &Path, key: &str) -> std::path::PathBuf {
    data.join("blobs").join(&key[..2]).join(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_taken_during_writes_restores_to_a_consistent_copy() {
    for db in databases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("source");
        let target = dir.path().join("target");
        let archive = dir.path().join("backup.tar");
        let (mut src_url, mut dst_url) = (None, None);
        if db == Db::Postgres {
            let admin = postgres_url().expect("pg");
            src_url = Some(fresh_pg_database(&admin).await);
            dst_url = Some(fresh_pg_database(&admin).await);
        }
        let with_db = |cmd: &mut std::process::Command, url: &Option<String>| {
            if let Some(u) = url {
                cmd.env("DATABASE_URL", u);
            }
        };

        std::fs::create_dir_all(&source).expect("mkdir");
        let server = {
            let mut cmd = vigil();
            with_db(&mut cmd, &src_url);
            ChildServer::start_cmd(cmd, &source)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Acked = Arc::default();
        let seed = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..3)
            .map(|_| {
                spawn_upload_writer(
                    server.url(""),
                    server.client(),
                    stop.clone(),
                    acked.clone(),
                    seed.clone(),
                )
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let before_backup: Vec<String> = acked.lock().expect("lock").keys().cloned().collect();
        assert!(!before_backup.is_empty(), "the writers are writing");

        let mut cmd = vigil();
        cmd.arg("backup")
            .arg(&archive)
            .arg("--data-dir")
            .arg(&source);
        with_db(&mut cmd, &src_url);
        let printed = tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .expect("join");
        assert!(printed.contains("backup written"), "{printed}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.expect("writer");
        }
        drop(server);

        let mut verify = vigil();
        verify
            .arg("restore")
            .arg("--verify-only")
            .arg(&archive)
            .arg("--data-dir")
            .arg(&target);
        assert!(run(&mut verify).contains("archive is intact"));
        let mut restore = vigil();
        restore
            .arg("restore")
            .arg(&archive)
            .arg("--data-dir")
            .arg(&target);
        with_db(&mut restore, &dst_url);
        run(&mut restore);

        let restored_url = match &dst_url {
            Some(u) => u.clone(),
            None => {
                let file = target.join("vigil.db");
                vigil_store::backup::sqlite_integrity_check(&file)
                    .await
                    .expect("PRAGMA integrity_check = ok");
                format!("sqlite://{}?mode=ro", file.display())
            }
        };
        let restored = rows(&restored_url).await;
        let restored_ids: HashMap<_, _> = restored
            .iter()
            .map(|(id, _, sha)| (id.clone(), sha.clone()))
            .collect();
        for id in &before_backup {
            assert!(
                restored_ids.contains_key(id),
                "{db:?}: upload {id} acknowledged before the backup is missing"
            );
        }
        for (id, key, sha) in &restored {
            let data = std::fs::read(blob_path(&target, key))
                .unwrap_or_else(|_| panic!("{db:?}: blob of {id} missing"));
            assert_eq!(
                &sha256(&data),
                sha,
                "{db:?}: blob of {id} does not match its checksum"
            );
            if let Some(acked_sha) = acked.lock().expect("lock").get(id) {
                assert_eq!(acked_sha, sha);
            }
        }

        if let Some(admin) = postgres_url().filter(|_| db == Db::Postgres) {
            for u in [src_url, dst_url].into_iter().flatten() {
                drop_pg_database(&admin, &u).await;
            }
        }
    }
}

#[tokio::test]
async fn a_damaged_archive_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).expect("mkdir");
    let server = ChildServer::start(&source);
    let client = server.client();
    for seed in 0..3 {
        let resp = client
            .post(server.url("/api/v1/uploads"))
            .body(png(seed))
            .send()
            .await
            .expect("upload");
        assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
    }
    drop(server);
    let archive = dir.path().join("b.tar");
    run(vigil()
        .arg("backup")
        .arg(&archive)
        .arg("--data-dir")
        .arg(&source));

    // Flip one byte inside the last blob's data (the manifest is the final entry).
    let mut bytes = std::fs::read(&archive).expect("read");
    let marker = b"seed\0";
    let at = bytes
        .windows(marker.len())
        .rposition(|w| w == marker)
        .expect("a png in the archive");
    bytes[at + marker.len()] ^= 0x01;
    let damaged = dir.path().join("damaged.tar");
    std::fs::write(&damaged, &bytes).expect("write");

    let target = dir.path().join("target");
    let out = vigil()
        .arg("restore")
        .arg(&damaged)
        .arg("--data-dir")
        .arg(&target)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !target.join("vigil.db").exists(),
        "nothing restored from a damaged archive"
    );

    let refused = vigil()
        .arg("restore")
        .arg(&archive)
        .arg("--data-dir")
        .arg(&source)
        .output()
        .expect("run");
    assert!(
        !refused.status.success(),
        "restoring over existing data needs --force"
    );
}
