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
        at: Timestamp,
    },
    /// The condition stopped holding before the alert fired.
    AlertPendingCleared {
        rule_id: String,
        tenant_id: TenantId,
        series: String,
        value: Option<f64>,
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

impl AlertEvent {
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Self::AlertPending { tenant_id, .. }
            | Self::AlertPendingCleared { tenant_id, .. }
            | Self::AlertTriggered { tenant_id, .. }
            | Self::AlertResolved { tenant_id, .. } => tenant_id,
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
