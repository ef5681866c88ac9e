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
        /// The versions the change was made for (the caller edited what it read).
        if_version: IfVersion,
        at: Timestamp,
    },
    Delete {
        tenant_id: TenantId,
        if_version: IfVersion,
        at: Timestamp,
    },
}

/// Which versions of a rule a change may apply to (HTTP `If-Match`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IfVersion {
    /// Whatever the rule is at now (the last writer wins).
    #[default]
    Any,
    /// Only these versions; an empty list admits none.
    OneOf(Vec<u64>),
}

impl IfVersion {
    pub fn admits(&self, version: u64) -> bool {
        match self {
            Self::Any => true,
            Self::OneOf(versions) => versions.contains(&version),
        }
    }
}
