//! Reads of counter and histogram runs (`metric_runs_*`, see `clickhouse/0007_metric_kinds.sql`)
//! and of every metric's kind (`metric_kinds`).

use clickhouse::Row;
use serde::Deserialize;
use telemetry_application::ports::{
    BucketRange, MetricKindInfo, PortError, RunRow, RunSelection, MAX_RUN_ROWS,
};
use telemetry_domain::metric::MetricKind;
use telemetry_domain::values::TenantId;

use super::analytics::{with_block_cache, RollupUnion};
use super::{BoundedRead, ClickHouse};

#[derive(Row, Deserialize)]
struct KindRecord {
    name: String,
    kind: String,
    delta: u8,
    unit: String,
    last_seen: u32,
}

pub(super) async fn metric_kinds(
    clickhouse: &ClickHouse,
    tenant: &TenantId,
) -> Result<Vec<MetricKindInfo>, PortError> {
    let sql = "SELECT metric_name AS name, toString(metric_kind) AS kind, metric_delta AS delta, \
               metric_unit AS unit, toUInt32(maxMerge(last_seen)) AS last_seen \
               FROM metric_kinds WHERE tenant_id = ? \
               GROUP BY name, kind, delta, unit ORDER BY name, last_seen";
    let rows: Vec<KindRecord> = with_block_cache(clickhouse.reader().query(sql))
        .bind(tenant.as_str())
        .fetch_all()
        .within(clickhouse)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(MetricKindInfo {
                name: row.name,
                kind: MetricKind::parse(&row.kind)?,
                delta: row.delta == 1,
                unit: row.unit,
                last_seen: i64::from(row.last_seen),
            })
        })
        .collect())
}

#[derive(Row, Deserialize)]
struct RunRecord {
    metric: String,
    bucket_start: u32,
    series_id: String,
    start_us: i64,
    layout: String,
    kind: String,
    delta: u8,
    n_points: u64,
    v_last: f64,
    s_last: f64,
    k_last: Vec<i64>,
    c_last: Vec<u64>,
    v_delta: f64,
    s_delta: f64,
    b_delta: (Vec<i64>, Vec<u64>),
    min_seen: f64,
    max_seen: f64,
}

const COLUMNS: &str = "metric_name, bucket, series_id, start_us, hist_layout, metric_kind, \
    metric_delta, points, last_value, last_sum, last_keys, last_counts, delta_value, delta_sum, \
    delta_buckets, minimum, maximum";

/// Aliases differ from the column names: ClickHouse would read an alias equal to a column's
/// name inside the aggregate functions.
const MERGED: &str = "countMerge(points) AS n_points, maxMerge(last_value) AS v_last, \
    argMaxMerge(last_sum) AS s_last, argMaxMerge(last_keys) AS k_last, \
    argMaxMerge(last_counts) AS c_last, sumMerge(delta_value) AS v_delta, \
    sumMerge(delta_sum) AS s_delta, sumMapMerge(delta_buckets) AS b_delta, \
    minMerge(minimum) AS min_seen, maxMerge(maximum) AS max_seen";

pub(super) async fn metric_runs(
    clickhouse: &ClickHouse,
    tenant: &TenantId,
    ranges: &[BucketRange],
    selection: RunSelection<'_>,
) -> Result<Vec<RunRow>, PortError> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut condition = String::new();
    if selection.metric.is_some() {
        condition.push_str(" AND metric_name = ?");
    }
    if selection.service_name.is_some() {
        condition.push_str(" AND service_name = ?");
    }
    if selection.cumulative_since_us.is_some() {
        condition.push_str(" AND metric_delta = 0 AND start_us >= ?");
    }
    let union = RollupUnion::new(ranges);
    let bucket = if selection.by_bucket {
        "toUInt32(bucket)"
    } else {
        "toUInt32(0)"
    };
    let sql = format!(
        "SELECT metric_name AS metric, {bucket} AS bucket_start, series_id, start_us, \
         hist_layout AS layout, toString(metric_kind) AS kind, metric_delta AS delta, {MERGED} \
         FROM ({}) \
         GROUP BY metric, bucket_start, series_id, start_us, layout, kind, delta \
         ORDER BY metric, series_id, start_us, bucket_start \
         LIMIT {}",
        union.sql_where("metric_runs", COLUMNS, &condition),
        MAX_RUN_ROWS + 1
    );
    let query = union.bind_each(clickhouse.reader().query(&sql), tenant, |mut query| {
        if let Some(metric) = selection.metric {
            query = query.bind(metric);
        }
        if let Some(service) = selection.service_name {
            query = query.bind(service);
        }
        if let Some(since) = selection.cumulative_since_us {
            query = query.bind(since);
        }
        query
    });
    let rows: Vec<RunRecord> = query.fetch_all().within(clickhouse).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let kind = MetricKind::parse(&row.kind)?;
            let (delta_keys, delta_counts) = row.b_delta;
            Some(RunRow {
                metric: row.metric,
                bucket: selection.by_bucket.then_some(i64::from(row.bucket_start)),
                series_id: row.series_id,
                start_us: row.start_us,
                layout: row.layout,
                kind,
                delta: row.delta == 1,
                points: row.n_points,
                last_value: row.v_last,
                last_sum: row.s_last,
                last_buckets: row.k_last.into_iter().zip(row.c_last).collect(),
                delta_value: row.v_delta,
                delta_sum: row.s_delta,
                delta_buckets: delta_keys.into_iter().zip(delta_counts).collect(),
                min: row.min_seen,
                max: row.max_seen,
            })
        })
        .collect())
}
