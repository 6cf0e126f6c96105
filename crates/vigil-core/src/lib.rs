//! Vigil's application core: what the product does, independent of how it is asked.
//!
//! HTTP handlers (`vigil-server`) and CLI commands (`vigil`) parse their input, call one
//! function here, and map the result to a response or a line of output. Transactions,
//! audit records and policy checks happen here and nowhere else, so a rule is written
//! once. Below this crate sit storage (`vigil-store`), identity primitives (`vigil-auth`)
//! and the inference engine (`vigil-vision`); nothing here knows about axum or clap.

pub mod vision;
