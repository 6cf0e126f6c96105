//! `POST /api/v1/analyze`: faces, masks and, on request, embeddings and liveness for
//! one image. CPU work runs in the bounded inference pool; when it is full the answer is
//! 503 with `Retry-After`, never an unbounded queue.
//!
//! Open to operators and above (see `routes/table.rs`), by session or API key.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use vigil_vision::{Analysis, AnalyzeOptions, DetectOptions, DetectorKind, MaskLabel};

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::metrics::{DetectionLabels, StageLabels};
use crate::routes::body::read_file;
use crate::state::AppState;

/// Query parameters of `/analyze`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeParams {
    /// Face detector: `res10` (default), `blazeface` or `mtcnn`.
    pub detector: Option<String>,
    /// Detection threshold in [0, 1] (default from `vision.det_threshold`, 0.75).
    pub det_threshold: Option<f32>,
    /// Also compute a 192-d unit-length embedding per face.
    #[serde(default)]
    pub embedding: bool,
    /// Also compute a liveness score per face.
    #[serde(default)]
    pub liveness: bool,
    /// Search overlapping tiles for small faces (default true; false is faster on
    /// close-up frames).
    pub tiling: Option<bool>,
}

/// Analyse an image (multipart field `file`, or the raw body: JPEG, PNG or WebP).
///
/// With `Accept: image/jpeg` the answer is the image with boxes and labels drawn on it;
/// otherwise JSON: `{"image":{"width","height"},"faces":[{"box":{"x","y","width","height"},
/// "score","landmarks":[[x,y],…],"mask":{"label":"mask"|"no_mask","score"},"liveness",
/// "embedding"}],"engine","timings_ms":{"decode","detect","mask","total",…}}`; boxes are
/// in original-image pixels.
#[utoipa::path(post, path = "/api/v1/analyze", tag = "vision", params(AnalyzeParams),
    request_body(content_type = "image/jpeg", description = "The image, or multipart with a `file` field"),
    responses(
        (status = 200, description = "Faces found (JSON), or the annotated JPEG with `Accept: image/jpeg`"),
        (status = 413, description = "Image too large (bytes or pixels)", body = ErrorBody),
        (status = 415, description = "Not a JPEG, PNG or WebP image", body = ErrorBody),
        (status = 422, description = "Truncated or malformed image, or bad parameters", body = ErrorBody),
        (status = 503, description = "Inference queue full (see Retry-After) or models not loaded", body = ErrorBody),
    ))]
pub async fn analyze(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AnalyzeParams>,
    req: Request,
) -> ApiResult<Response> {
    let Some(vision) = state.vision.clone() else {
        return Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the vision engine is disabled on this server (vision.enabled = false)",
        ));
    };
    let detector = match params.detector.as_deref() {
        None => DetectorKind::default(),
        Some(name) => name.parse::<DetectorKind>().map_err(|_| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                "detector must be res10, blazeface or mtcnn",
            )
        })?,
    };
    let threshold = params
        .det_threshold
        .unwrap_or(state.settings.vision.det_threshold);
    if !(0.0..=1.0).contains(&threshold) || threshold.is_nan() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "det_threshold must be between 0 and 1",
        ));
    }
    let options = AnalyzeOptions {
        detector,
        detect: DetectOptions {
            threshold,
            tiling: params.tiling.unwrap_or(true),
            ..DetectOptions::default()
        },
        embedding: params.embedding,
        liveness: params.liveness,
    };
    let wants_jpeg = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("image/jpeg") && !v.contains("application/json"));

    let (data, _) = read_file(&state, req).await?;
    if data.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "the body is empty; send an image",
        ));
    }

    let pipeline = vision.pipeline.clone();
    let outcome = vision
        .pool
        .run(move || {
            if wants_jpeg {
                pipeline
                    .analyze_annotated(&data, &options)
                    .map(|(a, jpeg)| (a, Some(jpeg)))
            } else {
                pipeline.analyze(&data, &options).map(|a| (a, None))
            }
        })
        .await;
    state
        .metrics
        .inference_queue_depth
        .set(gauge(vision.pool.queue_depth()));
    state
        .metrics
        .inference_running
        .set(gauge(vision.pool.running()));
    let (analysis, jpeg) = match outcome.and_then(|r| r) {
        Ok(done) => done,
        Err(e) => {
            if matches!(e, vigil_vision::VisionError::Overloaded { .. }) {
                state.metrics.inference_rejected.inc();
            }
            return Err(e.into());
        }
    };
    record(&state, &analysis);

    match jpeg {
        Some(bytes) => Ok((
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            bytes,
        )
            .into_response()),
        None => Ok((
            StatusCode::OK,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(analysis),
        )
            .into_response()),
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inference latency per stage and detections by mask result.
fn record(state: &AppState, analysis: &Analysis) {
    let engine = analysis.engine.to_string();
    let t = &analysis.timings_ms;
    let stages = [
        ("decode", Some(t.decode)),
        ("detect", Some(t.detect)),
        ("mask", Some(t.mask)),
        ("embed", t.embed),
        ("liveness", t.liveness),
        ("total", Some(t.total)),
    ];
    for (stage, ms) in stages {
        if let Some(ms) = ms {
            state
                .metrics
                .inference_latency
                .get_or_create(&StageLabels {
                    engine: engine.clone(),
                    stage: stage.into(),
                })
                .observe(ms / 1000.0);
        }
    }
    for face in &analysis.faces {
        let result = match face.mask.as_ref().map(|m| m.label) {
            Some(MaskLabel::Mask) => "mask",
            Some(MaskLabel::NoMask) => "no_mask",
            None => "unclassified",
        };
        state
            .metrics
            .detections
            .get_or_create(&DetectionLabels {
                result: result.into(),
            })
            .inc();
    }
}
