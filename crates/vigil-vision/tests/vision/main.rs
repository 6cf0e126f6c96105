//! Integration tests with the real bundled models on the real test images (one test
//! binary; `golden` compares against the Python reference pipeline).
//!
//! Tests that need ONNX Runtime skip (with a message) when `libonnxruntime.so` is not
//! found (`ORT_DYLIB_PATH`, else `runtime/libonnxruntime.so` at the workspace root; fetch
//! it with `scripts/fetch-onnxruntime.sh`). With `VIGIL_TEST_REQUIRE_ORT=1` (CI) a missing
//! library fails those tests instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigil_vision::classify::FaceCrop;
use vigil_vision::eval::{eval_detect, eval_mask, Labels};
use vigil_vision::{
    AnalyzeOptions, DecodeError, DetectOptions, DetectorKind, EngineConfig, EngineKind,
    InferencePool, MaskLabel, ModelError, Pipeline, PipelineConfig, PoolConfig, VisionError,
};

mod golden;
mod track;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ort_path() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map_or_else(|| root().join("runtime/libonnxruntime.so"), PathBuf::from)
}

fn config(kind: EngineKind) -> PipelineConfig {
    PipelineConfig {
        models_dir: root().join("models"),
        engine: EngineConfig {
            kind,
            ort_dylib_path: Some(ort_path()),
            ..EngineConfig::default()
        },
        ..PipelineConfig::default()
    }
}

fn rten() -> Pipeline {
    match Pipeline::load(&config(EngineKind::Rten)) {
        Ok(p) => p,
        Err(e) => panic!("rten pipeline failed to load: {e}"),
    }
}

/// The ONNX Runtime pipeline, or `None` (test skipped) when the library is absent.
fn onnxruntime() -> Option<Pipeline> {
    match Pipeline::load(&config(EngineKind::OnnxRuntime)) {
        Ok(p) => Some(p),
        Err(e @ ModelError::RuntimeUnavailable { .. }) => {
            if std::env::var("VIGIL_TEST_REQUIRE_ORT").is_ok_and(|v| v == "1") {
                panic!("VIGIL_TEST_REQUIRE_ORT=1 but ONNX Runtime is unavailable: {e}");
            }
            // Written to stderr directly (not `eprintln!`) so the test harness does not
            // capture it: a skip must be visible in CI logs.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: ONNX Runtime unavailable ({e}); \
                 run scripts/fetch-onnxruntime.sh or set ORT_DYLIB_PATH"
            );
            None
        }
        Err(e) => panic!("onnxruntime pipeline failed to load: {e}"),
    }
}

fn image_bytes(name: &str) -> Vec<u8> {
    let path = root().join("testdata/images").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn labels() -> Labels {
    Labels::load(&root().join("testdata/labels.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn only(labels: &Labels, names: &[&str]) -> Labels {
    let mut l = labels.clone();
    l.images.retain(|k, _| names.contains(&k.as_str()));
    l
}

fn analyze(p: &Pipeline, name: &str, opts: &AnalyzeOptions) -> vigil_vision::Analysis {
    p.analyze(&image_bytes(name), opts)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn both_engines_produce_the_same_detections_and_mask_scores() {
    let Some(ort) = onnxruntime() else { return };
    let rten = rten();
    assert_eq!(ort.engine_name(), "onnxruntime");
    assert_eq!(rten.engine_name(), "rten");
    for detector in [
        DetectorKind::Res10,
        DetectorKind::BlazeFace,
        DetectorKind::Mtcnn,
    ] {
        for name in [
            "group_insightface_t1.jpg",
            "portrait_skimage_astronaut.png",
            "synthetic_masked_group_insightface_t1.jpg",
        ] {
            let opts = AnalyzeOptions {
                detector,
                ..AnalyzeOptions::default()
            };
            let (a, b) = (analyze(&ort, name, &opts), analyze(&rten, name, &opts));
            assert_eq!(
                a.faces.len(),
                b.faces.len(),
                "{name} {detector:?}: face count differs"
            );
            // Boxes within 1 px; mask scores within 0.01 (MTCNN's cascade turns float
            // rounding differences into sub-pixel box shifts, which move crops slightly).
            for (fa, fb) in a.faces.iter().zip(&b.faces) {
                let (ba, bb) = (fa.bbox, fb.bbox);
                for (x, y) in [
                    (ba.x, bb.x),
                    (ba.y, bb.y),
                    (ba.width, bb.width),
                    (ba.height, bb.height),
                ] {
                    assert!(
                        (x - y).abs() < 1.0,
                        "{name} {detector:?}: boxes differ {ba:?} vs {bb:?}"
                    );
                }
                assert!(
                    (fa.score - fb.score).abs() < 1e-3,
                    "{name}: scores {} vs {}",
                    fa.score,
                    fb.score
                );
                let (ma, mb) = (
                    fa.mask.map(|m| (m.label, m.score)),
                    fb.mask.map(|m| (m.label, m.score)),
                );
                assert!(
                    matches!((ma, mb), (Some((la, sa)), Some((lb, sb))) if la == lb && (sa - sb).abs() < 1e-2),
                    "{name}: mask {ma:?} vs {mb:?}"
                );
            }
        }
    }
}

#[test]
fn both_engines_produce_the_same_embedding_and_liveness() {
    let Some(ort) = onnxruntime() else { return };
    let rten = rten();
    let opts = AnalyzeOptions {
        embedding: true,
        liveness: true,
        ..AnalyzeOptions::default()
    };
    let (a, b) = (
        analyze(&ort, "portrait_skimage_astronaut.png", &opts),
        analyze(&rten, "portrait_skimage_astronaut.png", &opts),
    );
    let (ea, eb) = (
        a.faces[0].embedding.clone().unwrap_or_default(),
        b.faces[0].embedding.clone().unwrap_or_default(),
    );
    assert_eq!(ea.len(), 192);
    let cos: f32 = ea.iter().zip(&eb).map(|(x, y)| x * y).sum();
    assert!(
        cos > 0.999,
        "embeddings differ between engines: cosine {cos}"
    );
    let (la, lb) = (
        a.faces[0].liveness.map(|l| l.score),
        b.faces[0].liveness.map(|l| l.score),
    );
    assert!(
        matches!((la, lb), (Some(x), Some(y)) if (x - y).abs() < 1e-3),
        "{la:?} vs {lb:?}"
    );
}

#[test]
fn res10_finds_every_labelled_face_in_the_group_photo_at_the_default_threshold() {
    let p = rten();
    let labels = only(&labels(), &["group_insightface_t1.jpg"]);
    let detector = p
        .detector(DetectorKind::Res10)
        .unwrap_or_else(|e| panic!("{e}"));
    let report = eval_detect(
        detector,
        &root().join("testdata/images"),
        &labels,
        &DetectOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.threshold, 0.75);
    assert_eq!(
        (report.labelled, report.true_positives, report.detected),
        (6, 6, 6),
        "{report:?}"
    );
}

#[test]
fn blazeface_finds_every_labelled_face_in_the_group_photo_with_keypoints() {
    let p = rten();
    let a = analyze(
        &p,
        "group_insightface_t1.jpg",
        &AnalyzeOptions {
            detector: DetectorKind::BlazeFace,
            ..AnalyzeOptions::default()
        },
    );
    let labels = labels();
    let truth: Vec<_> = labels.images["group_insightface_t1.jpg"]
        .faces
        .iter()
        .map(|f| f.bbox())
        .collect();
    let dets: Vec<_> = a
        .faces
        .iter()
        .map(|f| vigil_vision::Detection {
            bbox: f.bbox,
            score: f.score,
            landmarks: f.landmarks.clone(),
        })
        .collect();
    assert_eq!(vigil_vision::eval::match_detections(&dets, &truth, 0.5), 6);
    assert!(a.faces.iter().all(|f| f.landmarks.len() == 6));
}

#[test]
fn mtcnn_finds_every_labelled_face_in_the_group_photo_with_five_keypoints() {
    let p = rten();
    let a = analyze(
        &p,
        "group_insightface_t1.jpg",
        &AnalyzeOptions {
            detector: DetectorKind::Mtcnn,
            ..AnalyzeOptions::default()
        },
    );
    let labels = labels();
    let truth: Vec<_> = labels.images["group_insightface_t1.jpg"]
        .faces
        .iter()
        .map(|f| f.bbox())
        .collect();
    let dets: Vec<_> = a
        .faces
        .iter()
        .map(|f| vigil_vision::Detection {
            bbox: f.bbox,
            score: f.score,
            landmarks: f.landmarks.clone(),
        })
        .collect();
    assert_eq!(vigil_vision::eval::match_detections(&dets, &truth, 0.5), 6);
    assert_eq!(a.faces.len(), 6);
    for f in &a.faces {
        assert_eq!(f.landmarks.len(), 5);
        // Eyes above the mouth corners, all inside the box.
        assert!(f.landmarks[0][1] < f.landmarks[3][1] && f.landmarks[1][1] < f.landmarks[4][1]);
        assert!(f.landmarks.iter().all(|p| p[0] >= f.bbox.x
            && p[0] <= f.bbox.x2()
            && p[1] >= f.bbox.y
            && p[1] <= f.bbox.y2()));
    }
}

#[test]
fn tiling_finds_masked_faces_the_whole_image_pass_misses() {
    let p = rten();
    let labels = only(&labels(), &["synthetic_masked_group_insightface_t1.jpg"]);
    let detector = p
        .detector(DetectorKind::Res10)
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = root().join("testdata/images");
    let run = |tiling| {
        eval_detect(
            detector,
            &dir,
            &labels,
            &DetectOptions {
                tiling,
                ..DetectOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let (whole, tiled) = (run(false), run(true));
    assert!(
        tiled.true_positives > whole.true_positives,
        "whole {} tiled {}",
        whole.true_positives,
        tiled.true_positives
    );
    assert_eq!(
        tiled.true_positives, tiled.detected,
        "tiling added false positives"
    );
}

#[test]
fn no_faces_are_reported_on_images_without_people() {
    let p = rten();
    for name in [
        "noface_skimage_chelsea_cat.png",
        "noface_skimage_coffee.png",
        "noface_skimage_rocket.jpg",
    ] {
        let a = analyze(&p, name, &AnalyzeOptions::default());
        assert!(a.faces.is_empty(), "{name}: {:?}", a.faces);
    }
}

#[test]
fn mask_labels_are_right_on_every_labelled_face_including_synthetic_masks() {
    let p = rten();
    let classifier = p
        .mask_classifier()
        .unwrap_or_else(|| panic!("mask model missing"));
    let report = eval_mask(classifier, &root().join("testdata/images"), &labels())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.masked, 5);
    assert_eq!(report.masked_correct, 5, "{:?}", report.cases);
    assert_eq!(report.correct, report.faces, "{:?}", report.cases);
}

#[test]
fn masked_portraits_are_labelled_mask_end_to_end() {
    let p = rten();
    for name in [
        "synthetic_masked_portrait_skimage_astronaut.jpg",
        "synthetic_masked_portrait_matplotlib_grace_hopper.jpg",
    ] {
        let a = analyze(&p, name, &AnalyzeOptions::default());
        let best = a.faces.first().and_then(|f| f.mask).map(|m| m.label);
        assert_eq!(best, Some(MaskLabel::Mask), "{name}");
    }
    let a = analyze(
        &p,
        "portrait_skimage_astronaut.png",
        &AnalyzeOptions::default(),
    );
    assert_eq!(a.faces.len(), 1);
    assert_eq!(a.faces[0].mask.map(|m| m.label), Some(MaskLabel::NoMask));
}

#[test]
fn analysis_serialises_in_the_api_shape() {
    let p = rten();
    let a = analyze(
        &p,
        "portrait_skimage_astronaut.png",
        &AnalyzeOptions::default(),
    );
    let v = serde_json::to_value(&a).unwrap_or_default();
    assert_eq!(v["image"]["width"], 512);
    assert_eq!(v["engine"], "rten");
    let face = &v["faces"][0];
    for key in ["x", "y", "width", "height"] {
        assert!(face["box"][key].is_number(), "{face}");
    }
    assert_eq!(face["mask"]["label"], "no_mask");
    assert!(face["liveness"].is_null() && face["embedding"].is_null());
    for key in ["decode", "detect", "mask", "total"] {
        assert!(v["timings_ms"][key].is_number());
    }
}

#[test]
fn embeddings_are_unit_length_and_a_mirrored_face_stays_close() {
    let p = rten();
    let name = "portrait_skimage_astronaut.png";
    let bytes = image_bytes(name);
    let img =
        vigil_vision::decode::decode(&bytes, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let mirrored = image::imageops::flip_horizontal(&img);
    let opts = AnalyzeOptions {
        embedding: true,
        ..AnalyzeOptions::default()
    };
    let e1 = p
        .analyze_image(&img, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .faces[0]
        .embedding
        .clone()
        .unwrap_or_default();
    let e2 = p
        .analyze_image(&mirrored, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .faces[0]
        .embedding
        .clone()
        .unwrap_or_default();
    let norm: f32 = e1.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    let cos: f32 = e1.iter().zip(&e2).map(|(a, b)| a * b).sum();
    let other = analyze(&p, "portrait_matplotlib_grace_hopper.jpg", &opts).faces[0]
        .embedding
        .clone()
        .unwrap_or_default();
    let cos_other: f32 = e1.iter().zip(&other).map(|(a, b)| a * b).sum();
    eprintln!("cosine same face mirrored {cos:.3}, different person {cos_other:.3}");
    assert!(
        cos > 0.6 && cos > cos_other + 0.2,
        "mirror {cos}, other {cos_other}"
    );
}

#[test]
fn liveness_scores_are_probabilities() {
    let p = rten();
    let a = analyze(
        &p,
        "portrait_skimage_astronaut.png",
        &AnalyzeOptions {
            liveness: true,
            ..AnalyzeOptions::default()
        },
    );
    let l = a.faces[0].liveness.unwrap_or_else(|| panic!("no liveness"));
    assert!((0.0..=1.0).contains(&l.score));
    assert!(a.timings_ms.liveness.is_some());
}

#[test]
fn bad_inputs_give_typed_errors_never_a_panic() {
    let p = rten();
    let opts = AnalyzeOptions::default();
    let decode_err = |bytes: &[u8]| match p.analyze(bytes, &opts) {
        Err(VisionError::Decode(e)) => e,
        other => panic!("expected a decode error, got {other:?}"),
    };
    assert!(matches!(
        decode_err(b"not an image at all"),
        DecodeError::NotAnImage
    ));
    assert!(matches!(decode_err(b""), DecodeError::NotAnImage));
    let jpeg = image_bytes("portrait_matplotlib_grace_hopper.jpg");
    // Cut inside the SOF/scan header: the decoder cannot even start.
    assert!(matches!(
        decode_err(&jpeg[..300]),
        DecodeError::Truncated | DecodeError::Malformed(_)
    ));
    let png = image_bytes("portrait_skimage_astronaut.png");
    assert!(matches!(
        decode_err(&png[..png.len() / 2]),
        DecodeError::Truncated | DecodeError::Malformed(_)
    ));
    assert!(matches!(
        decode_err(&png_header_claiming(100_000, 100_000)),
        DecodeError::TooLarge { .. }
    ));
    assert!(matches!(
        decode_err(&png_header_claiming(20_000, 5_000)),
        DecodeError::TooLarge { .. }
    ));
    assert!(matches!(
        decode_err(&jpeg_header_claiming(60_000, 60_000)),
        DecodeError::TooLarge { .. }
    ));
    assert!(matches!(
        decode_err(b"GIF89a\x01\x00\x01\x00\x00\x00\x00"),
        DecodeError::Unsupported(_)
    ));
    let mut garbage = vec![0xff, 0xd8, 0xff, 0xdb];
    garbage.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert!(p.analyze(&garbage, &opts).is_err());
}

#[test]
fn a_jpeg_cut_in_its_pixel_data_decodes_or_errors_but_never_panics() {
    let p = rten();
    let jpeg = image_bytes("group_insightface_t1.jpg");
    for cut in [jpeg.len() / 4, jpeg.len() / 2, jpeg.len() - 10] {
        let _ = p.analyze(&jpeg[..cut], &AnalyzeOptions::default());
    }
}

#[test]
fn requesting_a_missing_detector_is_a_typed_error() {
    let mut cfg = config(EngineKind::Rten);
    cfg.files.mtcnn[0] = "no_such_pnet.onnx".to_owned();
    let p = Pipeline::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let r = p.analyze(
        &image_bytes("portrait_skimage_astronaut.png"),
        &AnalyzeOptions {
            detector: DetectorKind::Mtcnn,
            ..AnalyzeOptions::default()
        },
    );
    assert!(matches!(r, Err(VisionError::ModelNotLoaded("mtcnn"))));
}

#[test]
fn a_model_with_the_wrong_input_shape_is_rejected_at_load() {
    let engine = vigil_vision::Engine::new(&EngineConfig {
        kind: EngineKind::Rten,
        ..EngineConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let wrong = engine.load(
        "res10",
        &root().join("models/mask_classifier.onnx"),
        &vigil_vision::Detector::expected_input(DetectorKind::Res10),
    );
    assert!(
        matches!(wrong, Err(ModelError::InputShape { .. })),
        "{:?}",
        wrong.err()
    );
}

#[test]
fn readiness_lists_every_model_with_its_checksum() {
    let p = rten();
    let names: Vec<&str> = p.models().iter().map(|m| m.name.as_str()).collect();
    for expected in [
        "res10",
        "blazeface",
        "mtcnn_pnet",
        "mtcnn_rnet",
        "mtcnn_onet",
        "mask",
        "embedding",
        "liveness",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let sums = std::fs::read_to_string(root().join("models/SHA256SUMS")).unwrap_or_default();
    let res10 = p
        .models()
        .iter()
        .find(|m| m.name == "res10")
        .map(|m| m.sha256.clone())
        .unwrap_or_default();
    assert!(
        sums.contains(&format!("{res10}  res10_ssd_face.onnx")),
        "{res10}"
    );
    assert!(p.warm_up().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_runs_on_the_inference_pool() {
    let p = Arc::new(rten());
    let pool = InferencePool::new(PoolConfig::default());
    let bytes = image_bytes("portrait_skimage_astronaut.png");
    let job = {
        let p = Arc::clone(&p);
        move || p.analyze(&bytes, &AnalyzeOptions::default())
    };
    let result = pool.run(job).await;
    assert!(
        matches!(result, Ok(Ok(ref a)) if a.faces.len() == 1),
        "{result:?}"
    );
}

#[test]
fn square_and_aligned_crops_both_work_for_the_embedder() {
    let mut cfg = config(EngineKind::Rten);
    cfg.embedding_spec.crop = FaceCrop::Square;
    let p = Pipeline::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let a = analyze(
        &p,
        "portrait_skimage_astronaut.png",
        &AnalyzeOptions {
            embedding: true,
            ..AnalyzeOptions::default()
        },
    );
    assert_eq!(a.faces[0].embedding.as_ref().map(Vec::len), Some(192));
}

/// PNG signature + IHDR (valid CRC) claiming `w × h`, and nothing else.
fn png_header_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut crc = 0xffff_ffffu32;
    for &b in &ihdr {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

/// A real JPEG (the Grace Hopper portrait) whose SOF0 header is patched to claim `w × h`.
fn jpeg_header_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut jpeg = image_bytes("portrait_matplotlib_grace_hopper.jpg");
    let sof = jpeg
        .windows(2)
        .position(|m| m == [0xff, 0xc0] || m == [0xff, 0xc2])
        .unwrap_or_else(|| panic!("no SOF marker"));
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}

#[test]
fn auto_engine_uses_onnxruntime_when_it_loads_and_rten_otherwise() {
    let auto = Pipeline::load(&config(EngineKind::Auto)).unwrap_or_else(|e| panic!("{e}"));
    let expected = if ort_path().exists() {
        "onnxruntime"
    } else {
        "rten"
    };
    assert_eq!(auto.engine_name(), expected);
    assert_eq!(
        auto.engine().fallback_reason().is_some(),
        expected == "rten"
    );
    assert!(auto.models().iter().all(|m| m.engine == expected));
    let mut missing = config(EngineKind::Auto);
    missing.engine.ort_dylib_path = Some(PathBuf::from("/nonexistent/libonnxruntime.so"));
    let fallback = Pipeline::load(&missing).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fallback.engine_name(), "rten");
}

#[test]
fn concurrent_analyses_on_one_pipeline_agree_with_a_single_one() {
    let mut pipelines = vec![rten()];
    pipelines.extend(onnxruntime());
    for p in &pipelines {
        let opts = AnalyzeOptions::default();
        let expected = analyze(p, "group_insightface_t1.jpg", &opts).faces.len();
        let bytes = image_bytes("group_insightface_t1.jpg");
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| s.spawn(|| p.analyze(&bytes, &opts).map(|a| a.faces.len())))
                .collect();
            for h in handles {
                let got = h
                    .join()
                    .unwrap_or_else(|_| panic!("analysis thread panicked"));
                assert!(
                    matches!(got, Ok(n) if n == expected),
                    "{} engine: {got:?}",
                    p.engine_name()
                );
            }
        });
    }
}
