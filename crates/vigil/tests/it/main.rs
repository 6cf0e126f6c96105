//! Vigil's integration tests: one binary, real servers on random ports, a real SQLite
//! file and (when `VIGIL_TEST_DATABASE_URL` is set, as in CI) a real PostgreSQL; the
//! shared rate-limit tests use a real Redis (`VIGIL_TEST_REDIS_URL`); the MQTT tests a real
//! Mosquitto (`VIGIL_TEST_MQTT_URL`).
//!
//! Tests that need an external service say so when they skip; with `CI=true` a missing
//! service is a failure instead of a skip.

mod api;
mod apikey_creators;
mod architecture;
mod audit;
mod audit_coverage;
mod backup;
mod browser;
mod browser_cameras;
mod cameras;
mod cli;
mod crash;
mod events;
mod file_modes;
mod harness;
mod hostile_input;
mod identity;
mod login_budgets;
mod media;
mod mqtt;
mod ratelimit;
mod reauth;
mod runtime;
mod s3;
mod tls;
mod vision_api;
mod vision_cli;
mod webhooks;
