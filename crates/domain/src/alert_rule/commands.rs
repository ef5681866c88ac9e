//! Commands an `AlertRule` handles. Each names the tenant, which must own the rule.

use super::definition::RuleDefinition;
use crate::values::{TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub enum AlertRuleCommand {
    Create {
        rule_id: String,
        tenant_id: TenantId,
        definition: RuleDefinition,
        enabled: bool,
        at: Timestamp,
    },
    Update {
        tenant_id: TenantId,
        definition: RuleDefinition,
        at: Timestamp,
    },
    SetEnabled {
        tenant_id: TenantId,
        enabled: bool,
        at: Timestamp,
    },
    Delete {
        tenant_id: TenantId,
        at: Timestamp,
    },
}
