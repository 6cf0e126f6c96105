//! HTTP cameras served by tokio tasks: an MJPEG stream read by our parser (as the camera
//! core will, from its HTTP client) and by ffmpeg; HTTP errors and a silent server in
//! plain words.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vigil_media::mjpeg::{self, MjpegParser, DEFAULT_MAX_PART};
use vigil_media::{FailureKind, FrameReader, FrameSpec};

use crate::common::{self, http, read_request_head, read_until_error, tools};

/// How the test camera writes its stream.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// As our writer does: `--boundary`, Content-Length, CRLF.
    Ours,
    /// A cheap camera: `boundary=--frame` in the header, `--frame` in the body, LF line
    /// ends, no Content-Length.
    Quirky,
    /// Three frames, then silence on an open connection (a frozen camera).
    Freezing,
    /// 30 frames at once (enough for ffmpeg to start decoding), then a part announced
    /// as 10 MB sent a byte at a time: ffmpeg's connection stays busy but no frame comes.
    Trickling,
}

/// The photo at 320×240 as a JPEG.
fn photo_jpeg() -> Vec<u8> {
    let photo = image::imageops::resize(
        &common::photo_640x480(),
        320,
        240,
        image::imageops::FilterType::Triangle,
    );
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&photo)
        .expect("JPEG encoding");
    out
}

/// An MJPEG camera at `http://127.0.0.1:PORT/video`, 10 frames per second, until the
/// test ends. Returns the port and the request heads it received.
async fn mjpeg_camera(style: Style) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = listener.local_addr().expect("its address").port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    let jpeg = photo_jpeg();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let jpeg = jpeg.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let head = read_request_head(&mut stream).await;
                seen.lock().expect("the request list").push(head);
                let content_type = match style {
                    Style::Ours | Style::Freezing | Style::Trickling => {
                        mjpeg::content_type(mjpeg::BOUNDARY)
                    }
                    Style::Quirky => "multipart/x-mixed-replace;boundary=--frame".to_string(),
                };
                let response = format!("HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\n\r\n");
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
                for sent in 0.. {
                    if style == Style::Freezing && sent == 3 {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    if style == Style::Trickling && sent == 30 {
                        let head = mjpeg::part_header(mjpeg::BOUNDARY, "image/jpeg", 10_000_000);
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(&[0xFF, 0xD8]).await;
                        while stream.write_all(&[0]).await.is_ok() {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        return;
                    }
                    let part = match style {
                        Style::Ours | Style::Freezing | Style::Trickling => {
                            mjpeg::encode_part(mjpeg::BOUNDARY, &jpeg).to_vec()
                        }
                        Style::Quirky => {
                            let mut p = b"--frame\nContent-Type: image/jpeg\n\n".to_vec();
                            p.extend_from_slice(&jpeg);
                            p.push(b'\n');
                            p
                        }
                    };
                    if stream.write_all(&part).await.is_err() {
                        return;
                    }
                    if style != Style::Trickling {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            });
        }
    });
    (port, heads)
}

/// Reads `count` frames from the camera the way the camera core does: fetch, take the
/// boundary from the Content-Type, push body bytes into the parser.
async fn read_with_parser(port: u16, count: usize) -> Vec<bytes::Bytes> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /video HTTP/1.0\r\nHost: camera.test\r\n\r\n")
        .await
        .expect("the request is sent");
    let head = read_request_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .expect("a Content-Type");
    let mut parser =
        MjpegParser::from_content_type(content_type, DEFAULT_MAX_PART).expect("a boundary");
    let mut frames = Vec::new();
    let mut chunk = vec![0u8; 1500];
    while frames.len() < count {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("a chunk within 5 s")
            .expect("a read");
        assert!(n > 0, "the camera closed the stream");
        parser.push(&chunk[..n]);
        while let Some(part) = parser.next_part().expect("a well-formed stream") {
            frames.push(part);
        }
        assert!(parser.buffered() <= 2 * 1024 * 1024);
    }
    frames
}

#[tokio::test]
async fn the_parser_reads_an_mjpeg_camera_in_either_style() {
    for style in [Style::Ours, Style::Quirky] {
        let (port, _) = mjpeg_camera(style).await;
        let started = Instant::now();
        let frames = read_with_parser(port, 5).await;
        // Five frames 100 ms apart.
        assert!(started.elapsed() < Duration::from_secs(3));
        for jpeg in frames {
            assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
            let image = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            assert_eq!(image.dimensions(), (320, 240));
        }
    }
}

#[tokio::test]
async fn ffmpeg_reads_an_mjpeg_camera_sending_the_original_host() {
    let Some((ffmpeg, _)) = tools() else { return };
    let (port, heads) = mjpeg_camera(Style::Ours).await;
    let input = http(
        &format!("http://127.0.0.1:{port}/video"),
        Some(format!("camera.test:{port}")),
        &[],
    );
    let spec = FrameSpec::new(320, 240, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    for _ in 0..3 {
        let frame = reader.next_frame().await.unwrap();
        assert_eq!(frame.image.dimensions(), (320, 240));
    }
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].contains(&format!("\r\nHost: camera.test:{port}\r\n")),
        "{}",
        heads[0]
    );
}

/// An HTTP server answering `/401`, `/404` with that status and never answering
/// `/silent`.
async fn http_errors() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let head = read_request_head(&mut stream).await;
                let status = if head.starts_with("GET /401") {
                    "401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"cam\""
                } else if head.starts_with("GET /404") {
                    "404 Not Found"
                } else {
                    // Hold the connection open and say nothing.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                };
                let response =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn http_errors_and_a_silent_camera_say_what_happened() {
    let Some((ffmpeg, _)) = tools() else { return };
    let port = http_errors().await;
    let mut spec = FrameSpec::new(64, 48, 5.0).unwrap();
    spec.io_timeout = Duration::from_secs(1);
    let cases = [
        ("/401", FailureKind::AuthFailed),
        ("/404", FailureKind::StreamNotFound),
        ("/silent", FailureKind::TimedOut),
    ];
    for (path, want) in cases {
        let input = http(
            &format!("http://u:hunter2@127.0.0.1:{port}{path}"),
            None,
            &["hunter2"],
        );
        let started = Instant::now();
        let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
        let err = reader.next_frame().await.unwrap_err();
        assert_eq!(err.kind(), Some(want), "{path}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path}: {:?}",
            started.elapsed()
        );
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

#[tokio::test]
async fn a_camera_that_freezes_ends_the_reader_within_its_timeout() {
    let Some((ffmpeg, _)) = tools() else { return };
    let (port, _) = mjpeg_camera(Style::Freezing).await;
    let input = http(&format!("http://127.0.0.1:{port}/video"), None, &[]);
    let mut spec = FrameSpec::new(160, 120, 5.0).unwrap();
    spec.io_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    let (frames, err) = read_until_error(&mut reader).await;
    let waited = started.elapsed();
    // The three frames sent, then ffmpeg's read timeout (2 s) or our stall backstop
    // (2 + 1 + 0.4 s): well within the 10 s a camera has to show offline.
    assert!(frames >= 1, "{frames} frames");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!(err.kind(), Some(FailureKind::TimedOut), "{err:?}");
    assert_eq!(
        err.plain_words(),
        "timed out: the camera did not answer in time"
    );
}

#[tokio::test]
async fn a_source_that_sends_no_frame_is_stopped_as_stalled() {
    let Some((ffmpeg, _)) = tools() else { return };
    let (port, _) = mjpeg_camera(Style::Trickling).await;
    let input = http(&format!("http://127.0.0.1:{port}/video"), None, &[]);
    let mut spec = FrameSpec::new(160, 120, 5.0).unwrap();
    spec.io_timeout = Duration::from_secs(1);
    let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    let pid = reader.pid().unwrap();
    reader.next_frame().await.unwrap();
    let (_, err) = read_until_error(&mut reader).await;
    assert_eq!(err.kind(), Some(FailureKind::Stalled), "{err:?}");
    let vigil_media::MediaError::Failed(failure) = &err else {
        unreachable!()
    };
    assert_eq!(
        failure.lines.last().map(String::as_str),
        Some("no frame for 2.4 s")
    );
    // The stuck child was killed, not left behind.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let Some((ffmpeg, ffprobe)) = tools() else {
        return;
    };
    // Where the redirect points: it must never see a connection.
    let target = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let target_port = target.local_addr().expect("its address").port();
    let camera = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = camera.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = camera.accept().await {
            let _ = read_request_head(&mut stream).await;
            let response = format!(
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{target_port}/secret\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    let input = http(&format!("http://127.0.0.1:{port}/video"), None, &[]);
    let spec = FrameSpec::new(64, 48, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    let (frames, _) = read_until_error(&mut reader).await;
    assert_eq!(frames, 0);
    assert!(vigil_media::probe(&ffprobe, &input, Duration::from_secs(2))
        .await
        .is_err());
    let followed = tokio::time::timeout(Duration::from_millis(300), target.accept()).await;
    assert!(followed.is_err(), "ffmpeg followed the redirect");
}
