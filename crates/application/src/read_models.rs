//! Rebuild requests for read models, recorded through the `ReadModel` aggregate.

use std::sync::Arc;

use telemetry_domain::read_model::{ReadModel, ReadModelCommand, ReadModelEvent, ReadModelName};
use telemetry_domain::values::{TenantId, Timestamp};

use chrono::{DateTime, Utc};

use crate::commands::{command_metadata, AggregateCommands};
use crate::ports::{EventStoreHorizon, PortError};

/// Why a rebuild was not requested.
#[derive(Debug, thiserror::Error)]
pub enum RebuildFailure {
    /// The event store no longer holds the telemetry recorded before `since` (its replay
    /// horizon dropped it): replaying the rest would lose what the read model holds of it.
    #[error("the event store no longer holds telemetry recorded before {since}")]
    LogTruncated { since: DateTime<Utc> },
    #[error(transparent)]
    Port(#[from] PortError),
}

pub struct ReadModelAdmin {
    read_models: Arc<dyn AggregateCommands<ReadModel>>,
    horizon: Option<Arc<dyn EventStoreHorizon>>,
}

impl ReadModelAdmin {
    pub fn new(read_models: Arc<dyn AggregateCommands<ReadModel>>) -> Self {
        Self {
            read_models,
            horizon: None,
        }
    }

    /// Refuses rebuilds of read models built from telemetry once the event store's horizon
    /// has dropped some of it.
    pub fn with_horizon(mut self, horizon: Arc<dyn EventStoreHorizon>) -> Self {
        self.horizon = Some(horizon);
        self
    }

    /// Asks for `name` to be dropped and replayed; returns the new generation. The processor
    /// that owns the read model (on whichever instance) picks the request up within a second.
    /// A read model built from telemetry is not rebuilt once the event store dropped some:
    /// the replay would hold only what the store still has.
    pub async fn request_rebuild(
        &self,
        name: ReadModelName,
        tenant: &TenantId,
        actor: &str,
    ) -> Result<u64, RebuildFailure> {
        if let (true, Some(horizon)) = (name.replays_telemetry(), &self.horizon) {
            if let Some(since) = horizon.last_run().await?.and_then(|run| run.dropped_before) {
                return Err(RebuildFailure::LogTruncated { since });
            }
        }
        let requested_at = Timestamp::now();
        let command = ReadModelCommand::RequestRebuild { name, requested_at };
        let committed = self
            .read_models
            .execute(name.storage_key(), command, command_metadata(tenant, actor))
            .await
            .map_err(PortError::from)?;
        committed
            .last()
            .map(|envelope| match &envelope.payload {
                ReadModelEvent::ReadModelRebuildRequested { generation, .. } => *generation,
            })
            .ok_or_else(|| PortError::failed("the rebuild request recorded nothing").into())
    }

    /// The generation `name` must be at (0 when never rebuilt).
    pub async fn requested_generation(&self, name: ReadModelName) -> Result<u64, PortError> {
        let read_model = self
            .read_models
            .load(name.storage_key())
            .await
            .map_err(PortError::from)?;
        Ok(read_model.generation())
    }
}
