//! An MJPEG camera's `multipart/x-mixed-replace` body through vigil-media's incremental
//! parser, checked by `mjpeg::check_fuzz_input`: the first byte picks the chunk size,
//! the first line is the boundary; every part is within the limit, the buffer stays
//! bounded, and any chunking gives the same parts as pushing the body whole.
//!
//! `mjpeg.rs` is compiled from vigil-media's own source (it depends only on bytes and
//! thiserror). The same checks run over the committed corpus in `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/vigil-media/src/mjpeg.rs"]
mod mjpeg;

fuzz_target!(|data: &[u8]| mjpeg::check_fuzz_input(data));
