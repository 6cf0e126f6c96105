//! Identity and access for Vigil: who is calling and what they may do.
//!
//! - [`users`], [`password`]: accounts with Argon2id hashes and three roles.
//! - [`sessions`]: server-side sessions (only a SHA-256 of the cookie value is stored).
//! - [`apikeys`]: `vgl_…` keys for applications, stored hashed, scoped by role.
//! - [`totp`]: RFC 6238 second factor with recovery codes.
//! - [`tokens`]: single-use bootstrap and password-reset tokens.
//! - [`throttle`]: failed-login budgets per username+address, address (IPv6 per /64),
//!   account, second factor and trusted device.
//! - [`device`]: signed device cookies that give a known browser its own login budget.
//! - [`audit`]: the hash-chained audit log and its verifier.
//! - [`ratelimit`]: fixed-window request budgets, in memory or shared through Redis.
//! - [`keys`]: the master secret and the purpose-bound keys derived from it.
//!
//! Nothing here knows about HTTP; `vigil-server` maps these types onto requests.

pub mod apikeys;
pub mod audit;
pub mod device;
mod error;
pub mod keys;
pub mod password;
pub mod policy;
pub mod ratelimit;
mod role;
pub mod sessions;
pub mod throttle;
pub mod token;
pub mod tokens;
pub mod totp;
pub mod users;

pub use error::AuthError;
pub use keys::Keys;
pub use role::{Principal, PrincipalKind, Role};
