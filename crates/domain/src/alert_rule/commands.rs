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
    /// Replaces the definition and, when `enabled` is given, enables or disables the rule:
    /// one command, so both changes are committed together or not at all.
    Replace {
        tenant_id: TenantId,
        definition: RuleDefinition,
        enabled: Option<bool>,
        /// Refuse unless the rule is at this version (the caller edited what it read).
        expected_version: Option<u64>,
        at: Timestamp,
    },
    Delete {
        tenant_id: TenantId,
        expected_version: Option<u64>,
        at: Timestamp,
    },
}
