//! Stage 3–4: landmarks → 5-point similarity alignment to a 112×112 face chip.
//!
//! The target is the ArcFace/InsightFace 112×112 template (eyes, nose tip, mouth
//! corners). A non-reflective similarity transform (rotation, uniform scale,
//! translation) is fitted by least squares to whatever points the detector gave:
//! MTCNN's 5, BlazeFace's eyes + nose + mouth centre, or — for res10, which has no
//! keypoints — points placed at typical positions inside the box.

use image::{Rgb, RgbImage};

use crate::result::Detection;

/// Side of an aligned face chip, in pixels.
pub const ALIGNED_SIZE: u32 = 112;

/// ArcFace 112×112 template `[x, y]`: left eye, right eye (image left/right), nose tip,
/// left mouth corner, right mouth corner.
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A 2×3 affine matrix `[a, b, c, d, e, f]`: `x' = a·x + b·y + c`, `y' = d·x + e·y + f`.
pub type Affine = [f32; 6];

/// Pairs of (image point, template point) used for alignment, from the detection's
/// landmarks (or its box when it has none).
pub fn correspondences(det: &Detection) -> Vec<([f32; 2], [f32; 2])> {
    let t = ARCFACE_TEMPLATE;
    let mouth_centre = [(t[3][0] + t[4][0]) / 2.0, (t[3][1] + t[4][1]) / 2.0];
    let eyes = |a: [f32; 2], b: [f32; 2]| if a[0] <= b[0] { (a, b) } else { (b, a) };
    match det.landmarks.as_slice() {
        [e1, e2, nose, m1, m2] => {
            let (le, re) = eyes(*e1, *e2);
            let (lm, rm) = eyes(*m1, *m2);
            vec![
                (le, t[0]),
                (re, t[1]),
                (*nose, t[2]),
                (lm, t[3]),
                (rm, t[4]),
            ]
        }
        [e1, e2, nose, mouth, ..] => {
            let (le, re) = eyes(*e1, *e2);
            vec![
                (le, t[0]),
                (re, t[1]),
                (*nose, t[2]),
                (*mouth, mouth_centre),
            ]
        }
        _ => {
            // Typical positions inside a res10 box (forehead to chin).
            let b = det.bbox;
            let p = |fx: f32, fy: f32| [b.x + fx * b.width, b.y + fy * b.height];
            vec![
                (p(0.32, 0.40), t[0]),
                (p(0.68, 0.40), t[1]),
                (p(0.50, 0.60), t[2]),
                (p(0.50, 0.80), mouth_centre),
            ]
        }
    }
}

/// Least-squares similarity transform mapping `pairs[i].0` onto `pairs[i].1`.
/// `None` when the source points are all the same point.
pub fn similarity_transform(pairs: &[([f32; 2], [f32; 2])]) -> Option<Affine> {
    let n = pairs.len() as f32;
    if pairs.len() < 2 {
        return None;
    }
    let (mut sx, mut sy, mut dx, mut dy) = (0.0, 0.0, 0.0, 0.0);
    for (s, d) in pairs {
        sx += s[0];
        sy += s[1];
        dx += d[0];
        dy += d[1];
    }
    let (sx, sy, dx, dy) = (sx / n, sy / n, dx / n, dy / n);
    let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
    for (s, d) in pairs {
        let (px, py) = (s[0] - sx, s[1] - sy);
        let (qx, qy) = (d[0] - dx, d[1] - dy);
        num_a += px * qx + py * qy;
        num_b += px * qy - py * qx;
        den += px * px + py * py;
    }
    if den <= f32::EPSILON {
        return None;
    }
    let (a, b) = (num_a / den, num_b / den);
    Some([a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)])
}

/// Inverse of an affine map, `None` if singular.
pub fn invert(m: &Affine) -> Option<Affine> {
    let det = m[0] * m[4] - m[1] * m[3];
    if det.abs() <= f32::EPSILON {
        return None;
    }
    let (a, b, d, e) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
    Some([a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])])
}

/// Renders a `width × height` image whose pixel `(x, y)` samples `img` at
/// `dst_to_src(x, y)` with bilinear interpolation (black outside).
pub fn warp(img: &RgbImage, dst_to_src: &Affine, width: u32, height: u32) -> RgbImage {
    let m = dst_to_src;
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let sample = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= iw || y >= ih {
            [0.0; 3]
        } else {
            let p = img.get_pixel(x as u32, y as u32).0;
            [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
        }
    };
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let sx = m[0] * fx + m[1] * fy + m[2] - 0.5;
        let sy = m[3] * fx + m[4] * fy + m[5] - 0.5;
        let (x0, y0) = (sx.floor(), sy.floor());
        let (wx, wy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let (p00, p10, p01, p11) = (
            sample(x0, y0),
            sample(x0 + 1, y0),
            sample(x0, y0 + 1),
            sample(x0 + 1, y0 + 1),
        );
        let mut out = [0u8; 3];
        for c in 0..3 {
            let top = p00[c] * (1.0 - wx) + p10[c] * wx;
            let bottom = p01[c] * (1.0 - wx) + p11[c] * wx;
            out[c] = (top * (1.0 - wy) + bottom * wy).round().clamp(0.0, 255.0) as u8;
        }
        Rgb(out)
    })
}

/// The 112×112 aligned face chip for one detection.
pub fn align_face(img: &RgbImage, det: &Detection) -> RgbImage {
    let transform = similarity_transform(&correspondences(det)).and_then(|m| invert(&m));
    match transform {
        Some(dst_to_src) => warp(img, &dst_to_src, ALIGNED_SIZE, ALIGNED_SIZE),
        None => crate::preprocess::crop_resize(img, det.bbox, ALIGNED_SIZE, ALIGNED_SIZE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_scale_rotation_and_translation() {
        // dst = 2·R(90°)·src + (10, 20)
        let src = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 2.0]];
        let pairs: Vec<_> = src
            .iter()
            .map(|p| (*p, [10.0 - 2.0 * p[1], 20.0 + 2.0 * p[0]]))
            .collect();
        let m = similarity_transform(&pairs).unwrap_or([0.0; 6]);
        let expect = [0.0, -2.0, 10.0, 2.0, 0.0, 20.0];
        for (a, b) in m.iter().zip(expect) {
            assert!((a - b).abs() < 1e-4, "{m:?}");
        }
        let inv = invert(&m).unwrap_or([0.0; 6]);
        let (x, y) = (10.0 - 2.0 * 2.0, 20.0 + 2.0 * 3.0);
        assert!((inv[0] * x + inv[1] * y + inv[2] - 3.0).abs() < 1e-4);
    }

    #[test]
    fn aligning_template_points_is_identity() {
        let det = Detection {
            bbox: crate::result::BBox {
                x: 0.0,
                y: 0.0,
                width: 112.0,
                height: 112.0,
            },
            score: 1.0,
            landmarks: ARCFACE_TEMPLATE.to_vec(),
        };
        let m = similarity_transform(&correspondences(&det)).unwrap_or([0.0; 6]);
        assert!((m[0] - 1.0).abs() < 1e-4 && m[1].abs() < 1e-4 && m[2].abs() < 1e-3);
        let img = RgbImage::from_fn(112, 112, |x, y| Rgb([x as u8, y as u8, 7]));
        let chip = align_face(&img, &det);
        assert_eq!(chip.get_pixel(40, 60).0, [40, 60, 7]);
    }
}
