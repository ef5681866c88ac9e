//! The ClickHouse read models written by the event processors: `events` (with the rollups
//! its materialized views maintain) and `audit_log`.
//!
//! Each INSERT sends rows in source order and is tagged with a query id naming the read
//! model. ClickHouse keeps the rows that arrived when an INSERT is cut short, so before
//! asking how far a read model got, [`ClickHouseReadModel::last_written`] waits until no
//! tagged INSERT is still running: after that, the largest source position in the table is
//! exactly what was applied.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use clickhouse::Row;
use serde::Serialize;
use telemetry_application::ports::{
    AlertHistoryRow, AuditEntry, EventRow, LogPosition, PortError, ReadModelStore, RowPosition,
};
use telemetry_domain::metric::MetricKind;
use telemetry_domain::read_model::ReadModelName;
use telemetry_domain::values::EventType;
use uuid::Uuid;

use super::{port_error, ClickHouse};

/// How long to wait for an earlier INSERT (possibly from a dead instance) to finish.
const IN_FLIGHT_PATIENCE: Duration = Duration::from_secs(120);
/// Upper bound for one INSERT, end to end.
const INSERT_TIMEOUT: Duration = Duration::from_secs(300);

/// One read model: the table whose rows carry source positions, and every table its data
/// lives in (truncated together on rebuild).
#[derive(Clone)]
pub struct ClickHouseReadModel {
    clickhouse: ClickHouse,
    name: ReadModelName,
    positioned_table: &'static str,
    tables: &'static [&'static str],
}

/// Raw events and the rollups derived from them.
const AGGREGATION_TABLES: &[&str] = &[
    "events",
    "event_counts_1m",
    "event_counts_1h",
    "event_counts_1d",
    "user_counts_1m",
    "user_counts_1h",
    "user_counts_1d",
    "metric_stats_1m",
    "metric_stats_1h",
    "metric_stats_1d",
    "metric_overall_1m",
    "metric_overall_1h",
    "metric_overall_1d",
    "metric_kinds",
    "metric_runs_1m",
    "metric_runs_1h",
    "metric_runs_1d",
];

impl ClickHouseReadModel {
    /// The rollups read model (`events` and its rollups).
    pub fn rollups(clickhouse: ClickHouse) -> Self {
        Self {
            clickhouse,
            name: ReadModelName::Rollups,
            positioned_table: "events",
            tables: AGGREGATION_TABLES,
        }
    }

    /// The audit log.
    pub fn audit(clickhouse: ClickHouse) -> Self {
        Self {
            clickhouse,
            name: ReadModelName::Audit,
            positioned_table: "audit_log",
            tables: &["audit_log"],
        }
    }

    /// Alert transitions.
    pub fn alert_history(clickhouse: ClickHouse) -> Self {
        Self {
            clickhouse,
            name: ReadModelName::AlertHistory,
            positioned_table: "alert_history",
            tables: &["alert_history"],
        }
    }

    fn query_id_prefix(&self) -> String {
        format!("{}:{}:", self.clickhouse.database(), self.name)
    }

    async fn wait_for_in_flight_inserts(&self) -> Result<(), PortError> {
        let started = Instant::now();
        let pattern = format!("{}%", self.query_id_prefix());
        loop {
            let running: u64 = self
                .clickhouse
                .client()
                .query("SELECT count() FROM system.processes WHERE query_id LIKE ?")
                .bind(&pattern)
                .fetch_one()
                .await
                .map_err(port_error)?;
            if running == 0 {
                return Ok(());
            }
            if started.elapsed() > IN_FLIGHT_PATIENCE {
                return Err(PortError::unavailable(format!(
                    "{running} earlier insert(s) into {} still running",
                    self.positioned_table
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn insert<R>(
        &self,
        table: &str,
        records: impl Iterator<Item = R::Value<'_>>,
    ) -> Result<(), PortError>
    where
        R: clickhouse::RowWrite,
    {
        let query_id = format!("{}{}", self.query_id_prefix(), Uuid::new_v4().simple());
        let mut insert = self
            .clickhouse
            .client()
            .insert::<R>(table)
            .await
            .map_err(port_error)?
            .with_setting("query_id", query_id)
            .with_timeouts(Some(INSERT_TIMEOUT), Some(INSERT_TIMEOUT));
        if self.clickhouse.limits_partitions_per_insert().await? {
            // The tables are partitioned by month and timestamps may lie anywhere from 1970
            // on: a batch spanning more than 100 months would be refused at every retry,
            // and the processor, which cannot skip it, would stall for every tenant.
            insert = insert.with_setting("max_partitions_per_insert_block", "0");
        }
        for record in records {
            insert.write(&record).await.map_err(port_error)?;
        }
        insert.end().await.map_err(port_error)
    }

    async fn last_position(&self) -> Result<Option<RowPosition>, PortError> {
        self.wait_for_in_flight_inserts().await?;
        let sql = format!(
            "SELECT src_tx, src_pos, src_idx FROM {} \
             ORDER BY src_tx DESC, src_pos DESC, src_idx DESC LIMIT 1",
            self.positioned_table
        );
        let last: Option<(u64, i64, u32)> = self
            .clickhouse
            .client()
            .query(&sql)
            .fetch_optional()
            .await
            .map_err(port_error)?;
        Ok(last.map(|(transaction_id, position, index)| RowPosition {
            event: LogPosition {
                transaction_id,
                position,
            },
            index,
        }))
    }

    async fn held_generation(&self) -> Result<u64, PortError> {
        self.clickhouse
            .client()
            .query("SELECT max(generation) FROM read_model_generations WHERE name = ?")
            .bind(self.name.storage_key())
            .fetch_one::<u64>()
            .await
            .map_err(port_error)
    }

    async fn truncate_and_record(&self, generation: u64) -> Result<(), PortError> {
        self.wait_for_in_flight_inserts().await?;
        for table in self.tables {
            self.clickhouse
                .client()
                .query(&format!("TRUNCATE TABLE IF EXISTS {table}"))
                .execute()
                .await
                .map_err(port_error)?;
        }
        let record = GenerationRecord {
            name: self.name.storage_key(),
            generation,
            updated_at: now_seconds(),
        };
        self.insert::<GenerationRecord<'_>>("read_model_generations", std::iter::once(record))
            .await
    }
}

#[derive(Row, Serialize)]
struct GenerationRecord<'a> {
    name: &'a str,
    generation: u64,
    updated_at: u32,
}

#[derive(Row, Serialize)]
struct EventRecord<'a> {
    tenant_id: &'a str,
    ts_us: i64,
    timestamp: u32,
    event_id: &'a str,
    /// Enum8: 1 log, 2 metric, 3 trace.
    event_type: i8,
    service_name: &'a str,
    user_id: &'a str,
    metric_name: &'a str,
    metric_value: f64,
    payload: &'a str,
    src_tx: u64,
    src_pos: i64,
    src_idx: u32,
    recorded_at: u32,
    /// Enum8: 0 gauge, 1 counter, 2 upDownCounter, 3 histogram.
    metric_kind: i8,
    metric_delta: u8,
    metric_unit: &'a str,
    series_id: &'a str,
    start_us: i64,
    hist_layout: &'a str,
    hist_sum: f64,
    hist_min: f64,
    hist_max: f64,
    hist_keys: &'a [i64],
    hist_counts: &'a [u64],
}

/// The Enum8 value of a metric kind in the analytics tables.
pub(crate) fn metric_kind_code(kind: MetricKind) -> i8 {
    match kind {
        MetricKind::Gauge => 0,
        MetricKind::Counter => 1,
        MetricKind::UpDownCounter => 2,
        MetricKind::Histogram => 3,
    }
}

/// The Enum8 value of an event type in the `events` table.
pub(crate) fn event_type_code(event_type: EventType) -> i8 {
    match event_type {
        EventType::Log => 1,
        EventType::Metric => 2,
        EventType::Trace => 3,
    }
}

fn seconds(micros: i64) -> u32 {
    u32::try_from(micros.div_euclid(1_000_000)).unwrap_or_default()
}

fn now_seconds() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}

#[async_trait]
impl ReadModelStore<EventRow> for ClickHouseReadModel {
    async fn last_written(&self) -> Result<Option<RowPosition>, PortError> {
        self.last_position().await
    }

    async fn write(&self, rows: &[EventRow]) -> Result<(), PortError> {
        let records = rows.iter().map(|row| {
            let metric = row.metric.as_ref();
            let histogram = metric.and_then(|metric| metric.histogram.as_ref());
            EventRecord {
                tenant_id: row.tenant_id.as_str(),
                ts_us: row.timestamp.as_micros(),
                timestamp: seconds(row.timestamp.as_micros()),
                event_id: &row.event_id,
                event_type: event_type_code(row.event_type),
                service_name: &row.service_name,
                user_id: &row.user_id,
                metric_name: metric.map_or("", |metric| &metric.name),
                metric_value: metric.map_or(0.0, |metric| metric.value),
                payload: &row.payload,
                src_tx: row.source.event.transaction_id,
                src_pos: row.source.event.position,
                src_idx: row.source.index,
                recorded_at: seconds(row.recorded_at.as_micros()),
                metric_kind: metric.map_or(0, |metric| metric_kind_code(metric.kind)),
                metric_delta: metric.map_or(0, |metric| u8::from(metric.delta)),
                metric_unit: metric.map_or("", |metric| &metric.unit),
                series_id: metric.map_or("", |metric| &metric.series_id),
                start_us: metric.map_or(0, |metric| metric.start_us),
                hist_layout: histogram.map_or("", |h| &h.layout),
                hist_sum: histogram.map_or(0.0, |h| h.sum),
                hist_min: histogram.map_or(f64::INFINITY, |h| h.min),
                hist_max: histogram.map_or(f64::NEG_INFINITY, |h| h.max),
                hist_keys: histogram.map_or(&[], |h| &h.keys),
                hist_counts: histogram.map_or(&[], |h| &h.counts),
            }
        });
        self.insert::<EventRecord<'_>>("events", records).await
    }

    async fn generation(&self) -> Result<u64, PortError> {
        self.held_generation().await
    }

    async fn reset(&self, generation: u64) -> Result<(), PortError> {
        self.truncate_and_record(generation).await
    }
}

#[derive(Row, Serialize)]
struct AuditRecord<'a> {
    tenant_id: &'a str,
    occurred_at: u32,
    action: &'a str,
    actor: &'a str,
    subject: &'a str,
    details: &'a str,
    src_tx: u64,
    src_pos: i64,
    src_idx: u32,
}

#[async_trait]
impl ReadModelStore<AuditEntry> for ClickHouseReadModel {
    async fn last_written(&self) -> Result<Option<RowPosition>, PortError> {
        self.last_position().await
    }

    async fn write(&self, rows: &[AuditEntry]) -> Result<(), PortError> {
        let records = rows.iter().map(|entry| AuditRecord {
            tenant_id: entry.tenant_id.as_str(),
            occurred_at: seconds(entry.occurred_at.as_micros()),
            action: &entry.action,
            actor: &entry.actor,
            subject: &entry.subject,
            details: &entry.details,
            src_tx: entry.source.event.transaction_id,
            src_pos: entry.source.event.position,
            src_idx: entry.source.index,
        });
        self.insert::<AuditRecord<'_>>("audit_log", records).await
    }

    async fn generation(&self) -> Result<u64, PortError> {
        self.held_generation().await
    }

    async fn reset(&self, generation: u64) -> Result<(), PortError> {
        self.truncate_and_record(generation).await
    }
}

#[derive(Row, Serialize)]
struct AlertHistoryRecord<'a> {
    tenant_id: &'a str,
    occurred_at: u32,
    rule_id: &'a str,
    rule_name: &'a str,
    series: &'a str,
    /// Enum8: 1 pending, 2 cleared, 3 triggered, 4 resolved.
    transition: i8,
    episode: u64,
    value: Option<f64>,
    severity: &'a str,
    reason: &'a str,
    src_tx: u64,
    src_pos: i64,
    src_idx: u32,
}

/// The `Enum8` code of a transition: its place in `AlertEvent::KINDS`, from 1 (the order of
/// the column's definition in `clickhouse/0006_alert_history.sql`).
fn transition_code(transition: &str) -> i8 {
    telemetry_domain::alert::AlertEvent::KINDS
        .iter()
        .position(|kind| *kind == transition)
        .map_or(4, |index| index as i8 + 1)
}

#[async_trait]
impl ReadModelStore<AlertHistoryRow> for ClickHouseReadModel {
    async fn last_written(&self) -> Result<Option<RowPosition>, PortError> {
        self.last_position().await
    }

    async fn write(&self, rows: &[AlertHistoryRow]) -> Result<(), PortError> {
        let records = rows.iter().map(|row| AlertHistoryRecord {
            tenant_id: row.tenant_id.as_str(),
            occurred_at: seconds(row.occurred_at.as_micros()),
            rule_id: &row.rule_id,
            rule_name: &row.rule_name,
            series: &row.series,
            transition: transition_code(row.transition),
            episode: row.episode,
            value: row.value,
            severity: &row.severity,
            reason: &row.reason,
            src_tx: row.source.event.transaction_id,
            src_pos: row.source.event.position,
            src_idx: row.source.index,
        });
        self.insert::<AlertHistoryRecord<'_>>("alert_history", records)
            .await
    }

    async fn generation(&self) -> Result<u64, PortError> {
        self.held_generation().await
    }

    async fn reset(&self, generation: u64) -> Result<(), PortError> {
        self.truncate_and_record(generation).await
    }
}
