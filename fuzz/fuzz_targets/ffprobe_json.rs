//! ffprobe's JSON (`-print_format json -show_streams -show_format`), which describes
//! whatever a camera or an uploaded file sent: any bytes through
//! `MediaInfo::from_ffprobe_json`, checked by `info::check_fuzz_input` (an accepted
//! description is within the limits readers rely on).
//!
//! `info.rs` is compiled from vigil-media's own source (it depends only on serde_json
//! and thiserror), so this build does not pull in tokio's process support or `image`.
//! The same checks run over the committed corpus in `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/vigil-media/src/info.rs"]
mod info;

fuzz_target!(|data: &[u8]| info::check_fuzz_input(data));
