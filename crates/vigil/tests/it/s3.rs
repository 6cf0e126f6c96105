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
}
