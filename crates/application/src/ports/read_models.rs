use std::fmt;

use async_trait::async_trait;
use serde::Serialize;
use telemetry_domain::values::{EventType, TenantId, Timestamp};

use super::{LogPosition, PortError};

/// Where a read-model row came from: the domain event's log position and the row's index
/// among the rows that event produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RowPosition {
    pub event: LogPosition,
    pub index: u32,
}

impl fmt::Display for RowPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}#{}",
            self.event.transaction_id, self.event.position, self.index
        )
    }
}

/// A read-model row that knows its source.
pub trait SourcedRow: Send + Sync {
    fn source(&self) -> RowPosition;
    fn tenant(&self) -> &TenantId;
}

/// A read model whose rows carry their source position, so the store itself says how far
/// the event log has been applied (the target is its own checkpoint).
#[async_trait]
pub trait ReadModelStore<R: SourcedRow>: Send + Sync {
    /// The source position of the last row written, once no earlier write is still in
    /// flight. `None` when the read model is empty.
    async fn last_written(&self) -> Result<Option<RowPosition>, PortError>;

    /// Appends rows, given in source order, as one write. A write cut short keeps a prefix
    /// of the rows (never a subset out of order).
    async fn write(&self, rows: &[R]) -> Result<(), PortError>;

    /// The generation of the data held (bumped by each rebuild).
    async fn generation(&self) -> Result<u64, PortError>;

    /// Deletes every row and records `generation`.
    async fn reset(&self, generation: u64) -> Result<(), PortError>;
}

/// The analytics columns of a metric event.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub name: String,
    /// The sampled value; a counter's value or increment; a histogram's count.
    pub value: f64,
    pub kind: telemetry_domain::metric::MetricKind,
    /// Delta temporality (counters and histograms).
    pub delta: bool,
    pub unit: String,
    /// Digest of the service and the sample's series key.
    pub series_id: String,
    /// Start of a cumulative point's run, µs since the epoch (0 when unknown).
    pub start_us: i64,
    pub histogram: Option<HistogramColumns>,
}

/// A histogram point's columns: its layout key, sum, reported minimum and maximum (±∞ when
/// not reported) and non-empty buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramColumns {
    pub layout: String,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub keys: Vec<i64>,
    pub counts: Vec<u64>,
}

/// One telemetry event in the analytics store.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub tenant_id: TenantId,
    pub event_id: String,
    pub event_type: EventType,
    pub service_name: String,
    pub timestamp: Timestamp,
    /// Empty when the event has no user.
    pub user_id: String,
    /// Metric events only.
    pub metric: Option<MetricRow>,
    pub payload: String,
    pub source: RowPosition,
    pub recorded_at: Timestamp,
}

impl SourcedRow for EventRow {
    fn source(&self) -> RowPosition {
        self.source
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant_id
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub tenant_id: TenantId,
    pub occurred_at: Timestamp,
    /// What happened, such as `ingest.batch` or `api_key.revoked`.
    pub action: String,
    /// Who did it: `key:<id>`, `user:<subject>`, `system:<component>`.
    pub actor: String,
    /// What it happened to: a batch id, a key id, a read model, a rule id.
    pub subject: String,
    /// Action-specific details (a JSON object).
    pub details: String,
    pub source: RowPosition,
}

impl SourcedRow for AuditEntry {
    fn source(&self) -> RowPosition {
        self.source
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant_id
    }
}
