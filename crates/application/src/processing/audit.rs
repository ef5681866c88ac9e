//! The audit log read model: one entry per ingest batch and per administrative command.

use serde_json::json;
use telemetry_domain::api_key::{ApiKey, ApiKeyEvent};
use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent};
use telemetry_domain::read_model::{ReadModel, ReadModelEvent};
use telemetry_domain::values::{TenantId, Timestamp};

use super::metadata_field;
use crate::commands::{ACTOR_METADATA_KEY, TENANT_METADATA_KEY};
use crate::ports::{AuditEntry, EventFilter, RowPosition, StoredEvent};

/// Batch receipts, API key changes and rebuild requests.
pub fn filters() -> Vec<EventFilter<'static>> {
    vec![
        EventFilter {
            aggregate_type: <IngestBatch as cqrs_es::Aggregate>::TYPE,
            event_types: &[IngestBatchEvent::BATCH_ACCEPTED],
        },
        EventFilter {
            aggregate_type: <ApiKey as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        },
        EventFilter {
            aggregate_type: <ReadModel as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        },
    ]
}

/// The audit entry for one stored event (none for events that are not audited).
pub fn audit_entries(event: &StoredEvent) -> Result<Vec<AuditEntry>, String> {
    let occurred_at = Timestamp::from_datetime(event.recorded_at).map_err(|e| e.to_string())?;
    let actor = metadata_field(event, ACTOR_METADATA_KEY).unwrap_or_else(|| "unknown".into());
    let metadata_tenant = metadata_field(event, TENANT_METADATA_KEY);
    let entry = |tenant_id: TenantId, action: &str, subject: String, details: serde_json::Value| {
        AuditEntry {
            tenant_id,
            occurred_at,
            action: action.to_string(),
            actor: actor.clone(),
            subject,
            details: details.to_string(),
            source: RowPosition {
                event: event.position,
                index: 0,
            },
        }
    };
    let decode =
        |error: serde_json::Error| format!("undecodable {} event: {error}", event.aggregate_type);
    let entries = match event.aggregate_type.as_str() {
        "IngestBatch" => {
            match serde_json::from_str::<IngestBatchEvent>(&event.payload).map_err(decode)? {
                IngestBatchEvent::BatchAccepted(accepted) => vec![entry(
                    accepted.tenant_id,
                    "ingest.batch",
                    accepted.batch_id,
                    json!({
                        "keyId": accepted.key_id,
                        "ingested": accepted.ingested,
                        "duplicates": accepted.duplicates,
                        "byType": {
                            "log": accepted.accepted_by_type.log,
                            "metric": accepted.accepted_by_type.metric,
                            "trace": accepted.accepted_by_type.trace,
                        },
                    }),
                )],
                _ => Vec::new(),
            }
        }
        "ApiKey" => match serde_json::from_str::<ApiKeyEvent>(&event.payload).map_err(decode)? {
            ApiKeyEvent::ApiKeyIssued {
                key_id,
                tenant_id,
                label,
                ..
            } => vec![entry(
                tenant_id,
                "api_key.issued",
                key_id.to_string(),
                json!({ "label": label }),
            )],
            ApiKeyEvent::ApiKeyRevoked {
                key_id, tenant_id, ..
            } => vec![entry(
                tenant_id,
                "api_key.revoked",
                key_id.to_string(),
                json!({}),
            )],
        },
        "ReadModel" => {
            match serde_json::from_str::<ReadModelEvent>(&event.payload).map_err(decode)? {
                ReadModelEvent::ReadModelRebuildRequested {
                    name, generation, ..
                } => {
                    let tenant = metadata_tenant
                        .as_deref()
                        .and_then(|tenant| TenantId::parse(tenant).ok())
                        .ok_or("rebuild request without a tenant")?;
                    vec![entry(
                        tenant,
                        "read_model.rebuild_requested",
                        name.to_string(),
                        json!({ "generation": generation }),
                    )]
                }
            }
        }
        _ => Vec::new(),
    };
    Ok(entries)
}
