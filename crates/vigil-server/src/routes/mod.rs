//! HTTP handlers, one module per resource.

pub mod assets;
pub mod docs;
pub mod health;
pub mod uploads;
