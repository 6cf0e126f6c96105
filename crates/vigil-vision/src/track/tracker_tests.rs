//! Behaviour of [`Tracker`] on synthetic detections (real detections: `tests/vision/track.rs`).

use std::time::Duration;

use super::*;
use crate::result::{BBox, Face, ImageSize, MaskLabel, MaskResult};
use MaskLabel::{Mask as M, NoMask as N};

const VGA: ImageSize = ImageSize {
    width: 640,
    height: 480,
};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A 60×80 face centred at `(cx, cy)`.
fn face(cx: f32, cy: f32, mask: Option<(MaskLabel, f32)>) -> Face {
    Face {
        bbox: BBox {
            x: cx - 30.0,
            y: cy - 40.0,
            width: 60.0,
            height: 80.0,
        },
        score: 0.95,
        landmarks: Vec::new(),
        mask: mask.map(|(label, score)| MaskResult { label, score }),
        liveness: None,
        embedding: None,
    }
}

fn tracker() -> Tracker {
    Tracker::new(TrackerConfig::default()).unwrap()
}

fn violations(events: &[TrackEvent]) -> Vec<&Violation> {
    events
        .iter()
        .filter_map(|e| match e {
            TrackEvent::Violation(v) => Some(v),
            _ => None,
        })
        .collect()
}

fn ended(events: &[TrackEvent]) -> Vec<&TrackEnded> {
    events
        .iter()
        .filter_map(|e| match e {
            TrackEvent::TrackEnded(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// Runs `frames` (one face list each, 200 ms apart = 5 fps) and returns every update.
fn run(t: &mut Tracker, frames: Vec<Vec<Face>>) -> Vec<FrameUpdate> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, faces)| t.update(ms(i as u64 * 200), VGA, &faces))
        .collect()
}

/// `n` frames of one person at y = 240 starting at `x0` and moving `dx` px per frame.
fn walker(n: usize, x0: f32, dx: f32, mask: Option<(MaskLabel, f32)>) -> Vec<Vec<Face>> {
    (0..n)
        .map(|i| vec![face(x0 + dx * i as f32, 240.0, mask)])
        .collect()
}

fn all_events(updates: &[FrameUpdate]) -> Vec<TrackEvent> {
    updates.iter().flat_map(|u| u.events.clone()).collect()
}

#[test]
fn one_person_crossing_the_frame_keeps_one_id() {
    let mut t = tracker();
    // 30 px per frame from the left edge to the right edge.
    let updates = run(&mut t, walker(20, 30.0, 30.0, Some((M, 0.9))));
    let ids: Vec<TrackId> = updates.iter().map(|u| u.face_tracks[0]).collect();
    assert!(ids.iter().all(|&id| id == TrackId(1)), "{ids:?}");
    let started = all_events(&updates)
        .iter()
        .filter(|e| matches!(e, TrackEvent::TrackStarted(_)))
        .count();
    assert_eq!(started, 1);
    assert_eq!(t.len(), 1);
}

#[test]
fn two_people_keep_separate_ids() {
    let cases = [
        // (name, a's start, a's step, b's start, b's step): centres (x, y).
        (
            "opposite directions on two rows",
            (50.0, 120.0),
            25.0,
            (590.0, 360.0),
            -25.0,
        ),
        (
            "side by side walking together",
            (100.0, 240.0),
            15.0,
            (220.0, 240.0),
            15.0,
        ),
    ];
    for (name, (ax, ay), da, (bx, by), db) in cases {
        let mut t = tracker();
        let frames = (0..20)
            .map(|i| {
                let i = i as f32;
                vec![face(ax + da * i, ay, None), face(bx + db * i, by, None)]
            })
            .collect();
        let updates = run(&mut t, frames);
        for u in &updates {
            assert_eq!(u.face_tracks, vec![TrackId(1), TrackId(2)], "{name}");
        }
    }
}

#[test]
fn absence_shorter_than_max_absence_keeps_the_id_longer_gets_a_new_one() {
    // (gap in ms between last sighting and return, same id expected)
    let cases = [
        (400, true),
        (2800, true),
        (3000, true),
        (3200, false),
        (10_000, false),
    ];
    for (gap, same) in cases {
        let mut t = tracker();
        let p = || vec![face(300.0, 240.0, Some((M, 0.9)))];
        t.update(ms(0), VGA, &p());
        t.update(ms(200), VGA, &p());
        // Empty frames while the person is away (the camera keeps running).
        let mut events = Vec::new();
        let mut at = 400;
        while at < 200 + gap {
            let u = t.update(ms(at), VGA, &[]);
            assert!(u.tracks.iter().all(|a| !a.visible));
            events.extend(u.events);
            at += 200;
        }
        let back = t.update(ms(200 + gap), VGA, &p());
        events.extend(back.events);
        let id = back.face_tracks[0];
        assert_eq!(id == TrackId(1), same, "gap {gap} ms: got {id}");
        let gone: Vec<TrackId> = ended(&events).iter().map(|e| e.track).collect();
        if same {
            assert!(gone.is_empty(), "gap {gap}: {gone:?}");
        } else {
            assert_eq!(id, TrackId(2), "ids increase, never reused");
            // Ended exactly once, as soon as a frame showed the absence was too long.
            assert_eq!(gone, vec![TrackId(1)], "gap {gap}");
            let e = ended(&events)[0];
            assert_eq!(e.last_seen, ms(200));
        }
    }
}

#[test]
fn a_still_person_seen_only_at_the_motion_gates_forced_detections_keeps_one_id() {
    // With motion gating a still scene is detected every max_interval (2 s) only, with
    // some jitter; the default max_absence (3 s) must bridge those gaps.
    let gate = super::MotionConfig::default().max_interval;
    let mut t = tracker();
    let mut at = Duration::ZERO;
    for i in 0..10u64 {
        let u = t.update(at, VGA, &[face(300.0, 240.0, Some((N, 0.9)))]);
        assert_eq!(u.face_tracks, vec![TrackId(1)], "detection {i}");
        at += gate + ms(50 * (i % 3));
    }
    assert!(TrackerConfig::default().max_absence > gate + ms(500));
}

#[test]
fn a_no_mask_person_over_30_frames_gives_exactly_one_violation() {
    let mut t = tracker();
    let updates = run(&mut t, walker(30, 100.0, 5.0, Some((N, 0.92))));
    let events = all_events(&updates);
    let v = violations(&events);
    assert_eq!(v.len(), 1, "{v:?}");
    // min_frames defaults to smoothing_frames / 2 = 5: the fifth frame (index 4).
    assert_eq!(v[0].face.frame_index, 4);
    assert_eq!(v[0].face.at, ms(800));
    assert_eq!(v[0].track, TrackId(1));
    assert!((v[0].score - 0.92).abs() < 1e-5);
    assert_eq!(v[0].zone, None);
    assert_eq!(v[0].face.bbox, face(120.0, 240.0, None).bbox);
    let last = updates.last().unwrap();
    assert!(last.tracks[0].violation);
    assert_eq!(last.tracks[0].label.map(|l| l.label), Some(N));
}

#[test]
fn label_flicker_gives_the_majority_and_at_most_one_violation() {
    // (pattern repeated over 30 frames, smoothed label at the end, violations)
    let cases: &[(&[MaskLabel], MaskLabel, usize)] = &[
        (&[M, N], M, 0),    // a perfect tie never accuses
        (&[N, N, M], N, 1), // two thirds no-mask
        (&[M, M, N], M, 0),
    ];
    for &(pattern, want, n_violations) in cases {
        let mut t = tracker();
        let frames = (0..30)
            .map(|i| vec![face(300.0, 240.0, Some((pattern[i % pattern.len()], 0.9)))])
            .collect();
        let updates = run(&mut t, frames);
        let label = updates.last().unwrap().tracks[0].label.unwrap().label;
        assert_eq!(label, want, "{pattern:?}");
        assert_eq!(
            violations(&all_events(&updates)).len(),
            n_violations,
            "{pattern:?}"
        );
    }
    // Taking the mask off, on, off again: still one person, one violation.
    let mut t = tracker();
    let frames = (0..30)
        .map(|i| {
            let l = if (10..20).contains(&i) { M } else { N };
            vec![face(300.0, 240.0, Some((l, 0.9)))]
        })
        .collect();
    let updates = run(&mut t, frames);
    assert_eq!(violations(&all_events(&updates)).len(), 1);
    let end = t.finish();
    let e = ended(&end)[0];
    assert_eq!(
        e.majority.unwrap().label,
        N,
        "20 of 30 frames without a mask"
    );
    assert!(e.violation);
}

#[test]
fn scores_below_the_confidence_threshold_give_no_violation() {
    let cases = [(0.6, 0), (0.749, 0), (0.75, 1), (0.99, 1)];
    for (score, want) in cases {
        let mut t = tracker();
        let updates = run(&mut t, walker(30, 300.0, 0.0, Some((N, score))));
        assert_eq!(
            violations(&all_events(&updates)).len(),
            want,
            "score {score}"
        );
    }
}

#[test]
fn too_few_verdicts_give_no_violation() {
    // Four no-mask frames and the person leaves: below min_frames (5).
    let mut t = tracker();
    let updates = run(&mut t, walker(4, 300.0, 0.0, Some((N, 0.99))));
    assert!(violations(&all_events(&updates)).is_empty());
    // Faces without a verdict (no mask model) never count as votes.
    let mut t = tracker();
    let updates = run(
        &mut t,
        (0..30).map(|_| vec![face(300.0, 240.0, None)]).collect(),
    );
    assert!(violations(&all_events(&updates)).is_empty());
    assert_eq!(updates.last().unwrap().tracks[0].label, None);
}

#[test]
fn zones_include_and_exclude() {
    let left = Zone::new("left", vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]).unwrap();
    let corner = Zone::new("corner", vec![[0.9, 0.9], [1.0, 0.9], [1.0, 1.0]]).unwrap();
    // (zones, face centre x, expected zone of the violation (None = no zones) or no
    // violation at all)
    type Case = (Vec<Zone>, f32, Option<Option<&'static str>>);
    let cases: Vec<Case> = vec![
        (vec![], 500.0, Some(None)),
        (vec![left.clone()], 100.0, Some(Some("left"))),
        (vec![left.clone()], 500.0, None),
        (
            vec![corner.clone(), left.clone()],
            100.0,
            Some(Some("left")),
        ),
        (vec![corner], 100.0, None),
    ];
    for (zones, x, want) in cases {
        let names: Vec<String> = zones.iter().map(|z| z.name().to_owned()).collect();
        let mut t = Tracker::new(TrackerConfig {
            zones,
            ..TrackerConfig::default()
        })
        .unwrap();
        let events = all_events(&run(&mut t, walker(10, x, 0.0, Some((N, 0.9)))));
        let v = violations(&events);
        let got = v.first().map(|v| v.zone.as_deref());
        assert_eq!(got, want, "zones {names:?}, x {x}");
    }
    // A person walking from outside into the zone raises it on entering.
    let left = Zone::new("left", vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]).unwrap();
    let mut t = Tracker::new(TrackerConfig {
        zones: vec![left],
        ..TrackerConfig::default()
    })
    .unwrap();
    let events = all_events(&run(&mut t, walker(20, 600.0, -30.0, Some((N, 0.9)))));
    let v = violations(&events);
    assert_eq!(v.len(), 1);
    assert!(v[0].face.bbox.center().0 < 320.0, "{:?}", v[0].face.bbox);
    assert!(v[0].face.frame_index > 4);
}

#[test]
fn face_id_threshold_scales_with_frame_width() {
    let c = TrackerConfig::default();
    let table = [(640, 80.0), (1280, 160.0), (320, 40.0), (1920, 240.0)];
    for (width, px) in table {
        assert!((c.threshold_px(width) - px).abs() < 1e-4, "{width}");
    }
    // A jump of 120 px: a new person at 640 px wide, the same one at 1280.
    for (width, same) in [(640u32, false), (1280, true)] {
        let size = ImageSize {
            width,
            height: width * 3 / 4,
        };
        let mut t = tracker();
        t.update(ms(0), size, &[face(200.0, 200.0, None)]);
        let u = t.update(ms(200), size, &[face(320.0, 200.0, None)]);
        assert_eq!(u.face_tracks[0] == TrackId(1), same, "width {width}");
    }
}

#[test]
fn a_track_end_reports_first_and_last_seen_best_face_and_majority() {
    let mut t = tracker();
    let mut frames = walker(6, 300.0, 1.0, Some((M, 0.8)));
    // The fourth frame is the most confident and the largest: the thumbnail.
    frames[3][0].score = 0.99;
    frames[3][0].bbox.width = 70.0;
    let best_box = frames[3][0].bbox;
    run(&mut t, frames);
    // Absent long enough: ended on the next frame, which also starts someone else.
    let u = t.update(ms(5000), VGA, &[face(100.0, 100.0, None)]);
    let e = ended(&u.events);
    assert_eq!(e.len(), 1);
    let e = e[0];
    assert_eq!(
        (e.track, e.first_seen, e.last_seen),
        (TrackId(1), ms(0), ms(1000))
    );
    assert_eq!(e.observations, 6);
    assert_eq!(
        (e.best.frame_index, e.best.at, e.best.bbox),
        (3, ms(600), best_box)
    );
    let m = e.majority.unwrap();
    assert_eq!((m.label, m.votes), (M, 6));
    assert!(!e.violation);
    // Events within a frame: ended before started.
    assert!(matches!(u.events[0], TrackEvent::TrackEnded(_)));
    assert!(matches!(u.events[1], TrackEvent::TrackStarted(_)));
    assert_eq!(u.face_tracks, vec![TrackId(2)]);
    // finish() ends the rest; numbering continues.
    let fin = t.finish();
    assert_eq!(
        ended(&fin).iter().map(|e| e.track).collect::<Vec<_>>(),
        vec![TrackId(2)]
    );
    assert!(t.is_empty());
    let u = t.update(ms(5200), VGA, &[face(100.0, 100.0, None)]);
    assert_eq!(u.face_tracks, vec![TrackId(3)]);
}

#[test]
fn events_serialise_with_a_type_tag_and_times_in_seconds() {
    let mut t = tracker().with_first_id(41);
    let u = t.update(ms(1500), VGA, &[face(100.0, 100.0, None)]);
    let json = serde_json::to_value(&u.events[0]).unwrap();
    assert_eq!(json["type"], "track_started");
    assert_eq!(json["track"], 41);
    assert_eq!(json["at"], 1.5);
    assert_eq!(json["box"]["width"], 60.0);
}

#[test]
fn time_going_backwards_does_not_end_or_panic() {
    let mut t = tracker();
    t.update(ms(5000), VGA, &[face(100.0, 100.0, None)]);
    let u = t.update(ms(1000), VGA, &[face(105.0, 100.0, None)]);
    assert_eq!(u.face_tracks, vec![TrackId(1)]);
    assert!(u.events.is_empty());
}

#[test]
fn malformed_boxes_start_their_own_track_without_panicking() {
    let mut t = tracker();
    t.update(ms(0), VGA, &[face(100.0, 100.0, None)]);
    let mut bad = face(100.0, 100.0, None);
    bad.bbox.x = f32::NAN;
    let u = t.update(ms(200), VGA, &[bad]);
    assert_eq!(u.face_tracks, vec![TrackId(2)]);
}

#[test]
fn invalid_configs_are_refused_naming_the_setting() {
    let base = TrackerConfig::default;
    let cases = [
        (
            TrackerConfig {
                face_id_threshold_px: 0.0,
                ..base()
            },
            "face_id_threshold_px",
        ),
        (
            TrackerConfig {
                smoothing_frames: 0,
                ..base()
            },
            "smoothing_frames",
        ),
        (
            TrackerConfig {
                min_frames: Some(11),
                ..base()
            },
            "min_frames",
        ),
        (
            TrackerConfig {
                min_frames: Some(0),
                ..base()
            },
            "min_frames",
        ),
        (
            TrackerConfig {
                confidence_threshold: 1.5,
                ..base()
            },
            "confidence_threshold",
        ),
        (
            TrackerConfig {
                reference_width: 0,
                ..base()
            },
            "reference width",
        ),
    ];
    for (config, word) in cases {
        let err = Tracker::new(config).unwrap_err().to_string();
        assert!(err.contains(word), "{err}");
    }
    assert_eq!(TrackerConfig::default().min_frames(), 5);
    let one = TrackerConfig {
        smoothing_frames: 1,
        ..base()
    };
    assert_eq!(one.min_frames(), 1);
}

#[test]
fn twenty_faces_per_frame_track_stably() {
    // A grid of 20 faces drifting 5 px per frame: 20 stable ids over 50 frames.
    let mut t = tracker();
    for f in 0..50u64 {
        let faces: Vec<Face> = (0..20)
            .map(|i| {
                let (col, row) = ((i % 5) as f32, (i / 5) as f32);
                face(
                    60.0 + 120.0 * col + 2.0 * f as f32,
                    60.0 + 110.0 * row,
                    None,
                )
            })
            .collect();
        let u = t.update(ms(f * 200), VGA, &faces);
        let want: Vec<TrackId> = (1..=20).map(TrackId).collect();
        assert_eq!(u.face_tracks, want, "frame {f}");
    }
}
