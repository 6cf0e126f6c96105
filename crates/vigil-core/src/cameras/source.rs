//! Where a camera's frames come from, opened safely:
//! - `rtsp`, `rtsps`, `file`, `device`: an ffmpeg child (vigil-media's [`FrameReader`]),
//!   for network URLs connecting to the address the SSRF guard checked;
//! - `http`, `https`: fetched here, in Rust, with redirects off and the connection pinned
//!   to the checked address (ffmpeg would follow redirects and playlists past the guard):
//!   an MJPEG stream (`multipart/x-mixed-replace`) is parsed as it arrives, a JPEG
//!   snapshot URL is polled at the detect rate;
//! - `browser`: frames a page pushes over a WebSocket.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use vigil_config::Settings;
use vigil_media::{Ffmpeg, Ffprobe, FrameReader, FrameSpec, Input, MediaError, DEFAULT_IO_TIMEOUT};

use super::worker::{BrowserFrame, Incoming, Pixels, Slot, WorkerMetrics};
use super::{CameraSpec, Cameras};
use crate::net::{NetScheme, NetworkUrl, SourceUrl};
use crate::runtime::CancellationToken;

/// Largest JPEG accepted from an HTTP camera (one snapshot or one MJPEG part).
const MAX_JPEG_BYTES: usize = 16 * 1024 * 1024;
/// Connect and first-byte timeout of HTTP cameras.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The ffmpeg and ffprobe programs, looked up when needed: a missing ffmpeg is a camera
/// error and a `/readyz` entry, not a start-up failure.
#[derive(Debug, Clone)]
pub struct MediaTools {
    ffmpeg: Option<PathBuf>,
    ffprobe: Option<PathBuf>,
}

impl MediaTools {
    /// The programs `cameras.ffmpeg` / `cameras.ffprobe` name (else from `PATH`).
    pub fn from_settings(settings: &Settings) -> MediaTools {
        MediaTools {
            ffmpeg: settings.cameras.ffmpeg.clone(),
            ffprobe: settings.cameras.ffprobe.clone(),
        }
    }

    /// ffmpeg, or why it is missing.
    pub fn ffmpeg(&self) -> Result<Ffmpeg, MediaError> {
        Ffmpeg::locate(self.ffmpeg.as_deref())
    }

    /// ffprobe, or why it is missing.
    pub fn ffprobe(&self) -> Result<Ffprobe, MediaError> {
        Ffprobe::locate(self.ffprobe.as_deref())
    }

    /// ffmpeg's version line, or the plain-words reason it cannot run (for `/readyz`).
    pub async fn check(&self) -> Result<String, String> {
        let ffmpeg = self.ffmpeg().map_err(|e| e.plain_words())?;
        ffmpeg.check().await.map_err(|e| e.plain_words())
    }
}

/// An opened source.
pub(crate) enum FrameSource {
    Ffmpeg(Box<FrameReader>),
    Mjpeg(reqwest::Response),
    Snapshot {
        client: reqwest::Client,
        url: String,
        first: Bytes,
        period: Duration,
    },
    Browser(mpsc::Receiver<BrowserFrame>),
}

/// What a reader task ends with.
pub(crate) struct PumpEnd {
    /// Why it ended (plain words), `None` when asked to stop.
    pub error: Option<String>,
    /// The browser channel, handed back for the next connection.
    pub browser: Option<mpsc::Receiver<BrowserFrame>>,
}

impl FrameSource {
    pub fn is_browser(&self) -> bool {
        matches!(self, FrameSource::Browser(_))
    }

    /// Reads frames into `slot` until the source fails or `stop` is cancelled.
    pub async fn pump(
        self,
        slot: Arc<Slot>,
        metrics: Arc<WorkerMetrics>,
        stop: CancellationToken,
    ) -> PumpEnd {
        let put = |incoming: Incoming| {
            metrics.frames_in.fetch_add(1, Ordering::Relaxed);
            if slot.put(incoming) {
                metrics.frames_dropped.fetch_add(1, Ordering::Relaxed);
            }
        };
        let end = |error: Option<String>| PumpEnd {
            error,
            browser: None,
        };
        match self {
            FrameSource::Ffmpeg(mut reader) => loop {
                let frame = tokio::select! {
                    () = stop.cancelled() => return end(None),
                    f = reader.next_frame() => f,
                };
                match frame {
                    Ok(frame) => put(Incoming {
                        pixels: Pixels::Rgb(frame.image),
                        reply: None,
                    }),
                    Err(e) => return end(Some(e.plain_words())),
                }
            },
            FrameSource::Mjpeg(response) => {
                let content_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let mut parser = match vigil_media::mjpeg::MjpegParser::from_content_type(
                    content_type,
                    MAX_JPEG_BYTES,
                ) {
                    Ok(p) => p,
                    Err(e) => return end(Some(format!("the MJPEG stream cannot be read: {e}"))),
                };
                let mut body = response.bytes_stream();
                loop {
                    let chunk = tokio::select! {
                        () = stop.cancelled() => return end(None),
                        c = tokio::time::timeout(HTTP_TIMEOUT * 2, body.next()) => c,
                    };
                    let chunk = match chunk {
                        Err(_) => return end(Some("the MJPEG stream stopped sending".into())),
                        Ok(None) => return end(Some("the camera closed the MJPEG stream".into())),
                        Ok(Some(Err(e))) => {
                            return end(Some(format!(
                                "the MJPEG stream broke off ({})",
                                http_reason(&e)
                            )))
                        }
                        Ok(Some(Ok(chunk))) => chunk,
                    };
                    parser.push(&chunk);
                    // Only the newest complete frame matters; older ones are skipped.
                    let mut newest = None;
                    loop {
                        match parser.next_part() {
                            Ok(Some(part)) => newest = Some(part),
                            Ok(None) => break,
                            Err(e) => {
                                return end(Some(format!("the MJPEG stream is malformed: {e}")))
                            }
                        }
                    }
                    if let Some(jpeg) = newest {
                        put(Incoming {
                            pixels: Pixels::Jpeg(jpeg),
                            reply: None,
                        });
                    }
                }
            }
            FrameSource::Snapshot {
                client,
                url,
                first,
                period,
            } => {
                put(Incoming {
                    pixels: Pixels::Jpeg(first),
                    reply: None,
                });
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return end(None),
                        () = tokio::time::sleep(period) => {}
                    }
                    match fetch_snapshot(&client, &url).await {
                        Ok(jpeg) => put(Incoming {
                            pixels: Pixels::Jpeg(jpeg),
                            reply: None,
                        }),
                        Err(e) => return end(Some(e)),
                    }
                }
            }
            FrameSource::Browser(mut rx) => loop {
                let frame = tokio::select! {
                    () = stop.cancelled() => return PumpEnd { error: None, browser: Some(rx) },
                    f = rx.recv() => f,
                };
                match frame {
                    Some(frame) => put(Incoming {
                        pixels: Pixels::Jpeg(frame.jpeg),
                        reply: Some(frame.reply),
                    }),
                    None => return end(Some("the browser input closed".into())),
                }
            },
        }
    }
}

/// The secrets ffmpeg output must never show: the password and query values.
fn secrets_of(url: &NetworkUrl) -> Vec<String> {
    let mut secrets: Vec<String> = url.password().map(str::to_string).into_iter().collect();
    if let Some(query) = url.query() {
        secrets.extend(
            query
                .split('&')
                .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.to_string()))
                .filter(|v| v.len() >= 4),
        );
    }
    secrets
}

/// The ffmpeg input for a non-HTTP source, network ones pinned to a checked address.
async fn ffmpeg_input(cameras: &Cameras, source: &SourceUrl) -> Result<Input, String> {
    match source {
        SourceUrl::Network(url) => {
            let addrs = crate::net::resolve_and_check(url, &cameras.deps().net)
                .await
                .map_err(|e| e.to_string())?;
            let addr = addrs
                .first()
                .copied()
                .ok_or("the camera's host has no address")?;
            Ok(Input::Network {
                url: url.with_address(addr),
                host_header: matches!(url.scheme(), NetScheme::Http | NetScheme::Https)
                    .then(|| url.host_header()),
                protocol_whitelist: url.scheme().protocol_whitelist(),
                secrets: secrets_of(url),
            })
        }
        SourceUrl::File(file) => Ok(Input::File {
            path: file.path().to_path_buf(),
            looped: true,
        }),
        SourceUrl::Device(device) => Ok(Input::Device {
            path: device.path().to_path_buf(),
        }),
        SourceUrl::Browser => Err("a browser camera has no server-side input".into()),
    }
}

/// An HTTP client for one camera: no redirects, no proxy, the host pinned to `addr`.
fn http_client(url: &NetworkUrl, addr: std::net::SocketAddr) -> Result<reqwest::Client, String> {
    let host = match url.host() {
        url::Host::Domain(d) => d.clone(),
        other => other.to_string(),
    };
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(HTTP_TIMEOUT)
        .resolve(&host, addr)
        .user_agent(concat!("Vigil/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("could not set up the HTTP client: {e}"))
}

fn http_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect: refused or unreachable".into()
    } else {
        // reqwest's text names the URL without its password (it strips userinfo).
        "connection error".into()
    }
}

/// What an HTTP status means for a camera URL, in plain words; `None` for success.
fn status_problem(status: reqwest::StatusCode) -> Option<String> {
    match status.as_u16() {
        200..=299 => None,
        300..=399 => Some(format!(
            "the camera redirects elsewhere (HTTP {}); use the final address (redirects are not followed)",
            status.as_u16()
        )),
        401 | 403 => Some(format!(
            "authentication failed (HTTP {}): check the user name and password",
            status.as_u16()
        )),
        404 => Some("not found (HTTP 404): check the path".into()),
        code => Some(format!("the camera answered HTTP {code}")),
    }
}

async fn fetch_snapshot(client: &reqwest::Client, url: &str) -> Result<Bytes, String> {
    let response = tokio::time::timeout(HTTP_TIMEOUT * 2, client.get(url).send())
        .await
        .map_err(|_| "the snapshot URL timed out".to_string())?
        .map_err(|e| format!("the snapshot URL failed ({})", http_reason(&e)))?;
    if let Some(problem) = status_problem(response.status()) {
        return Err(problem);
    }
    read_limited(response, MAX_JPEG_BYTES).await
}

async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Bytes, String> {
    let mut body = response.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = tokio::time::timeout(HTTP_TIMEOUT * 2, body.next())
        .await
        .map_err(|_| "the camera stopped sending".to_string())?
    {
        let chunk = chunk.map_err(|e| format!("the download broke off ({})", http_reason(&e)))?;
        if out.len() + chunk.len() > limit {
            return Err(format!(
                "the picture is larger than {} MB",
                limit / (1024 * 1024)
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// Opens an HTTP camera: MJPEG stream or JPEG snapshot, decided by the answer.
async fn open_http(cameras: &Cameras, url: &NetworkUrl, fps: f32) -> Result<FrameSource, String> {
    let addrs = crate::net::resolve_and_check(url, &cameras.deps().net)
        .await
        .map_err(|e| e.to_string())?;
    let addr = addrs
        .first()
        .copied()
        .ok_or("the camera's host has no address")?;
    let client = http_client(url, addr)?;
    let full = url.expose().to_string();
    let response = tokio::time::timeout(HTTP_TIMEOUT * 2, client.get(&full).send())
        .await
        .map_err(|_| "the camera did not answer in time".to_string())?
        .map_err(|e| format!("the camera could not be reached ({})", http_reason(&e)))?;
    if let Some(problem) = status_problem(response.status()) {
        return Err(problem);
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/x-mixed-replace") {
        Ok(FrameSource::Mjpeg(response))
    } else if content_type.starts_with("image/jpeg") || content_type.starts_with("image/jpg") {
        let first = read_limited(response, MAX_JPEG_BYTES).await?;
        Ok(FrameSource::Snapshot {
            client,
            url: full,
            first,
            period: Duration::from_secs_f32(1.0 / fps),
        })
    } else {
        Err(format!(
            "the URL is neither an MJPEG stream nor a JPEG snapshot (it answered `{}`)",
            if content_type.is_empty() {
                "no content type"
            } else {
                content_type.as_str()
            }
        ))
    }
}

/// Opens the camera's source; `Err` in plain words.
pub(crate) async fn open(
    cameras: &Cameras,
    spec: &CameraSpec,
    browser: Option<mpsc::Receiver<BrowserFrame>>,
) -> Result<FrameSource, String> {
    if let Some(rx) = browser {
        return Ok(FrameSource::Browser(rx));
    }
    match &spec.source {
        SourceUrl::Browser => Err("the browser input is gone (restart the camera)".into()),
        SourceUrl::Network(url) if matches!(url.scheme(), NetScheme::Http | NetScheme::Https) => {
            open_http(cameras, url, spec.settings.detect_fps).await
        }
        source => {
            let media = &cameras.deps().media;
            let ffmpeg = media.ffmpeg().map_err(|e| e.plain_words())?;
            let ffprobe = media.ffprobe().map_err(|e| e.plain_words())?;
            let input = ffmpeg_input(cameras, source).await?;
            // The frame size must be known before reading raw frames: probe first,
            // then scale to the detect width keeping the aspect ratio.
            let info = vigil_media::probe(&ffprobe, &input, DEFAULT_IO_TIMEOUT)
                .await
                .map_err(|e| e.plain_words())?;
            let frames = FrameSpec::keep_aspect(
                spec.settings.detect_width,
                f64::from(spec.settings.detect_fps),
                &info,
            )
            .map_err(|e| e.plain_words())?;
            FrameReader::spawn(&ffmpeg, &input, &frames)
                .map(|reader| FrameSource::Ffmpeg(Box::new(reader)))
                .map_err(|e| e.plain_words())
        }
    }
}

/// What "test connection" found.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct TestReport {
    /// Whether a frame was read.
    pub ok: bool,
    /// Source kind.
    pub kind: String,
    /// Frame width (of the source, when probed; else of the first frame).
    pub width: Option<u32>,
    /// Frame height.
    pub height: Option<u32>,
    /// Video codec (`h264`, `mjpeg`…), when known.
    pub codec: Option<String>,
    /// Frame rate of the source, when known.
    pub fps: Option<f32>,
    /// What went wrong, in plain words.
    pub error: Option<String>,
    /// Faces found in the first frame (boxes in first-frame pixels at the detect width).
    pub faces: Vec<super::LiveFace>,
}

/// Tries `source` once: probe (ffprobe sources), first frame, its faces.
pub(crate) async fn test(cameras: &Cameras, source: &SourceUrl) -> TestReport {
    let mut report = TestReport {
        kind: source.kind().to_string(),
        ..TestReport::default()
    };
    if matches!(source, SourceUrl::Browser) {
        report.error = Some("a browser camera is tested by opening its page".into());
        return report;
    }
    let is_http = source
        .network()
        .is_some_and(|u| matches!(u.scheme(), NetScheme::Http | NetScheme::Https));
    if !is_http {
        match (
            cameras.deps().media.ffprobe(),
            ffmpeg_input(cameras, source).await,
        ) {
            (Ok(ffprobe), Ok(input)) => {
                match vigil_media::probe(&ffprobe, &input, DEFAULT_IO_TIMEOUT).await {
                    Ok(info) => {
                        report.width = Some(info.width);
                        report.height = Some(info.height);
                        report.codec = Some(info.codec.clone());
                        report.fps = info.fps.map(|f| f as f32);
                    }
                    Err(e) => {
                        report.error = Some(e.plain_words());
                        return report;
                    }
                }
            }
            (Err(e), _) => {
                report.error = Some(e.plain_words());
                return report;
            }
            (_, Err(e)) => {
                report.error = Some(e);
                return report;
            }
        }
    }
    let spec = CameraSpec {
        id: super::CameraId::generate(),
        name: "test".into(),
        source: source.clone(),
        settings: super::CameraSettings::default(),
        zones: Vec::new(),
    };
    let opened = match open(cameras, &spec, None).await {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let slot = Arc::new(Slot::default());
    let stop = CancellationToken::new();
    let reader = tokio::spawn(opened.pump(
        Arc::clone(&slot),
        Arc::new(WorkerMetrics::default()),
        stop.clone(),
    ));
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(frame) = slot.take() {
                return Some(frame);
            }
            if reader.is_finished() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    stop.cancel();
    let frame = match first {
        Ok(Some(frame)) => frame,
        Ok(None) => {
            report.error = Some(match reader.await {
                Ok(PumpEnd { error: Some(e), .. }) => e,
                _ => "the source ended before sending a frame".into(),
            });
            return report;
        }
        Err(_) => {
            reader.abort();
            report.error = Some("no frame arrived within 10 s".into());
            return report;
        }
    };
    let _ = reader.await;
    report.ok = true;
    match super::process::Analyzer::new(cameras, &spec) {
        // The gate detects on its first frame (nothing to compare with yet).
        Ok(mut analyzer) => match analyzer.analyse(cameras, &spec, frame.pixels).await {
            Ok(Some(result)) => {
                if report.width.is_none() {
                    report.width = Some(result.image.width());
                    report.height = Some(result.image.height());
                }
                report.faces = result.faces;
            }
            Ok(None) => {}
            Err(e) => report.error = Some(e),
        },
        Err(e) => report.error = Some(e),
    }
    report
}
