//! The ingest command handler: records a request's events exactly once.
//!
//! Every request becomes one `IngestBatch` aggregate. Its id is fresh (UUIDv7) or, when the
//! producer sends an `Idempotency-Key`, derived from tenant and key, so a retried request
//! finds the batch it already recorded and gets the original receipt back.
//!
//! Duplicate events are detected optimistically: the batch is first recorded assuming no
//! event is a duplicate. The event store's deduplication index refuses the commit if one is
//! (a unique violation, reported as an aggregate conflict); the handler then asks the index
//! which events exist and records the batch again without them. The common case costs one
//! index insert per event and no lookup.

use std::collections::BTreeSet;
use std::sync::Arc;

use cqrs_es::AggregateError;
use sha2::{Digest, Sha256};
use telemetry_domain::ingest::{
    validate_submissions, EventSubmission, FieldViolation, IngestBatch, IngestBatchEvent,
    IngestError, IngestEvents,
};
use telemetry_domain::values::{ApiKeyId, TenantId, Timestamp};
use tracing::{info, warn};
use uuid::Uuid;

use crate::commands::{command_metadata, AggregateCommands};
use crate::ports::{DuplicateIndex, PortError, QuotaExceeded};

/// How often a batch is re-recorded after deduplication conflicts before giving up.
const MAX_ATTEMPTS: usize = 5;

/// One authenticated ingestion request.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    pub idempotency_key: Option<String>,
    /// Digest of the request body; compared when an idempotency key is reused.
    pub body_fingerprint: String,
    pub submissions: Vec<EventSubmission>,
    /// The events came from an OpenTelemetry export.
    pub otlp: bool,
}

/// What the producer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReceipt {
    pub batch_id: String,
    pub ingested: u32,
    pub duplicates: u32,
    /// True when this is the stored answer to an earlier request with the same key.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestFailure {
    #[error("the batch contains invalid events")]
    InvalidEvents(Vec<FieldViolation>),
    #[error("the batch contains no events")]
    EmptyBatch,
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// Recording the batch would take the tenant's UTC day past its event quota.
    #[error("the tenant's daily event quota is used up")]
    QuotaExceeded,
    #[error("the event store is unavailable: {0}")]
    StoreUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub struct IngestService {
    batches: Arc<dyn AggregateCommands<IngestBatch>>,
    duplicates: Arc<dyn DuplicateIndex>,
}

impl IngestService {
    pub fn new(
        batches: Arc<dyn AggregateCommands<IngestBatch>>,
        duplicates: Arc<dyn DuplicateIndex>,
    ) -> Self {
        Self {
            batches,
            duplicates,
        }
    }

    /// Records the request's events; returns only once they are committed.
    #[tracing::instrument(
        name = "ingest",
        skip_all,
        fields(tenant_id = %request.tenant_id, event_count = request.submissions.len(), batch_id)
    )]
    pub async fn ingest(&self, request: IngestRequest) -> Result<IngestReceipt, IngestFailure> {
        let received_at = Timestamp::from_datetime(chrono::Utc::now())
            .map_err(|error| IngestFailure::Internal(error.to_string()))?;
        let batch_id = match &request.idempotency_key {
            Some(key) => idempotent_batch_id(&request.tenant_id, key),
            None => Uuid::now_v7().to_string(),
        };
        tracing::Span::current().record("batch_id", batch_id.as_str());
        let metadata = command_metadata(&request.tenant_id, &format!("key:{}", request.key_id));
        let submissions = Arc::new(request.submissions);
        let mut known_duplicates = BTreeSet::new();

        for attempt in 1..=MAX_ATTEMPTS {
            let command = IngestEvents {
                batch_id: batch_id.clone(),
                tenant_id: request.tenant_id.clone(),
                key_id: request.key_id.clone(),
                received_at,
                request_fingerprint: request.body_fingerprint.clone(),
                submissions: Arc::clone(&submissions),
                known_duplicates: known_duplicates.clone(),
                otlp: request.otlp,
            };
            let result = self
                .batches
                .execute(&batch_id, command, metadata.clone())
                .await;
            match result {
                Ok(committed) => return receipt_from(&committed),
                Err(AggregateError::AggregateConflict) => {
                    let found = self
                        .recorded_events(&request.tenant_id, &submissions, received_at)
                        .await?;
                    info!(
                        attempt,
                        duplicates = found.len(),
                        "batch conflicted with recorded events"
                    );
                    known_duplicates = found;
                }
                Err(AggregateError::UserError(error)) => {
                    return answer_user_error(error, &request.body_fingerprint)
                }
                Err(error) => {
                    // Events are validated once the batch is loaded; without the store, a
                    // batch that could never be recorded is still told so (400), rather
                    // than asked to retry one that will fail the same way.
                    return Err(match validate_submissions(&submissions, received_at) {
                        Err(violations) => IngestFailure::InvalidEvents(violations),
                        Ok(_) => store_failure(error),
                    });
                }
            }
        }
        warn!("batch kept conflicting with concurrent batches");
        Err(IngestFailure::StoreUnavailable(
            "the batch kept conflicting with concurrent batches".to_string(),
        ))
    }

    async fn recorded_events(
        &self,
        tenant: &TenantId,
        submissions: &[EventSubmission],
        received_at: Timestamp,
    ) -> Result<BTreeSet<usize>, IngestFailure> {
        let events =
            validate_submissions(submissions, received_at).map_err(IngestFailure::InvalidEvents)?;
        let keys: Vec<_> = events
            .iter()
            .map(|event| (&event.event_id, event.timestamp))
            .collect();
        let recorded = self
            .duplicates
            .recorded(tenant, &keys)
            .await
            .map_err(port_failure)?;
        Ok(recorded.into_iter().collect())
    }
}

fn receipt_from(
    committed: &[cqrs_es::EventEnvelope<IngestBatch>],
) -> Result<IngestReceipt, IngestFailure> {
    let accepted = committed
        .iter()
        .find_map(|envelope| match &envelope.payload {
            IngestBatchEvent::BatchAccepted(accepted) => Some(accepted),
            _ => None,
        });
    let Some(accepted) = accepted else {
        return Err(IngestFailure::Internal(
            "a recorded batch had no receipt".to_string(),
        ));
    };
    Ok(IngestReceipt {
        batch_id: accepted.batch_id.clone(),
        ingested: accepted.ingested,
        duplicates: accepted.duplicates,
        replayed: false,
    })
}

fn answer_user_error(
    error: IngestError,
    body_fingerprint: &str,
) -> Result<IngestReceipt, IngestFailure> {
    match error {
        IngestError::InvalidEvents(violations) => Err(IngestFailure::InvalidEvents(violations)),
        IngestError::EmptyBatch => Err(IngestFailure::EmptyBatch),
        IngestError::AlreadyRecorded(receipt) => {
            if receipt.request_fingerprint != body_fingerprint {
                return Err(IngestFailure::IdempotencyKeyReused);
            }
            Ok(IngestReceipt {
                batch_id: receipt.batch_id,
                ingested: receipt.ingested,
                duplicates: receipt.duplicates,
                replayed: true,
            })
        }
    }
}

fn store_failure(error: AggregateError<IngestError>) -> IngestFailure {
    match error {
        AggregateError::UnexpectedError(cause)
            if cause.downcast_ref::<QuotaExceeded>().is_some() =>
        {
            IngestFailure::QuotaExceeded
        }
        AggregateError::DatabaseConnectionError(cause) | AggregateError::UnexpectedError(cause) => {
            warn!(error = %cause, "event store unavailable");
            IngestFailure::StoreUnavailable(cause.to_string())
        }
        other => IngestFailure::Internal(other.to_string()),
    }
}

fn port_failure(error: PortError) -> IngestFailure {
    if error.is_unavailable() {
        IngestFailure::StoreUnavailable(error.message)
    } else {
        IngestFailure::Internal(error.message)
    }
}

/// The batch id for a request carrying an idempotency key: the same for the same tenant
/// and key, different across tenants.
pub fn idempotent_batch_id(tenant: &TenantId, idempotency_key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(tenant.as_str())
        .chain_update([0x1f])
        .chain_update(idempotency_key)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A short digest of a request body, used to tell a retry from a reused idempotency key.
pub fn body_fingerprint(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotent_batch_ids_depend_on_tenant_and_key() {
        let acme = TenantId::parse("acme").unwrap();
        let globex = TenantId::parse("globex").unwrap();
        assert_eq!(
            idempotent_batch_id(&acme, "k1"),
            idempotent_batch_id(&acme, "k1")
        );
        assert_ne!(
            idempotent_batch_id(&acme, "k1"),
            idempotent_batch_id(&acme, "k2")
        );
        assert_ne!(
            idempotent_batch_id(&acme, "k1"),
            idempotent_batch_id(&globex, "k1")
        );
    }

    #[test]
    fn fingerprints_are_stable_hex() {
        assert_eq!(body_fingerprint(b"abc").len(), 32);
        assert_eq!(body_fingerprint(b"abc"), body_fingerprint(b"abc"));
        assert_ne!(body_fingerprint(b"abc"), body_fingerprint(b"abd"));
    }
}
