//! HTTP handlers, one module per resource.

pub mod analyze;
pub mod assets;
pub mod body;
pub mod console;
pub mod docs;
pub mod health;
pub mod uploads;
