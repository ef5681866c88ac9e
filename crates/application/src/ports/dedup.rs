use std::collections::HashSet;

use async_trait::async_trait;
use telemetry_domain::values::{EventId, TenantId, Timestamp};

use super::PortError;

/// The durable index of recorded (tenant, event id) pairs.
///
/// Claims are written by the event store itself, in the transaction that records the
/// events; this port only answers which events of a batch were recorded before.
#[async_trait]
pub trait DuplicateIndex: Send + Sync {
    /// Positions (into `events`) of the events already recorded for `tenant`.
    async fn recorded(
        &self,
        tenant: &TenantId,
        events: &[(&EventId, Timestamp)],
    ) -> Result<HashSet<usize>, PortError>;
}
