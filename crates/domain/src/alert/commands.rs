//! Commands an `Alert` handles.

use serde::{Deserialize, Serialize};

use crate::alert_rule::{Channel, Seconds, Severity};
use crate::values::{TenantId, Timestamp};

/// What a notification needs to know about the rule, copied into the transition events so
/// they are self-contained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub rule_name: String,
    pub metric: String,
    pub severity: Severity,
    /// Human-readable condition, such as `p95 over 5m > 250`.
    pub condition: String,
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertCommand {
    /// The rule's condition was evaluated at `at`.
    Observe {
        rule_id: String,
        tenant_id: TenantId,
        series: String,
        breached: bool,
        /// The aggregated value (none for absence rules or an empty window).
        value: Option<f64>,
        hold_for: Seconds,
        notice: Notice,
        at: Timestamp,
    },
    /// The rule was disabled or deleted: a firing alert resolves, a pending one clears.
    Stop { reason: String, at: Timestamp },
}
