//! OpenTelemetry OTLP/HTTP: the wire messages (binary protobuf and OTLP/JSON) and their
//! translation into submitted events.
//!
//! The routes (`POST /v1/logs`, `/v1/metrics`, `/v1/traces`) live in
//! [`crate::routes::otlp`]; everything an export goes through after translation (validation,
//! deduplication, rate limits, the event store) is the same as for `POST /ingest`.

pub mod convert;
pub mod json;
pub mod proto;
pub mod size;

pub use convert::{Conversion, Signal};
