//! Reads of the alert history: transitions newest first, and the alerts firing now.

use async_trait::async_trait;
use clickhouse::Row;
use serde::Deserialize;
use telemetry_application::ports::{
    AlertHistoryRow, AlertHistoryStore, HistoryFilter, PortError, RowPosition,
};
use telemetry_domain::values::{TenantId, Timestamp};

use super::{bind_older_than, logged_at, BoundedRead, ClickHouse, NEWEST_FIRST, OLDER_THAN};

pub struct ClickHouseAlertHistory {
    clickhouse: ClickHouse,
}

impl ClickHouseAlertHistory {
    pub fn new(clickhouse: ClickHouse) -> Self {
        Self { clickhouse }
    }
}

#[derive(Row, Deserialize)]
struct HistoryRecord {
    occurred_at: u32,
    rule_id: String,
    rule_name: String,
    series: String,
    transition: String,
    episode: u64,
    value: Option<f64>,
    severity: String,
    reason: String,
    src_tx: u64,
    src_pos: i64,
    src_idx: u32,
}

const HISTORY_COLUMNS: &str = "toUInt32(occurred_at) AS occurred_s, rule_id, rule_name, series, \
    toString(transition) AS transition_name, episode, value, severity, reason, src_tx, src_pos, src_idx";

/// The transition name as the domain spells it (`AlertEvent::KINDS`).
fn transition(name: &str) -> &'static str {
    telemetry_domain::alert::AlertEvent::KINDS
        .into_iter()
        .find(|kind| *kind == name)
        .unwrap_or("resolved")
}

fn into_row(tenant: &TenantId, record: HistoryRecord) -> Result<AlertHistoryRow, PortError> {
    let (occurred_at, source) = logged_at(
        record.occurred_at,
        record.src_tx,
        record.src_pos,
        record.src_idx,
    )?;
    Ok(AlertHistoryRow {
        tenant_id: tenant.clone(),
        rule_id: record.rule_id,
        rule_name: record.rule_name,
        series: record.series,
        transition: transition(&record.transition),
        episode: record.episode,
        value: record.value,
        severity: record.severity,
        reason: record.reason,
        occurred_at,
        source,
    })
}

#[async_trait]
impl AlertHistoryStore for ClickHouseAlertHistory {
    async fn history(
        &self,
        tenant: &TenantId,
        filter: &HistoryFilter,
        before: Option<(Timestamp, RowPosition)>,
        limit: u64,
    ) -> Result<Vec<AlertHistoryRow>, PortError> {
        let mut sql = format!("SELECT {HISTORY_COLUMNS} FROM alert_history WHERE tenant_id = ?");
        let mut strings = Vec::new();
        for (column, value) in [
            ("rule_id", filter.rule_id.as_deref()),
            ("series", filter.series.as_deref()),
            ("toString(transition)", filter.transition),
            ("severity", filter.severity.as_deref()),
        ] {
            if let Some(value) = value {
                sql.push_str(&format!(" AND {column} = ?"));
                strings.push(value);
            }
        }
        // Whole seconds, as stored (timestamps are within DateTime's range): `from` rounds
        // down, `to` up.
        let seconds = |micros: i64| micros.div_euclid(1_000_000);
        let mut bounds = Vec::new();
        if let Some(from) = filter.from {
            sql.push_str(" AND toUInt32(occurred_at) >= ?");
            bounds.push(seconds(from.as_micros()));
        }
        if let Some(to) = filter.to {
            sql.push_str(" AND toUInt32(occurred_at) < ?");
            bounds.push(seconds(to.as_micros() + 999_999));
        }
        if before.is_some() {
            sql.push_str(OLDER_THAN);
        }
        sql.push_str(NEWEST_FIRST);
        let mut query = self.clickhouse.reader().query(&sql).bind(tenant.as_str());
        for value in strings {
            query = query.bind(value);
        }
        for seconds in bounds {
            query = query.bind(seconds);
        }
        if let Some(before) = before {
            query = bind_older_than(query, before);
        }
        let records: Vec<HistoryRecord> = query
            .bind(limit)
            .fetch_all()
            .within(&self.clickhouse)
            .await?;
        records
            .into_iter()
            .map(|record| into_row(tenant, record))
            .collect()
    }

    async fn active(&self, tenant: &TenantId) -> Result<Vec<AlertHistoryRow>, PortError> {
        // The latest transition of every series (by log position), kept when it fired.
        let latest = |column: &str| format!("argMax({column}, (src_tx, src_pos, src_idx))");
        let sql = format!(
            "SELECT {occurred} AS last_at, rule_id, {name} AS last_name, series, \
                    {transition} AS last_transition, {episode} AS last_episode, \
                    {value} AS last_value, {severity} AS last_severity, {reason} AS last_reason, \
                    max(src_tx) AS last_tx, {pos} AS last_pos, {idx} AS last_idx \
             FROM alert_history WHERE tenant_id = ? \
             GROUP BY rule_id, series HAVING last_transition = 'triggered' \
             ORDER BY last_at DESC, rule_id, series",
            occurred = latest("toUInt32(occurred_at)"),
            name = latest("rule_name"),
            transition = latest("toString(transition)"),
            episode = latest("episode"),
            value = latest("value"),
            severity = latest("severity"),
            reason = latest("reason"),
            pos = latest("src_pos"),
            idx = latest("src_idx"),
        );
        let records: Vec<HistoryRecord> = self
            .clickhouse
            .reader()
            .query(&sql)
            .bind(tenant.as_str())
            .fetch_all()
            .within(&self.clickhouse)
            .await?;
        records
            .into_iter()
            .map(|record| into_row(tenant, record))
            .collect()
    }
}
