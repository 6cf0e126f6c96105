//! An RTSP camera served by GStreamer: frames, probing, a wrong path, a wrong password
//! (never shown back), and the camera going away.

use std::time::{Duration, Instant};

use vigil_media::{probe, FailureKind, FrameReader, FrameSpec, MediaError, DEFAULT_IO_TIMEOUT};

use crate::common::{self, rtsp, tools, RtspCamera};

#[tokio::test]
async fn an_rtsp_camera_delivers_the_photo_and_probes_as_h264() {
    let Some((ffmpeg, ffprobe)) = tools() else {
        return;
    };
    let clip = common::photo_clip(&ffmpeg);
    let Some(camera) = RtspCamera::start(&["--clip", clip.to_str().unwrap()]).await else {
        return;
    };
    let input = rtsp(&camera.url, &[]);
    let info = probe(&ffprobe, &input, DEFAULT_IO_TIMEOUT).await.unwrap();
    assert_eq!(info.codec, "h264");
    assert_eq!((info.width, info.height), (640, 480));
    // GStreamer announces the clip's range (`a=range:npt=0-4`), so ffprobe has a duration.
    assert!(
        info.duration.is_some_and(|d| (d - 4.0).abs() < 0.2),
        "{info:?}"
    );

    let spec = FrameSpec::keep_aspect(640, 5.0, &info).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    let started = Instant::now();
    let mut frames = Vec::new();
    for _ in 0..5 {
        frames.push(reader.next_frame().await.unwrap());
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let photo = common::photo_640x480();
    for frame in &frames {
        assert_eq!(frame.image.dimensions(), (640, 480));
        let diff = common::mean_abs_diff(&frame.image, &photo);
        assert!(diff < 8.0, "frame {} differs by {diff}", frame.seq);
    }
}

#[tokio::test]
async fn a_wrong_rtsp_path_says_stream_not_found() {
    let Some((ffmpeg, _)) = tools() else { return };
    let clip = common::photo_clip(&ffmpeg);
    let Some(camera) = RtspCamera::start(&["--clip", clip.to_str().unwrap()]).await else {
        return;
    };
    let url = camera.url.replace("/cam", "/no-such-stream");
    let spec = FrameSpec::new(320, 240, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &rtsp(&url, &[]), &spec).unwrap();
    let err = reader.next_frame().await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::StreamNotFound), "{err:?}");
    assert_eq!(
        err.plain_words(),
        "stream not found (404): the camera has no stream at that path"
    );
}

#[tokio::test]
async fn a_wrong_password_says_authentication_failed_and_is_never_shown() {
    let Some((ffmpeg, ffprobe)) = tools() else {
        return;
    };
    let clip = common::photo_clip(&ffmpeg);
    let args = [
        "--clip",
        clip.to_str().unwrap(),
        "--user",
        "alice",
        "--password",
        "right-one",
    ];
    let Some(camera) = RtspCamera::start(&args).await else {
        return;
    };
    let spec = FrameSpec::new(320, 240, 5.0).unwrap();

    // The right password, percent-encoded characters and all, works.
    let good = camera.url_with("alice", "right-one");
    let mut reader = FrameReader::spawn(&ffmpeg, &rtsp(&good, &["right-one"]), &spec).unwrap();
    reader.next_frame().await.unwrap();
    drop(reader);

    let secret = "wr0ng%40pass";
    let bad = rtsp(&camera.url_with("alice", secret), &[secret]);
    let mut reader = FrameReader::spawn(&ffmpeg, &bad, &spec).unwrap();
    assert!(!reader.input().contains("wr0ng"), "{}", reader.input());
    let err = reader.next_frame().await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::AuthFailed), "{err:?}");
    assert_eq!(
        err.plain_words(),
        "authentication failed (401): the camera refused the user name or password"
    );
    let MediaError::Failed(failure) = &err else {
        unreachable!()
    };
    // ffmpeg printed the URL with the password; we kept it masked.
    assert!(
        failure.detail().contains("alice:***@"),
        "{}",
        failure.detail()
    );
    for text in [failure.detail(), format!("{err:?}"), format!("{bad:?}")] {
        assert!(
            !text.contains("wr0ng") && !text.contains("wr0ng@pass"),
            "{text}"
        );
    }

    let err = probe(&ffprobe, &bad, DEFAULT_IO_TIMEOUT).await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::AuthFailed), "{err:?}");
    assert!(!format!("{err:?}").contains("wr0ng"));
}

#[tokio::test]
async fn a_camera_that_goes_away_ends_the_reader_within_10_s() {
    let Some((ffmpeg, _)) = tools() else { return };
    let Some(mut camera) = RtspCamera::start(&["--testsrc", "--size", "320x240"]).await else {
        return;
    };
    let spec = FrameSpec::new(320, 240, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &rtsp(&camera.url, &[]), &spec).unwrap();
    for _ in 0..3 {
        reader.next_frame().await.unwrap();
    }
    camera.stop().await;
    let stopped = Instant::now();
    let (_, err) = common::read_until_error(&mut reader).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopped.elapsed()
    );
    // GStreamer closes the session: ffmpeg ends cleanly.
    assert_eq!(err.kind(), Some(FailureKind::Ended), "{err:?}");

    // Nothing listens there any more.
    let mut reader = FrameReader::spawn(&ffmpeg, &rtsp(&camera.url, &[]), &spec).unwrap();
    let err = reader.next_frame().await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::ConnectionRefused), "{err:?}");
    assert!(err.plain_words().starts_with("connection refused"));
}
