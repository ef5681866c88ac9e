//! Dead letters: listed, and sent again on request (recorded as a `DeadLetter` command).

use std::sync::Arc;

use cqrs_es::AggregateError;
use telemetry_domain::dead_letter::{DeadLetter, DeadLetterCommand, DeadLetterError};
use telemetry_domain::values::{TenantId, Timestamp};

use crate::commands::{command_metadata, AggregateCommands};
use crate::ports::{Delivery, DeliveryQueue};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeadLetterFailure {
    #[error("no such dead letter")]
    NotFound,
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Listing and redelivering dead letters.
pub struct DeadLetters {
    queue: Arc<dyn DeliveryQueue>,
    records: Arc<dyn AggregateCommands<DeadLetter>>,
}

impl DeadLetters {
    pub fn new(
        queue: Arc<dyn DeliveryQueue>,
        records: Arc<dyn AggregateCommands<DeadLetter>>,
    ) -> Self {
        Self { queue, records }
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        limit: u64,
    ) -> Result<Vec<Delivery>, DeadLetterFailure> {
        self.queue
            .dead_letters(tenant, limit)
            .await
            .map_err(|error| DeadLetterFailure::Unavailable(error.to_string()))
    }

    /// Queues a dead letter of `tenant` again (attempts start over) and records who did it.
    pub async fn redeliver(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
    ) -> Result<(), DeadLetterFailure> {
        let dead = self
            .queue
            .dead_letter(tenant, id)
            .await
            .map_err(|error| DeadLetterFailure::Unavailable(error.to_string()))?;
        if dead.is_none() {
            return Err(DeadLetterFailure::NotFound);
        }
        let at = Timestamp::now();
        let command = DeadLetterCommand::Redeliver {
            delivery_id: id.to_string(),
            tenant_id: tenant.clone(),
            at,
        };
        self.records
            .execute(id, command, command_metadata(tenant, actor))
            .await
            .map_err(|error| match error {
                AggregateError::UserError(DeadLetterError::OtherTenant) => {
                    DeadLetterFailure::NotFound
                }
                other => DeadLetterFailure::Unavailable(other.to_string()),
            })?;
        match self.queue.requeue(tenant, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DeadLetterFailure::NotFound),
            Err(error) => Err(DeadLetterFailure::Unavailable(error.to_string())),
        }
    }
}
