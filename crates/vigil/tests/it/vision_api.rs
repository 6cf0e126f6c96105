//! `POST /api/v1/analyze` on real photos with the bundled models, on both engines.

use reqwest::StatusCode;
use serde_json::Value;
use vigil_config::VisionEngine;

use crate::harness::{onnxruntime_library, workspace_root, Db, TestServer};

fn image(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("testdata/images").join(name)).expect("test image")
}

/// Engines to test: rten always, ONNX Runtime when its library is there.
fn engines() -> Vec<(VisionEngine, Option<std::path::PathBuf>)> {
    let mut e = vec![(VisionEngine::Rten, None)];
    if let Some(lib) = onnxruntime_library() {
        e.push((VisionEngine::Onnxruntime, Some(lib)));
    }
    e
}

async fn vision_server(
    engine: VisionEngine,
    lib: Option<std::path::PathBuf>,
    workers: usize,
    queue: usize,
) -> TestServer {
    TestServer::start_with(Db::Sqlite, move |c| {
        c.vision.enabled = true;
        c.vision.engine = engine;
        c.vision.onnxruntime_path = lib;
        c.vision.workers = Some(workers);
        c.vision.queue = queue;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_finds_the_faces_and_masks_in_a_real_group_photo_on_each_engine() {
    for (engine, lib) in engines() {
        let s = vision_server(engine, lib, 2, 8).await;
        let photo = image("synthetic_masked_group_insightface_t1.jpg");
        let resp = s
            .client
            .post(s.url("/api/v1/analyze?detector=mtcnn"))
            .header("content-type", "image/jpeg")
            .body(photo.clone())
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), StatusCode::OK, "{engine:?}");
        let body: Value = resp.json().await.expect("json");
        let expected_engine = if engine == VisionEngine::Rten {
            "rten"
        } else {
            "onnxruntime"
        };
        assert_eq!(body["engine"], expected_engine);
        assert_eq!(body["image"]["width"], 1280);
        let faces = body["faces"].as_array().expect("faces");
        assert!(faces.len() >= 4, "{engine:?}: {} faces", faces.len());
        let masked = faces
            .iter()
            .filter(|f| f["mask"]["label"] == "mask")
            .count();
        let bare = faces
            .iter()
            .filter(|f| f["mask"]["label"] == "no_mask")
            .count();
        assert!(
            masked >= 1 && bare >= 3,
            "{engine:?}: {masked} masked, {bare} bare"
        );
        for f in faces {
            assert!(f["score"].as_f64().is_some_and(|v| v >= 0.75));
            assert!(f["box"]["width"].as_f64().is_some_and(|w| w > 10.0));
            assert!(
                f["embedding"].is_null() && f["liveness"].is_null(),
                "only on request"
            );
        }
        assert!(body["timings_ms"]["total"]
            .as_f64()
            .is_some_and(|t| t > 0.0));

        // Default detector (res10) with an embedding, sent as multipart.
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(image("portrait_matplotlib_grace_hopper.jpg"))
                .file_name("p.jpg"),
        );
        let resp = s
            .client
            .post(s.url("/api/v1/analyze?embedding=true"))
            .multipart(form)
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.expect("json");
        let faces = body["faces"].as_array().expect("faces");
        assert_eq!(faces.len(), 1, "one portrait face");
        assert_eq!(faces[0]["mask"]["label"], "no_mask");
        let emb: Vec<f64> = faces[0]["embedding"]
            .as_array()
            .expect("embedding")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert_eq!(emb.len(), 192);
        let norm: f64 = emb.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "unit length: {norm}");

        let none = s
            .client
            .post(s.url("/api/v1/analyze"))
            .body(image("noface_skimage_rocket.jpg"))
            .send()
            .await
            .expect("req");
        let body: Value = none.json().await.expect("json");
        assert_eq!(
            body["faces"].as_array().map(Vec::len),
            Some(0),
            "no face in the rocket photo"
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_image_jpeg_returns_the_annotated_image() {
    let s = vision_server(VisionEngine::Rten, None, 1, 4).await;
    let resp = s
        .client
        .post(s.url("/api/v1/analyze"))
        .header("accept", "image/jpeg")
        .body(image("portrait_skimage_astronaut.png"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let jpeg = resp.bytes().await.expect("bytes");
    assert!(jpeg.starts_with(&[0xff, 0xd8, 0xff]), "a JPEG");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_images_get_clear_4xx_errors_never_a_crash() {
    let s = vision_server(VisionEngine::Rten, None, 1, 4).await;
    let jpeg = image("portrait_matplotlib_grace_hopper.jpg");
    let png = image("portrait_skimage_astronaut.png");
    // A PNG whose header claims 100000×100000 pixels (a decompression bomb).
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut bomb = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    bomb.extend_from_slice(&ihdr);
    bomb.extend_from_slice(&crate::harness::crc32(&ihdr).to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            "text",
            b"hello, not an image".to_vec(),
            "",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "truncated",
            png[..png.len() / 2].to_vec(),
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bomb",
            bomb,
            "",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "empty",
            Vec::new(),
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bad detector",
            jpeg.clone(),
            "?detector=yolo",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bad threshold",
            jpeg.clone(),
            "?det_threshold=7",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "unknown parameter",
            jpeg.clone(),
            "?detectr=res10",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (what, body, query, status, code) in cases {
        // A fresh client per case: a refusal that leaves the body unread may close the
        // connection, and a POST is not retried on a closed pooled connection.
        let resp = crate::harness::client_with_key(&s.api_key)
            .post(s.url(&format!("/api/v1/analyze{query}")))
            .body(body)
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), status, "{what}");
        let json: Value = resp.json().await.expect("JSON error");
        assert_eq!(json["error"]["code"], code, "{what}: {json}");
    }
    let ok = crate::harness::client_with_key(&s.api_key)
        .post(s.url("/api/v1/analyze"))
        .body(jpeg)
        .send()
        .await
        .expect("req");
    assert_eq!(
        ok.status(),
        StatusCode::OK,
        "the server is still fine after the bad inputs"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_inference_queue_answers_503_with_retry_after() {
    let s = vision_server(VisionEngine::Rten, None, 1, 0).await;
    let photo = image("group_insightface_t1.jpg");
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let (c, url, body) = (
                s.client.clone(),
                s.url("/api/v1/analyze?detector=mtcnn"),
                photo.clone(),
            );
            tokio::spawn(async move { c.post(url).body(body).send().await })
        })
        .collect();
    let (mut ok, mut overloaded) = (0, 0);
    for r in requests {
        let resp = r.await.expect("join").expect("req");
        match resp.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    resp.headers().get("retry-after").is_some(),
                    "Retry-After on 503"
                );
                let json: Value = resp.json().await.expect("json");
                assert_eq!(json["error"]["code"], "overloaded");
                overloaded += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        ok >= 1 && overloaded >= 1,
        "{ok} served, {overloaded} refused"
    );
    let metrics = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("vigil_inference_rejected_total"),
        "rejections counted"
    );
    assert!(
        metrics.contains("vigil_inference_duration_seconds_bucket"),
        "inference latency recorded"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_lists_the_engine_and_every_model_with_its_checksum() {
    let s = vision_server(VisionEngine::Rten, None, 1, 4).await;
    let body: Value = s
        .client
        .get(s.url("/readyz"))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(body["vision"]["engine"], "rten");
    let models = body["vision"]["models"].as_array().expect("models");
    assert!(models.len() >= 4, "{models:?}");
    let sums =
        std::fs::read_to_string(workspace_root().join("models/SHA256SUMS")).expect("SHA256SUMS");
    for m in models {
        let sha = m["sha256"].as_str().expect("sha256");
        assert!(
            sums.contains(sha),
            "{} checksum matches models/SHA256SUMS",
            m["name"]
        );
    }
    s.stop().await;
}
