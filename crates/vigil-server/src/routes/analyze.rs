//! `POST /api/v1/analyze`: faces, masks and, on request, embeddings and liveness for
//! one image. The handler parses the query and the body and calls the analysis use
//! case, `vigil_core::vision::analyze`, which runs the work in the interactive inference
//! lane: when that lane is full the answer is 503 with `Retry-After`, never an
//! unbounded queue.
//!
//! Open to operators and above (see `routes/table.rs`), by session or API key.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use vigil_core::vision::{self, AnalysisRequest, AnalyzeError};
use vigil_vision::{Analysis, DetectorKind, MaskLabel, VisionError};

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::metrics::{DetectionLabels, StageLabels};
use crate::routes::body::{read_file, Binary, FileForm};
use crate::state::AppState;

/// Query parameters of `/analyze`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeParams {
    /// Face detector: `res10` (default), `blazeface` or `mtcnn`.
    #[param(pattern = "^(res10|blazeface|mtcnn)$")]
    pub detector: Option<String>,
    /// Detection threshold in [0, 1] (default from `vision.det_threshold`, 0.75).
    #[param(minimum = 0.0, maximum = 1.0)]
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
/// otherwise JSON ([`Analysis`]): the image size, each face with its box (in
/// original-image pixels), score, landmarks, mask verdict and, on request, liveness and
/// embedding, the engine that ran and the time per stage.
#[utoipa::path(post, path = "/api/v1/analyze", tag = "vision", params(AnalyzeParams),
    request_body(description = "The image as the raw body (the type is sniffed from the bytes), or a form with a `file` field",
        content(
            (Binary = "image/jpeg"),
            (Binary = "image/png"),
            (Binary = "image/webp"),
            (Binary = "application/octet-stream"),
            (FileForm = "multipart/form-data"),
        )),
    responses(
        (status = 200, description = "The faces found (JSON), or the annotated JPEG with `Accept: image/jpeg`",
            content((Analysis = "application/json"), (Binary = "image/jpeg"))),
        (status = 400, description = "Bad query string, or a body or form that cannot be read", body = ErrorBody),
        (status = 413, description = "Image too large (bytes or pixels)", body = ErrorBody),
        (status = 415, description = "Not a JPEG, PNG or WebP image", body = ErrorBody),
        (status = 422, description = "Truncated or malformed image, a form without `file`, or bad parameters", body = ErrorBody),
        (status = 503, description = "Inference queue full (see Retry-After) or models not loaded", body = ErrorBody),
    ))]
pub async fn analyze(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AnalyzeParams>,
    req: Request,
) -> ApiResult<Response> {
    let detector = params
        .detector
        .as_deref()
        .map(str::parse::<DetectorKind>)
        .transpose()
        .map_err(|_| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                "detector must be res10, blazeface or mtcnn",
            )
        })?;
    let annotate = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("image/jpeg") && !v.contains("application/json"));
    let request = AnalysisRequest {
        detector,
        det_threshold: params.det_threshold,
        embedding: params.embedding,
        liveness: params.liveness,
        tiling: params.tiling,
        annotate,
    };
    let (data, _) = read_file(&state, req).await?;

    let outcome = vision::analyze(state.vision.as_deref(), data, &request)
        .await
        .inspect_err(|e| {
            if matches!(e, AnalyzeError::Vision(VisionError::Overloaded { .. })) {
                state.metrics.inference_rejected.inc();
            }
        })?;
    record(&state, &outcome.analysis);

    match outcome.annotated_jpeg {
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
            Json(outcome.analysis),
        )
            .into_response()),
    }
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
