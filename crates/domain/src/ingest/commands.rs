//! The command an `IngestBatch` handles.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::submission::EventSubmission;
use crate::values::{ApiKeyId, TenantId, Timestamp};

/// Record the events of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestEvents {
    /// The batch id (also the aggregate id) the producer is told.
    pub batch_id: String,
    pub tenant_id: TenantId,
    /// The API key the request was authenticated with.
    pub key_id: ApiKeyId,
    /// When the request arrived; the reference for the future-timestamp rule.
    pub received_at: Timestamp,
    /// A digest of the request body, so a reused idempotency key with a different body
    /// can be told apart from a retry.
    pub request_fingerprint: String,
    /// Shared so a handler can re-run the command after a conflict without copying events.
    pub submissions: Arc<Vec<EventSubmission>>,
    /// Indexes of submissions already recorded by an earlier batch, as found in the
    /// deduplication index.
    pub known_duplicates: BTreeSet<usize>,
    /// The events came from an OpenTelemetry export (counted apart in usage).
    pub otlp: bool,
}
