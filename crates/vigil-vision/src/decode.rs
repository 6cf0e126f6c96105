//! Stage 1: bytes → RGB image, safely.
//!
//! The format is sniffed from the bytes (never from a file name); only JPEG, PNG and
//! WebP are accepted. Width, height and total pixels are checked from the header
//! *before* any pixel buffer is allocated, and the decoder itself runs under
//! [`image::Limits`] so a crafted file cannot make it allocate more than
//! [`DecodeLimits::max_alloc_bytes`]. EXIF orientation is applied, so the returned image
//! is upright and all box coordinates later refer to it.
//!
//! Free of crate dependencies but `image` and `thiserror` on purpose: the fuzz target
//! `image_decode` compiles this file as it is (see `fuzz/`).

use std::io::Cursor;

use image::{ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

/// Limits against decompression bombs.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest accepted width or height, in pixels.
    pub max_dimension: u32,
    /// Largest accepted `width × height`.
    pub max_pixels: u64,
    /// Most memory the decoder may allocate, in bytes.
    pub max_alloc_bytes: u64,
}

impl Default for DecodeLimits {
    /// 16384 px per side, 40 megapixels, 512 MiB of decoder memory.
    fn default() -> Self {
        Self {
            max_dimension: 16_384,
            max_pixels: 40_000_000,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Why an upload could not be decoded. Every variant is the client's fault (4xx).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a recognisable image at all.
    #[error("the data is not an image")]
    NotAnImage,
    /// An image format we do not accept (only JPEG, PNG and WebP are).
    #[error("unsupported image format {0}; use JPEG, PNG or WebP")]
    Unsupported(String),
    /// The image ends before its data does.
    #[error("the image is truncated")]
    Truncated,
    /// The image is corrupt.
    #[error("the image is malformed: {0}")]
    Malformed(String),
    /// Declared dimensions or memory need exceed the limits.
    #[error("the image is too large: {width}×{height} pixels exceeds the limit ({limit})")]
    TooLarge {
        /// Declared width in pixels (0 when the decoder refused before reporting it).
        width: u32,
        /// Declared height in pixels (0 if unknown).
        height: u32,
        /// Which limit was hit.
        limit: String,
    },
}

/// Sniffs the format of `bytes`: `Some` only for the formats we accept.
pub fn sniff_format(bytes: &[u8]) -> Result<ImageFormat, DecodeError> {
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => Ok(f),
        Ok(other) => Err(DecodeError::Unsupported(format!("{other:?}"))),
        Err(_) => Err(DecodeError::NotAnImage),
    }
}

/// Decodes JPEG/PNG/WebP bytes into an upright 8-bit RGB image.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    let format = sniff_format(bytes)?;
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    // Some decoders (PNG) read past the header before returning, so the dimension limits
    // are also given to the decoder: it then refuses while parsing the header (the error
    // cannot name the size then: width and height are reported as 0).
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_dimension);
    image_limits.max_image_height = Some(limits.max_dimension);
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(image_limits);

    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(DecodeError::Malformed("zero width or height".to_owned()));
    }
    if width > limits.max_dimension || height > limits.max_dimension {
        return Err(too_large(
            width,
            height,
            format!("{} px per side", limits.max_dimension),
        ));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(too_large(
            width,
            height,
            format!("{} pixels", limits.max_pixels),
        ));
    }
    // A missing or unreadable EXIF block is not worth rejecting the photo for.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img =
        image::DynamicImage::from_decoder(decoder).map_err(|e| match map_image_error(e) {
            DecodeError::TooLarge { limit, .. } => too_large(width, height, limit),
            other => other,
        })?;
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

fn too_large(width: u32, height: u32, limit: String) -> DecodeError {
    DecodeError::TooLarge {
        width,
        height,
        limit,
    }
}

fn map_image_error(err: ImageError) -> DecodeError {
    match err {
        ImageError::Limits(e) => too_large(0, 0, e.to_string()),
        ImageError::Unsupported(e) => DecodeError::Unsupported(e.to_string()),
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated
        }
        ImageError::IoError(e) => DecodeError::Malformed(e.to_string()),
        ImageError::Decoding(e) => {
            let msg = e.to_string();
            let lower = msg.to_ascii_lowercase();
            if lower.contains("eof")
                || lower.contains("end of file")
                || lower.contains("truncat")
                || lower.contains("unexpected end")
                || lower.contains("not enough data")
            {
                DecodeError::Truncated
            } else {
                DecodeError::Malformed(msg)
            }
        }
        other => DecodeError::Malformed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)
            .map(|_| out.into_inner())
            .unwrap_or_default()
    }

    fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([200, 100, 50]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg)
            .map(|_| out.into_inner())
            .unwrap_or_default()
    }

    /// A valid PNG signature + IHDR chunk (with correct CRC) claiming `w × h`, no data.
    pub(crate) fn png_header_claiming(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(b"IHDR");
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(&ihdr);
        out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn decodes_png_and_jpeg() {
        let limits = DecodeLimits::default();
        let png = decode(&png_bytes(7, 5), &limits).map(|i| i.dimensions());
        assert_eq!(png.ok(), Some((7, 5)));
        let jpg = decode(&jpeg_bytes(16, 9), &limits).map(|i| i.dimensions());
        assert_eq!(jpg.ok(), Some((16, 9)));
    }

    #[test]
    fn png_header_claiming_100000_square_is_too_large_without_allocating() {
        let err = decode(
            &png_header_claiming(100_000, 100_000),
            &DecodeLimits::default(),
        );
        assert!(matches!(err, Err(DecodeError::TooLarge { .. })), "{err:?}");
    }

    #[test]
    fn total_pixel_limit_applies_below_the_side_limit() {
        let limits = DecodeLimits {
            max_pixels: 100,
            ..DecodeLimits::default()
        };
        let err = decode(&png_bytes(20, 20), &limits);
        assert!(
            matches!(
                err,
                Err(DecodeError::TooLarge {
                    width: 20,
                    height: 20,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    /// A JPEG with an EXIF APP1 segment carrying `orientation`.
    fn jpeg_with_orientation(w: u32, h: u32, orientation: u8) -> Vec<u8> {
        let jpeg = jpeg_bytes(w, h);
        let mut tiff = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
        tiff.extend_from_slice(&[
            0x01,
            0x12,
            0x00,
            0x03,
            0x00,
            0x00,
            0x00,
            0x01,
            0x00,
            orientation,
            0x00,
            0x00,
        ]);
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        let mut out = vec![0xff, 0xd8, 0xff, 0xe1];
        out.extend_from_slice(&((tiff.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&tiff);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn decodes_webp() {
        let img = RgbImage::from_pixel(12, 8, image::Rgb([1, 2, 3]));
        let mut out = Cursor::new(Vec::new());
        let encoded = img
            .write_to(&mut out, ImageFormat::WebP)
            .map(|_| out.into_inner());
        let decoded = encoded
            .ok()
            .map(|b| decode(&b, &DecodeLimits::default()).map(|i| i.dimensions()));
        assert!(matches!(decoded, Some(Ok((12, 8)))), "{decoded:?}");
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let limits = DecodeLimits::default();
        let mut webp = Cursor::new(Vec::new());
        let _ = RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 0]))
            .write_to(&mut webp, ImageFormat::WebP);
        for original in [png_bytes(32, 32), jpeg_bytes(32, 32), webp.into_inner()] {
            // Deterministic pseudo-random corruption: overwrite bytes, and cut the tail.
            let mut state = 0x2545_f491_u32;
            for round in 0..300 {
                let mut bytes = original.clone();
                for _ in 0..(1 + round % 8) {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    let i = state as usize % bytes.len();
                    bytes[i] = (state >> 8) as u8;
                }
                let cut = bytes.len() - (state as usize % (bytes.len() / 2));
                let _ = decode(&bytes, &limits);
                let _ = decode(&bytes[..cut], &limits);
            }
        }
    }

    #[test]
    fn exif_orientation_is_applied() {
        let limits = DecodeLimits::default();
        let upright = decode(&jpeg_with_orientation(40, 20, 1), &limits).map(|i| i.dimensions());
        assert_eq!(upright.ok(), Some((40, 20)));
        let rotated = decode(&jpeg_with_orientation(40, 20, 6), &limits).map(|i| i.dimensions());
        assert_eq!(rotated.ok(), Some((20, 40)));
    }

    #[test]
    fn non_image_bytes_are_not_an_image() {
        let err = decode(
            b"hello, this is text not a picture",
            &DecodeLimits::default(),
        );
        assert!(matches!(err, Err(DecodeError::NotAnImage)), "{err:?}");
        assert!(matches!(
            decode(&[], &DecodeLimits::default()),
            Err(DecodeError::NotAnImage)
        ));
    }

    #[test]
    fn gif_is_unsupported() {
        let err = decode(
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00",
            &DecodeLimits::default(),
        );
        assert!(matches!(err, Err(DecodeError::Unsupported(_))), "{err:?}");
    }

    #[test]
    fn truncated_png_and_jpeg_give_typed_errors() {
        let limits = DecodeLimits::default();
        let png = png_bytes(64, 64);
        let err = decode(&png[..png.len() / 2], &limits);
        assert!(
            matches!(err, Err(DecodeError::Truncated | DecodeError::Malformed(_))),
            "{err:?}"
        );
        let jpg = jpeg_bytes(64, 64);
        let err = decode(&jpg[..jpg.len() / 2], &limits);
        assert!(
            matches!(err, Err(DecodeError::Truncated | DecodeError::Malformed(_))),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_after_a_valid_signature_is_malformed() {
        let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
        bytes.extend(std::iter::repeat_n(0x5a, 200));
        let err = decode(&bytes, &DecodeLimits::default());
        assert!(err.is_err(), "{err:?}");
    }

    /// Every file of the `image_decode` fuzz corpus (`fuzz/corpus/image_decode`) through
    /// `decode` with the fuzz target's limits, so the corpus is checked by a plain
    /// `cargo test`: nothing panics, an image returned keeps the limits, and the seed
    /// images (named by their format) decode.
    #[test]
    fn fuzz_corpus_decodes_within_the_limits() {
        let limits = DecodeLimits {
            max_dimension: 2_048,
            max_pixels: 1_000_000,
            max_alloc_bytes: 64 * 1024 * 1024,
        };
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/image_decode"
        );
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let result = decode(&bytes, &limits);
            if let Ok(img) = &result {
                let (w, h) = img.dimensions();
                assert!(w <= limits.max_dimension && h <= limits.max_dimension);
                assert!(u64::from(w) * u64::from(h) <= limits.max_pixels);
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "jpg" | "png" | "webp") {
                assert!(result.is_ok(), "{}: {result:?}", path.display());
            }
            seen += 1;
        }
        assert!(seen >= 10, "the corpus is there ({seen} files)");
    }
}
