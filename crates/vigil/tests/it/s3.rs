//! The S3 blob backend against a real S3-compatible server (CI runs moto's server and
//! sets `VIGIL_TEST_S3_ENDPOINT`).

use bytes_compat::Bytes;
use vigil_config::{S3Settings, Secret};
use vigil_store::blob::S3BlobStore;
use vigil_store::BlobStore;

use crate::harness::in_ci;

#[tokio::test]
async fn s3_backend_round_trips_blobs() {
    let Some(endpoint) = std::env::var("VIGIL_TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        assert!(
            !in_ci(),
            "CI must set VIGIL_TEST_S3_ENDPOINT so the S3 test runs"
        );
        eprintln!("note: S3 test skipped (set VIGIL_TEST_S3_ENDPOINT=http://127.0.0.1:PORT with an S3-compatible server)");
        return;
    };
    let bucket = format!("vigil-test-{}", hex::encode(rand::random::<[u8; 4]>()));
    // Create the bucket with a plain PUT (moto and MinIO accept it unsigned on localhost).
    let made = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(
        made.status().is_success(),
        "bucket creation: {}",
        made.status()
    );

    let store = S3BlobStore::open(&S3Settings {
        bucket: bucket.clone(),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        prefix: Some("vigil".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some(Secret::new("test")),
        allow_http: true,
    })
    .expect("open");
    store.check_writable().await.expect("writable");
    let key = store
        .put(Bytes::from_static(b"face snapshot"))
        .await
        .expect("put");
    assert_eq!(
        store.get(&key).await.expect("get").as_deref(),
        Some(&b"face snapshot"[..])
    );
    assert_eq!(store.list().await.expect("list"), vec![key.clone()]);
    store.delete(&key).await.expect("delete");
    assert_eq!(store.get(&key).await.expect("get"), None);
    store.delete(&key).await.expect("deleting twice is fine");
    assert!(store.describe().starts_with("s3://"));

    // A staged file bigger than one part goes up as a multipart upload and comes back
    // by range; a small one as one PUT.
    let staging = tempfile::tempdir().expect("tempdir");
    let store = store.with_staging_dir(staging.path().to_path_buf());
    let big: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for data in [big, b"small".to_vec()] {
        let file = store.staging_dir().join("clip.upload");
        std::fs::write(&file, &data).expect("stage");
        let key = store.put_file(&file).await.expect("put_file");
        assert!(!file.exists(), "the staged copy is removed once stored");
        let len = data.len() as u64;
        for range in [0..len, 1..len.min(9_000_001), len - 3..len] {
            let mut stream = store
                .get_range(&key, range.clone())
                .await
                .expect("get_range")
                .expect("present");
            let mut back = Vec::new();
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                back.extend_from_slice(&chunk.expect("chunk"));
            }
            assert!(
                back == data[range.start as usize..range.end as usize],
                "range {range:?} of {len}"
            );
        }
        store.delete(&key).await.expect("delete");
    }
}
