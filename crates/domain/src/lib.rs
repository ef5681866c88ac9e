//! The telemetry domain: aggregates, commands, domain events, value objects and policies.
//!
//! Nothing here performs IO. The crate depends on `cqrs-es`, `serde`, `serde_json`,
//! `thiserror` and `chrono` only; `scripts/check-layering.sh` fails the build if it ever
//! reaches for a database, HTTP or cache crate.
//!
//! - [`field_code`]: why a field was refused, one vocabulary for every field-level problem.
//! - [`values`]: validated newtypes shared by every aggregate (`TenantId`, `EventId`, ...).
//! - [`ingest`]: the `IngestBatch` aggregate, one instance per accepted request.
//! - [`metric`]: metric kinds (gauge, counter, histogram), runs and bucket arithmetic.
//! - [`api_key`]: the `ApiKey` aggregate, one instance per hashed tenant key.
//! - [`read_model`]: the `ReadModel` aggregate, which records rebuild requests.
//! - [`alert_rule`]: the `AlertRule` aggregate and rule definitions.
//! - [`alert`]: the `Alert` aggregate, the state machine of one rule and series.
//! - [`dead_letter`]: the `DeadLetter` aggregate, which records redeliveries of notifications.
//! - [`tenant_policy`]: the `TenantPolicy` aggregate, a tenant's retention and daily quota.

pub mod alert;
pub mod alert_rule;
pub mod api_key;
pub mod dead_letter;
pub mod field_code;
pub mod ingest;
pub mod metric;
pub mod read_model;
pub mod tenant_policy;
pub mod values;
