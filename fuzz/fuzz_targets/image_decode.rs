//! Image decoding as `/api/v1/analyze` and the upload pipeline do it: any bytes into
//! `vigil_vision::decode::decode` with the limits on. It may refuse, never panic, and an
//! image it returns stays within the limits (after EXIF rotation too).
//!
//! The limits are smaller than the production defaults so the fuzzer reaches them with
//! small inputs and a run stays fast; the code path is the same.
//!
//! `decode` is compiled from vigil-vision's own source file (it depends on nothing else
//! in vigil-vision), so this build does not pull in the inference engines.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/vigil-vision/src/decode.rs"]
mod decode;

use decode::{decode, DecodeLimits};

const LIMITS: DecodeLimits = DecodeLimits {
    max_dimension: 2_048,
    max_pixels: 1_000_000,
    max_alloc_bytes: 64 * 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = decode(data, &LIMITS) {
        let (w, h) = img.dimensions();
        assert!(w > 0 && h > 0, "an empty image was returned");
        assert!(
            w <= LIMITS.max_dimension && h <= LIMITS.max_dimension,
            "{w}×{h} is over the side limit"
        );
        assert!(
            u64::from(w) * u64::from(h) <= LIMITS.max_pixels,
            "{w}×{h} is over the pixel limit"
        );
    }
});
