//! The telemetry server: configuration, wiring and start-up.
//!
//! This crate only connects the layers (`telemetry-domain`, `-application`,
//! `-infrastructure`, `-presentation`); it holds no business logic.
//!
//! - [`config`]: settings in layers (defaults, file, environment).
//! - [`startup`]: `Application::build` and `run_until_stopped`, used by the binary and tests.
//! - [`observability`]: structured logging.

pub mod config;
pub mod observability;
pub mod startup;
