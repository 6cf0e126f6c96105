//! SIGKILL in the middle of writes, repeatedly: no acknowledged upload is lost, no blob
//! is half-written, and the database stays intact.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{sha256, spawn_upload_writer, Acked, ChildServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_no_acknowledged_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let acked: Acked = Arc::default();
    let seed = Arc::new(AtomicU64::new(0));

    for round in 0..5u64 {
        let mut server = ChildServer::start(&data);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
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
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        server.kill_hard();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.expect("writer");
        }
    }

    // Restart after the last kill; it must come up on the crashed data and hold every
    // acknowledged upload, byte for byte.
    let server = ChildServer::start(&data);
    let client = server.client();
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 20,
        "enough writes were acknowledged to mean something ({})",
        acked.len()
    );
    for (id, sha) in &acked {
        let resp = client
            .get(server.url(&format!("/api/v1/uploads/{id}/content")))
            .send()
            .await
            .expect("get");
        assert_eq!(
            resp.status(),
            reqwest::StatusCode::OK,
            "acknowledged upload {id} lost"
        );
        let body = resp.bytes().await.expect("bytes");
        assert_eq!(&sha256(&body), sha, "upload {id} corrupted");
    }
    drop(server);

    let tmp = data.join("blobs").join(".tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).expect("tmp dir").count(),
        0,
        "interrupted writes were cleaned up"
    );
    for shard in std::fs::read_dir(data.join("blobs")).expect("blobs") {
        let shard = shard.expect("entry").path();
        if shard.file_name().is_some_and(|n| n == ".tmp") {
            continue;
        }
        for blob in std::fs::read_dir(&shard).expect("shard") {
            let bytes = std::fs::read(blob.expect("entry").path()).expect("read blob");
            assert!(
                bytes.starts_with(b"\x89PNG") && bytes.ends_with(b"IEND\xaeB`\x82"),
                "a blob is complete"
            );
        }
    }
    vigil_store::backup::sqlite_integrity_check(&data.join("vigil.db"))
        .await
        .expect("integrity_check ok");
}
