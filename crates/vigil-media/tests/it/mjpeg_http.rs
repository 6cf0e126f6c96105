//! HTTP cameras served by tokio tasks: an MJPEG stream read by our parser (as the camera
//! core will, from its HTTP client) and by ffmpeg; HTTP errors and a silent server in
//! plain words.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vigil_media::mjpeg::{self, MjpegParser, DEFAULT_MAX_PART};
use vigil_media::{FailureKind, FrameReader, FrameSpec, Input};

use crate::common::{self, read_request_head, tools};

/// How the test camera writes its stream.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// As our writer does: `--boundary`, Content-Length, CRLF.
    Ours,
    /// A cheap camera: `boundary=--frame` in the header, `--frame` in the body, LF line
    /// ends, no Content-Length.
    Quirky,
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
        .unwrap();
    out
}

/// An MJPEG camera at `http://127.0.0.1:PORT/video`, 10 frames per second, until the
/// test ends. Returns the port and the request heads it received.
async fn mjpeg_camera(style: Style) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    let jpeg = photo_jpeg();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let jpeg = jpeg.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let head = read_request_head(&mut stream).await;
                seen.lock().unwrap().push(head);
                let content_type = match style {
                    Style::Ours => mjpeg::content_type("vigilframe"),
                    Style::Quirky => "multipart/x-mixed-replace;boundary=--frame".to_string(),
                };
                let response = format!("HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\n\r\n");
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    let part = match style {
                        Style::Ours => mjpeg::encode_part("vigilframe", &jpeg).to_vec(),
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
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    (port, heads)
}

/// Reads `count` frames from the camera the way the camera core does: fetch, take the
/// boundary from the Content-Type, push body bytes into the parser.
async fn read_with_parser(port: u16, count: usize) -> Vec<bytes::Bytes> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"GET /video HTTP/1.0\r\nHost: camera.test\r\n\r\n")
        .await
        .unwrap();
    let head = read_request_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap();
    let mut parser = MjpegParser::from_content_type(content_type, DEFAULT_MAX_PART).unwrap();
    let mut frames = Vec::new();
    let mut chunk = vec![0u8; 1500];
    while frames.len() < count {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the camera closed the stream");
        parser.push(&chunk[..n]);
        while let Some(part) = parser.next_part().unwrap() {
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
    let input = Input::Network {
        url: format!("http://127.0.0.1:{port}/video"),
        host_header: Some(format!("camera.test:{port}")),
        protocol_whitelist: "http,tcp",
        secrets: vec![],
    };
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
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
                let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
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
        let input = Input::Network {
            url: format!("http://u:hunter2@127.0.0.1:{port}{path}"),
            host_header: None,
            protocol_whitelist: "http,tcp",
            secrets: vec!["hunter2".into()],
        };
        let started = Instant::now();
        let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
        let err = reader.next_frame().await.unwrap_err();
        assert_eq!(err.kind(), Some(want), "{path}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}: {:?}", started.elapsed());
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}
