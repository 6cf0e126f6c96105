//! Our pre/post-processing against the independent Python reference pipeline
//! (`models/convert/golden.py` → `testdata/expected_outputs.json`, made with OpenCV
//! resizes and onnxruntime). The resizers differ (OpenCV's bilinear does not
//! anti-alias when shrinking, ours does) and BlazeFace is letterboxed centred here but
//! bottom/right there, so boxes are compared by IoU and scores with a tolerance. Runs on
//! rten, which needs nothing installed.

use std::collections::BTreeMap;

use super::root;
use serde::Deserialize;
use vigil_vision::classify::FaceCrop;
use vigil_vision::{
    BBox, DetectOptions, Detection, DetectorKind, EngineConfig, EngineKind, MaskLabel, Pipeline,
    PipelineConfig,
};

#[derive(Deserialize)]
struct Golden {
    images: BTreeMap<String, GoldenImage>,
}

#[derive(Deserialize)]
struct GoldenImage {
    #[serde(rename = "res10_thr0.5")]
    res10: Vec<GoldenDetection>,
    #[serde(rename = "blazeface_back_256_thr0.75")]
    blazeface: Vec<GoldenDetection>,
    #[serde(rename = "mtcnn_min_face_40")]
    mtcnn: Vec<GoldenDetection>,
    labelled_faces: Vec<GoldenFace>,
}

#[derive(Deserialize)]
struct GoldenDetection {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
}

#[derive(Deserialize)]
struct GoldenFace {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    mask_probs: [f32; 2],
    embedding: Vec<f32>,
    antispoof_score: f32,
}

fn golden() -> Golden {
    let path = root().join("testdata/expected_outputs.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pipeline(embedding_crop: FaceCrop) -> Pipeline {
    let mut config = PipelineConfig {
        models_dir: root().join("models"),
        engine: EngineConfig {
            kind: EngineKind::Rten,
            ..EngineConfig::default()
        },
        ..PipelineConfig::default()
    };
    config.embedding_spec.crop = embedding_crop;
    Pipeline::load(&config).unwrap_or_else(|e| panic!("{e}"))
}

fn image(name: &str) -> image::RgbImage {
    let bytes = std::fs::read(root().join("testdata/images").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    vigil_vision::decode::decode(&bytes, &Default::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn corners(b: [f32; 4]) -> BBox {
    BBox::from_corners(b[0], b[1], b[2], b[3])
}

/// Every confident reference detection has a partner of ours with IoU ≥ `min_iou` and a
/// score within `score_tol`, and (with `both_ways`) every confident one of ours is in the
/// reference. Detections within `margin` of the threshold may be missing on one side.
#[allow(clippy::too_many_arguments)]
fn assert_same_detections(
    what: &str,
    ours: &[Detection],
    theirs: &[GoldenDetection],
    threshold: f32,
    margin: f32,
    min_iou: f32,
    score_tol: f32,
    both_ways: bool,
) {
    for g in theirs.iter().filter(|g| g.score >= threshold + margin) {
        let best = ours.iter().max_by(|a, b| {
            a.bbox
                .iou(&corners(g.bbox))
                .total_cmp(&b.bbox.iou(&corners(g.bbox)))
        });
        let Some(best) = best else {
            panic!("{what}: reference box {:?} ({}) not found", g.bbox, g.score)
        };
        let iou = best.bbox.iou(&corners(g.bbox));
        assert!(
            iou >= min_iou,
            "{what}: reference {:?} best IoU {iou:.2} with {:?}",
            g.bbox,
            best.bbox
        );
        assert!(
            (best.score - g.score).abs() <= score_tol,
            "{what}: score {} vs reference {}",
            best.score,
            g.score
        );
    }
    for d in ours
        .iter()
        .filter(|d| both_ways && d.score >= threshold + margin)
    {
        let found = theirs
            .iter()
            .any(|g| d.bbox.iou(&corners(g.bbox)) >= min_iou);
        assert!(
            found,
            "{what}: our box {:?} ({}) is not in the reference",
            d.bbox, d.score
        );
    }
}

#[test]
fn detectors_match_the_reference_pipeline() {
    let p = pipeline(FaceCrop::Aligned);
    for (name, g) in golden().images {
        let img = image(&name);
        let run = |kind, threshold, nms_iou, min_face_size| {
            let opts = DetectOptions {
                threshold,
                nms_iou,
                tiling: false,
                min_face_size,
                ..DetectOptions::default()
            };
            p.detector(kind)
                .and_then(|d| Ok(d.detect(&img, &opts)?))
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        assert_same_detections(
            &format!("{name} res10"),
            &run(DetectorKind::Res10, 0.5, 0.45, 20.0),
            &g.res10,
            0.5,
            0.1,
            0.8,
            0.1,
            true,
        );
        assert_same_detections(
            &format!("{name} blazeface"),
            &run(DetectorKind::BlazeFace, 0.75, 0.3, 20.0),
            &g.blazeface,
            0.75,
            0.1,
            0.8,
            0.1,
            true,
        );
        // MTCNN's cascade is sensitive to how its pyramid is resized: on the synthetic
        // masked group photo ours also keeps the upper half of one masked face (0.95)
        // that the reference drops, so only the reference's detections are required.
        assert_same_detections(
            &format!("{name} mtcnn"),
            &run(DetectorKind::Mtcnn, 0.7, 0.3, 40.0),
            &g.mtcnn,
            0.7,
            0.1,
            0.7,
            0.1,
            false,
        );
    }
}

#[test]
fn per_face_models_match_the_reference_on_labelled_boxes() {
    // The reference embeds squared boxes; ours does too with FaceCrop::Square.
    let p = pipeline(FaceCrop::Square);
    let (mask, embedder, liveness) = match (p.mask_classifier(), p.embedder(), p.liveness_model()) {
        (Some(m), Some(e), Some(l)) => (m, e, l),
        _ => panic!("mask, embedding and liveness models must be present"),
    };
    let mut worst = (0.0f32, 1.0f32, 0.0f32);
    for (name, g) in golden().images {
        if g.labelled_faces.is_empty() {
            continue;
        }
        let img = image(&name);
        let dets: Vec<Detection> = g
            .labelled_faces
            .iter()
            .map(|f| Detection {
                bbox: corners(f.bbox),
                score: 1.0,
                landmarks: vec![],
            })
            .collect();
        let masks = mask
            .classify(&img, &dets)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let embeddings = embedder
            .embed(&img, &dets)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let live = liveness
            .score(&img, &dets)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (i, f) in g.labelled_faces.iter().enumerate() {
            let p_mask = if masks[i].label == MaskLabel::Mask {
                masks[i].score
            } else {
                1.0 - masks[i].score
            };
            let cos: f32 = embeddings[i]
                .iter()
                .zip(&f.embedding)
                .map(|(a, b)| a * b)
                .sum();
            let spoof = 1.0 - live[i].score;
            worst = (
                worst.0.max((p_mask - f.mask_probs[0]).abs()),
                worst.1.min(cos),
                worst.2.max((spoof - f.antispoof_score).abs()),
            );
            assert!(
                (p_mask - f.mask_probs[0]).abs() < 0.1,
                "{name} face {i}: p(mask) {p_mask} vs {}",
                f.mask_probs[0]
            );
            assert!(
                cos > 0.95,
                "{name} face {i}: embedding cosine to reference {cos}"
            );
            assert!(
                (spoof - f.antispoof_score).abs() < 0.1,
                "{name} face {i}: spoof {spoof} vs {}",
                f.antispoof_score
            );
        }
    }
    eprintln!(
        "worst: |Δp(mask)| {:.4}, min embedding cosine {:.4}, |Δspoof| {:.4}",
        worst.0, worst.1, worst.2
    );
}
