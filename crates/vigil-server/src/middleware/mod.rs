//! Request/response layers applied to every route, outermost first:
//! request id → security headers → client address → access log and metrics →
//! error envelope → panic catcher → CORS → timeout. See [`crate::router`].
//!
//! Route layers, which run only for matched routes (inside the ones above): auth, then
//! [`rate_limit`]; media transfer routes then pass [`media_gate`].

pub mod access_log;
pub mod client_ip;
pub mod error_envelope;
pub mod media_gate;
pub mod rate_limit;
pub mod request_id;
pub mod security_headers;
