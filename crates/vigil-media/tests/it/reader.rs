//! The frame reader on local files: size, count, pacing, looping, padding, the pixels
//! themselves, and how it ends (killed, missing file, not a video).

use std::path::Path;
use std::time::{Duration, Instant};

use vigil_media::{Exit, FailureKind, Ffmpeg, FrameReader, FrameSpec, Input, MediaError};

use crate::common::{self, file, tools};

#[tokio::test]
async fn a_looped_file_delivers_frames_of_the_asked_size_at_the_asked_rate() {
    let Some((ffmpeg, _)) = tools() else { return };
    // A 2 s clip read for 3 s: the loop must restart it.
    let clip = common::testsrc_clip(&ffmpeg);
    let spec = FrameSpec::new(160, 120, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &file(&clip, true), &spec).unwrap();
    let first = reader.next_frame().await.unwrap();
    let started = Instant::now();
    let mut last = first.seq;
    for _ in 0..15 {
        let frame = reader.next_frame().await.unwrap();
        assert_eq!(frame.image.dimensions(), (160, 120));
        assert_eq!(frame.seq, last + 1);
        last = frame.seq;
    }
    let elapsed = started.elapsed();
    // 15 frames at 5 fps, paced by -re: about 3 s (well over the clip's 2 s).
    assert!(
        elapsed > Duration::from_millis(2400) && elapsed < Duration::from_secs(6),
        "15 frames took {elapsed:?}"
    );
    assert_eq!(reader.frames_read(), 16);
    assert!(
        reader.stderr_tail().is_empty(),
        "{:?}",
        reader.stderr_tail()
    );
}

#[tokio::test]
async fn frames_are_the_photo_in_rgb_order() {
    let Some((ffmpeg, _)) = tools() else { return };
    let clip = common::photo_clip(&ffmpeg);
    let spec = FrameSpec::new(640, 480, 10.0).unwrap();
    let frame = vigil_media::grab_frame(&ffmpeg, &file(&clip, true), &spec)
        .await
        .unwrap();
    let photo = common::photo_640x480();
    let diff = common::mean_abs_diff(&frame.image, &photo);
    // x264 and two scalers differ a little; swapped channels or a shifted row would not.
    assert!(diff < 8.0, "mean difference {diff}");
    let mut swapped = frame.image.clone();
    for p in swapped.pixels_mut() {
        p.0.swap(0, 2);
    }
    assert!(common::mean_abs_diff(&swapped, &photo) > diff * 2.0);
}

#[tokio::test]
async fn a_different_aspect_is_fitted_and_padded_to_the_exact_size() {
    let Some((ffmpeg, _)) = tools() else { return };
    let clip = common::photo_clip(&ffmpeg);
    // 4:3 into 16:9: black bars left and right.
    let spec = FrameSpec::new(320, 180, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &file(&clip, false), &spec).unwrap();
    let frame = reader.next_frame().await.unwrap();
    assert_eq!(frame.image.dimensions(), (320, 180));
    let bar = frame.image.get_pixel(5, 90).0;
    assert!(bar.iter().all(|c| *c < 20), "left bar {bar:?}");
    let centre = frame.image.get_pixel(160, 90).0;
    assert!(centre.iter().any(|c| *c > 40), "centre {centre:?}");
}

#[tokio::test]
async fn a_file_read_once_ends_with_the_stream_ended() {
    let Some((ffmpeg, _)) = tools() else { return };
    let clip = common::testsrc_clip(&ffmpeg);
    let spec = FrameSpec::new(64, 48, 10.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &file(&clip, false), &spec).unwrap();
    let (frames, err) = common::read_until_error(&mut reader).await;
    // 2 s at 10 fps, read as fast as ffmpeg decodes.
    assert!((19..=21).contains(&frames), "{frames} frames");
    assert_eq!(err.kind(), Some(FailureKind::Ended));
    assert_eq!(
        err.plain_words(),
        "the stream ended: the source closed it or reached its end"
    );
    // The same error again, without waiting.
    assert_eq!(reader.next_frame().await.unwrap_err(), err);
}

#[tokio::test]
async fn killing_ffmpeg_gives_a_clear_error() {
    let Some((ffmpeg, _)) = tools() else { return };
    let clip = common::testsrc_clip(&ffmpeg);
    let spec = FrameSpec::new(160, 120, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &file(&clip, true), &spec).unwrap();
    reader.next_frame().await.unwrap();
    common::kill_9(reader.pid().unwrap());
    let started = Instant::now();
    let (_, err) = common::read_until_error(&mut reader).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(err.plain_words(), "ffmpeg was killed (signal 9)");
    match err {
        MediaError::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Killed);
            assert_eq!(f.exit, Exit::Signal(9));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn kill_and_drop_end_the_child() {
    let Some((ffmpeg, _)) = tools() else { return };
    let clip = common::testsrc_clip(&ffmpeg);
    let spec = FrameSpec::new(64, 48, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &file(&clip, true), &spec).unwrap();
    reader.next_frame().await.unwrap();
    let pid = reader.pid().unwrap();
    reader.kill().await;
    assert!(!alive(pid), "ffmpeg {pid} still runs after kill()");
    assert_eq!(reader.next_frame().await.unwrap_err(), MediaError::Stopped);

    let reader = FrameReader::spawn(&ffmpeg, &file(&clip, true), &spec).unwrap();
    let pid = reader.pid().unwrap();
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !alive(pid),
        "ffmpeg {pid} still runs after the reader was dropped"
    );
}

/// Whether a process runs (not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_missing_file_says_file_not_found() {
    let Some((ffmpeg, _)) = tools() else { return };
    let spec = FrameSpec::new(64, 48, 5.0).unwrap();
    let input = file(Path::new("/nonexistent/vigil/clip.mp4"), true);
    let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    let err = reader.next_frame().await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::FileNotFound), "{err:?}");
    assert_eq!(err.plain_words(), "file not found");
    let MediaError::Failed(f) = err else {
        unreachable!()
    };
    assert!(
        f.detail().contains("No such file or directory"),
        "{}",
        f.detail()
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_video_says_invalid_data() {
    let Some((ffmpeg, _)) = tools() else { return };
    let junk = std::env::temp_dir().join(format!("vigil-media-junk-{}.mp4", std::process::id()));
    std::fs::write(&junk, b"this is not a video at all\n").unwrap();
    let spec = FrameSpec::new(64, 48, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &file(&junk, true), &spec).unwrap();
    let err = reader.next_frame().await.unwrap_err();
    std::fs::remove_file(&junk).unwrap();
    assert_eq!(err.kind(), Some(FailureKind::InvalidData), "{err:?}");
    assert!(err.plain_words().starts_with("invalid data"));
}

#[tokio::test]
async fn an_audio_only_file_says_no_video() {
    let Some((ffmpeg, _)) = tools() else { return };
    let tone = common::audio_clip(&ffmpeg);
    let spec = FrameSpec::new(64, 48, 5.0).unwrap();
    let mut reader = FrameReader::spawn(&ffmpeg, &file(&tone, false), &spec).unwrap();
    let err = reader.next_frame().await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::NoVideo), "{err:?}");
}

#[tokio::test]
async fn a_missing_device_says_file_not_found() {
    let Some((ffmpeg, _)) = tools() else { return };
    let spec = FrameSpec::new(64, 48, 5.0).unwrap();
    let input = Input::Device {
        path: "/dev/video97".into(),
    };
    let mut reader = FrameReader::spawn(&ffmpeg, &input, &spec).unwrap();
    let err = reader.next_frame().await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::FileNotFound), "{err:?}");
}

#[tokio::test]
async fn a_missing_binary_is_not_installed_in_plain_words() {
    let err = Ffmpeg::locate(Some(Path::new("vigil-no-such-ffmpeg"))).unwrap_err();
    assert_eq!(
        err.plain_words(),
        "ffmpeg is not installed (apt-get install ffmpeg)"
    );
    let Some((ffmpeg, ffprobe)) = tools() else {
        return;
    };
    let version = ffmpeg.check().await.unwrap();
    assert!(
        version.starts_with(|c: char| c.is_ascii_digit()),
        "{version}"
    );
    assert_eq!(ffprobe.check().await.unwrap(), version);
}
