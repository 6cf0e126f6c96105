//! What the tests share: the tools (or a clear skip), clips made once per build
//! folder, the RTSP test camera, and a tiny HTTP server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use vigil_media::{Ffmpeg, Ffprobe, FrameReader, Input, MediaError};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (outside CI) or fails (in CI) a test whose tool is missing; `why` says which.
fn missing(why: &str) {
    assert!(!in_ci(), "{why}: required in CI (.ci/run installs it)");
    eprintln!("note: {why}; test skipped");
}

/// ffmpeg and ffprobe, or `None` (the test returns early) outside CI.
pub fn tools() -> Option<(Ffmpeg, Ffprobe)> {
    match (Ffmpeg::locate(None), Ffprobe::locate(None)) {
        (Ok(ffmpeg), Ok(ffprobe)) => Some((ffmpeg, ffprobe)),
        (Err(e), _) | (_, Err(e)) => {
            missing(&e.plain_words());
            None
        }
    }
}

/// Where clips are made: the build folder's scratch space, kept between runs.
fn clip_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vigil-media-clips");
    std::fs::create_dir_all(&dir).expect("the clip folder");
    dir
}

/// Makes `name` in the clip folder with these ffmpeg arguments, once per build folder
/// (and once per test run even when tests ask at the same time).
fn clip(ffmpeg: &Ffmpeg, name: &str, args: &[&str]) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = clip_dir().join(name);
    if path.exists() {
        return path;
    }
    let partial = clip_dir().join(format!("partial-{name}"));
    let status = std::process::Command::new(ffmpeg.path())
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&partial)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "making {name} failed");
    std::fs::rename(&partial, &path).expect("the clip is renamed");
    path
}

/// 2 s of `testsrc`, 320×240 at 10 fps, H.264 in MP4.
pub fn testsrc_clip(ffmpeg: &Ffmpeg) -> PathBuf {
    clip(
        ffmpeg,
        "testsrc-320x240.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=10",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "10",
        ],
    )
}

/// 4 s of a real photo (Grace Hopper, from testdata), 640×480 at 10 fps, H.264 in MP4,
/// a key frame every second (what the RTSP camera serves).
pub fn photo_clip(ffmpeg: &Ffmpeg) -> PathBuf {
    let photo = repo().join("testdata/images/portrait_matplotlib_grace_hopper.jpg");
    let photo = photo.to_str().expect("a UTF-8 path").to_string();
    clip(
        ffmpeg,
        "photo-640x480.mp4",
        &[
            "-loop",
            "1",
            "-i",
            &photo,
            "-vf",
            "scale=640:480:force_original_aspect_ratio=increase,crop=640:480,format=yuv420p",
            "-t",
            "4",
            "-r",
            "10",
            "-c:v",
            "libx264",
            "-g",
            "10",
        ],
    )
}

/// 1 s of a sine tone: a file with no video.
pub fn audio_clip(ffmpeg: &Ffmpeg) -> PathBuf {
    clip(
        ffmpeg,
        "tone.wav",
        &["-f", "lavfi", "-i", "sine", "-t", "1"],
    )
}

/// The photo clip rotated by 90° in its metadata only (a phone held upright).
pub fn rotated_clip(ffmpeg: &Ffmpeg) -> PathBuf {
    let source = testsrc_clip(ffmpeg);
    let source = source.to_str().expect("a UTF-8 path").to_string();
    clip(
        ffmpeg,
        "testsrc-rotated.mp4",
        &["-i", &source, "-c", "copy", "-metadata:s:v", "rotate=90"],
    )
}

/// The test photo, as the tests compare frames to it.
pub fn photo_640x480() -> image::RgbImage {
    static PHOTO: OnceLock<image::RgbImage> = OnceLock::new();
    PHOTO
        .get_or_init(|| {
            let photo =
                image::open(repo().join("testdata/images/portrait_matplotlib_grace_hopper.jpg"))
                    .expect("the test photo")
                    .to_rgb8();
            // The clip's filter: fill 640×480 (scale up to cover), crop the centre.
            let (w, h) = photo.dimensions();
            let scale = f64::max(640.0 / f64::from(w), 480.0 / f64::from(h));
            let (sw, sh) = (
                (f64::from(w) * scale).round() as u32,
                (f64::from(h) * scale).round() as u32,
            );
            let scaled =
                image::imageops::resize(&photo, sw, sh, image::imageops::FilterType::Triangle);
            image::imageops::crop_imm(&scaled, (sw - 640) / 2, (sh - 480) / 2, 640, 480).to_image()
        })
        .clone()
}

/// Mean absolute difference per channel value between two images of one size.
pub fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// A file input.
pub fn file(path: &Path, looped: bool) -> Input {
    Input::File {
        path: path.to_path_buf(),
        looped,
    }
}

/// The RTSP test camera: GStreamer's server in a child, killed on drop.
pub struct RtspCamera {
    child: Child,
    /// `rtsp://127.0.0.1:PORT/cam`, without credentials.
    pub url: String,
}

impl RtspCamera {
    /// Starts the server with these arguments (`--clip …` or `--testsrc`, …); `None`
    /// (the test returns early) when GStreamer is missing outside CI.
    pub async fn start(args: &[&str]) -> Option<RtspCamera> {
        let script = repo().join("scripts/test-rtsp-server.py");
        let python = Path::new("/usr/bin/python3");
        let usable = python.exists()
            && std::process::Command::new(python)
                .arg(&script)
                .arg("--check")
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !usable {
            missing("GStreamer's RTSP server is not installed (/usr/bin/python3 with gi and the plugins)");
            return None;
        }
        let mut child = Command::new(python)
            .arg(&script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the RTSP server starts");
        let stdout = child.stdout.take().expect("a stdout pipe");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the RTSP server starts within 20 s")
        .expect("its first line");
        let url = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the RTSP server said {line:?}"))
            .to_string();
        Some(RtspCamera { child, url })
    }

    /// Stops the server now.
    pub async fn stop(&mut self) {
        self.child.kill().await.expect("the RTSP server is killed");
    }

    /// `url` with credentials in it.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        self.url
            .replacen("rtsp://", &format!("rtsp://{user}:{password}@"), 1)
    }
}

/// An RTSP input for `url` with the scheme's whitelist.
pub fn rtsp(url: &str, secrets: &[&str]) -> Input {
    Input::Network {
        url: url.to_string(),
        host_header: None,
        protocol_whitelist: "rtsp,rtp,udp,tcp",
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
    }
}

/// An HTTP input for `url` with the scheme's whitelist.
pub fn http(url: &str, host_header: Option<String>, secrets: &[&str]) -> Input {
    Input::Network {
        url: url.to_string(),
        host_header,
        protocol_whitelist: "http,tcp",
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
    }
}

/// Reads frames until the reader fails: how many it got, and the error.
pub async fn read_until_error(reader: &mut FrameReader) -> (u64, MediaError) {
    let mut frames = 0;
    loop {
        match reader.next_frame().await {
            Ok(_) => frames += 1,
            Err(e) => return (frames, e),
        }
    }
}

/// Reads an HTTP/1 request head (up to the blank line) from `stream`.
pub async fn read_request_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Kills a process by id with SIGKILL (`kill -9`), as an operator or the OOM killer would.
pub fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}
