//! Event processors: the event store is the log, and every read model is a processor that
//! applies committed events in log order from its own checkpoint.
//!
//! - [`runner`]: leases (one owner per processor across instances), the read loop, retries,
//!   status and lag.
//! - [`catalog`]: a processor for Postgres projections written with their checkpoint (the
//!   API key list, tenant policies).
//! - [`projection`]: a processor for read models that are their own checkpoint
//!   ([`ReadModelStore`](crate::ports::ReadModelStore)).
//! - [`rollups`] and [`audit`]: what the ClickHouse read models contain.
//! - [`recent`]: the events this process just committed, so its processors take their
//!   payloads from memory instead of reading them back.
//!
//! Adding a processor is one registration: implement [`EventProcessor`] (or a projection
//! function) and hand it to [`ProcessorRunner::run`].

pub mod audit;
pub mod catalog;
pub mod projection;
pub mod recent;
pub mod rollups;
pub mod runner;

use async_trait::async_trait;

pub use projection::ProjectionProcessor;
pub use recent::{EventKey, RecentCommits};
pub use runner::{ProcessorMonitor, ProcessorReport, ProcessorRunner, RunnerSettings};

use crate::ports::{EventFilter, LogPosition, PortError, StoredEvent};

/// Why a stored event cannot become rows of a read model. Such an event can never be
/// projected: it is logged, with the causes, and skipped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("undecodable {aggregate_type} event")]
    Undecodable {
        aggregate_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the event's recording time is out of range")]
    RecordedAt(#[source] telemetry_domain::values::ValueError),
    #[error("a section holds more events than a row index counts")]
    TooManyEvents(#[source] std::num::TryFromIntError),
    #[error("metric event {event_id} has no sample")]
    NoSample {
        event_id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the event names no tenant")]
    NoTenant,
    #[error("metric event {event_id} does not fit the kind it declares")]
    Shape {
        event_id: String,
        #[source]
        source: telemetry_domain::metric::ShapeError,
    },
}

impl ProjectionError {
    /// For `map_err` on [`StoredEvent::decode`].
    pub fn undecodable(event: &StoredEvent) -> impl FnOnce(serde_json::Error) -> Self + '_ {
        move |source| Self::Undecodable {
            aggregate_type: event.aggregate_type.clone(),
            source,
        }
    }
}

/// An error and its causes, `outer: inner: innermost`, for logs (responses never show
/// causes).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Something that applies committed domain events, in log order.
#[async_trait]
pub trait EventProcessor: Send + Sync {
    /// Stable name: the status report and the logs use it.
    fn name(&self) -> &'static str;

    /// The lease instances share for it: its name unless it was renamed (then the former
    /// name, so instances before and after the rename never run it at once).
    fn lease_key(&self) -> &'static str {
        self.name()
    }

    /// The events it reads.
    fn filters(&self) -> &[EventFilter<'static>];

    /// Called after taking the lease: brings the target to the requested generation and
    /// returns the position to read after.
    async fn prepare(&self) -> Result<LogPosition, PortError>;

    /// Applies `events` (in log order). On error the runner calls `prepare` again and
    /// resumes from what the target says it holds.
    async fn process(&self, events: &[crate::ports::StoredEvent]) -> Result<(), PortError>;

    /// Whether the processor must start over (a rebuild was requested). Processors whose
    /// target cannot be rebuilt never need to.
    async fn needs_restart(&self) -> Result<bool, PortError> {
        Ok(false)
    }

    /// Called between rounds, also when there are no events, for time-driven work; only
    /// once the processor has caught up with the log (the last read found its end).
    async fn tick(&self) -> Result<(), PortError> {
        Ok(())
    }
}

/// Reads a string from a stored event's metadata.
pub fn metadata_field(event: &StoredEvent, key: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&event.metadata)
        .ok()?
        .get(key)?
        .as_str()
        .map(str::to_string)
}
