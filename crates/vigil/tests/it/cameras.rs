//! Live mask compliance end to end, with real ffmpeg, real clips made from real photos,
//! an MJPEG camera served by the test, the event stream, the annotated MJPEG feed,
//! violations with their pictures, statistics and `/readyz`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_config::VisionEngine;

use crate::harness::*;

/// Whether ffmpeg is installed; outside CI the tests that need it say so and skip.
pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!in_ci(), "ffmpeg is required in CI (.ci/run installs it)");
        eprintln!("note: ffmpeg not installed; camera test skipped");
    }
    ok
}

/// Makes an 8 s, 10 fps, 640×480 H.264 clip of `photo` (a still: no motion) in `dir`.
pub fn clip_of(photo: &str, dir: &Path, name: &str) -> PathBuf {
    clip_lasting(8, photo, dir, name)
}

/// [`clip_of`], `secs` long.
fn clip_lasting(secs: u32, photo: &str, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-i"])
        .arg(workspace_root().join("testdata/images").join(photo))
        .args([
            "-vf",
            "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,format=yuv420p",
            "-r",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args(["-t", &secs.to_string()])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "making the clip of {photo}");
    out
}

/// Waits for camera `id`'s first violation; fails if there is none within 20 s, or
/// more than one.
async fn wait_for_one_violation(s: &TestServer, id: &str, what: &str) {
    let start = Instant::now();
    loop {
        let page = s.get_json(&format!("/api/v1/violations?camera={id}")).await;
        let n = page["items"].as_array().expect("items").len();
        if n >= 1 {
            assert_eq!(n, 1, "{what}: {page}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: no violation"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A vision-enabled server whose `file` cameras read from `files` and which may
/// connect to loopback (the test's own MJPEG camera).
pub async fn camera_server(files: &Path) -> TestServer {
    camera_server_on(Db::Sqlite, files).await
}

/// [`camera_server`] on database `db`.
pub async fn camera_server_on(db: Db, files: &Path) -> TestServer {
    let files = files.to_path_buf();
    let lib = onnxruntime_library();
    TestServer::start_with(db, move |s| {
        s.vision.enabled = true;
        s.vision.engine = if lib.is_some() {
            VisionEngine::Onnxruntime
        } else {
            VisionEngine::Rten
        };
        s.vision.onnxruntime_path = lib;
        s.vision.workers = Some(2);
        s.cameras.files_dir = Some(files);
        s.cameras.allowed_networks = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await
}

/// Waits until `check` holds for camera `id`'s JSON, or fails after `within`.
pub async fn wait_for_camera(
    s: &TestServer,
    id: &str,
    within: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let camera = s.get_json(&format!("/api/v1/cameras/{id}")).await;
        if check(&camera) {
            return camera;
        }
        assert!(
            start.elapsed() < within,
            "camera never {what} within {within:?}: {camera}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn add_camera(s: &TestServer, body: Value) -> Value {
    let resp = s
        .client
        .post(s.url("/api/v1/cameras"))
        .json(&body)
        .send()
        .await
        .expect("POST camera");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Reads `n` JPEG parts from a `multipart/x-mixed-replace` response.
async fn read_mjpeg_parts(resp: reqwest::Response, n: usize) -> Vec<Vec<u8>> {
    let ct = resp.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("content type")
        .to_string();
    assert!(ct.starts_with("multipart/x-mixed-replace"), "{ct}");
    let mut parser =
        vigil_media::mjpeg::MjpegParser::from_content_type(&ct, 8 << 20).expect("boundary");
    let mut body = resp.bytes_stream();
    let mut parts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while parts.len() < n {
        assert!(
            Instant::now() < deadline,
            "stream gave {} parts",
            parts.len()
        );
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("stream chunk in time")
            .expect("stream not ended")
            .expect("stream chunk");
        parser.push(&chunk);
        while let Some(part) = parser.next_part().expect("well-formed stream") {
            parts.push(part.to_vec());
        }
    }
    parts
}

#[tokio::test]
async fn a_file_camera_streams_annotated_frames_and_one_unmasked_person_is_one_violation() {
    if !have_ffmpeg() {
        return;
    }
    let files = tempfile::tempdir().expect("tempdir");
    clip_of("portrait_skimage_astronaut.png", files.path(), "bare.mp4");
    let s = camera_server(files.path()).await;
    // Events from the start, so nothing is missed.
    let events = s
        .client
        .get(s.url("/api/v1/events?types=camera.,violation."))
        .send()
        .await
        .expect("SSE");
    assert_eq!(events.status(), StatusCode::OK);
    let camera = add_camera(
        &s,
        json!({"name": "Entrance", "url": "file:bare.mp4", "detect_fps": 5}),
    )
    .await;
    let id = camera["id"].as_str().expect("id").to_string();
    assert_eq!(camera["kind"], "file");
    assert_eq!(camera["detect_fps"], 5.0);
    wait_for_camera(&s, &id, Duration::from_secs(20), "online", |c| {
        c["status"]["state"] == "online"
    })
    .await;

    // The stream endpoint delivers annotated JPEG frames.
    let stream = s
        .client
        .get(s.url(&format!("/api/v1/cameras/{id}/stream")))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    let parts = read_mjpeg_parts(stream, 3).await;
    for part in &parts {
        let img = image::load_from_memory(part).expect("a JPEG part");
        assert_eq!((img.width(), img.height()), (640, 480));
    }
    let snapshot = s
        .client
        .get(s.url(&format!("/api/v1/cameras/{id}/snapshot.jpg")))
        .send()
        .await
        .expect("snapshot");
    assert_eq!(snapshot.status(), StatusCode::OK);
    assert_eq!(
        snapshot.headers()[reqwest::header::CONTENT_TYPE],
        "image/jpeg"
    );

    // The event stream carries the state change, detections and the violation.
    let mut seen = (false, false, None::<Value>);
    let mut body = events.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.2.is_none() || !seen.0 || !seen.1 {
        assert!(Instant::now() < deadline, "events so far: {seen:?}");
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event in time")
            .expect("stream open")
            .expect("chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let Some(data) = message.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let event: Value = serde_json::from_str(data.trim()).expect("event JSON");
            match event["type"].as_str() {
                Some("camera.state") if event["payload"]["state"] == "online" => seen.0 = true,
                Some("camera.detections") => {
                    assert!(!message.contains("\nid:"), "detections are not stored");
                    if !event["payload"]["faces"]
                        .as_array()
                        .expect("faces")
                        .is_empty()
                    {
                        seen.1 = true;
                    }
                }
                Some("violation.created") => seen.2 = Some(event["payload"]["violation"].clone()),
                _ => {}
            }
        }
    }
    let violation = seen.2.expect("violation");
    assert_eq!(violation["camera_id"], id.as_str());
    assert_eq!(violation["camera_name"], "Entrance");

    // The person stays in view: still one violation a few seconds (and clip loops) later.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let page = s.get_json(&format!("/api/v1/violations?camera={id}")).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one person, one violation: {page}");
    let vid = items[0]["id"].as_str().expect("violation id");
    for picture in ["frame.jpg", "face.jpg"] {
        let resp = s
            .client
            .get(s.url(&format!("/api/v1/violations/{vid}/{picture}")))
            .send()
            .await
            .expect("picture");
        assert_eq!(resp.status(), StatusCode::OK, "{picture}");
        let bytes = resp.bytes().await.expect("bytes");
        image::load_from_memory(&bytes).expect("a JPEG picture");
    }

    // Stop: statistics are flushed and add up to the violations stored.
    let stopped = s
        .client
        .post(s.url(&format!("/api/v1/cameras/{id}/stop")))
        .send()
        .await
        .expect("stop");
    assert_eq!(stopped.status(), StatusCode::OK);
    let stats = s
        .get_json(&format!("/api/v1/stats?camera={id}&bucket=minute"))
        .await;
    assert_eq!(stats["totals"]["violations"], 1, "{stats}");
    assert!(
        stats["totals"]["analysed"].as_i64().expect("analysed") > 0,
        "{stats}"
    );
    assert!(
        stats["totals"]["no_mask"].as_i64().expect("no_mask") > 0,
        "{stats}"
    );
    assert_eq!(stats["totals"]["people"], 1, "{stats}");

    // Acknowledge, export, metrics.
    let acked: Value = s
        .client
        .post(s.url(&format!("/api/v1/violations/{vid}/acknowledge")))
        .json(&json!({"note": "spoke to them"}))
        .send()
        .await
        .expect("ack")
        .json()
        .await
        .expect("JSON");
    assert_eq!(acked["acknowledged"]["note"], "spoke to them");
    let csv = s
        .client
        .get(s.url("/api/v1/violations/export.csv"))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.contains("spoke to them") && csv.contains("Entrance"),
        "{csv}"
    );
    let metrics = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("vigil_camera_frames_analysed_total{camera=\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("vigil_camera_violations_total{"),
        "{metrics}"
    );

    // Deleting the camera deletes its violations and their pictures.
    let deleted = s
        .client
        .delete(s.url(&format!("/api/v1/cameras/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = s
        .client
        .get(s.url(&format!("/api/v1/violations/{vid}")))
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn a_masked_person_raises_no_violation() {
    if !have_ffmpeg() {
        return;
    }
    let files = tempfile::tempdir().expect("tempdir");
    clip_of(
        "synthetic_masked_portrait_skimage_astronaut.jpg",
        files.path(),
        "masked.mp4",
    );
    let s = camera_server(files.path()).await;
    let camera = add_camera(&s, json!({"name": "Lobby", "url": "file:masked.mp4"})).await;
    let id = camera["id"].as_str().expect("id").to_string();
    wait_for_camera(&s, &id, Duration::from_secs(20), "online", |c| {
        c["status"]["state"] == "online"
    })
    .await;
    // Long enough for a track to be judged many times over (5 fps, 8 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    s.client
        .post(s.url(&format!("/api/v1/cameras/{id}/stop")))
        .send()
        .await
        .expect("stop");
    let page = s.get_json(&format!("/api/v1/violations?camera={id}")).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 0, "{page}");
    let stats = s.get_json(&format!("/api/v1/stats?camera={id}")).await;
    assert!(
        stats["totals"]["mask"].as_i64().expect("mask") > 0,
        "{stats}"
    );
    assert_eq!(stats["totals"]["violations"], 0, "{stats}");
    s.stop().await;
}

#[tokio::test]
async fn camera_urls_to_loopback_or_cloud_metadata_are_refused_and_passwords_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start(Db::Sqlite).await;
    for url in [
        "rtsp://127.0.0.1:8554/cam",
        "http://169.254.169.254/latest/meta-data/",
        "rtsp://[::1]/cam",
        "http://localhost:8000/",
    ] {
        let resp = s
            .client
            .post(s.url("/api/v1/cameras"))
            .json(&json!({"name": "bad", "url": url}))
            .send()
            .await
            .expect("POST");
        let status = resp.status();
        let body: Value = resp.json().await.expect("JSON");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert!(body["error"]["message"].as_str().is_some(), "{body}");
    }
    for url in [
        "gopher://example.com/",
        "concat:a|b",
        "file:../../etc/passwd",
    ] {
        let resp = s
            .client
            .post(s.url("/api/v1/cameras"))
            .json(&json!({"name": "bad", "url": url}))
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
    // A LAN camera with a password: stored, shown redacted everywhere.
    let camera = add_camera(
        &s,
        json!({"name": "Yard", "url": "rtsp://admin:hunter2secret@192.168.1.64:554/stream1", "enabled": false}),
    )
    .await;
    assert_eq!(camera["url"], "rtsp://admin:***@192.168.1.64:554/stream1");
    let list = s
        .client
        .get(s.url("/api/v1/cameras"))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    assert!(!list.contains("hunter2secret"), "{list}");
    let audit = s
        .client
        .get(s.url("/api/v1/audit?action=camera.create"))
        .send()
        .await
        .expect("audit")
        .text()
        .await
        .expect("text");
    assert!(
        audit.contains("camera.create") && !audit.contains("hunter2secret"),
        "{audit}"
    );
    drop(dir);
    s.stop().await;
}

/// A tiny MJPEG camera on a random loopback port: serves `frame` as a
/// `multipart/x-mixed-replace` stream at 10 fps until dropped.
struct MjpegCamera {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MjpegCamera {
    async fn start(frame: Vec<u8>, port: u16) -> MjpegCamera {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut clients = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => {
                        let Ok((mut sock, _)) = accepted else { continue };
                        let frame = frame.clone();
                        clients.push(tokio::spawn(async move {
                            let mut buf = [0u8; 4096];
                            let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                            let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=cam\r\nConnection: close\r\n\r\n";
                            if sock.write_all(head.as_bytes()).await.is_err() { return; }
                            loop {
                                let part = format!("--cam\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", frame.len());
                                if sock.write_all(part.as_bytes()).await.is_err()
                                    || sock.write_all(&frame).await.is_err()
                                    || sock.write_all(b"\r\n").await.is_err()
                                {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }));
                    }
                }
            }
            for c in clients {
                c.abort();
            }
        });
        MjpegCamera {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn an_mjpeg_camera_goes_offline_when_its_server_stops_and_recovers_on_its_own() {
    for db in databases() {
        mjpeg_camera_on(db).await;
    }
}

async fn mjpeg_camera_on(db: Db) {
    let files = tempfile::tempdir().expect("tempdir");
    let frame = std::fs::read(workspace_root().join("testdata/images/bench_640x480.jpg"))
        .expect("bench image");
    let cam = MjpegCamera::start(frame.clone(), 0).await;
    let port = cam.addr.port();
    let s = camera_server_on(db, files.path()).await;
    let camera = add_camera(
        &s,
        json!({"name": "Door", "url": format!("http://127.0.0.1:{port}/video"), "motion_gating": false}),
    )
    .await;
    let id = camera["id"].as_str().expect("id").to_string();
    wait_for_camera(&s, &id, Duration::from_secs(20), "online", |c| {
        c["status"]["state"] == "online"
    })
    .await;
    let parts = read_mjpeg_parts(
        s.client
            .get(s.url(&format!("/api/v1/cameras/{id}/stream")))
            .send()
            .await
            .expect("stream"),
        2,
    )
    .await;
    assert!(!parts.is_empty());
    // The astronaut wears no mask: one violation, counted in the statistics.
    wait_for_one_violation(&s, &id, &format!("{db:?}")).await;
    let stats = s
        .get_json(&format!("/api/v1/stats?camera={id}&bucket=hour"))
        .await;
    assert_eq!(stats["totals"]["violations"], 1, "{db:?}: {stats}");

    // The camera's server goes away: offline within 10 s, in /readyz too.
    cam.stop().await;
    let stopped_at = Instant::now();
    let offline = wait_for_camera(&s, &id, Duration::from_secs(12), "offline", |c| {
        c["status"]["state"] == "offline"
    })
    .await;
    assert!(stopped_at.elapsed() <= Duration::from_secs(11));
    assert!(offline["status"]["error"].as_str().is_some(), "{offline}");
    let ready = s.get_json("/readyz").await;
    let listed = ready["cameras"]["cameras"]
        .as_array()
        .expect("cameras in readyz")
        .iter()
        .find(|c| c["id"] == id.as_str())
        .cloned()
        .expect("our camera in readyz");
    assert_eq!(listed["state"], "offline", "{ready}");
    assert_eq!(ready["cameras"]["ok"], false);

    // It comes back on the same port: the camera recovers without help.
    let cam = MjpegCamera::start(frame, port).await;
    wait_for_camera(&s, &id, Duration::from_secs(30), "back online", |c| {
        c["status"]["state"] == "online"
    })
    .await;
    cam.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn killing_the_ffmpeg_child_turns_the_camera_offline_and_it_restarts() {
    if !have_ffmpeg() {
        return;
    }
    let files = tempfile::tempdir().expect("tempdir");
    clip_of(
        "portrait_matplotlib_grace_hopper.jpg",
        files.path(),
        "kill-me.mp4",
    );
    let s = camera_server(files.path()).await;
    let camera = add_camera(&s, json!({"name": "Hall", "url": "file:kill-me.mp4"})).await;
    let id = camera["id"].as_str().expect("id").to_string();
    wait_for_camera(&s, &id, Duration::from_secs(20), "online", |c| {
        c["status"]["state"] == "online"
    })
    .await;
    // The ffmpeg reading this clip (found by its argument, the clip's path).
    let clip = files.path().join("kill-me.mp4");
    let pgrep = Command::new("pgrep")
        .args(["-f", &format!("ffmpeg.*{}", clip.display())])
        .output()
        .expect("pgrep");
    let pids = String::from_utf8_lossy(&pgrep.stdout).to_string();
    assert!(!pids.trim().is_empty(), "ffmpeg child not found");
    for pid in pids.split_whitespace() {
        Command::new("kill")
            .args(["-9", pid])
            .status()
            .expect("kill");
    }
    let offline = wait_for_camera(&s, &id, Duration::from_secs(10), "offline", |c| {
        c["status"]["state"] == "offline"
    })
    .await;
    let error = offline["status"]["error"].as_str().expect("error");
    assert!(
        !error.contains(&files.path().display().to_string()) || error.contains("kill-me"),
        "{error}"
    );
    wait_for_camera(&s, &id, Duration::from_secs(30), "back online", |c| {
        c["status"]["state"] == "online"
    })
    .await;
    let metrics = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let restarts = metrics
        .lines()
        .find(|l| l.starts_with("vigil_camera_restarts_total{") && l.contains(&id))
        .unwrap_or_else(|| panic!("restart counter in {metrics}"));
    assert!(!restarts.ends_with(" 0"), "{restarts}");
    s.stop().await;
}

/// GStreamer's RTSP server (scripts/test-rtsp-server.py) serving `clip`; stops when
/// dropped (its stdin closes).
struct RtspCamera {
    child: tokio::process::Child,
    url: String,
}

impl RtspCamera {
    /// `None` (with a note) when GStreamer's RTSP server is not installed outside CI.
    async fn start(clip: &Path, port: u16) -> Option<RtspCamera> {
        use tokio::io::AsyncBufReadExt;
        let script = workspace_root().join("scripts/test-rtsp-server.py");
        let usable = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg("--check")
            .status()
            .is_ok_and(|s| s.success());
        if !usable {
            assert!(
                !in_ci(),
                "GStreamer's RTSP server is required in CI (.ci/run installs it)"
            );
            eprintln!("note: GStreamer RTSP server not installed; RTSP camera test skipped");
            return None;
        }
        let mut child = tokio::process::Command::new("/usr/bin/python3")
            .arg(&script)
            .arg("--clip")
            .arg(clip)
            .args(["--port", &port.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("RTSP server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the RTSP server is ready within 20 s")
        .expect("its ready line");
        let url = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("unexpected line from the RTSP server: {line}"))
            .to_string();
        Some(RtspCamera { child, url })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[tokio::test]
async fn an_rtsp_camera_streams_raises_its_violation_and_goes_offline_when_the_server_stops() {
    if !have_ffmpeg() {
        return;
    }
    let files = tempfile::tempdir().expect("tempdir");
    // 30 s, so the RTSP stream does not end during the test.
    let clip = clip_lasting(
        30,
        "portrait_matplotlib_grace_hopper.jpg",
        files.path(),
        "rtsp.mp4",
    );
    let Some(rtsp) = RtspCamera::start(&clip, 0).await else {
        return;
    };
    let port: u16 = rtsp
        .url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the RTSP URL");
    let s = camera_server(files.path()).await;
    let camera = add_camera(&s, json!({"name": "Gate", "url": rtsp.url})).await;
    let id = camera["id"].as_str().expect("id").to_string();
    assert_eq!(camera["kind"], "rtsp");
    wait_for_camera(&s, &id, Duration::from_secs(30), "online", |c| {
        c["status"]["state"] == "online"
    })
    .await;
    let parts = read_mjpeg_parts(
        s.client
            .get(s.url(&format!("/api/v1/cameras/{id}/stream")))
            .send()
            .await
            .expect("stream"),
        2,
    )
    .await;
    let first = image::load_from_memory(&parts[0]).expect("JPEG");
    assert_eq!(first.width(), 640);
    // Grace Hopper wears no mask: one violation.
    wait_for_one_violation(&s, &id, "RTSP").await;

    // The RTSP server stops: offline within 10 s.
    rtsp.stop().await;
    let stopped = Instant::now();
    wait_for_camera(&s, &id, Duration::from_secs(11), "offline", |c| {
        c["status"]["state"] == "offline"
    })
    .await;
    assert!(stopped.elapsed() <= Duration::from_secs(11));
    // …and recovers when it is back.
    let Some(rtsp) = RtspCamera::start(&clip, port).await else {
        return;
    };
    wait_for_camera(&s, &id, Duration::from_secs(40), "back online", |c| {
        c["status"]["state"] == "online"
    })
    .await;
    rtsp.stop().await;
    s.stop().await;
}

#[test]
fn the_cli_tests_adds_lists_and_removes_a_camera() {
    if !have_ffmpeg() {
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    // `file:NAME` cameras read from `<data_dir>/camera-files` by default.
    let files = data.path().join("camera-files");
    std::fs::create_dir_all(&files).expect("mkdir");
    clip_of("portrait_skimage_astronaut.png", &files, "door.mp4");
    let run = |args: &[&str]| {
        let out = vigil()
            .current_dir(workspace_root())
            .env("VIGIL_VISION__ENGINE", "rten")
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .output()
            .expect("run vigil");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    };
    let (ok, out, err) = run(&["camera", "test", "file:door.mp4"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("resolution: 640×480"), "{out}");
    assert!(out.contains("codec:      h264"), "{out}");
    assert!(out.contains("first frame: 1 face(s)"), "{out}");
    let (ok, out, err) = run(&["camera", "test", "rtsp://127.0.0.1/cam"]);
    assert!(!ok, "{out}");
    assert!(err.contains("loopback"), "{err}");
    let (ok, out, err) = run(&["camera", "add", "Door", "file:door.mp4", "--fps", "2"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("added camera `Door`"), "{out}");
    let (ok, out, _) = run(&["camera", "list"]);
    assert!(ok && out.contains("Door") && out.contains("file"), "{out}");
    let (ok, out, err) = run(&["camera", "remove", "Door"]);
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run(&["camera", "list"]);
    assert!(ok && out.contains("no cameras"), "{out}");
}
