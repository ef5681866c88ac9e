//! The audit log read model: one entry per ingest batch and per administrative command.

use serde_json::json;
use telemetry_domain::alert::{Alert, AlertEvent, ALERT};
use telemetry_domain::alert_rule::{AlertRule, AlertRuleEvent, ALERT_RULE};
use telemetry_domain::api_key::{ApiKey, ApiKeyEvent, API_KEY};
use telemetry_domain::dead_letter::{DeadLetter, DeadLetterEvent, DEAD_LETTER};
use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent, INGEST_BATCH};
use telemetry_domain::read_model::{ReadModel, ReadModelEvent, READ_MODEL};
use telemetry_domain::tenant_policy::{
    QuotaChoice, TenantPolicy, TenantPolicyEvent, TENANT_POLICY,
};
use telemetry_domain::values::{TenantId, Timestamp};

use super::metadata_field;
use crate::alerting::document::RuleDocument;
use crate::commands::{ACTOR_METADATA_KEY, TENANT_METADATA_KEY};
use crate::ports::{AuditEntry, EventFilter, RowPosition, StoredEvent};
use crate::processing::ProjectionError;

/// Batch receipts, API key changes, rebuild requests, alert rule changes, alert transitions
/// and redeliveries.
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
        EventFilter {
            aggregate_type: <AlertRule as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        },
        EventFilter {
            aggregate_type: <Alert as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        },
        EventFilter {
            aggregate_type: <DeadLetter as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        },
        EventFilter {
            aggregate_type: <TenantPolicy as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        },
    ]
}

/// The audit entry for one stored event (none for events that are not audited).
pub fn audit_entries(event: &StoredEvent) -> Result<Vec<AuditEntry>, ProjectionError> {
    let occurred_at =
        Timestamp::from_datetime(event.recorded_at).map_err(ProjectionError::RecordedAt)?;
    let actor = metadata_field(event, ACTOR_METADATA_KEY).unwrap_or_else(|| "unknown".into());
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
    let decode = |source: serde_json::Error| ProjectionError::Undecodable {
        aggregate_type: event.aggregate_type.clone(),
        source,
    };
    let entries = match event.aggregate_type.as_str() {
        INGEST_BATCH => match event.decode::<IngestBatchEvent>().map_err(decode)? {
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
        },
        API_KEY => match event.decode::<ApiKeyEvent>().map_err(decode)? {
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
        TENANT_POLICY => match event.decode::<TenantPolicyEvent>().map_err(decode)? {
            TenantPolicyEvent::RetentionSet {
                tenant_id,
                retention,
                ..
            } => vec![entry(
                tenant_id.clone(),
                "tenant.retention_set",
                tenant_id.to_string(),
                json!({ "retentionDays": retention }),
            )],
            TenantPolicyEvent::QuotaSet {
                tenant_id, quota, ..
            } => {
                let (choice, daily_events) = match quota {
                    QuotaChoice::Default => ("default", None),
                    QuotaChoice::Unlimited => ("unlimited", None),
                    QuotaChoice::Daily(events) => ("daily", Some(events)),
                };
                vec![entry(
                    tenant_id.clone(),
                    "tenant.quota_set",
                    tenant_id.to_string(),
                    json!({ "quota": choice, "dailyEvents": daily_events }),
                )]
            }
        },
        READ_MODEL => match event.decode::<ReadModelEvent>().map_err(decode)? {
            ReadModelEvent::ReadModelRebuildRequested {
                name, generation, ..
            } => {
                let tenant = metadata_field(event, TENANT_METADATA_KEY)
                    .and_then(|tenant| TenantId::parse(tenant).ok())
                    .ok_or(ProjectionError::NoTenant)?;
                vec![entry(
                    tenant,
                    "read_model.rebuild_requested",
                    name.to_string(),
                    json!({ "generation": generation }),
                )]
            }
        },
        ALERT_RULE => {
            let rule_event = event.decode::<AlertRuleEvent>().map_err(decode)?;
            let action = match &rule_event {
                AlertRuleEvent::AlertRuleCreated { .. } => "alert_rule.created",
                AlertRuleEvent::AlertRuleUpdated { .. } => "alert_rule.updated",
                AlertRuleEvent::AlertRuleEnabled { .. } => "alert_rule.enabled",
                AlertRuleEvent::AlertRuleDisabled { .. } => "alert_rule.disabled",
                AlertRuleEvent::AlertRuleDeleted { .. } => "alert_rule.deleted",
            };
            let details = match &rule_event {
                AlertRuleEvent::AlertRuleCreated {
                    definition,
                    enabled,
                    ..
                } => {
                    json!({ "definition": RuleDocument::from(definition), "enabled": enabled })
                }
                AlertRuleEvent::AlertRuleUpdated { definition, .. } => {
                    json!({ "definition": RuleDocument::from(definition) })
                }
                _ => json!({}),
            };
            vec![entry(
                rule_event.tenant_id().clone(),
                action,
                rule_event.rule_id().to_string(),
                details,
            )]
        }
        ALERT => {
            let alert_event = event.decode::<AlertEvent>().map_err(decode)?;
            let (action, details) = match &alert_event {
                AlertEvent::AlertPending { value, .. } => {
                    ("alert.pending", json!({ "value": value }))
                }
                AlertEvent::AlertPendingCleared { value, .. } => {
                    ("alert.cleared", json!({ "value": value }))
                }
                AlertEvent::AlertTriggered {
                    episode,
                    value,
                    notice,
                    ..
                } => (
                    "alert.triggered",
                    json!({ "episode": episode, "value": value, "rule": notice.rule_name, "condition": notice.condition }),
                ),
                AlertEvent::AlertResolved {
                    episode,
                    value,
                    reason,
                    notice,
                    ..
                } => (
                    "alert.resolved",
                    json!({ "episode": episode, "value": value, "reason": reason, "rule": notice.rule_name }),
                ),
            };
            vec![entry(
                alert_event.tenant_id().clone(),
                action,
                event.aggregate_id.clone(),
                details,
            )]
        }
        DEAD_LETTER => match event.decode::<DeadLetterEvent>().map_err(decode)? {
            DeadLetterEvent::DeadLetterRedelivered {
                delivery_id,
                tenant_id,
                ..
            } => vec![entry(
                tenant_id,
                "notification.redelivered",
                delivery_id,
                json!({}),
            )],
        },
        _ => Vec::new(),
    };
    Ok(entries)
}
