//! Domain events of the `Alert` aggregate: every transition, with the value that caused it.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::commands::Notice;
use crate::values::{TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertEvent {
    /// The condition holds, waiting for `for` to pass.
    AlertPending {
        rule_id: String,
        tenant_id: TenantId,
        series: String,
        value: Option<f64>,
        /// The rule as it was (absent in events written before it was recorded here).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notice: Option<Notice>,
        at: Timestamp,
    },
    /// The condition stopped holding before the alert fired.
    AlertPendingCleared {
        rule_id: String,
        tenant_id: TenantId,
        series: String,
        value: Option<f64>,
        /// The rule as it was (absent in events written before it was recorded here).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notice: Option<Notice>,
        at: Timestamp,
    },
    /// A new episode: the alert fires and notifications go out.
    AlertTriggered {
        rule_id: String,
        tenant_id: TenantId,
        series: String,
        episode: u64,
        value: Option<f64>,
        notice: Notice,
        at: Timestamp,
    },
    /// The episode is over.
    AlertResolved {
        rule_id: String,
        tenant_id: TenantId,
        series: String,
        episode: u64,
        value: Option<f64>,
        reason: String,
        notice: Notice,
        at: Timestamp,
    },
}

/// What every transition has in common, borrowed from the event: what history,
/// notifications and the audit log read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition<'a> {
    /// `pending`, `cleared`, `triggered` or `resolved`.
    pub kind: &'static str,
    pub rule_id: &'a str,
    pub tenant_id: &'a TenantId,
    pub series: &'a str,
    /// The episode (0 for `pending` and `cleared`, which belong to none yet).
    pub episode: u64,
    pub value: Option<f64>,
    /// The rule as it was (always for `triggered` and `resolved`, which are notified).
    pub notice: Option<&'a Notice>,
    /// Why it resolved (`resolved` only).
    pub reason: Option<&'a str>,
    pub at: Timestamp,
}

impl AlertEvent {
    /// The transition names, in the order of the state machine.
    pub const KINDS: [&'static str; 4] = ["pending", "cleared", "triggered", "resolved"];

    pub fn tenant_id(&self) -> &TenantId {
        self.transition().tenant_id
    }

    pub fn transition(&self) -> Transition<'_> {
        match self {
            Self::AlertPending {
                rule_id,
                tenant_id,
                series,
                value,
                notice,
                at,
            }
            | Self::AlertPendingCleared {
                rule_id,
                tenant_id,
                series,
                value,
                notice,
                at,
            } => Transition {
                kind: if matches!(self, Self::AlertPending { .. }) {
                    "pending"
                } else {
                    "cleared"
                },
                rule_id,
                tenant_id,
                series,
                episode: 0,
                value: *value,
                notice: notice.as_ref(),
                reason: None,
                at: *at,
            },
            Self::AlertTriggered {
                rule_id,
                tenant_id,
                series,
                episode,
                value,
                notice,
                at,
            } => Transition {
                kind: "triggered",
                rule_id,
                tenant_id,
                series,
                episode: *episode,
                value: *value,
                notice: Some(notice),
                reason: None,
                at: *at,
            },
            Self::AlertResolved {
                rule_id,
                tenant_id,
                series,
                episode,
                value,
                reason,
                notice,
                at,
            } => Transition {
                kind: "resolved",
                rule_id,
                tenant_id,
                series,
                episode: *episode,
                value: *value,
                notice: Some(notice),
                reason: Some(reason),
                at: *at,
            },
        }
    }
}

impl DomainEvent for AlertEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AlertPending { .. } => "AlertPending",
            Self::AlertPendingCleared { .. } => "AlertPendingCleared",
            Self::AlertTriggered { .. } => "AlertTriggered",
            Self::AlertResolved { .. } => "AlertResolved",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
