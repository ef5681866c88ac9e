//! The event store's replay horizon: how far back it still holds telemetry.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{LogPosition, PortError};

/// The outcome of the last maintenance run of the event store.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizonReport {
    /// When the run happened (the database's clock).
    pub ran_at: DateTime<Utc>,
    /// The run's `at` minus the horizon: telemetry recorded before this may be dropped
    /// (`None`: the horizon is off, everything is kept).
    pub horizon_start: Option<DateTime<Utc>>,
    /// Telemetry recorded before this instant is gone from the store (`None`: nothing was
    /// ever dropped, the store holds the whole log).
    pub dropped_before: Option<DateTime<Utc>>,
    /// The oldest partition past the horizon that was kept because a processor has not
    /// passed its last event yet, and those processors.
    pub held_partition: Option<String>,
    pub held_back_by: Vec<String>,
}

/// Keeps telemetry in the event store for a horizon, and says how far back it reaches.
#[async_trait]
pub trait EventStoreHorizon: Send + Sync {
    /// Lists the processors that read telemetry (each holds the horizon back until it has
    /// recorded progress past what would be dropped); names already listed stay as they are.
    async fn register_readers(&self, names: &[&str]) -> Result<(), PortError>;

    /// One maintenance run as of `at`: drops the telemetry recorded before `at - horizon`
    /// (none when `horizon` is `None`) that every registered reader has passed, oldest
    /// first, stopping at the first part a reader still needs.
    async fn maintain(
        &self,
        at: DateTime<Utc>,
        horizon: Option<Duration>,
    ) -> Result<HorizonReport, PortError>;

    /// The last run's outcome (`None` before the first).
    async fn last_run(&self) -> Result<Option<HorizonReport>, PortError>;

    /// Records that processor `name` has durably handled every event up to `position`
    /// (only ever forward).
    async fn record_progress(&self, name: &str, position: LogPosition) -> Result<(), PortError>;

    /// Sets processor `name`'s progress to `position`, backward too: where it starts (again)
    /// from, such as the start of the log when its read model is rebuilt.
    async fn restart_progress(&self, name: &str, position: LogPosition) -> Result<(), PortError>;
}
