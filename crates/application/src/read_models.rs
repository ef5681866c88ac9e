//! Rebuild requests for read models, recorded through the `ReadModel` aggregate.

use std::sync::Arc;

use telemetry_domain::read_model::{ReadModel, ReadModelCommand, ReadModelEvent, ReadModelName};
use telemetry_domain::values::{TenantId, Timestamp};

use crate::commands::{command_metadata, AggregateCommands};
use crate::ports::PortError;

pub struct ReadModelAdmin {
    read_models: Arc<dyn AggregateCommands<ReadModel>>,
}

impl ReadModelAdmin {
    pub fn new(read_models: Arc<dyn AggregateCommands<ReadModel>>) -> Self {
        Self { read_models }
    }

    /// Asks for `name` to be dropped and replayed; returns the new generation. The processor
    /// that owns the read model (on whichever instance) picks the request up within a second.
    pub async fn request_rebuild(
        &self,
        name: ReadModelName,
        tenant: &TenantId,
        actor: &str,
    ) -> Result<u64, PortError> {
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
            .ok_or_else(|| PortError::failed("the rebuild request recorded nothing"))
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
