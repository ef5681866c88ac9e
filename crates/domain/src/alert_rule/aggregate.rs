//! The `AlertRule` aggregate.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::{AlertRuleCommand, IfVersion};
use super::definition::RuleDefinition;
use super::errors::AlertRuleError;
use super::events::AlertRuleEvent;
use crate::values::{TenantId, Timestamp};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    rule: Option<RuleState>,
}

/// A rule as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    pub rule_id: String,
    pub tenant_id: TenantId,
    pub definition: RuleDefinition,
    pub enabled: bool,
    pub deleted: bool,
    /// Number of changes (1 after creation).
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Since when the rule has watched its samples as they are selected now: its creation,
    /// its last enabling, or the last change of what it watches
    /// ([`RuleDefinition::watches_like`]). An absence rule fires only after watching a whole
    /// window.
    pub watching_since: Timestamp,
}

impl AlertRule {
    /// The rule, if it exists, belongs to `tenant` and is not deleted.
    pub fn visible_to(&self, tenant: &TenantId) -> Option<&RuleState> {
        self.rule
            .as_ref()
            .filter(|rule| !rule.deleted && &rule.tenant_id == tenant)
    }

    fn owned(&self, tenant: &TenantId) -> Result<&RuleState, AlertRuleError> {
        self.visible_to(tenant).ok_or(AlertRuleError::NotFound)
    }

    /// The rule, if `tenant` owns it and it is at a version `if_version` admits.
    fn owned_at(
        &self,
        tenant: &TenantId,
        if_version: &IfVersion,
    ) -> Result<&RuleState, AlertRuleError> {
        let rule = self.owned(tenant)?;
        if if_version.admits(rule.version) {
            Ok(rule)
        } else {
            Err(AlertRuleError::VersionMismatch {
                current: rule.version,
            })
        }
    }
}

/// The aggregate type `AlertRule` events are stored under (usable in `match` patterns).
pub const ALERT_RULE: &str = "AlertRule";

impl Aggregate for AlertRule {
    const TYPE: &'static str = ALERT_RULE;
    type Command = AlertRuleCommand;
    type Event = AlertRuleEvent;
    type Error = AlertRuleError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let events = match command {
            AlertRuleCommand::Create {
                rule_id,
                tenant_id,
                definition,
                enabled,
                at,
            } => {
                if self.rule.is_some() {
                    return Err(AlertRuleError::AlreadyExists);
                }
                vec![AlertRuleEvent::AlertRuleCreated {
                    rule_id,
                    tenant_id,
                    definition,
                    enabled,
                    at,
                }]
            }
            AlertRuleCommand::Replace {
                tenant_id,
                definition,
                enabled,
                if_version,
                at,
            } => {
                let rule = self.owned_at(&tenant_id, &if_version)?;
                let rule_id = rule.rule_id.clone();
                let mut events = Vec::new();
                if rule.definition != definition {
                    events.push(AlertRuleEvent::AlertRuleUpdated {
                        rule_id: rule_id.clone(),
                        tenant_id: tenant_id.clone(),
                        definition,
                        at,
                    });
                }
                match enabled {
                    Some(true) if !rule.enabled => events.push(AlertRuleEvent::AlertRuleEnabled {
                        rule_id,
                        tenant_id,
                        at,
                    }),
                    Some(false) if rule.enabled => events.push(AlertRuleEvent::AlertRuleDisabled {
                        rule_id,
                        tenant_id,
                        at,
                    }),
                    _ => {}
                }
                events
            }
            AlertRuleCommand::Delete {
                tenant_id,
                if_version,
                at,
            } => {
                let rule = self.owned_at(&tenant_id, &if_version)?;
                vec![AlertRuleEvent::AlertRuleDeleted {
                    rule_id: rule.rule_id.clone(),
                    tenant_id,
                    at,
                }]
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AlertRuleEvent::AlertRuleCreated {
                rule_id,
                tenant_id,
                definition,
                enabled,
                at,
            } => {
                self.rule = Some(RuleState {
                    rule_id,
                    tenant_id,
                    definition,
                    enabled,
                    deleted: false,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                    watching_since: at,
                });
            }
            AlertRuleEvent::AlertRuleUpdated { definition, at, .. } => {
                if let Some(rule) = self.rule.as_mut() {
                    if !rule.definition.watches_like(&definition) {
                        rule.watching_since = at;
                    }
                    rule.definition = definition;
                    rule.version += 1;
                    rule.updated_at = at;
                }
            }
            AlertRuleEvent::AlertRuleEnabled { at, .. }
            | AlertRuleEvent::AlertRuleDisabled { at, .. } => {
                let enabled = matches!(event, AlertRuleEvent::AlertRuleEnabled { .. });
                if let Some(rule) = self.rule.as_mut() {
                    if enabled && !rule.enabled {
                        rule.watching_since = at;
                    }
                    rule.enabled = enabled;
                    rule.version += 1;
                    rule.updated_at = at;
                }
            }
            AlertRuleEvent::AlertRuleDeleted { at, .. } => {
                if let Some(rule) = self.rule.as_mut() {
                    rule.deleted = true;
                    rule.version += 1;
                    rule.updated_at = at;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::alert_rule::{
        Aggregation, Channel, ChannelFormat, Comparator, Condition, Seconds, Severity,
    };
    use crate::values::MetricName;

    fn at() -> Timestamp {
        Timestamp::from_micros(1_000_000).unwrap()
    }

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    /// `cpu`: the average of a minute above `threshold`, to one webhook.
    fn definition(threshold: f64) -> RuleDefinition {
        RuleDefinition {
            name: "cpu".into(),
            metric: MetricName::parse("cpu").unwrap(),
            service_name: None,
            attributes: Default::default(),
            condition: Condition::Threshold {
                aggregation: Aggregation::Avg,
                window: Seconds(60),
                comparator: Comparator::Above,
                threshold,
            },
            hold_for: Seconds(0),
            severity: Severity::Warning,
            channels: vec![
                Channel::new(0, "http://hooks.example.com/a", ChannelFormat::Json).unwrap(),
            ],
        }
        .check()
        .unwrap()
    }

    #[test]
    fn watching_restarts_only_when_what_the_rule_watches_changes_or_it_is_enabled() {
        let later = |seconds: i64| Timestamp::from_micros(1_000_000 + seconds * 1_000_000).unwrap();
        let updated = |definition: RuleDefinition, seconds: i64| AlertRuleEvent::AlertRuleUpdated {
            rule_id: "r1".into(),
            tenant_id: acme(),
            definition,
            at: later(seconds),
        };
        let mut rule = AlertRule::default();
        rule.apply(created());
        let since = |rule: &AlertRule| rule.visible_to(&acme()).unwrap().watching_since;
        assert_eq!(since(&rule), at());
        // Threshold, name, channels: what was watched stays watched.
        let mut renamed = definition(95.0);
        renamed.name = "cpu high".into();
        rule.apply(updated(renamed.clone(), 10));
        assert_eq!(since(&rule), at());
        assert_eq!(rule.visible_to(&acme()).unwrap().updated_at, later(10));
        // Another metric: watching starts afresh.
        let mut other_metric = renamed.clone();
        other_metric.metric = crate::values::MetricName::parse("memory").unwrap();
        rule.apply(updated(other_metric, 20));
        assert_eq!(since(&rule), later(20));
        // Disabling keeps it (a disabled rule is not evaluated); enabling restarts it.
        let toggled = |enabled: bool, seconds: i64| {
            if enabled {
                AlertRuleEvent::AlertRuleEnabled {
                    rule_id: "r1".into(),
                    tenant_id: acme(),
                    at: later(seconds),
                }
            } else {
                AlertRuleEvent::AlertRuleDisabled {
                    rule_id: "r1".into(),
                    tenant_id: acme(),
                    at: later(seconds),
                }
            }
        };
        rule.apply(toggled(false, 30));
        assert_eq!(since(&rule), later(20));
        rule.apply(toggled(true, 40));
        assert_eq!(since(&rule), later(40));
    }

    fn created() -> AlertRuleEvent {
        AlertRuleEvent::AlertRuleCreated {
            rule_id: "r1".into(),
            tenant_id: acme(),
            definition: definition(90.0),
            enabled: true,
            at: at(),
        }
    }

    #[test]
    fn creating_a_rule_records_it() {
        TestFramework::<AlertRule>::with(())
            .given_no_previous_events()
            .when(AlertRuleCommand::Create {
                rule_id: "r1".into(),
                tenant_id: acme(),
                definition: definition(90.0),
                enabled: true,
                at: at(),
            })
            .then_expect_events(vec![created()]);
    }

    fn replace(threshold: f64, enabled: Option<bool>) -> AlertRuleCommand {
        AlertRuleCommand::Replace {
            tenant_id: acme(),
            definition: definition(threshold),
            enabled,
            if_version: IfVersion::Any,
            at: at(),
        }
    }

    fn updated(threshold: f64) -> AlertRuleEvent {
        AlertRuleEvent::AlertRuleUpdated {
            rule_id: "r1".into(),
            tenant_id: acme(),
            definition: definition(threshold),
            at: at(),
        }
    }

    fn disabled() -> AlertRuleEvent {
        AlertRuleEvent::AlertRuleDisabled {
            rule_id: "r1".into(),
            tenant_id: acme(),
            at: at(),
        }
    }

    #[test]
    fn replacing_changes_the_definition_and_an_identical_one_changes_nothing() {
        TestFramework::<AlertRule>::with(())
            .given(vec![created()])
            .when(replace(95.0, None))
            .then_expect_events(vec![updated(95.0)]);
        TestFramework::<AlertRule>::with(())
            .given(vec![created()])
            .when(replace(90.0, Some(true)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn replacing_can_enable_and_disable_in_the_same_commit() {
        TestFramework::<AlertRule>::with(())
            .given(vec![created()])
            .when(replace(95.0, Some(false)))
            .then_expect_events(vec![updated(95.0), disabled()]);
        TestFramework::<AlertRule>::with(())
            .given(vec![created()])
            .when(replace(90.0, Some(false)))
            .then_expect_events(vec![disabled()]);
        TestFramework::<AlertRule>::with(())
            .given(vec![created(), disabled()])
            .when(replace(90.0, Some(true)))
            .then_expect_events(vec![AlertRuleEvent::AlertRuleEnabled {
                rule_id: "r1".into(),
                tenant_id: acme(),
                at: at(),
            }]);
    }

    #[test]
    fn other_tenants_and_deleted_rules_are_not_found() {
        let globex = TenantId::parse("globex").unwrap();
        TestFramework::<AlertRule>::with(())
            .given(vec![created()])
            .when(AlertRuleCommand::Delete {
                tenant_id: globex,
                if_version: IfVersion::Any,
                at: at(),
            })
            .then_expect_error(AlertRuleError::NotFound);
        let deleted = AlertRuleEvent::AlertRuleDeleted {
            rule_id: "r1".into(),
            tenant_id: acme(),
            at: at(),
        };
        TestFramework::<AlertRule>::with(())
            .given(vec![created(), deleted])
            .when(replace(95.0, Some(true)))
            .then_expect_error(AlertRuleError::NotFound);
    }

    #[test]
    fn a_change_naming_another_version_is_refused_and_the_current_one_passes() {
        let at_version = |version| AlertRuleCommand::Replace {
            tenant_id: acme(),
            definition: definition(95.0),
            enabled: None,
            if_version: IfVersion::OneOf(vec![version]),
            at: at(),
        };
        TestFramework::<AlertRule>::with(())
            .given(vec![created(), disabled()])
            .when(at_version(1))
            .then_expect_error(AlertRuleError::VersionMismatch { current: 2 });
        TestFramework::<AlertRule>::with(())
            .given(vec![created(), disabled()])
            .when(at_version(2))
            .then_expect_events(vec![updated(95.0)]);
        TestFramework::<AlertRule>::with(())
            .given(vec![created(), updated(95.0), disabled()])
            .when(AlertRuleCommand::Delete {
                tenant_id: acme(),
                if_version: IfVersion::OneOf(vec![1, 2]),
                at: at(),
            })
            .then_expect_error(AlertRuleError::VersionMismatch { current: 3 });
    }
}
