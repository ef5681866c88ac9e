//! Ports: the traits the application needs from the outside world.
//!
//! Infrastructure implements them (Postgres, ClickHouse, Redis, moka, HTTP); tests and
//! benchmarks can implement them too. Every port reports failures as [`PortError`], which
//! says whether the dependency was unavailable (retry later) or something else went wrong.

mod alerting;
mod analytics;
mod auth;
mod cache;
mod catalog;
mod dedup;
mod error;
mod event_log;
mod health;
mod horizon;
mod lease;
mod rate_limit;
mod read_models;
mod retention;
mod usage;

pub use alerting::*;
pub use analytics::*;
pub use auth::*;
pub use cache::*;
pub use catalog::*;
pub use dedup::*;
pub use error::*;
pub use event_log::*;
pub use health::*;
pub use horizon::*;
pub use lease::*;
pub use rate_limit::*;
pub use read_models::*;
pub use retention::*;
pub use usage::*;
