//! HTTP handlers, one module per resource.

pub mod analyze;
pub mod apikeys;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod body;
pub mod cameras;
pub mod console;
pub mod docs;
pub mod events;
pub mod health;
pub mod media;
pub mod table;
pub mod uploads;
pub mod users;
pub mod views;
pub mod violations;
