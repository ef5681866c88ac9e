//! Alert rule commands and the rule catalog that lists them.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::AggregateError;
use telemetry_domain::alert_rule::{
    AlertRule, AlertRuleCommand, AlertRuleError, AlertRuleEvent, IfVersion, RuleDefinition,
    RuleState,
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
    /// The rule is at `current`, not at the version the change was made for.
    #[error("the rule is at version {current}")]
    VersionMismatch { current: u64 },
    /// The tenant has as many rules as it may have.
    #[error("the tenant has reached its limit of {0} alert rules")]
    LimitReached(usize),
    /// Other changes to the rule kept winning the race (after retries).
    #[error("the rule is being changed concurrently")]
    Conflict,
    #[error("the rule store is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn failure(error: AggregateError<AlertRuleError>) -> RuleFailure {
    match error {
        AggregateError::UserError(AlertRuleError::NotFound) => RuleFailure::NotFound,
        AggregateError::UserError(AlertRuleError::VersionMismatch { current }) => {
            RuleFailure::VersionMismatch { current }
        }
        AggregateError::AggregateConflict => RuleFailure::Conflict,
        AggregateError::DatabaseConnectionError(cause) | AggregateError::UnexpectedError(cause) => {
            RuleFailure::Unavailable(cause.to_string())
        }
        other => RuleFailure::Internal(other.to_string()),
    }
}

/// How often a rule change is tried when concurrent changes to the same rule win the race.
const CONFLICT_ATTEMPTS: u32 = 3;

fn record(rule: &RuleState) -> RuleRecord {
    RuleRecord {
        rule_id: rule.rule_id.clone(),
        tenant_id: rule.tenant_id.clone(),
        definition: rule.definition.clone(),
        enabled: rule.enabled,
        version: rule.version,
        created_at: rule.created_at,
        updated_at: rule.updated_at,
        watching_since: rule.watching_since,
    }
}

pub struct AlertRuleService {
    rules: Arc<dyn AggregateCommands<AlertRule>>,
    catalog: Arc<dyn AlertRuleStore>,
    max_rules_per_tenant: usize,
}

impl AlertRuleService {
    /// `max_rules_per_tenant` bounds what one tenant asks of the evaluator. It is checked
    /// against the event store before the rule is created, so only creates of one tenant
    /// running at the same instant can pass it (by as many as there are).
    pub fn new(
        rules: Arc<dyn AggregateCommands<AlertRule>>,
        catalog: Arc<dyn AlertRuleStore>,
        max_rules_per_tenant: usize,
    ) -> Self {
        Self {
            rules,
            catalog,
            max_rules_per_tenant,
        }
    }

    pub async fn create(
        &self,
        tenant: &TenantId,
        actor: &str,
        definition: RuleDefinition,
        enabled: bool,
    ) -> Result<RuleRecord, RuleFailure> {
        let existing = self
            .catalog
            .count(tenant)
            .await
            .map_err(|error| RuleFailure::Unavailable(error.to_string()))?;
        if existing >= self.max_rules_per_tenant as u64 {
            return Err(RuleFailure::LimitReached(self.max_rules_per_tenant));
        }
        let rule_id = Uuid::now_v7().to_string();
        let command = AlertRuleCommand::Create {
            rule_id: rule_id.clone(),
            tenant_id: tenant.clone(),
            definition,
            enabled,
            at: Timestamp::now(),
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

    /// Replaces the definition and, when given, sets whether the rule is enabled. With
    /// `if_version` the change applies only to those versions of the rule.
    pub async fn replace(
        &self,
        tenant: &TenantId,
        actor: &str,
        rule_id: &str,
        definition: RuleDefinition,
        enabled: Option<bool>,
        if_version: IfVersion,
    ) -> Result<RuleRecord, RuleFailure> {
        let command = || AlertRuleCommand::Replace {
            tenant_id: tenant.clone(),
            definition: definition.clone(),
            enabled,
            if_version: if_version.clone(),
            at: Timestamp::now(),
        };
        self.execute(tenant, actor, rule_id, command).await?;
        self.get(tenant, rule_id).await
    }

    pub async fn delete(
        &self,
        tenant: &TenantId,
        actor: &str,
        rule_id: &str,
        if_version: IfVersion,
    ) -> Result<(), RuleFailure> {
        let command = || AlertRuleCommand::Delete {
            tenant_id: tenant.clone(),
            if_version: if_version.clone(),
            at: Timestamp::now(),
        };
        self.execute(tenant, actor, rule_id, command).await
    }

    /// Runs the command built by `command` on an existing rule. Without an expected version
    /// the last writer wins, so losing the race to a concurrent change of the same rule just
    /// means running it again on the new state (with one, that new state is refused as a
    /// `VersionMismatch`); `Conflict` only if the race keeps being lost.
    async fn execute(
        &self,
        tenant: &TenantId,
        actor: &str,
        rule_id: &str,
        command: impl Fn() -> AlertRuleCommand,
    ) -> Result<(), RuleFailure> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .rules
                .execute(rule_id, command(), command_metadata(tenant, actor))
                .await
            {
                Ok(_) => return Ok(()),
                Err(AggregateError::AggregateConflict) if attempts < CONFLICT_ATTEMPTS => {}
                Err(error) => return Err(failure(error)),
            }
        }
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
    let domain_event: AlertRuleEvent = event.decode().map_err(|error| error.to_string())?;
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
            watching_since: at,
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
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use cqrs_es::mem_store::MemStore;
    use serde_json::json;
    use tokio::sync::Notify;

    use super::*;
    use crate::alerting::fakes::{rule_definition, Contended, MemoryRules};
    use crate::commands::CommandBus;

    /// `cpu`: the average of a minute above `threshold`, to one webhook.
    fn definition(threshold: f64) -> RuleDefinition {
        rule_definition(
            &json!({"name": "cpu", "metric": "cpu", "aggregation": "avg",
            "window": "1m", "comparator": ">", "threshold": threshold,
            "channels": [{"url": "http://hooks.example.com/a"}]}),
        )
    }

    /// A service whose commands lose the race `conflicts` times once the rule exists.
    async fn contended(conflicts: u32) -> (AlertRuleService, String) {
        let commands = Arc::new(Contended {
            inner: CommandBus::new(MemStore::default(), (), Arc::new(Notify::new())),
            conflicts: AtomicU32::new(0),
        });
        let service = AlertRuleService::new(commands.clone(), Arc::new(MemoryRules::default()), 10);
        let tenant = TenantId::parse("acme").unwrap();
        let rule = service
            .create(&tenant, "system", definition(90.0), true)
            .await
            .unwrap();
        commands.conflicts.store(conflicts, Ordering::SeqCst);
        (service, rule.rule_id)
    }

    #[tokio::test]
    async fn a_replace_that_loses_a_race_runs_again_on_the_new_state() {
        let (service, rule_id) = contended(CONFLICT_ATTEMPTS - 1).await;
        let tenant = TenantId::parse("acme").unwrap();
        let rule = service
            .replace(
                &tenant,
                "system",
                &rule_id,
                definition(95.0),
                Some(false),
                IfVersion::Any,
            )
            .await
            .unwrap();
        assert_eq!(rule.definition, definition(95.0));
        assert!(!rule.enabled);
        // Created, updated, disabled.
        assert_eq!(rule.version, 3);
    }

    #[tokio::test]
    async fn a_change_that_keeps_losing_is_a_conflict_and_changes_nothing() {
        let (service, rule_id) = contended(CONFLICT_ATTEMPTS).await;
        let tenant = TenantId::parse("acme").unwrap();
        let replaced = service
            .replace(
                &tenant,
                "system",
                &rule_id,
                definition(95.0),
                Some(false),
                IfVersion::Any,
            )
            .await;
        assert_eq!(replaced, Err(RuleFailure::Conflict));
        let rule = service.get(&tenant, &rule_id).await.unwrap();
        assert_eq!((rule.definition, rule.enabled), (definition(90.0), true));
    }

    #[tokio::test]
    async fn a_tenant_with_as_many_rules_as_allowed_cannot_create_another() {
        let catalog = Arc::new(MemoryRules::default());
        let commands = Arc::new(CommandBus::new(
            MemStore::<AlertRule>::default(),
            (),
            Arc::new(Notify::new()),
        ));
        let service = AlertRuleService::new(commands, catalog.clone(), 2);
        let acme = TenantId::parse("acme").unwrap();
        let globex = TenantId::parse("globex").unwrap();
        for _ in 0..2 {
            let rule = service
                .create(&acme, "system", definition(90.0), true)
                .await
                .unwrap();
            catalog.0.lock().unwrap().push(rule);
        }

        let refused = service
            .create(&acme, "system", definition(90.0), true)
            .await;
        assert_eq!(refused, Err(RuleFailure::LimitReached(2)));
        // Another tenant's rules do not count.
        assert!(service
            .create(&globex, "system", definition(90.0), true)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_change_made_for_an_earlier_version_is_refused() {
        let (service, rule_id) = contended(0).await;
        let tenant = TenantId::parse("acme").unwrap();
        let replaced = service
            .replace(
                &tenant,
                "system",
                &rule_id,
                definition(95.0),
                None,
                IfVersion::OneOf(vec![1]),
            )
            .await
            .unwrap();
        assert_eq!(replaced.version, 2);
        // A second editor still holding version 1.
        let stale = service
            .replace(
                &tenant,
                "system",
                &rule_id,
                definition(80.0),
                None,
                IfVersion::OneOf(vec![1]),
            )
            .await;
        assert_eq!(stale, Err(RuleFailure::VersionMismatch { current: 2 }));
        let stale_delete = service
            .delete(&tenant, "system", &rule_id, IfVersion::OneOf(vec![1]))
            .await;
        assert_eq!(
            stale_delete,
            Err(RuleFailure::VersionMismatch { current: 2 })
        );
        assert_eq!(service.get(&tenant, &rule_id).await.unwrap().version, 2);
        service
            .delete(&tenant, "system", &rule_id, IfVersion::OneOf(vec![2]))
            .await
            .unwrap();
    }
}
