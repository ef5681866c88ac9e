//! Alert rule commands and the rule catalog that lists them.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::AggregateError;
use telemetry_domain::alert_rule::{
    AlertRule, AlertRuleCommand, AlertRuleError, AlertRuleEvent, RuleDefinition, RuleState,
};
use telemetry_domain::values::{TenantId, Timestamp};
use uuid::Uuid;

use crate::commands::{command_metadata, AggregateCommands};
use crate::ports::{
    AlertRuleStore, EventFilter, LogPosition, PortError, RuleChange, RuleRecord, StoredEvent,
};
use crate::processing::EventProcessor;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleFailure {
    #[error("no such alert rule")]
    NotFound,
    #[error("the rule store is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn failure(error: AggregateError<AlertRuleError>) -> RuleFailure {
    match error {
        AggregateError::UserError(AlertRuleError::NotFound) => RuleFailure::NotFound,
        AggregateError::DatabaseConnectionError(cause) | AggregateError::UnexpectedError(cause) => {
            RuleFailure::Unavailable(cause.to_string())
        }
        other => RuleFailure::Internal(other.to_string()),
    }
}

fn record(rule: &RuleState) -> RuleRecord {
    RuleRecord {
        rule_id: rule.rule_id.clone(),
        tenant_id: rule.tenant_id.clone(),
        definition: rule.definition.clone(),
        enabled: rule.enabled,
        version: rule.version,
        created_at: rule.created_at,
        updated_at: rule.updated_at,
    }
}

fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
        .unwrap_or_else(|_| unreachable!("the system clock is between 1970 and 2105"))
}

pub struct AlertRuleService {
    rules: Arc<dyn AggregateCommands<AlertRule>>,
    catalog: Arc<dyn AlertRuleStore>,
}

impl AlertRuleService {
    pub fn new(
        rules: Arc<dyn AggregateCommands<AlertRule>>,
        catalog: Arc<dyn AlertRuleStore>,
    ) -> Self {
        Self { rules, catalog }
    }

    pub async fn create(
        &self,
        tenant: &TenantId,
        actor: &str,
        definition: RuleDefinition,
        enabled: bool,
    ) -> Result<RuleRecord, RuleFailure> {
        let rule_id = Uuid::now_v7().to_string();
        let command = AlertRuleCommand::Create {
            rule_id: rule_id.clone(),
            tenant_id: tenant.clone(),
            definition,
            enabled,
            at: now(),
        };
        self.rules
            .execute(&rule_id, command, command_metadata(tenant, actor))
            .await
            .map_err(failure)?;
        self.get(tenant, &rule_id).await
    }

    /// The rule as it stands now (read from its events, not the catalog).
    pub async fn get(&self, tenant: &TenantId, rule_id: &str) -> Result<RuleRecord, RuleFailure> {
        let rule = self.rules.load(rule_id).await.map_err(failure)?;
        rule.visible_to(tenant)
            .map(record)
            .ok_or(RuleFailure::NotFound)
    }

    /// The tenant's rules, from the catalog (which follows commands within moments).
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<RuleRecord>, RuleFailure> {
        self.catalog
            .list(tenant)
            .await
            .map_err(|error| RuleFailure::Unavailable(error.to_string()))
    }

    /// Replaces the definition and, when given, sets whether the rule is enabled.
    pub async fn replace(
        &self,
        tenant: &TenantId,
        actor: &str,
        rule_id: &str,
        definition: RuleDefinition,
        enabled: Option<bool>,
    ) -> Result<RuleRecord, RuleFailure> {
        let metadata = command_metadata(tenant, actor);
        let update = AlertRuleCommand::Update {
            tenant_id: tenant.clone(),
            definition,
            at: now(),
        };
        self.rules
            .execute(rule_id, update, metadata.clone())
            .await
            .map_err(failure)?;
        if let Some(enabled) = enabled {
            let toggle = AlertRuleCommand::SetEnabled {
                tenant_id: tenant.clone(),
                enabled,
                at: now(),
            };
            self.rules
                .execute(rule_id, toggle, metadata)
                .await
                .map_err(failure)?;
        }
        self.get(tenant, rule_id).await
    }

    pub async fn delete(
        &self,
        tenant: &TenantId,
        actor: &str,
        rule_id: &str,
    ) -> Result<(), RuleFailure> {
        let command = AlertRuleCommand::Delete {
            tenant_id: tenant.clone(),
            at: now(),
        };
        self.rules
            .execute(rule_id, command, command_metadata(tenant, actor))
            .await
            .map_err(failure)?;
        Ok(())
    }
}

/// Keeps the rule catalog (`alert_rules`) in step with the `AlertRule` events; the catalog
/// and this processor's position are written in one transaction.
pub struct RuleCatalogProcessor {
    catalog: Arc<dyn AlertRuleStore>,
    filters: Vec<EventFilter<'static>>,
}

impl RuleCatalogProcessor {
    pub const NAME: &'static str = "alert_rules";

    pub fn new(catalog: Arc<dyn AlertRuleStore>) -> Self {
        Self {
            catalog,
            filters: vec![EventFilter {
                aggregate_type: <AlertRule as cqrs_es::Aggregate>::TYPE,
                event_types: &[],
            }],
        }
    }
}

fn rule_change(event: &StoredEvent) -> Result<RuleChange, String> {
    let version = u64::try_from(event.sequence).unwrap_or_default();
    let domain_event: AlertRuleEvent =
        serde_json::from_str(&event.payload).map_err(|error| error.to_string())?;
    Ok(match domain_event {
        AlertRuleEvent::AlertRuleCreated {
            rule_id,
            tenant_id,
            definition,
            enabled,
            at,
        } => RuleChange::Created(RuleRecord {
            rule_id,
            tenant_id,
            definition,
            enabled,
            version,
            created_at: at,
            updated_at: at,
        }),
        AlertRuleEvent::AlertRuleUpdated {
            rule_id,
            definition,
            at,
            ..
        } => RuleChange::Updated {
            rule_id,
            definition,
            version,
            at,
        },
        AlertRuleEvent::AlertRuleEnabled { rule_id, at, .. } => RuleChange::Enabled {
            rule_id,
            enabled: true,
            version,
            at,
        },
        AlertRuleEvent::AlertRuleDisabled { rule_id, at, .. } => RuleChange::Enabled {
            rule_id,
            enabled: false,
            version,
            at,
        },
        AlertRuleEvent::AlertRuleDeleted { rule_id, .. } => RuleChange::Deleted { rule_id },
    })
}

#[async_trait]
impl EventProcessor for RuleCatalogProcessor {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn filters(&self) -> &[EventFilter<'static>] {
        &self.filters
    }

    async fn prepare(&self) -> Result<LogPosition, PortError> {
        Ok(self
            .catalog
            .checkpoint(Self::NAME)
            .await?
            .unwrap_or(LogPosition::START))
    }

    async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut changes = Vec::with_capacity(events.len());
        for event in events {
            match rule_change(event) {
                Ok(change) => changes.push(change),
                Err(reason) => tracing::error!(
                    reason,
                    aggregate_id = event.aggregate_id,
                    "alert rule event skipped"
                ),
            }
        }
        self.catalog
            .apply(Self::NAME, &changes, last.position)
            .await
    }

    async fn needs_restart(&self) -> Result<bool, PortError> {
        Ok(false)
    }
}
