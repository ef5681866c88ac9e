//! Domain events of the `AlertRule` aggregate.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::definition::RuleDefinition;
use crate::values::{TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertRuleEvent {
    AlertRuleCreated {
        rule_id: String,
        tenant_id: TenantId,
        definition: RuleDefinition,
        enabled: bool,
        at: Timestamp,
    },
    AlertRuleUpdated {
        rule_id: String,
        tenant_id: TenantId,
        definition: RuleDefinition,
        at: Timestamp,
    },
    AlertRuleEnabled {
        rule_id: String,
        tenant_id: TenantId,
        at: Timestamp,
    },
    AlertRuleDisabled {
        rule_id: String,
        tenant_id: TenantId,
        at: Timestamp,
    },
    AlertRuleDeleted {
        rule_id: String,
        tenant_id: TenantId,
        at: Timestamp,
    },
}

impl AlertRuleEvent {
    pub fn rule_id(&self) -> &str {
        match self {
            Self::AlertRuleCreated { rule_id, .. }
            | Self::AlertRuleUpdated { rule_id, .. }
            | Self::AlertRuleEnabled { rule_id, .. }
            | Self::AlertRuleDisabled { rule_id, .. }
            | Self::AlertRuleDeleted { rule_id, .. } => rule_id,
        }
    }

    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Self::AlertRuleCreated { tenant_id, .. }
            | Self::AlertRuleUpdated { tenant_id, .. }
            | Self::AlertRuleEnabled { tenant_id, .. }
            | Self::AlertRuleDisabled { tenant_id, .. }
            | Self::AlertRuleDeleted { tenant_id, .. } => tenant_id,
        }
    }
}

impl AlertRuleEvent {
    pub const CREATED: &'static str = "AlertRuleCreated";
    pub const DELETED: &'static str = "AlertRuleDeleted";
}

impl DomainEvent for AlertRuleEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AlertRuleCreated { .. } => Self::CREATED,
            Self::AlertRuleUpdated { .. } => "AlertRuleUpdated",
            Self::AlertRuleEnabled { .. } => "AlertRuleEnabled",
            Self::AlertRuleDisabled { .. } => "AlertRuleDisabled",
            Self::AlertRuleDeleted { .. } => Self::DELETED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
