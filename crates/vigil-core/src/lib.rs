//! Vigil's application core: what the product does, independent of how it is asked.
//!
//! HTTP handlers (`vigil-server`) and CLI commands (`vigil`) parse their input, call one
//! function here, and map the result to a response or a line of output. Transactions,
//! audit records and policy checks happen here and nowhere else, so a rule is written
//! once. Below this crate sit storage (`vigil-store`), identity primitives (`vigil-auth`)
//! and the inference engine (`vigil-vision`); nothing here knows about axum or clap.
//!
//! Where things are:
//! - [`identity`]: [`Identity`], the context of every identity use case; the use cases
//!   are its methods, one file per subject: [`accounts`], [`login`], [`sessions`],
//!   [`totp`], [`apikeys`], [`bootstrap`], [`reauth`] (confirming sensitive changes),
//!   [`denials`] (sampled records of refused requests), [`audit`] (reading the log).
//! - [`lockouts`]: which login lockouts to audit (one record per budget and window).
//! - [`maintenance`]: opening the database for a command, migrate, backup, restore,
//!   `vigil verify`'s checks.
//! - [`runtime`]: the supervised runtime every background task starts through;
//!   [`housekeeping`]: the purge of ended sessions and spent tokens.
//! - [`events`]: the event bus; [`uploads`]: media in and out; [`health`]: readiness.
//! - [`cameras`]: live mask compliance: cameras, their workers, violations, statistics.
//! - [`net`]: camera (and webhook) URLs: parsing and validation, redaction and
//!   encryption of their credentials, and the SSRF guard applied after DNS resolution.
//! - [`ids`]: typed ids ([`UserId`], [`ApiKeyId`], [`SessionId`], [`UploadId`]).
//! - [`vision`]: the Settings → vision pipeline mapping, the inference lanes' service
//!   and the image-analysis use case (`POST /api/v1/analyze`, `vigil analyze`).
//! - [`error`]: [`Error`], what a use case fails with; the server maps each variant to
//!   a status and code in one table.
//!
//! Front ends import this crate, never `vigil_store` or `vigil_auth` (a test in
//! `crates/vigil/tests/it/architecture.rs` enforces it for routes and commands); the
//! plain data types they need are re-exported below.

pub mod accounts;
pub mod apikeys;
pub mod audit;
pub mod bootstrap;
pub mod cameras;
pub mod denials;
pub mod error;
pub mod events;
pub mod health;
pub mod housekeeping;
pub mod identity;
pub mod ids;
pub mod lockouts;
pub mod login;
pub mod maintenance;
pub mod net;
pub mod reauth;
pub mod runtime;
pub mod sessions;
pub mod totp;
pub mod uploads;
pub mod vision;

pub use error::{Error, Result};
pub use identity::Identity;
pub use ids::{ApiKeyId, SessionId, UploadId, UserId};

// Plain data the front ends name (no storage behind them). Re-exported so routes and
// commands depend on this crate alone.
pub use vigil_auth::apikeys::ApiKey;
pub use vigil_auth::audit::{Actor, AuditRecord, ChainHead};
pub use vigil_auth::sessions::Session;
pub use vigil_auth::totp::Enrolment;
pub use vigil_auth::users::User;
pub use vigil_auth::{Principal, PrincipalKind, Role};
pub use vigil_store::{now_ms, UtcTime};
