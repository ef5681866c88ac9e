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
    /// Metric events only: name and value.
    pub metric: Option<(String, f64)>,
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
