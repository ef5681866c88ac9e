//! Ingestion: one `IngestBatch` aggregate instance per accepted request.
//!
//! A batch is its own aggregate so concurrent requests, from one tenant or many, never
//! contend on a stream. The aggregate validates the submitted events, drops duplicates and
//! records what it accepted as domain events: `BatchAccepted` (the receipt the producer is
//! answered with) followed by one `LogIngested`, `MetricIngested` and/or `TraceIngested`
//! section holding the events of that type.

mod aggregate;
mod commands;
mod errors;
mod events;
mod record;
mod submission;
mod validation;

pub use aggregate::{BatchReceipt, IngestBatch, INGEST_BATCH};
pub use commands::IngestEvents;
pub use errors::IngestError;
pub use events::{BatchAccepted, IngestBatchEvent, TypeCounts};
pub use record::{EventSection, MetricSample, Payload, TelemetryEvent};
pub use submission::{field, EventSubmission, JsonKey, SubmissionFields};
pub use validation::{
    first_violation_of_each, validate_submissions, FieldViolation, MAX_FUTURE_SKEW_MICROS,
    MAX_LISTED_VIOLATIONS,
};
