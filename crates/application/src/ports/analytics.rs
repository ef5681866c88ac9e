use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use telemetry_domain::metric::MetricKind;
use telemetry_domain::values::{EventType, TenantId, Timestamp};

use super::PortError;

/// Which raw events a query is about.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFilterSpec {
    pub tenant_id: TenantId,
    /// Inclusive.
    pub from: Timestamp,
    /// Exclusive.
    pub to: Timestamp,
    pub event_type: Option<EventType>,
    pub service_name: Option<String>,
    pub user_id: Option<String>,
}

/// One event as ingested, read back from the analytics store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTelemetry {
    pub event_id: String,
    pub event_type: EventType,
    pub service_name: String,
    pub timestamp: Timestamp,
    pub user_id: Option<String>,
    /// The payload JSON exactly as ingested.
    pub payload: String,
}

/// A place in the newest-first order of events: (timestamp descending, event id ascending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyset {
    pub timestamp_us: i64,
    pub event_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Service,
    Type,
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCount {
    pub key: String,
    pub count: u64,
}

/// Rollup granularities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub const ALL: [Granularity; 3] = [Self::Minute, Self::Hour, Self::Day];

    /// The granularity of a step (`1m`, `1h`, `1d`).
    pub fn from_step(step: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|granularity| granularity.as_step() == step)
    }

    pub fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    pub fn as_step(self) -> &'static str {
        match self {
            Self::Minute => "1m",
            Self::Hour => "1h",
            Self::Day => "1d",
        }
    }
}

/// A half-open range of whole buckets of one rollup: `[from, to)` in epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRange {
    pub granularity: Granularity,
    pub from: i64,
    pub to: i64,
}

/// Statistics of one metric (over a window or one bucket).
///
/// A statistic can be non-finite (a sum past the range of a double, a percentile past what
/// a t-digest's 32-bit floats hold). JSON writes it as `null`, which is also how such an
/// answer is cached: reading `null` back as NaN (shown as `null` again) lets the cache hold
/// such answers, which it failed to decode before, so they were computed afresh every time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricStats {
    pub count: u64,
    #[serde(deserialize_with = "number_or_nan")]
    pub sum: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub min: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub max: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub p50: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub p90: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub p95: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub p99: f64,
}

fn number_or_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// What a summary is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryData {
    pub by_type: Vec<GroupCount>,
    pub top_services: Vec<GroupCount>,
    pub top_users: Vec<GroupCount>,
    pub metrics: Vec<(String, MetricStats)>,
}

/// One bucket of a metric time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Bucket start, epoch seconds.
    pub bucket: i64,
    pub stats: MetricStats,
}

/// A metric name's kind, temporality and unit, and when a point of that kind was last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricKindInfo {
    pub name: String,
    pub kind: MetricKind,
    pub delta: bool,
    pub unit: String,
    /// Epoch seconds.
    pub last_seen: i64,
}

/// A counter's or histogram's run (one series between resets) over some buckets: its
/// latest cumulative state and, for delta points, their sums.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub metric: String,
    /// Bucket start (epoch seconds) when read per bucket.
    pub bucket: Option<i64>,
    pub series_id: String,
    /// The run's start (µs); 0 for delta points, which form no runs.
    pub start_us: i64,
    /// The histogram layout key; empty for counters.
    pub layout: String,
    pub kind: MetricKind,
    pub delta: bool,
    pub points: u64,
    /// Cumulative: the run's largest value (a counter's value, a histogram's count) and the
    /// histogram's sum and buckets at that point.
    pub last_value: f64,
    pub last_sum: f64,
    pub last_buckets: Vec<(i64, u64)>,
    /// Delta: the sum of the values (counts), sums and buckets.
    pub delta_value: f64,
    pub delta_sum: f64,
    pub delta_buckets: Vec<(i64, u64)>,
    /// The smallest and largest observation reported (±∞ when none was).
    pub min: f64,
    pub max: f64,
}

/// The most run rows one read takes: more are refused (`too_many_series`) rather than
/// silently cut, which would undercount.
pub const MAX_RUN_ROWS: usize = 1_000_000;

/// Which runs to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSelection<'a> {
    /// One metric, or every counter and histogram.
    pub metric: Option<&'a str>,
    pub service_name: Option<&'a str>,
    /// One row per run and bucket, rather than one per run.
    pub by_bucket: bool,
    /// Only cumulative runs that started at or after this time (µs): the states before a
    /// range.
    pub cumulative_since_us: Option<i64>,
}

/// A tenant's services and metric names over some rollup ranges, with their counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogData {
    /// Services by events, largest first.
    pub services: Vec<GroupCount>,
    /// Metric names by name, with their samples.
    pub metrics: Vec<GroupCount>,
    /// Samples per (metric name, service), by metric name then samples, largest first.
    pub metric_services: Vec<(String, GroupCount)>,
}

/// Events of one bucket, per type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCountPoint {
    /// Bucket start, epoch seconds.
    pub bucket: i64,
    pub log: u64,
    pub metric: u64,
    pub trace: u64,
}

/// One audit log entry as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub occurred_at: Timestamp,
    pub action: String,
    pub actor: String,
    pub subject: String,
    pub details: String,
    /// Orders entries recorded in the same second.
    pub source: super::RowPosition,
}

/// Reads from the analytics store (ClickHouse).
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    async fn count_events(&self, filter: &EventFilterSpec) -> Result<u64, PortError>;

    /// Newest first (ties by event id), skipping `offset`.
    async fn events_page(
        &self,
        filter: &EventFilterSpec,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredTelemetry>, PortError>;

    /// Newest first (ties by event id), strictly after `after` in that order.
    async fn events_after(
        &self,
        filter: &EventFilterSpec,
        after: Option<&Keyset>,
        limit: u64,
    ) -> Result<Vec<StoredTelemetry>, PortError>;

    /// Event counts per group, largest first.
    async fn group_counts(
        &self,
        filter: &EventFilterSpec,
        by: GroupBy,
        limit: u64,
    ) -> Result<Vec<GroupCount>, PortError>;

    /// Counts by type, top services and users, and per-metric statistics over the ranges.
    async fn summary(
        &self,
        tenant: &TenantId,
        ranges: &[BucketRange],
        top: u64,
    ) -> Result<SummaryData, PortError>;

    /// The tenant's audit entries, newest first, from `since` on and strictly older than
    /// `before`.
    async fn audit_log(
        &self,
        tenant: &TenantId,
        since: Timestamp,
        before: Option<(Timestamp, super::RowPosition)>,
        action: Option<&str>,
        limit: u64,
    ) -> Result<Vec<AuditRecord>, PortError>;

    /// Services and metric names with their counts over the ranges, at most `limit` of each
    /// (and at most `limit` services per metric).
    async fn catalog(
        &self,
        tenant: &TenantId,
        ranges: &[BucketRange],
        limit: u64,
    ) -> Result<CatalogData, PortError>;

    /// Events per type in each non-empty bucket of `range`.
    async fn event_series(
        &self,
        tenant: &TenantId,
        range: BucketRange,
        service_name: Option<&str>,
        event_type: Option<EventType>,
    ) -> Result<Vec<EventCountPoint>, PortError>;

    /// Every metric name's kinds, units and temporalities.
    async fn metric_kinds(&self, tenant: &TenantId) -> Result<Vec<MetricKindInfo>, PortError>;

    /// Counter and histogram runs over the ranges: at most [`MAX_RUN_ROWS`] + 1 rows (the
    /// caller refuses a read that reaches it).
    async fn metric_runs(
        &self,
        tenant: &TenantId,
        ranges: &[BucketRange],
        selection: RunSelection<'_>,
    ) -> Result<Vec<RunRow>, PortError>;

    /// One point per non-empty bucket of `range`.
    async fn metric_series(
        &self,
        tenant: &TenantId,
        metric: &str,
        service_name: Option<&str>,
        range: BucketRange,
    ) -> Result<Vec<SeriesPoint>, PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_json_cannot_show_come_back_from_the_cache() {
        let stats = MetricStats {
            count: 2,
            sum: f64::INFINITY,
            min: 1.5e308,
            max: 1.5e308,
            p50: f64::NAN,
            p90: f64::NAN,
            p95: f64::NAN,
            p99: f64::NAN,
        };
        let cached = serde_json::to_vec(&stats).unwrap();
        let read: MetricStats = serde_json::from_slice(&cached).unwrap();
        assert_eq!((read.count, read.min, read.max), (2, 1.5e308, 1.5e308));
        assert!(!read.sum.is_finite() && !read.p99.is_finite());
        // Shown as before: `null`.
        assert_eq!(serde_json::to_vec(&read).unwrap(), cached);
    }
}
