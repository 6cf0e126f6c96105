//! vigil-media against the real ffmpeg/ffprobe (Debian 5.1), a real RTSP server
//! (GStreamer's, `scripts/test-rtsp-server.py`) and real HTTP cameras served by tokio
//! tasks. Clips are made at test time from `testsrc` and from a photo in
//! `testdata/images`.
//!
//! Without ffmpeg or GStreamer these tests print `note: … skipped` and pass, except in
//! CI (`CI=true`), where a missing tool fails them: `.ci/run` installs both.

mod common;
mod mjpeg_http;
mod probe;
mod reader;
mod rtsp;
