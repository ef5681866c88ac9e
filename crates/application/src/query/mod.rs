//! Query handlers: events (offset pages, keyset cursors, group-by), account summaries and
//! metric time series, read from the analytics store; summaries and series through the
//! two-level cache.

pub mod cache;
pub mod catalog;
pub mod kinds;
pub mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use telemetry_domain::tenant_policy::RetainedStore;
use telemetry_domain::values::{EventType, TenantId, Timestamp};

use self::cache::{CacheOutcome, TwoLevelCache};
use self::kinds::{MetricDescription, RunStats};
use crate::ports::{
    AnalyticsStore, BucketRange, EventFilterSpec, Granularity, GroupBy, GroupCount, Keyset,
    MetricStats, PortError, RunRow, RunSelection, StoredTelemetry, MAX_RUN_ROWS,
};
use crate::retention::{Retention, RetentionLookup};

/// Largest page or group list.
pub const MAX_LIMIT: u64 = 1_000;
/// Largest time series.
pub const MAX_POINTS: i64 = 10_000;
/// Longest range an event query or time series may span.
pub const MAX_RANGE_SECONDS: i64 = 366 * 86_400;
/// Services and users listed in a summary.
pub const SUMMARY_TOP: u64 = 10;

/// What is wrong with a read's parameters (presentation gives each its wire code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidQuery {
    Range,
    Page,
    Limit,
    TooManyPoints,
    TooManySeries,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryFailure {
    #[error("{message}")]
    Invalid {
        problem: InvalidQuery,
        message: String,
    },
    #[error("the analytics store is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl QueryFailure {
    pub fn invalid(problem: InvalidQuery, message: impl Into<String>) -> Self {
        Self::Invalid {
            problem,
            message: message.into(),
        }
    }
}

impl From<PortError> for QueryFailure {
    fn from(error: PortError) -> Self {
        if error.is_unavailable() {
            Self::Unavailable(error.message)
        } else {
            Self::Internal(error.message)
        }
    }
}

/// How an event query is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum EventsMode {
    /// Offset pages (1-based) with totals.
    Page { page: u64, limit: u64 },
    /// Keyset continuation from a cursor (or the newest event).
    Cursor { after: Option<Keyset>, limit: u64 },
    /// Counts per group, largest first.
    Groups { by: GroupBy, limit: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventsAnswer {
    Page {
        data: Vec<StoredTelemetry>,
        page: u64,
        limit: u64,
        total: u64,
        /// Continues after the last event of the page by keyset.
        next: Option<Keyset>,
    },
    Cursor {
        data: Vec<StoredTelemetry>,
        next: Option<Keyset>,
    },
    Groups {
        data: Vec<GroupCount>,
        total: u64,
    },
}

/// Summary windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SummaryWindow {
    #[serde(rename = "15m")]
    FifteenMinutes,
    #[serde(rename = "1h")]
    OneHour,
    #[serde(rename = "24h")]
    OneDay,
    #[serde(rename = "7d")]
    SevenDays,
}

impl SummaryWindow {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "15m" => Some(Self::FifteenMinutes),
            "1h" => Some(Self::OneHour),
            "24h" => Some(Self::OneDay),
            "7d" => Some(Self::SevenDays),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FifteenMinutes => "15m",
            Self::OneHour => "1h",
            Self::OneDay => "24h",
            Self::SevenDays => "7d",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Self::FifteenMinutes => 900,
            Self::OneHour => 3_600,
            Self::OneDay => 86_400,
            Self::SevenDays => 7 * 86_400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedMetric {
    pub name: String,
    #[serde(default)]
    pub description: MetricDescription,
    pub stats: MetricStats,
    /// Counters: the increase over the window, and per second.
    #[serde(default)]
    pub increase: Option<f64>,
    #[serde(default)]
    pub rate_per_second: Option<f64>,
}

/// One bucket of a metric time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesValue {
    pub t: DateTime<Utc>,
    pub stats: MetricStats,
    /// Counters: the increase in the bucket, and per second.
    pub increase: Option<f64>,
    pub rate_per_second: Option<f64>,
}

/// A tenant's activity over a window, from the rollups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub account_id: TenantId,
    pub window: SummaryWindow,
    /// Inclusive, minute-aligned.
    pub from: DateTime<Utc>,
    /// Exclusive: the end of the current minute.
    pub to: DateTime<Utc>,
    pub total_events: u64,
    pub by_type: BTreeMap<EventType, u64>,
    pub top_services: Vec<GroupCount>,
    pub top_users: Vec<GroupCount>,
    pub metrics: Vec<NamedMetric>,
    pub generated_at: DateTime<Utc>,
    /// The part of the window the tenant's retention still holds.
    pub coverage: Coverage,
}

/// The part of a range an answer covers once the tenant's retention is applied: from `from`
/// to the end of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub from: DateTime<Utc>,
    /// Whether that is the start of the range asked for (nothing was past retention).
    pub complete: bool,
}

/// A metric time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub metric: String,
    pub description: MetricDescription,
    pub service_name: Option<String>,
    pub step: Granularity,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub points: Vec<SeriesValue>,
    /// The part of the range the tenant's retention still holds.
    pub coverage: Coverage,
}

pub struct QueryService {
    store: Arc<dyn AnalyticsStore>,
    cache: Arc<TwoLevelCache>,
    retention: Option<Arc<dyn RetentionLookup>>,
}

impl QueryService {
    pub fn new(store: Arc<dyn AnalyticsStore>, cache: Arc<TwoLevelCache>) -> Self {
        Self {
            store,
            cache,
            retention: None,
        }
    }

    /// Clamps every read to its tenant's retention (without it, everything stored is read).
    pub fn with_retention(mut self, retention: Arc<dyn RetentionLookup>) -> Self {
        self.retention = Some(retention);
        self
    }

    pub(crate) async fn retention_of(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Retention>, QueryFailure> {
        match &self.retention {
            Some(lookup) => Ok(Some(lookup.retention(tenant).await?)),
            None => Ok(None),
        }
    }

    /// The first instant `store` holds for `tenant` now (`None`: everything).
    async fn since(
        &self,
        tenant: &TenantId,
        store: RetainedStore,
    ) -> Result<Option<Timestamp>, QueryFailure> {
        match self.retention_of(tenant).await? {
            Some(retention) => Ok(Some(retention.since(store, Utc::now())?)),
            None => Ok(None),
        }
    }

    /// Events matching `filter`, answered as `mode` says.
    pub async fn events(
        &self,
        filter: &EventFilterSpec,
        mode: EventsMode,
    ) -> Result<EventsAnswer, QueryFailure> {
        check_range(filter.from, filter.to)?;
        let since = self.since(&filter.tenant_id, RetainedStore::Events).await?;
        let mut retained = filter.clone();
        retained.from = since.map_or(filter.from, |since| since.max(filter.from));
        if retained.from >= retained.to {
            check_mode(&mode)?;
            return Ok(nothing_retained(mode));
        }
        let filter = &retained;
        match mode {
            EventsMode::Page { page, limit } => {
                check_limit(limit)?;
                if page == 0 {
                    return Err(QueryFailure::invalid(
                        InvalidQuery::Page,
                        "page starts at 1",
                    ));
                }
                let offset = (page - 1).saturating_mul(limit);
                let (total, data) = tokio::try_join!(
                    self.store.count_events(filter),
                    self.store.events_page(filter, offset, limit)
                )?;
                let next = (offset + (data.len() as u64) < total)
                    .then(|| data.last().map(keyset_of))
                    .flatten();
                Ok(EventsAnswer::Page {
                    data,
                    page,
                    limit,
                    total,
                    next,
                })
            }
            EventsMode::Cursor { after, limit } => {
                check_limit(limit)?;
                let mut data = self
                    .store
                    .events_after(filter, after.as_ref(), limit + 1)
                    .await?;
                let has_more = data.len() as u64 > limit;
                data.truncate(limit as usize);
                let next = if has_more {
                    data.last().map(keyset_of)
                } else {
                    None
                };
                Ok(EventsAnswer::Cursor { data, next })
            }
            EventsMode::Groups { by, limit } => {
                check_limit(limit)?;
                let (total, data) = tokio::try_join!(
                    self.store.count_events(filter),
                    self.store.group_counts(filter, by, limit)
                )?;
                Ok(EventsAnswer::Groups { data, total })
            }
        }
    }

    /// The tenant's summary over `window` ending with the current minute.
    pub async fn summary(
        &self,
        tenant: &TenantId,
        window: SummaryWindow,
        now: DateTime<Utc>,
        refresh: bool,
    ) -> Result<(Summary, CacheOutcome), QueryFailure> {
        let to = now.timestamp().div_euclid(60) * 60 + 60;
        let from = to - window.seconds();
        let retention = self.retention_of(tenant).await?;
        let (ranges, coverage) = retained(plan::cover(from, to), from, retention.as_ref(), now);
        let key = format!(
            "summary:{}:{to}:{}",
            window.as_str(),
            coverage.from.timestamp()
        );
        self.cache
            .get_or_compute(tenant, &key, refresh, || async move {
                let covered = coverage.from.timestamp();
                let (data, kinds) = tokio::try_join!(
                    self.store.summary(tenant, &ranges, SUMMARY_TOP),
                    self.store.metric_kinds(tenant)
                )?;
                let described = kinds::describe(&kinds);
                let with_runs = described.values().any(|d| d.kind().has_runs());
                let mut run_stats = if with_runs {
                    let everything = RunSelection {
                        metric: None,
                        service_name: None,
                        by_bucket: false,
                        cumulative_since_us: None,
                    };
                    let rows = self.runs(tenant, &ranges, everything).await?;
                    let before = self
                        .states_before(tenant, everything, &rows, covered, retention.as_ref())
                        .await?;
                    kinds::window_stats(&rows, &before, (to - covered) as f64)
                } else {
                    BTreeMap::new()
                };
                let by_type: BTreeMap<EventType, u64> = EventType::ALL
                    .into_iter()
                    .map(|event_type| {
                        let count = data
                            .by_type
                            .iter()
                            .find(|group| group.key == event_type.as_str())
                            .map_or(0, |group| group.count);
                        (event_type, count)
                    })
                    .collect();
                Ok::<_, QueryFailure>(Summary {
                    account_id: tenant.clone(),
                    window,
                    from: datetime(from),
                    to: datetime(to),
                    total_events: by_type.values().sum(),
                    by_type,
                    top_services: data.top_services,
                    top_users: data.top_users,
                    metrics: data
                        .metrics
                        .into_iter()
                        .map(|(name, stats)| {
                            let description = described.get(&name).cloned().unwrap_or_default();
                            let runs = description
                                .kind()
                                .has_runs()
                                .then(|| run_stats.remove(&name))
                                .flatten();
                            named(name, description, stats, runs)
                        })
                        .collect(),
                    generated_at: Utc::now(),
                    coverage,
                })
            })
            .await
    }

    /// One metric's statistics per bucket of `step` (chosen from the range when absent).
    #[allow(clippy::too_many_arguments)]
    pub async fn series(
        &self,
        tenant: &TenantId,
        metric: &str,
        service_name: Option<&str>,
        from: Timestamp,
        to: Timestamp,
        step: Option<Granularity>,
        refresh: bool,
    ) -> Result<(Series, CacheOutcome), QueryFailure> {
        let (step, asked_from, to_s) = series_buckets(from, to, step)?;
        let retention = self.retention_of(tenant).await?;
        let asked = BucketRange {
            granularity: step,
            from: asked_from,
            to: to_s,
        };
        let (ranges, coverage) = retained(vec![asked], asked_from, retention.as_ref(), Utc::now());
        let from_s = coverage.from.timestamp();
        let key = series_key(step.as_step(), from_s, to_s, metric, service_name);
        self.cache
            .get_or_compute(tenant, &key, refresh, || async move {
                let Some(&range) = ranges.first() else {
                    return Ok(Series {
                        metric: metric.to_string(),
                        description: MetricDescription::default(),
                        service_name: service_name.map(str::to_string),
                        step,
                        from: datetime(asked_from),
                        to: datetime(to_s),
                        points: Vec::new(),
                        coverage,
                    });
                };
                let kinds = self.store.metric_kinds(tenant).await?;
                let kinds: Vec<_> = kinds.into_iter().filter(|k| k.name == metric).collect();
                let mut description = kinds::describe(&kinds).remove(metric).unwrap_or_default();
                let points = if description.kind().has_runs() {
                    let selection = RunSelection {
                        metric: Some(metric),
                        service_name,
                        by_bucket: true,
                        cumulative_since_us: None,
                    };
                    let rows = self.runs(tenant, &[range], selection).await?;
                    // The temporality of the points read (one service's may differ from
                    // the one the metric was last seen with).
                    if let Some(temporality) = kinds::temporality_of(&rows) {
                        description.temporality = Some(temporality.to_string());
                    }
                    let before = self
                        .states_before(tenant, selection, &rows, from_s, retention.as_ref())
                        .await?;
                    kinds::bucket_stats(&rows, &before, step.seconds() as f64)
                        .into_iter()
                        .map(|(bucket, runs)| SeriesValue {
                            t: datetime(bucket),
                            stats: runs.stats,
                            increase: runs.increase,
                            rate_per_second: runs.rate_per_second,
                        })
                        .collect()
                } else {
                    self.store
                        .metric_series(tenant, metric, service_name, range)
                        .await?
                        .into_iter()
                        .map(|point| SeriesValue {
                            t: datetime(point.bucket),
                            stats: point.stats,
                            increase: None,
                            rate_per_second: None,
                        })
                        .collect()
                };
                Ok::<_, QueryFailure>(Series {
                    metric: metric.to_string(),
                    description,
                    service_name: service_name.map(str::to_string),
                    step,
                    from: datetime(asked_from),
                    to: datetime(to_s),
                    points,
                    coverage,
                })
            })
            .await
    }
}

impl QueryService {
    /// Counter and histogram runs, refused when there are more than a read may take.
    async fn runs(
        &self,
        tenant: &TenantId,
        ranges: &[BucketRange],
        selection: RunSelection<'_>,
    ) -> Result<Vec<RunRow>, QueryFailure> {
        let rows = self.store.metric_runs(tenant, ranges, selection).await?;
        if rows.len() > MAX_RUN_ROWS {
            return Err(QueryFailure::invalid(
                InvalidQuery::TooManySeries,
                format!(
                    "more than {MAX_RUN_ROWS} counter and histogram series and buckets to read: \
                     narrow the range, use a larger step or filter by service"
                ),
            ));
        }
        Ok(rows)
    }

    /// The states of the cumulative runs of `rows` before `from` (epoch seconds, a whole
    /// minute): read from the run's start on, coarsest rollups first.
    async fn states_before(
        &self,
        tenant: &TenantId,
        selection: RunSelection<'_>,
        rows: &[RunRow],
        from: i64,
        retention: Option<&Retention>,
    ) -> Result<Vec<RunRow>, QueryFailure> {
        let Some(earliest_us) = kinds::earliest_start(rows) else {
            return Ok(Vec::new());
        };
        let since = earliest_us.div_euclid(60_000_000) * 60;
        if since >= from {
            return Ok(Vec::new());
        }
        let (ranges, _) = retained(
            plan::cover(since.max(0), from),
            since.max(0),
            retention,
            Utc::now(),
        );
        let selection = RunSelection {
            by_bucket: false,
            cumulative_since_us: Some(earliest_us),
            ..selection
        };
        self.runs(tenant, &ranges, selection).await
    }
}

/// A summary's entry for a metric: gauge statistics, or a counter's or histogram's.
fn named(
    name: String,
    description: MetricDescription,
    stats: MetricStats,
    runs: Option<RunStats>,
) -> NamedMetric {
    match runs {
        Some(runs) => NamedMetric {
            name,
            description,
            stats: runs.stats,
            increase: runs.increase,
            rate_per_second: runs.rate_per_second,
        },
        None => NamedMetric {
            name,
            description,
            stats,
            increase: None,
            rate_per_second: None,
        },
    }
}

impl QueryService {
    /// The tenant's audit log, newest first; `limit + 1` is asked for to tell whether more
    /// entries follow.
    pub async fn audit_log(
        &self,
        tenant: &TenantId,
        before: Option<(Timestamp, crate::ports::RowPosition)>,
        action: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<crate::ports::AuditRecord>, bool), QueryFailure> {
        check_limit(limit)?;
        let since = match self.since(tenant, RetainedStore::AuditLog).await? {
            Some(since) => since,
            None => Timestamp::from_micros(0).map_err(PortError::failed)?,
        };
        let mut entries = self
            .store
            .audit_log(tenant, since, before, action, limit + 1)
            .await?;
        let has_more = entries.len() as u64 > limit;
        entries.truncate(limit as usize);
        Ok((entries, has_more))
    }
}

/// What a read of `ranges` (covering `[from, ..)`) may show under `retention` as of `now`:
/// each range starts no earlier than its rollup's cutoff, and the answer covers one stretch
/// up to the end, so nothing before the latest cutoff that cut a range is read.
pub(crate) fn retained(
    ranges: Vec<BucketRange>,
    from: i64,
    retention: Option<&Retention>,
    now: DateTime<Utc>,
) -> (Vec<BucketRange>, Coverage) {
    let mut covered_from = from;
    if let Some(retention) = retention {
        for range in &ranges {
            let cutoff = retention.cutoff(rollup_store(range.granularity), now);
            if range.from < cutoff {
                covered_from = covered_from.max(range.to.min(cutoff));
            }
        }
    }
    let ranges = ranges
        .into_iter()
        .filter_map(|range| {
            let from = range.from.max(covered_from);
            (from < range.to).then_some(BucketRange { from, ..range })
        })
        .collect();
    let coverage = Coverage {
        from: datetime(covered_from),
        complete: covered_from == from,
    };
    (ranges, coverage)
}

fn rollup_store(granularity: Granularity) -> RetainedStore {
    match granularity {
        Granularity::Minute => RetainedStore::MinuteRollups,
        Granularity::Hour => RetainedStore::HourRollups,
        Granularity::Day => RetainedStore::DayRollups,
    }
}

fn check_mode(mode: &EventsMode) -> Result<(), QueryFailure> {
    match mode {
        EventsMode::Page { page: 0, .. } => Err(QueryFailure::invalid(
            InvalidQuery::Page,
            "page starts at 1",
        )),
        EventsMode::Page { limit, .. }
        | EventsMode::Cursor { limit, .. }
        | EventsMode::Groups { limit, .. } => check_limit(*limit),
    }
}

/// The answer to an event query over a range entirely past retention.
fn nothing_retained(mode: EventsMode) -> EventsAnswer {
    match mode {
        EventsMode::Page { page, limit } => EventsAnswer::Page {
            data: Vec::new(),
            page,
            limit,
            total: 0,
            next: None,
        },
        EventsMode::Cursor { .. } => EventsAnswer::Cursor {
            data: Vec::new(),
            next: None,
        },
        EventsMode::Groups { .. } => EventsAnswer::Groups {
            data: Vec::new(),
            total: 0,
        },
    }
}

/// The step of a series over `[from, to)` (chosen from the range when absent) and the range
/// widened to whole buckets of it, in epoch seconds; at most [`MAX_POINTS`] buckets.
pub(crate) fn series_buckets(
    from: Timestamp,
    to: Timestamp,
    step: Option<Granularity>,
) -> Result<(Granularity, i64, i64), QueryFailure> {
    check_range(from, to)?;
    let (from_s, to_s) = (
        from.as_micros().div_euclid(1_000_000),
        (to.as_micros() + 999_999).div_euclid(1_000_000),
    );
    let step = step.unwrap_or_else(|| plan::default_step(to_s - from_s));
    let (from_s, to_s) = plan::align(step, from_s, to_s);
    let points = (to_s - from_s) / step.seconds();
    if points > MAX_POINTS {
        return Err(QueryFailure::invalid(
            InvalidQuery::TooManyPoints,
            format!(
                "{points} points of {}; at most {MAX_POINTS}: use a larger step",
                step.as_step()
            ),
        ));
    }
    Ok((step, from_s, to_s))
}

fn keyset_of(event: &StoredTelemetry) -> Keyset {
    Keyset {
        timestamp_us: event.timestamp.as_micros(),
        event_id: event.event_id.clone(),
    }
}

pub(crate) fn datetime(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

pub(crate) fn check_limit(limit: u64) -> Result<(), QueryFailure> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(QueryFailure::invalid(
            InvalidQuery::Limit,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

pub(crate) fn check_range(from: Timestamp, to: Timestamp) -> Result<(), QueryFailure> {
    if from >= to {
        return Err(QueryFailure::invalid(
            InvalidQuery::Range,
            "the start of the range must be before its end",
        ));
    }
    if to.as_micros() - from.as_micros() > MAX_RANGE_SECONDS * 1_000_000 {
        return Err(QueryFailure::invalid(
            InvalidQuery::Range,
            "the range may span at most 366 days",
        ));
    }
    Ok(())
}

/// The cache key of a series. The metric's length comes first: names may hold ':', and
/// ("a:b", "c") must not share an entry with ("a", "b:c"); no service filter is "-", apart
/// from any service name.
fn series_key(step: &str, from_s: i64, to_s: i64, metric: &str, service: Option<&str>) -> String {
    let service = service.map_or_else(|| "-".to_string(), |name| format!("={name}"));
    format!(
        "series:{step}:{from_s}:{to_s}:{}:{metric}{service}",
        metric.len()
    )
}

#[cfg(test)]
mod tests {
    use super::series_key;

    #[test]
    fn different_series_never_share_a_cache_key() {
        let keys = [
            series_key("1m", 0, 60, "a:b", Some("c")),
            series_key("1m", 0, 60, "a", Some("b:c")),
            series_key("1m", 0, 60, "a", None),
            series_key("1m", 0, 60, "a", Some("")),
            series_key("1m", 0, 60, "a", Some("-")),
            series_key("1m", 0, 60, "a-", None),
            series_key("1h", 0, 60, "a", None),
        ];
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "{keys:?}");
    }
}
