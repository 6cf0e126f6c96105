//! The tracker on real detections: a real photo moved across a frame a few pixels at a
//! time (a synthetic "video"), analysed by the real pipeline frame by frame.

use std::time::Duration;

use image::RgbImage;
use vigil_vision::track::{TrackEvent, TrackId, Tracker, TrackerConfig};
use vigil_vision::{AnalyzeOptions, ImageSize, MaskLabel, Pipeline};

use super::{image_bytes, onnxruntime};

const FRAME: ImageSize = ImageSize {
    width: 640,
    height: 480,
};

/// A 640×480 frame with `photo` pasted `shift` pixels from the left on a grey ground
/// (its bottom rows cut), as if the person had walked that far.
fn frame(photo: &RgbImage, shift: u32) -> RgbImage {
    RgbImage::from_fn(FRAME.width, FRAME.height, |x, y| {
        match x.checked_sub(shift) {
            Some(sx) if sx < photo.width() && y < photo.height() => *photo.get_pixel(sx, y),
            _ => image::Rgb([128, 128, 128]),
        }
    })
}

fn photo(name: &str) -> RgbImage {
    image::load_from_memory(&image_bytes(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgb8()
}

/// Analyses the frames (5 fps) through a default tracker; returns the track of the
/// single face of each frame and every event.
fn track(p: &Pipeline, photo: &RgbImage, shifts: &[u32]) -> (Vec<TrackId>, Vec<TrackEvent>) {
    let mut tracker = Tracker::new(TrackerConfig::default()).expect("the default config is valid");
    let (mut ids, mut events) = (Vec::new(), Vec::new());
    for (i, &shift) in shifts.iter().enumerate() {
        let img = frame(photo, shift);
        let a = p
            .analyze_image(&img, &AnalyzeOptions::default())
            .unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!(a.faces.len(), 1, "frame {i} (shift {shift}): {:?}", a.faces);
        let u = tracker.update(Duration::from_millis(200 * i as u64), FRAME, &a.faces);
        ids.push(u.face_tracks[0]);
        events.extend(u.events);
    }
    events.extend(tracker.finish());
    (ids, events)
}

fn violations(events: &[TrackEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, TrackEvent::Violation(_)))
        .count()
}

#[test]
fn a_real_face_moving_a_few_pixels_per_frame_keeps_one_id_and_a_jump_gives_a_new_one() {
    let Some(p) = onnxruntime() else { return };
    let astronaut = photo("portrait_skimage_astronaut.png");
    // 12 frames 6 px apart, then a jump of 100 px (> 80 at 640 px wide), then 5 more
    // (6 frames: enough verdicts, min_frames = 5, for the new track's violation).
    let mut shifts: Vec<u32> = (0..12).map(|i| i * 6).collect();
    shifts.extend((0..6).map(|i| 166 + i * 4));
    let (ids, events) = track(&p, &astronaut, &shifts);
    assert!(ids[..12].iter().all(|&id| id == TrackId(1)), "{ids:?}");
    assert!(ids[12..].iter().all(|&id| id == TrackId(2)), "{ids:?}");
    // A real unmasked face (the classifier gives p(mask) ≤ 0.11): one violation per
    // track, not one per frame, and the ended tracks say no_mask.
    assert_eq!(
        violations(&events),
        1 + 1,
        "one for each identity: {events:?}"
    );
    let majorities: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TrackEvent::TrackEnded(e) => Some((e.track, e.majority.map(|m| m.label))),
            _ => None,
        })
        .collect();
    assert_eq!(
        majorities,
        vec![
            (TrackId(1), Some(MaskLabel::NoMask)),
            (TrackId(2), Some(MaskLabel::NoMask)),
        ]
    );
}

#[test]
fn a_real_masked_face_moving_across_the_frame_raises_no_violation() {
    let Some(p) = onnxruntime() else { return };
    let masked = photo("synthetic_masked_portrait_skimage_astronaut.jpg");
    let shifts: Vec<u32> = (0..12).map(|i| i * 6).collect();
    let (ids, events) = track(&p, &masked, &shifts);
    assert!(ids.iter().all(|&id| id == TrackId(1)), "{ids:?}");
    assert_eq!(violations(&events), 0, "{events:?}");
}
