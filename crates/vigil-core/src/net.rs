//! Outgoing connections that a user's URL decides: camera sources now, webhooks next.
//!
//! Three pieces, used in this order by whoever opens such a connection:
//! 1. [`source_url`]: parse and validate what the user typed into a typed [`SourceUrl`]
//!    (only `rtsp`, `rtsps`, `http`, `https`, `file` under the camera files folder,
//!    `device` for V4L2 and `browser`), with the ffmpeg protocol whitelist per scheme;
//!    every refusal is a sentence fit for a 422.
//! 2. [`secret_url`]: credentials in such URLs are secrets: [`SourceUrl`] prints only a
//!    redacted form, and [`seal`]/[`open`] encrypt the full URL at rest.
//! 3. [`guard`]: [`resolve_and_check`] resolves the host and refuses loopback,
//!    link-local, cloud-metadata and similar addresses (SSRF) after DNS resolution,
//!    returning the addresses the caller must connect to.

pub mod guard;
pub mod secret_url;
pub mod source_url;

#[cfg(test)]
mod corpus_tests;

pub use guard::{check_resolved, resolve_and_check, GuardError, NetPolicy};
pub use secret_url::{open, seal, SealError};
pub use source_url::{
    DeviceSource, FileSource, NetScheme, NetworkUrl, SourceRules, SourceUrl, SourceUrlError,
    MAX_URL_LEN,
};
