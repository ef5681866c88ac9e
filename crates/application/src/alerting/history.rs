//! The alert history read model (ClickHouse): every transition with the value that caused
//! it, and the queries over it (history, active alerts).

use std::sync::Arc;

use telemetry_domain::alert::{Alert, AlertEvent};
use telemetry_domain::tenant_policy::RetainedStore;
use telemetry_domain::values::{TenantId, Timestamp};

use crate::ports::{
    AlertHistoryRow, AlertHistoryStore, EventFilter, HistoryFilter, RowPosition, StoredEvent,
};
use crate::processing::ProjectionError;
use crate::query::{check_limit, InvalidQuery, QueryFailure};
use crate::retention::RetentionLookup;

/// Every `Alert` event.
pub fn filters() -> Vec<EventFilter<'static>> {
    vec![EventFilter {
        aggregate_type: <Alert as cqrs_es::Aggregate>::TYPE,
        event_types: &[],
    }]
}

/// The history row of one transition.
pub fn history_rows(event: &StoredEvent) -> Result<Vec<AlertHistoryRow>, ProjectionError> {
    let alert_event: AlertEvent = event
        .decode()
        .map_err(ProjectionError::undecodable(event))?;
    let transition = alert_event.transition();
    let notice = transition.notice;
    Ok(vec![AlertHistoryRow {
        tenant_id: transition.tenant_id.clone(),
        rule_id: transition.rule_id.to_string(),
        rule_name: notice
            .map(|notice| notice.rule_name.clone())
            .unwrap_or_default(),
        series: transition.series.to_string(),
        transition: transition.kind,
        episode: transition.episode,
        value: transition.value,
        severity: notice
            .map(|notice| notice.severity.as_str().to_string())
            .unwrap_or_default(),
        reason: transition.reason.unwrap_or_default().to_string(),
        occurred_at: transition.at,
        source: RowPosition {
            event: event.position,
            index: 0,
        },
    }])
}

pub struct AlertQueries {
    store: Arc<dyn AlertHistoryStore>,
    retention: Option<Arc<dyn RetentionLookup>>,
}

impl AlertQueries {
    pub fn new(store: Arc<dyn AlertHistoryStore>) -> Self {
        Self {
            store,
            retention: None,
        }
    }

    /// Reads no transition past its tenant's alert history retention.
    pub fn with_retention(mut self, retention: Arc<dyn RetentionLookup>) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Transitions, newest first; `limit + 1` is read to tell whether more follow.
    pub async fn history(
        &self,
        tenant: &TenantId,
        filter: &HistoryFilter,
        before: Option<(Timestamp, RowPosition)>,
        limit: u64,
    ) -> Result<(Vec<AlertHistoryRow>, bool), QueryFailure> {
        check_limit(limit)?;
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from >= to {
                return Err(QueryFailure::invalid(
                    InvalidQuery::Range,
                    "from must be before to",
                ));
            }
        }
        let mut filter = filter.clone();
        if let Some(lookup) = &self.retention {
            let cutoff = lookup
                .retention(tenant)
                .await?
                .since(RetainedStore::AlertHistory, chrono::Utc::now())?;
            filter.from = Some(filter.from.map_or(cutoff, |from| from.max(cutoff)));
            if filter.to.is_some_and(|to| to <= cutoff) {
                return Ok((Vec::new(), false));
            }
        }
        let mut rows = self
            .store
            .history(tenant, &filter, before, limit + 1)
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
