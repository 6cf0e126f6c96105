//! Motion gating: skip detection on frames where nothing moved.
//!
//! Each frame is shrunk to a tiny grey picture (64×48 by default: 3,072 pixels, a few µs
//! of work) with `fast_image_resize`'s box filter, which averages whole blocks of pixels
//! and so also averages away most sensor noise. It is compared with the grey picture of
//! the last frame that was *detected* (not simply the previous frame), so slow movement
//! that changes each frame a little still adds up to a detection. There is motion when
//! the fraction of pixels whose grey level changed by more than `pixel_threshold` is at
//! least `changed_fraction`. Detection also runs at least every `max_interval`, so tracks
//! stay current (and end) even in a still scene.

use std::time::Duration;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{GrayImage, RgbImage};

/// Settings of a [`MotionGate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionConfig {
    /// Off: every frame is detected.
    pub enabled: bool,
    /// Width of the grey picture compared.
    pub width: u32,
    /// Height of the grey picture compared.
    pub height: u32,
    /// A pixel changed when its grey level (0–255) moved by more than this.
    pub pixel_threshold: u8,
    /// Motion when at least this fraction (0–1) of the pixels changed. The default,
    /// 0.004 of 64×48, is about 12 grey pixels: a 40-pixel face moving in a 640×480
    /// frame covers 16.
    pub changed_fraction: f32,
    /// Detect at least this often even without motion.
    pub max_interval: Duration,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            width: 64,
            height: 48,
            pixel_threshold: 20,
            changed_fraction: 0.004,
            max_interval: Duration::from_secs(2),
        }
    }
}

/// Decides per frame whether to run detection. One per source; not shared.
#[derive(Debug)]
pub struct MotionGate {
    config: MotionConfig,
    resizer: Resizer,
    /// Grey picture of the last detected frame.
    reference: Option<Vec<u8>>,
    last_detect: Option<Duration>,
}

impl MotionGate {
    /// A gate that will say "detect" for the first frame it sees.
    pub fn new(config: MotionConfig) -> Self {
        let config = MotionConfig {
            width: config.width.max(1),
            height: config.height.max(1),
            ..config
        };
        Self {
            config,
            resizer: Resizer::new(),
            reference: None,
            last_detect: None,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &MotionConfig {
        &self.config
    }

    /// True when `frame` should be detected: the gate is off, it is the first frame,
    /// something moved since the last detected frame, or `max_interval` has passed since
    /// it (`now` is the frame time since any fixed origin, as for the tracker).
    pub fn should_detect(&mut self, frame: &RgbImage, now: Duration) -> bool {
        if !self.config.enabled {
            return true;
        }
        let grey = self.shrink_rgb(frame);
        self.decide(grey, now)
    }

    /// [`should_detect`](Self::should_detect) for a frame that is already grey (the
    /// luma plane of a YUV frame from ffmpeg: wrap it with `GrayImage::from_raw`).
    pub fn should_detect_gray(&mut self, frame: &GrayImage, now: Duration) -> bool {
        if !self.config.enabled {
            return true;
        }
        let grey = self.shrink_gray(frame);
        self.decide(grey, now)
    }

    fn decide(&mut self, grey: Option<Vec<u8>>, now: Duration) -> bool {
        // A frame we cannot shrink (zero-sized) is detected: failing open costs one
        // detection, failing closed could hide a person.
        let Some(grey) = grey else {
            self.last_detect = Some(now);
            return true;
        };
        let due = match self.last_detect {
            None => true,
            Some(t) => now.saturating_sub(t) >= self.config.max_interval,
        };
        let moved = match &self.reference {
            None => true,
            Some(reference) => changed_fraction(reference, &grey, self.config.pixel_threshold)
                .is_none_or(|f| f >= self.config.changed_fraction),
        };
        if due || moved {
            self.reference = Some(grey);
            self.last_detect = Some(now);
            true
        } else {
            false
        }
    }

    fn options() -> ResizeOptions {
        ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box))
    }

    fn shrink_rgb(&mut self, frame: &RgbImage) -> Option<Vec<u8>> {
        let (w, h) = (self.config.width, self.config.height);
        let mut small = RgbImage::new(w, h);
        self.resizer
            .resize(frame, &mut small, &Self::options())
            .ok()?;
        // BT.601 luma in integers (weights sum to 256).
        Some(
            small
                .pixels()
                .map(|p| {
                    let [r, g, b] = p.0.map(u32::from);
                    ((77 * r + 150 * g + 29 * b) >> 8) as u8
                })
                .collect(),
        )
    }

    fn shrink_gray(&mut self, frame: &GrayImage) -> Option<Vec<u8>> {
        let (w, h) = (self.config.width, self.config.height);
        let src =
            ImageRef::new(frame.width(), frame.height(), frame.as_raw(), PixelType::U8).ok()?;
        let mut dst = Image::new(w, h, PixelType::U8);
        self.resizer.resize(&src, &mut dst, &Self::options()).ok()?;
        Some(dst.into_vec())
    }
}

/// Fraction of positions where `a` and `b` differ by more than `threshold`; `None` when
/// the sizes differ (a resolution change counts as motion).
fn changed_fraction(a: &[u8], b: &[u8], threshold: u8) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let changed = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.abs_diff(**y) > threshold)
        .count();
    Some(changed as f32 / a.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A grey 640×480 scene with a textured background and a 60×80 "face" at `x`.
    fn scene(face_x: u32) -> RgbImage {
        RgbImage::from_fn(640, 480, |x, y| {
            if (face_x..face_x + 60).contains(&x) && (200..280).contains(&y) {
                image::Rgb([230, 190, 160])
            } else {
                let v = 60 + ((x / 16 + y / 16) % 2) as u8 * 30;
                image::Rgb([v, v, v])
            }
        })
    }

    #[test]
    fn fires_on_a_changed_frame_not_on_an_identical_one() {
        let mut gate = MotionGate::new(MotionConfig::default());
        assert!(gate.should_detect(&scene(100), ms(0)), "first frame");
        assert!(!gate.should_detect(&scene(100), ms(200)), "identical frame");
        assert!(
            gate.should_detect(&scene(160), ms(400)),
            "the face moved 60 px"
        );
        assert!(!gate.should_detect(&scene(160), ms(600)), "still again");
    }

    #[test]
    fn fires_at_least_every_max_interval_in_a_still_scene() {
        let mut gate = MotionGate::new(MotionConfig::default());
        let still = scene(100);
        // 5 fps for 6.2 s: detections at 0, 2, 4 and 6 s only.
        let fired: Vec<u64> = (0..=31)
            .map(|i| i * 200)
            .filter(|&t| gate.should_detect(&still, ms(t)))
            .collect();
        assert_eq!(fired, vec![0, 2000, 4000, 6000]);
    }

    #[test]
    fn slow_drift_adds_up_against_the_last_detected_frame() {
        let mut gate = MotionGate::new(MotionConfig::default());
        assert!(gate.should_detect(&scene(100), ms(0)));
        // 1 px per frame is below the threshold frame to frame (a 1 px step changes no
        // grey pixel by more than 14 levels here), but compared with the last detected
        // frame the change grows until it fires, long before max_interval.
        let first = (1..10u64).find(|&i| gate.should_detect(&scene(100 + i as u32), ms(i * 100)));
        assert_eq!(first, Some(2));
    }

    #[test]
    fn noise_below_the_pixel_threshold_is_not_motion() {
        let mut gate = MotionGate::new(MotionConfig::default());
        let base = scene(100);
        let mut noisy = base.clone();
        // ±8 grey levels of pseudo-random noise on every pixel.
        let mut s = 12345u32;
        for p in noisy.pixels_mut() {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = ((s >> 16) % 17) as i16 - 8;
            p.0 = p.0.map(|c| (i16::from(c) + n).clamp(0, 255) as u8);
        }
        assert!(gate.should_detect(&base, ms(0)));
        assert!(!gate.should_detect(&noisy, ms(100)));
    }

    #[test]
    fn grey_frames_and_a_disabled_gate() {
        let mut gate = MotionGate::new(MotionConfig::default());
        let a = GrayImage::from_fn(320, 240, |x, _| image::Luma([(x % 200) as u8]));
        let mut b = a.clone();
        for y in 100..160 {
            for x in 100..160 {
                b.put_pixel(x, y, image::Luma([255]));
            }
        }
        assert!(gate.should_detect_gray(&a, ms(0)));
        assert!(!gate.should_detect_gray(&a, ms(100)));
        assert!(gate.should_detect_gray(&b, ms(200)));

        let mut off = MotionGate::new(MotionConfig {
            enabled: false,
            ..MotionConfig::default()
        });
        assert!((0..5).all(|i| off.should_detect(&scene(100), ms(i))));
    }

    #[test]
    fn an_empty_frame_fails_open() {
        let mut gate = MotionGate::new(MotionConfig::default());
        assert!(gate.should_detect(&scene(100), ms(0)));
        // A frame that cannot be shrunk is detected rather than silently skipped.
        assert!(gate.should_detect(&RgbImage::new(0, 0), ms(100)));
    }
}
