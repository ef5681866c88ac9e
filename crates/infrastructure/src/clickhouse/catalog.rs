//! Reads behind the console's pickers and its overview chart: a tenant's services and
//! metric names with their counts, and events per bucket by type. Both come from the
//! rollups, so they cost the same however many raw events a tenant has.

use clickhouse::Row;
use serde::Deserialize;
use telemetry_application::ports::{
    BucketRange, CatalogData, EventCountPoint, GroupCount, PortError,
};
use telemetry_domain::values::{EventType, TenantId};

use super::analytics::{rollup_table, with_block_cache, RollupUnion};
use super::{BoundedRead, ClickHouse};

#[derive(Row, Deserialize)]
struct Counted {
    key: String,
    count: u64,
}

#[derive(Row, Deserialize)]
struct MetricServiceCount {
    metric_name: String,
    service_name: String,
    count: u64,
}

#[derive(Row, Deserialize)]
struct TypedBucketCount {
    bucket: u32,
    event_type: String,
    count: u64,
}

pub(super) async fn catalog(
    clickhouse: &ClickHouse,
    tenant: &TenantId,
    ranges: &[BucketRange],
    limit: u64,
) -> Result<CatalogData, PortError> {
    if ranges.is_empty() {
        return Ok(CatalogData {
            services: Vec::new(),
            metrics: Vec::new(),
            metric_services: Vec::new(),
        });
    }
    let client = clickhouse.reader();
    let union = RollupUnion::new(ranges);
    let services_sql = format!(
        "SELECT service_name AS key, sum(events) AS count FROM ({}) \
         GROUP BY key ORDER BY count DESC, key ASC LIMIT ?",
        union.sql("event_counts", "service_name, events")
    );
    let services = union
        .bind(client.query(&services_sql), tenant)
        .bind(limit)
        .fetch_all::<Counted>();
    let metrics_sql = format!(
        "SELECT metric_name AS key, countMerge(samples) AS count FROM ({}) \
         GROUP BY key ORDER BY key ASC LIMIT ?",
        union.sql("metric_overall", "metric_name, samples")
    );
    let metrics = union
        .bind(client.query(&metrics_sql), tenant)
        .bind(limit)
        .fetch_all::<Counted>();
    // The services of the listed metrics only, at most `limit` per metric.
    let pairs_sql = format!(
        "SELECT metric_name, service_name, countMerge(samples) AS count FROM ({}) \
         GROUP BY metric_name, service_name \
         ORDER BY metric_name ASC, count DESC, service_name ASC LIMIT ? BY metric_name",
        union.sql("metric_stats", "metric_name, service_name, samples")
    );
    let pairs = union
        .bind(client.query(&pairs_sql), tenant)
        .bind(limit)
        .fetch_all::<MetricServiceCount>();
    let (services, metrics, pairs) = clickhouse
        .read(async { tokio::try_join!(services, metrics, pairs) })
        .await?;
    let last_metric = metrics.last().map(|metric| metric.key.clone());
    Ok(CatalogData {
        services: services.into_iter().map(group).collect(),
        metrics: metrics.into_iter().map(group).collect(),
        metric_services: pairs
            .into_iter()
            .filter(|pair| {
                last_metric
                    .as_ref()
                    .is_some_and(|last| &pair.metric_name <= last)
            })
            .map(|pair| {
                let service = GroupCount {
                    key: pair.service_name,
                    count: pair.count,
                };
                (pair.metric_name, service)
            })
            .collect(),
    })
}

fn group(counted: Counted) -> GroupCount {
    GroupCount {
        key: counted.key,
        count: counted.count,
    }
}

pub(super) async fn event_series(
    clickhouse: &ClickHouse,
    tenant: &TenantId,
    range: BucketRange,
    service_name: Option<&str>,
    event_type: Option<EventType>,
) -> Result<Vec<EventCountPoint>, PortError> {
    let mut conditions = String::new();
    if service_name.is_some() {
        conditions.push_str(" AND service_name = ?");
    }
    if event_type.is_some() {
        conditions.push_str(" AND event_type = ?");
    }
    let sql = format!(
        "SELECT toUInt32(bucket) AS bucket, toString(event_type) AS event_type, \
                sum(events) AS count FROM {} \
         WHERE tenant_id = ? AND bucket >= toDateTime(?) AND bucket < toDateTime(?){conditions} \
         GROUP BY bucket, event_type ORDER BY bucket",
        rollup_table("event_counts", range.granularity)
    );
    let mut query = with_block_cache(clickhouse.reader().query(&sql))
        .bind(tenant.as_str())
        .bind(range.from)
        .bind(range.to);
    if let Some(service) = service_name {
        query = query.bind(service);
    }
    if let Some(event_type) = event_type {
        query = query.bind(event_type.as_str());
    }
    let rows: Vec<TypedBucketCount> = query.fetch_all().within(clickhouse).await?;
    let mut points: Vec<EventCountPoint> = Vec::new();
    for row in rows {
        let bucket = i64::from(row.bucket);
        if points.last().is_none_or(|point| point.bucket != bucket) {
            points.push(EventCountPoint {
                bucket,
                ..EventCountPoint::default()
            });
        }
        if let Some(point) = points.last_mut() {
            match EventType::parse(&row.event_type) {
                Ok(EventType::Log) => point.log += row.count,
                Ok(EventType::Metric) => point.metric += row.count,
                Ok(EventType::Trace) => point.trace += row.count,
                Err(_) => {}
            }
        }
    }
    Ok(points)
}
