//! Identity and access on the HTTP side: who is calling (sessions, API keys), whether
//! they may call this route (one declarative table, [`access`]), CSRF for cookie writes,
//! and the auth, user and API-key routes.

pub mod access;
pub mod cache;
pub mod cookie;
pub mod device;
pub mod middleware;

/// Keys, password hashing, audit log and session settings: the identity use cases
/// context, built once at start-up. It lives in `vigil-core`; re-exported here so the
/// server's state names it as before.
pub use vigil_core::Identity;
