//! ffprobe on real files: what a clip is, a phone's rotation, and the refusals.

use std::path::Path;

use vigil_media::{probe, FailureKind, FrameSpec, MediaError, ProbeParseError, DEFAULT_IO_TIMEOUT};

use crate::common::{self, file, tools};

#[tokio::test]
async fn a_clip_is_described_and_gives_a_spec_keeping_its_aspect() {
    let Some((ffmpeg, ffprobe)) = tools() else {
        return;
    };
    let clip = common::photo_clip(&ffmpeg);
    let info = probe(&ffprobe, &file(&clip, true), DEFAULT_IO_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(info.codec, "h264");
    assert!(info.container.contains("mp4"), "{}", info.container);
    assert_eq!((info.width, info.height), (640, 480));
    assert_eq!(info.fps, Some(10.0));
    let duration = info.duration.unwrap();
    assert!((duration - 4.0).abs() < 0.2, "{duration}");
    assert!(info.bit_rate.is_some());
    let spec = FrameSpec::keep_aspect(320, 5.0, &info).unwrap();
    assert_eq!((spec.width, spec.height), (320, 240));
}

#[tokio::test]
async fn a_rotated_clip_is_described_as_displayed_and_read_that_way() {
    let Some((ffmpeg, ffprobe)) = tools() else {
        return;
    };
    let clip = common::rotated_clip(&ffmpeg);
    let input = file(&clip, false);
    let info = probe(&ffprobe, &input, DEFAULT_IO_TIMEOUT).await.unwrap();
    assert_eq!((info.width, info.height), (240, 320));
    // ffmpeg turns the frames upright, so a spec from the probe needs no padding.
    let spec = FrameSpec::keep_aspect(120, 5.0, &info).unwrap();
    assert_eq!((spec.width, spec.height), (120, 160));
    let mut reader = vigil_media::FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    let frame = reader.next_frame().await.unwrap();
    // Unturned, the picture would be fitted as 120×90 between black bars; these points
    // (red, light cyan in the turned testsrc) would be in them.
    for (x, y) in [(30, 20), (60, 140)] {
        let p = frame.image.get_pixel(x, y).0;
        assert!(p.iter().any(|c| *c > 30), "pixel at {x},{y} is {p:?}");
    }
}

#[tokio::test]
async fn refusals_say_what_is_wrong() {
    let Some((ffmpeg, ffprobe)) = tools() else {
        return;
    };
    let tone = common::audio_clip(&ffmpeg);
    let err = probe(&ffprobe, &file(&tone, false), DEFAULT_IO_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(err, MediaError::Probe(ProbeParseError::NoVideo));
    assert_eq!(err.plain_words(), "the source has no video stream");

    let err = probe(
        &ffprobe,
        &file(Path::new("/nonexistent/x.mp4"), false),
        DEFAULT_IO_TIMEOUT,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::FileNotFound), "{err:?}");
    let MediaError::Failed(f) = &err else {
        unreachable!()
    };
    assert_eq!(f.tool, "ffprobe");
}
