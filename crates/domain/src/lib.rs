//! The telemetry domain: aggregates, commands, domain events, value objects and policies.
//!
//! Nothing here performs IO. The crate depends on `cqrs-es`, `serde`, `serde_json`,
//! `thiserror` and `chrono` only; `scripts/check-layering.sh` fails the build if it ever
//! reaches for a database, HTTP or cache crate.
//!
//! - [`values`]: validated newtypes shared by every aggregate (`TenantId`, `EventId`, ...).
//! - [`ingest`]: the `IngestBatch` aggregate, one instance per accepted request.
//! - [`api_key`]: the `ApiKey` aggregate, one instance per hashed tenant key.
//! - [`read_model`]: the `ReadModel` aggregate, which records rebuild requests.

pub mod api_key;
pub mod ingest;
pub mod read_model;
pub mod values;
