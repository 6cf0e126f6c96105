//! Drawing results onto the image: a box per face (green = mask, red = no mask, yellow =
//! not classified) with a label such as `mask 0.97`, for `--annotate OUT.jpg`,
//! `Accept: image/jpeg` and the live MJPEG feeds. A built-in 5×7 pixel font keeps this
//! free of font files.

use std::io::Cursor;

use image::{Rgb, RgbImage};

use crate::result::{Face, MaskLabel};

/// Box colour for a mask.
pub const GREEN: Rgb<u8> = Rgb([0, 200, 0]);
/// Box colour for no mask.
pub const RED: Rgb<u8> = Rgb([220, 0, 0]);
/// Box colour when no mask verdict exists.
pub const YELLOW: Rgb<u8> = Rgb([230, 200, 0]);

/// Draws every face's box, keypoints and label onto `img` in place.
pub fn annotate(img: &mut RgbImage, faces: &[Face]) {
    let thickness = (img.width().max(img.height()) / 400).max(2);
    let scale = (img.width().max(img.height()) / 500).clamp(1, 4);
    for face in faces {
        let (colour, label) = match face.mask {
            Some(m) if m.label == MaskLabel::Mask => (GREEN, format!("mask {:.2}", m.score)),
            Some(m) => (RED, format!("no_mask {:.2}", m.score)),
            None => (YELLOW, format!("face {:.2}", face.score)),
        };
        let b = face.bbox;
        let (x1, y1, x2, y2) = (b.x as i64, b.y as i64, b.x2() as i64, b.y2() as i64);
        for t in 0..i64::from(thickness) {
            draw_rect(img, x1 - t, y1 - t, x2 + t, y2 + t, colour);
        }
        for p in &face.landmarks {
            fill_rect(
                img,
                p[0] as i64 - 1,
                p[1] as i64 - 1,
                p[0] as i64 + 1,
                p[1] as i64 + 1,
                colour,
            );
        }
        let text_h = 7 * i64::from(scale) + 4;
        let text_w = label.len() as i64 * 6 * i64::from(scale) + 4;
        let ty = if y1 - i64::from(thickness) - text_h >= 0 {
            y1 - i64::from(thickness) - text_h
        } else {
            y2 + i64::from(thickness)
        };
        let tx = x1 - i64::from(thickness);
        fill_rect(img, tx, ty, tx + text_w, ty + text_h, colour);
        draw_text(img, tx + 2, ty + 2, &label, scale, Rgb([255, 255, 255]));
    }
}

/// Encodes an image as JPEG (quality 85).
pub fn encode_jpeg(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(img)?;
    Ok(out.into_inner())
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && x < i64::from(img.width()) && y < i64::from(img.height()) {
        img.put_pixel(x as u32, y as u32, c);
    }
}

fn draw_rect(img: &mut RgbImage, x1: i64, y1: i64, x2: i64, y2: i64, c: Rgb<u8>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for x in x1.max(0)..=x2.min(w - 1) {
        put(img, x, y1, c);
        put(img, x, y2, c);
    }
    for y in y1.max(0)..=y2.min(h - 1) {
        put(img, x1, y, c);
        put(img, x2, y, c);
    }
}

fn fill_rect(img: &mut RgbImage, x1: i64, y1: i64, x2: i64, y2: i64, c: Rgb<u8>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for y in y1.max(0)..=y2.min(h - 1) {
        for x in x1.max(0)..=x2.min(w - 1) {
            put(img, x, y, c);
        }
    }
}

fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, c: Rgb<u8>) {
    let s = i64::from(scale);
    for (i, ch) in text.chars().enumerate() {
        let rows = glyph(ch);
        let gx = x + i as i64 * 6 * s;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5 {
                if bits & (0b10000 >> col) != 0 {
                    fill_rect(
                        img,
                        gx + col * s,
                        y + r as i64 * s,
                        gx + col * s + s - 1,
                        y + r as i64 * s + s - 1,
                        c,
                    );
                }
            }
        }
    }
}

/// 5×7 glyphs for the characters labels use; anything else renders blank.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f],
        'a' => [0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f],
        'c' => [0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e],
        'e' => [0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e],
        'f' => [0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'm' => [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e],
        's' => [0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{BBox, MaskResult};

    #[test]
    fn boxes_are_green_for_mask_and_red_for_no_mask() {
        let mut img = RgbImage::new(200, 200);
        let face = |x: f32, label| Face {
            bbox: BBox {
                x,
                y: 80.0,
                width: 40.0,
                height: 40.0,
            },
            score: 0.9,
            landmarks: vec![],
            mask: Some(MaskResult { label, score: 0.9 }),
            liveness: None,
            embedding: None,
        };
        annotate(
            &mut img,
            &[face(20.0, MaskLabel::Mask), face(120.0, MaskLabel::NoMask)],
        );
        assert_eq!(*img.get_pixel(20, 100), GREEN);
        assert_eq!(*img.get_pixel(160, 100), RED);
        // Faces at the image edge must not panic.
        annotate(
            &mut img,
            &[face(190.0, MaskLabel::Mask), face(-30.0, MaskLabel::NoMask)],
        );
        assert!(encode_jpeg(&img).is_ok_and(|b| b.starts_with(&[0xff, 0xd8])));
    }
}
