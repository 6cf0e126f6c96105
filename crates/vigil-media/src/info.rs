//! What a video source is, parsed from ffprobe's JSON.
//!
//! ffprobe's output describes whatever the source sent, so it is untrusted input: a
//! camera or an uploaded file chooses the codec name, the sizes and the rates. This
//! parser is pure and total: any bytes give a [`MediaInfo`] within sane limits or a
//! [`ProbeParseError`], never a panic (fuzz target `ffprobe_json`).
//!
//! It depends only on `serde_json` and `thiserror` (the fuzz crate compiles this file
//! on its own with `#[path]`): keep it that way.

// `fuzzing` is set by cargo-fuzz, which compiles this file into a fuzz target
// (`check_fuzz_input`); the main build does not know that cfg.
#![allow(unexpected_cfgs)]

use serde_json::Value;

/// Largest ffprobe output read, in bytes. A real one is a few kilobytes.
pub const MAX_FFPROBE_JSON: usize = 1024 * 1024;

/// Largest width or height accepted (a 16K frame).
pub const MAX_SIDE: u32 = 16_384;

/// Longest text kept from a field (codec and container names).
const MAX_NAME: usize = 64;

/// A video source as ffprobe saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// The container (ffprobe's `format_name`, e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `rtsp`).
    pub container: String,
    /// The video codec (`h264`, `hevc`, `mjpeg`, …).
    pub codec: String,
    /// Width in pixels as displayed (after a rotation of 90° or 270°, the coded height).
    pub width: u32,
    /// Height in pixels as displayed.
    pub height: u32,
    /// Frames per second (the average rate, else the base rate), when known.
    pub fps: Option<f64>,
    /// Duration in seconds, when known (live streams have none).
    pub duration: Option<f64>,
    /// Bits per second of the whole source, else of the video stream, when known.
    pub bit_rate: Option<u64>,
}

/// Why ffprobe's output was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeParseError {
    /// More than [`MAX_FFPROBE_JSON`] bytes.
    #[error("ffprobe printed more than {MAX_FFPROBE_JSON} bytes; the source is not a plain video")]
    TooLarge,
    /// Not the JSON object ffprobe prints.
    #[error("ffprobe's answer could not be read")]
    NotJson,
    /// No video stream (audio only, or only a cover picture).
    #[error("the source has no video stream")]
    NoVideo,
    /// A video stream without a usable width and height.
    #[error("the video stream has no usable size (width and height from 1 to {MAX_SIDE})")]
    BadSize,
}

impl MediaInfo {
    /// Parses the output of `ffprobe -print_format json -show_streams -show_format`.
    /// The first video stream that is not an attached picture is the one described.
    ///
    /// # Errors
    /// See [`ProbeParseError`].
    pub fn from_ffprobe_json(bytes: &[u8]) -> Result<MediaInfo, ProbeParseError> {
        if bytes.len() > MAX_FFPROBE_JSON {
            return Err(ProbeParseError::TooLarge);
        }
        let root: Value = serde_json::from_slice(bytes).map_err(|_| ProbeParseError::NotJson)?;
        let root = root.as_object().ok_or(ProbeParseError::NotJson)?;
        let empty = Vec::new();
        let streams = root
            .get("streams")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let video = streams
            .iter()
            .find(|s| {
                s.get("codec_type").and_then(Value::as_str) == Some("video")
                    && integer(s.pointer("/disposition/attached_pic")) != Some(1)
            })
            .ok_or(ProbeParseError::NoVideo)?;
        let format = root.get("format");

        let coded_w = side(video.get("width")).ok_or(ProbeParseError::BadSize)?;
        let coded_h = side(video.get("height")).ok_or(ProbeParseError::BadSize)?;
        let (width, height) = if quarter_turn(video) {
            (coded_h, coded_w)
        } else {
            (coded_w, coded_h)
        };
        let fps = rate(video.get("avg_frame_rate")).or_else(|| rate(video.get("r_frame_rate")));
        let duration = seconds(format.and_then(|f| f.get("duration")))
            .or_else(|| seconds(video.get("duration")));
        let bit_rate = integer(format.and_then(|f| f.get("bit_rate")))
            .or_else(|| integer(video.get("bit_rate")))
            .and_then(|b| u64::try_from(b).ok())
            .filter(|b| *b > 0);
        Ok(MediaInfo {
            container: name(format.and_then(|f| f.get("format_name"))),
            codec: name(video.get("codec_name")),
            width,
            height,
            fps,
            duration,
            bit_rate,
        })
    }

    /// The even height that keeps this source's aspect ratio at `width` (at least 2):
    /// what [`crate::FrameSpec::keep_aspect`] uses so no padding is needed.
    pub fn height_for_width(&self, width: u32) -> u32 {
        let exact = u64::from(width) * u64::from(self.height) / u64::from(self.width.max(1));
        let even = exact.div_ceil(2) * 2;
        u32::try_from(even.clamp(2, u64::from(MAX_SIDE))).unwrap_or(MAX_SIDE)
    }
}

/// A field as text, shortened, or `unknown`.
fn name(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.chars().take(MAX_NAME).collect(),
        _ => "unknown".to_string(),
    }
}

/// An integer written as a JSON number or as a decimal string (ffprobe does both).
fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn side(v: Option<&Value>) -> Option<u32> {
    let n = integer(v)?;
    u32::try_from(n).ok().filter(|n| (1..=MAX_SIDE).contains(n))
}

/// `"30000/1001"` → 29.97; `"0/0"` and nonsense → `None`.
fn rate(v: Option<&Value>) -> Option<f64> {
    let text = v?.as_str()?;
    let (num, den) = match text.split_once('/') {
        Some((n, d)) => (n.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?),
        None => (text.trim().parse::<f64>().ok()?, 1.0),
    };
    let fps = num / den;
    (fps.is_finite() && fps > 0.0 && fps <= 1000.0).then_some(fps)
}

/// `"8.000000"` → 8.0; `"N/A"`, negatives and nonsense → `None`.
fn seconds(v: Option<&Value>) -> Option<f64> {
    let s = match v? {
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    (s.is_finite() && s >= 0.0).then_some(s)
}

/// Whether the stream is shown turned by 90° or 270° (a phone held upright): the display
/// matrix side data (ffmpeg 5+) or the older `rotate` tag.
fn quarter_turn(video: &Value) -> bool {
    let from_side_data = video
        .get("side_data_list")
        .and_then(Value::as_array)
        .and_then(|list| list.iter().find_map(|d| d.get("rotation")))
        .and_then(|r| r.as_f64().or_else(|| r.as_str()?.trim().parse().ok()));
    let from_tag = video
        .pointer("/tags/rotate")
        .and_then(|r| r.as_str()?.trim().parse::<f64>().ok());
    match from_side_data.or(from_tag) {
        Some(deg) if deg.is_finite() && deg.abs() <= 3600.0 => {
            // In range, so the cast is exact.
            let quarter = (deg / 90.0).round().rem_euclid(4.0) as i64;
            quarter == 1 || quarter == 3
        }
        _ => false,
    }
}

/// The `ffprobe_json` fuzz target's checks (`fuzz/fuzz_targets/ffprobe_json.rs`), also
/// run over its committed corpus by `cargo test`: an accepted description is within the
/// limits readers rely on, and the height derived for a 640-pixel-wide frame is even and
/// in range.
#[cfg(any(test, fuzzing))]
pub fn check_fuzz_input(data: &[u8]) {
    if let Ok(info) = MediaInfo::from_ffprobe_json(data) {
        assert!((1..=MAX_SIDE).contains(&info.width), "{info:?}");
        assert!((1..=MAX_SIDE).contains(&info.height), "{info:?}");
        assert!(info.fps.is_none_or(|f| f > 0.0 && f <= 1000.0), "{info:?}");
        assert!(
            info.duration.is_none_or(|d| d.is_finite() && d >= 0.0),
            "{info:?}"
        );
        assert!(info.codec.chars().count() <= MAX_NAME, "{info:?}");
        assert!(info.container.chars().count() <= MAX_NAME, "{info:?}");
        let h = info.height_for_width(640);
        assert!(h >= 2 && h % 2 == 0 && h <= MAX_SIDE, "{info:?} gives {h}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Trimmed from Debian ffprobe 5.1 on a clip made with testsrc + libx264 in mp4.
    const MP4: &str = r#"{
        "streams": [
            {"index": 0, "codec_name": "h264", "codec_type": "video", "width": 640,
             "height": 480, "r_frame_rate": "10/1", "avg_frame_rate": "10/1",
             "duration": "8.000000", "bit_rate": "52416",
             "disposition": {"default": 1, "attached_pic": 0}}
        ],
        "format": {"filename": "clip.mp4", "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
                   "duration": "8.000000", "bit_rate": "55316"}
    }"#;

    #[test]
    fn a_clip_is_described() {
        let info = MediaInfo::from_ffprobe_json(MP4.as_bytes()).unwrap();
        assert_eq!(
            info,
            MediaInfo {
                container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
                codec: "h264".into(),
                width: 640,
                height: 480,
                fps: Some(10.0),
                duration: Some(8.0),
                bit_rate: Some(55316),
            }
        );
        assert_eq!(info.height_for_width(320), 240);
    }

    #[test]
    fn a_live_stream_has_no_duration_and_rates_fall_back() {
        let json = r#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","codec_name":"hevc",
            "width":"1920","height":1080,"avg_frame_rate":"0/0","r_frame_rate":"30000/1001"}],
            "format":{"format_name":"rtsp","duration":"N/A"}}"#;
        let info = MediaInfo::from_ffprobe_json(json.as_bytes()).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert!((info.fps.unwrap() - 29.97).abs() < 0.01);
        assert_eq!(info.duration, None);
        assert_eq!(info.bit_rate, None);
        assert_eq!(info.container, "rtsp");
        assert_eq!(info.height_for_width(640), 360);
    }

    #[test]
    fn a_phone_video_held_upright_is_taller_than_wide() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,
            "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],"format":{}}"#;
        let info = MediaInfo::from_ffprobe_json(json.as_bytes()).unwrap();
        assert_eq!((info.width, info.height), (1080, 1920));
        let tag =
            r#"{"streams":[{"codec_type":"video","width":8,"height":4,"tags":{"rotate":"180"}}]}"#;
        let info = MediaInfo::from_ffprobe_json(tag.as_bytes()).unwrap();
        assert_eq!((info.width, info.height), (8, 4));
        assert_eq!(info.codec, "unknown");
    }

    #[test]
    fn unusable_output_is_refused_in_words() {
        let cases: &[(&[u8], ProbeParseError)] = &[
            (b"", ProbeParseError::NotJson),
            (b"[1,2]", ProbeParseError::NotJson),
            (b"{}", ProbeParseError::NoVideo),
            (
                br#"{"streams":[{"codec_type":"video","codec_name":"png","width":1,"height":1,"disposition":{"attached_pic":1}}]}"#,
                ProbeParseError::NoVideo,
            ),
            (
                br#"{"streams":[{"codec_type":"video","width":0,"height":480}]}"#,
                ProbeParseError::BadSize,
            ),
            (
                br#"{"streams":[{"codec_type":"video","width":99999,"height":480}]}"#,
                ProbeParseError::BadSize,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                MediaInfo::from_ffprobe_json(input).unwrap_err(),
                *want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        let huge = vec![b' '; MAX_FFPROBE_JSON + 1];
        assert_eq!(
            MediaInfo::from_ffprobe_json(&huge).unwrap_err(),
            ProbeParseError::TooLarge
        );
    }

    /// Every committed seed of the `ffprobe_json` fuzz target, through the same checks.
    #[test]
    fn fuzz_corpus_ffprobe_json() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ffprobe_json");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            check_fuzz_input(&bytes);
            seen += 1;
        }
        assert!(seen >= 5, "the ffprobe_json corpus has {seen} files");
    }
}
