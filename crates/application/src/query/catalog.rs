//! What a tenant has sent, for pickers and overviews: its services and metric names with
//! their counts, and its events per bucket by type. Both read the rollups through the cache.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use telemetry_domain::values::{EventType, TenantId, Timestamp};

use super::cache::CacheOutcome;
use super::kinds::{describe, MetricDescription};
use super::{
    check_range, datetime, plan, retained, series_buckets, Coverage, InvalidQuery, QueryFailure,
    QueryService,
};
use crate::ports::{BucketRange, EventCountPoint, Granularity, GroupCount};

/// Services and metrics listed at most.
pub const CATALOG_LIMIT: u64 = 1_000;
/// The range a catalog covers when the caller names none: the last seven days.
pub const DEFAULT_CATALOG_SECONDS: i64 = 7 * 86_400;

/// A metric name, its kind, its samples (data points) and the services that sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogMetric {
    pub name: String,
    #[serde(default)]
    pub description: MetricDescription,
    pub samples: u64,
    /// Largest first.
    pub services: Vec<GroupCount>,
}

/// A tenant's services and metric names over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Inclusive, minute-aligned.
    pub from: DateTime<Utc>,
    /// Exclusive, minute-aligned.
    pub to: DateTime<Utc>,
    /// Largest first.
    pub services: Vec<GroupCount>,
    /// By name.
    pub metrics: Vec<CatalogMetric>,
    /// The part of the range the tenant's retention still holds.
    pub coverage: Coverage,
}

/// Events per bucket by type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSeries {
    pub step: Granularity,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Non-empty buckets only, oldest first.
    pub points: Vec<EventCountPoint>,
    /// The part of the range the tenant's retention still holds.
    pub coverage: Coverage,
}

impl QueryService {
    /// The tenant's services and metrics over `[from, to)`, widened to whole minutes; by
    /// default the last seven days up to the end of the current minute.
    pub async fn catalog(
        &self,
        tenant: &TenantId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        now: DateTime<Utc>,
        refresh: bool,
    ) -> Result<(Catalog, CacheOutcome), QueryFailure> {
        let to_s = match to {
            Some(to) => (to.as_micros() + 59_999_999).div_euclid(60_000_000) * 60,
            None => now.timestamp().div_euclid(60) * 60 + 60,
        };
        let from_s = match from {
            Some(from) => from.as_micros().div_euclid(60_000_000) * 60,
            None => to_s - DEFAULT_CATALOG_SECONDS,
        };
        let (from_ts, to_ts) = (seconds(from_s)?, seconds(to_s)?);
        check_range(from_ts, to_ts)?;
        let retention = self.retention_of(tenant).await?;
        let (ranges, coverage) =
            retained(plan::cover(from_s, to_s), from_s, retention.as_ref(), now);
        let key = format!("catalog:{from_s}:{to_s}:{}", coverage.from.timestamp());
        self.cache
            .get_or_compute(tenant, &key, refresh, || async move {
                let (data, kinds) = tokio::try_join!(
                    self.store.catalog(tenant, &ranges, CATALOG_LIMIT),
                    self.store.metric_kinds(tenant)
                )?;
                let mut described = describe(&kinds);
                let mut services_of = data.metric_services.into_iter().peekable();
                let metrics = data
                    .metrics
                    .into_iter()
                    .map(|metric| {
                        // Both lists are ordered by metric name.
                        while services_of
                            .next_if(|(name, _)| *name < metric.key)
                            .is_some()
                        {}
                        let mut services = Vec::new();
                        while let Some((_, service)) =
                            services_of.next_if(|(name, _)| *name == metric.key)
                        {
                            services.push(service);
                        }
                        CatalogMetric {
                            description: described.remove(&metric.key).unwrap_or_default(),
                            name: metric.key,
                            samples: metric.count,
                            services,
                        }
                    })
                    .collect();
                Ok::<_, QueryFailure>(Catalog {
                    from: datetime(from_s),
                    to: datetime(to_s),
                    services: data.services,
                    metrics,
                    coverage,
                })
            })
            .await
    }

    /// Events per bucket of `step` (chosen from the range when absent) by type.
    #[allow(clippy::too_many_arguments)]
    pub async fn event_series(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        step: Option<Granularity>,
        service_name: Option<&str>,
        event_type: Option<EventType>,
        refresh: bool,
    ) -> Result<(EventSeries, CacheOutcome), QueryFailure> {
        let (step, from_s, to_s) = series_buckets(from, to, step)?;
        let retention = self.retention_of(tenant).await?;
        let asked = BucketRange {
            granularity: step,
            from: from_s,
            to: to_s,
        };
        let (ranges, coverage) = retained(vec![asked], from_s, retention.as_ref(), Utc::now());
        // The service name's length first: names may hold ':' (see `series_key`).
        let service =
            service_name.map_or_else(|| "-".to_string(), |name| format!("{}={name}", name.len()));
        let event_type_key = event_type.map_or("-", EventType::as_str);
        let key = format!(
            "event-series:{}:{from_s}:{to_s}:{}:{event_type_key}:{service}",
            step.as_step(),
            coverage.from.timestamp()
        );
        self.cache
            .get_or_compute(tenant, &key, refresh, || async move {
                let points = match ranges.first() {
                    Some(&range) => {
                        self.store
                            .event_series(tenant, range, service_name, event_type)
                            .await?
                    }
                    None => Vec::new(),
                };
                Ok::<_, QueryFailure>(EventSeries {
                    step,
                    from: datetime(from_s),
                    to: datetime(to_s),
                    points,
                    coverage,
                })
            })
            .await
    }
}

fn seconds(value: i64) -> Result<Timestamp, QueryFailure> {
    Timestamp::from_micros(value.saturating_mul(1_000_000))
        .map_err(|error| QueryFailure::invalid(InvalidQuery::Range, error.to_string()))
}
