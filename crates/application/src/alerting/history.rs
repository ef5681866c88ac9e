//! The alert history read model (ClickHouse): every transition with the value that caused
//! it, and the queries over it (history, active alerts).

use std::sync::Arc;

use telemetry_domain::alert::{Alert, AlertEvent};
use telemetry_domain::values::{TenantId, Timestamp};

use crate::ports::{
    AlertHistoryRow, AlertHistoryStore, EventFilter, HistoryFilter, RowPosition, StoredEvent,
};
use crate::query::{QueryFailure, MAX_LIMIT};

/// Every `Alert` event.
pub fn filters() -> Vec<EventFilter<'static>> {
    vec![EventFilter {
        aggregate_type: <Alert as cqrs_es::Aggregate>::TYPE,
        event_types: &[],
    }]
}

/// The transition names, as the history stores and filters them.
pub const TRANSITIONS: [&str; 4] = ["pending", "cleared", "triggered", "resolved"];

/// The history row of one transition.
pub fn history_rows(event: &StoredEvent) -> Result<Vec<AlertHistoryRow>, String> {
    let alert_event: AlertEvent =
        serde_json::from_str(&event.payload).map_err(|error| error.to_string())?;
    let source = RowPosition {
        event: event.position,
        index: 0,
    };
    let row = match alert_event {
        AlertEvent::AlertPending {
            rule_id,
            tenant_id,
            series,
            value,
            at,
        } => row(
            tenant_id,
            rule_id,
            series,
            "pending",
            0,
            value,
            None,
            String::new(),
            at,
            source,
        ),
        AlertEvent::AlertPendingCleared {
            rule_id,
            tenant_id,
            series,
            value,
            at,
        } => row(
            tenant_id,
            rule_id,
            series,
            "cleared",
            0,
            value,
            None,
            String::new(),
            at,
            source,
        ),
        AlertEvent::AlertTriggered {
            rule_id,
            tenant_id,
            series,
            episode,
            value,
            notice,
            at,
        } => row(
            tenant_id,
            rule_id,
            series,
            "triggered",
            episode,
            value,
            Some(&notice),
            String::new(),
            at,
            source,
        ),
        AlertEvent::AlertResolved {
            rule_id,
            tenant_id,
            series,
            episode,
            value,
            reason,
            notice,
            at,
        } => row(
            tenant_id,
            rule_id,
            series,
            "resolved",
            episode,
            value,
            Some(&notice),
            reason,
            at,
            source,
        ),
    };
    Ok(vec![row])
}

#[allow(clippy::too_many_arguments)]
fn row(
    tenant_id: TenantId,
    rule_id: String,
    series: String,
    transition: &'static str,
    episode: u64,
    value: Option<f64>,
    notice: Option<&telemetry_domain::alert::Notice>,
    reason: String,
    occurred_at: Timestamp,
    source: RowPosition,
) -> AlertHistoryRow {
    AlertHistoryRow {
        tenant_id,
        rule_id,
        rule_name: notice
            .map(|notice| notice.rule_name.clone())
            .unwrap_or_default(),
        series,
        transition,
        episode,
        value,
        severity: notice
            .and_then(|notice| serde_json::to_value(notice.severity).ok())
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default(),
        reason,
        occurred_at,
        source,
    }
}

pub struct AlertQueries {
    store: Arc<dyn AlertHistoryStore>,
}

impl AlertQueries {
    pub fn new(store: Arc<dyn AlertHistoryStore>) -> Self {
        Self { store }
    }

    /// Transitions, newest first; `limit + 1` is read to tell whether more follow.
    pub async fn history(
        &self,
        tenant: &TenantId,
        filter: &HistoryFilter,
        before: Option<(Timestamp, RowPosition)>,
        limit: u64,
    ) -> Result<(Vec<AlertHistoryRow>, bool), QueryFailure> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(QueryFailure::invalid(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from >= to {
                return Err(QueryFailure::invalid(
                    "invalid_range",
                    "from must be before to",
                ));
            }
        }
        let mut rows = self
            .store
            .history(tenant, filter, before, limit + 1)
            .await?;
        let has_more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, has_more))
    }

    /// Alerts firing now.
    pub async fn active(&self, tenant: &TenantId) -> Result<Vec<AlertHistoryRow>, QueryFailure> {
        Ok(self.store.active(tenant).await?)
    }
}
