//! Counter and histogram reads: increases, rates and bucket percentiles computed from run
//! states (see `telemetry_domain::metric`), and each metric's kind, unit and temporality.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use telemetry_domain::metric::{Layout, MergedHistogram, MetricKind, RunState};

use crate::ports::{MetricKindInfo, MetricStats, RunRow};

/// What a reader needs to know to pick the statistics that make sense for a metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricDescription {
    /// `gauge`, `counter`, `upDownCounter` or `histogram`.
    pub kind: String,
    pub unit: Option<String>,
    /// `cumulative` or `delta` (counters and histograms).
    pub temporality: Option<String>,
}

impl Default for MetricDescription {
    fn default() -> Self {
        Self {
            kind: MetricKind::Gauge.as_str().to_string(),
            unit: None,
            temporality: None,
        }
    }
}

impl MetricDescription {
    pub fn kind(&self) -> MetricKind {
        MetricKind::parse(&self.kind).unwrap_or(MetricKind::Gauge)
    }
}

/// Each metric's description, from the kind it was last seen with.
pub fn describe(kinds: &[MetricKindInfo]) -> HashMap<String, MetricDescription> {
    let mut latest: HashMap<&str, &MetricKindInfo> = HashMap::new();
    for info in kinds {
        let newer = latest
            .get(info.name.as_str())
            .is_none_or(|known| info.last_seen >= known.last_seen);
        if newer {
            latest.insert(&info.name, info);
        }
    }
    latest
        .into_iter()
        .map(|(name, info)| {
            let temporality = info
                .kind
                .has_runs()
                .then(|| if info.delta { "delta" } else { "cumulative" }.to_string());
            let description = MetricDescription {
                kind: info.kind.as_str().to_string(),
                unit: (!info.unit.is_empty()).then(|| info.unit.clone()),
                temporality,
            };
            (name.to_string(), description)
        })
        .collect()
}

/// A counter's or histogram's statistics over a window or bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// Counters: `count` is the number of data points, the other fields NaN. Histograms:
    /// the observations' count, sum, reported min/max and percentiles from the buckets.
    pub stats: MetricStats,
    /// Counters only.
    pub increase: Option<f64>,
    pub rate_per_second: Option<f64>,
}

type RunKey<'a> = (&'a str, &'a str, i64);

fn key(row: &RunRow) -> RunKey<'_> {
    (&row.metric, &row.series_id, row.start_us)
}

fn state(row: &RunRow) -> RunState {
    RunState {
        value: row.last_value,
        sum: row.last_sum,
        layout: Layout::from_key(&row.layout),
        buckets: row.last_buckets.clone(),
    }
}

/// The latest state of each cumulative run among `rows` (a run can have rows of several
/// layouts when an exponential histogram changed its scale: the latest is the largest).
pub fn latest_states(rows: &[RunRow]) -> HashMap<RunKey<'_>, RunState> {
    let mut latest: HashMap<RunKey<'_>, &RunRow> = HashMap::new();
    for row in rows.iter().filter(|row| !row.delta) {
        let entry = latest.entry(key(row)).or_insert(row);
        if row.last_value > entry.last_value {
            *entry = row;
        }
    }
    latest.into_iter().map(|(k, row)| (k, state(row))).collect()
}

/// Sums of one metric's runs.
#[derive(Debug, Default)]
struct Totals {
    kind: Option<MetricKind>,
    points: u64,
    increase: f64,
    histogram: MergedHistogram,
}

impl Totals {
    fn add_delta(&mut self, row: &RunRow) {
        self.kind = Some(row.kind);
        self.points += row.points;
        self.increase += row.delta_value;
        if row.kind == MetricKind::Histogram {
            if let Some(layout) = Layout::from_key(&row.layout) {
                self.histogram.add(&layout, &row.delta_buckets);
            }
            self.histogram.count += row.delta_value;
            self.histogram.sum += row.delta_sum;
            self.histogram.observe_min(row.min);
            self.histogram.observe_max(row.max);
        }
    }

    fn add_increase(&mut self, kind: MetricKind, now: &RunState, before: Option<&RunState>) {
        self.kind = Some(kind);
        let added = now.increase_since(before);
        self.increase += added.value;
        if kind == MetricKind::Histogram {
            self.histogram.count += added.value;
            self.histogram.sum += added.sum;
            if let Some(layout) = &added.layout {
                self.histogram.add(layout, &added.buckets);
            }
        }
    }

    fn finish(self, seconds: f64) -> RunStats {
        let nan = f64::NAN;
        match self.kind {
            Some(MetricKind::Histogram) => {
                let histogram = &self.histogram;
                RunStats {
                    stats: MetricStats {
                        count: histogram.count.max(0.0).round() as u64,
                        sum: histogram.sum,
                        min: histogram.min.unwrap_or(nan),
                        max: histogram.max.unwrap_or(nan),
                        p50: histogram.quantile(0.5),
                        p90: histogram.quantile(0.9),
                        p95: histogram.quantile(0.95),
                        p99: histogram.quantile(0.99),
                    },
                    increase: None,
                    rate_per_second: None,
                }
            }
            _ => RunStats {
                stats: MetricStats {
                    count: self.points,
                    sum: nan,
                    min: nan,
                    max: nan,
                    p50: nan,
                    p90: nan,
                    p95: nan,
                    p99: nan,
                },
                increase: Some(self.increase),
                rate_per_second: Some(if seconds > 0.0 {
                    self.increase / seconds
                } else {
                    nan
                }),
            },
        }
    }
}

/// Per metric, over a window of `seconds`: `rows` are the runs merged over the window,
/// `before` the cumulative runs' states before it.
pub fn window_stats(
    rows: &[RunRow],
    before: &[RunRow],
    seconds: f64,
) -> BTreeMap<String, RunStats> {
    let before = latest_states(before);
    let mut totals: BTreeMap<&str, Totals> = BTreeMap::new();
    let mut runs: HashMap<RunKey<'_>, (MetricKind, u64)> = HashMap::new();
    for row in rows {
        if row.delta {
            totals.entry(&row.metric).or_default().add_delta(row);
        } else {
            runs.entry(key(row)).or_insert((row.kind, 0)).1 += row.points;
        }
    }
    for (run, now) in latest_states(rows) {
        let (kind, points) = runs.get(&run).copied().unwrap_or((MetricKind::Counter, 0));
        let metric = totals.entry(run.0).or_default();
        metric.points += points;
        metric.add_increase(kind, &now, before.get(&run));
    }
    totals
        .into_iter()
        .map(|(metric, totals)| (metric.to_string(), totals.finish(seconds)))
        .collect()
}

/// Per bucket of one metric: `rows` are its runs per bucket, `before` the cumulative runs'
/// states before the first bucket.
pub fn bucket_stats(
    rows: &[RunRow],
    before: &[RunRow],
    step_seconds: f64,
) -> BTreeMap<i64, RunStats> {
    let mut previous = latest_states(before);
    let mut totals: BTreeMap<i64, Totals> = BTreeMap::new();
    let mut cumulative: BTreeMap<(RunKey<'_>, i64), Vec<&RunRow>> = BTreeMap::new();
    for row in rows {
        let bucket = row.bucket.unwrap_or_default();
        if row.delta {
            totals.entry(bucket).or_default().add_delta(row);
        } else {
            cumulative.entry((key(row), bucket)).or_default().push(row);
        }
    }
    // Runs in key order, each bucket after the one before: a run's increase in a bucket is
    // its latest state there minus its latest state in any earlier bucket.
    for ((run, bucket), rows) in cumulative {
        let points: u64 = rows.iter().map(|row| row.points).sum();
        let Some(latest) = rows
            .iter()
            .max_by(|a, b| a.last_value.total_cmp(&b.last_value))
        else {
            continue;
        };
        let now = state(latest);
        let bucket_totals = totals.entry(bucket).or_default();
        bucket_totals.points += points;
        bucket_totals.add_increase(latest.kind, &now, previous.get(&run));
        let grew = previous.get(&run).is_none_or(|then| now.value > then.value);
        if grew {
            previous.insert(run, now);
        }
    }
    totals
        .into_iter()
        .map(|(bucket, totals)| (bucket, totals.finish(step_seconds)))
        .collect()
}

/// `delta` or `cumulative` when every row is of that temporality.
pub fn temporality_of(rows: &[RunRow]) -> Option<&'static str> {
    let first = rows.first()?.delta;
    rows.iter()
        .all(|row| row.delta == first)
        .then_some(if first { "delta" } else { "cumulative" })
}

/// The earliest start among the cumulative runs of `rows` (µs), if any.
pub fn earliest_start(rows: &[RunRow]) -> Option<i64> {
    rows.iter()
        .filter(|row| !row.delta)
        .map(|row| row.start_us)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(series: &str, start: i64, bucket: Option<i64>, value: f64) -> RunRow {
        RunRow {
            metric: "orders".into(),
            bucket,
            series_id: series.into(),
            start_us: start,
            layout: String::new(),
            kind: MetricKind::Counter,
            delta: false,
            points: 1,
            last_value: value,
            last_sum: 0.0,
            last_buckets: Vec::new(),
            delta_value: 0.0,
            delta_sum: 0.0,
            delta_buckets: Vec::new(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    #[test]
    fn a_cumulative_counter_with_a_restart_adds_both_runs() {
        // Run 1 reached 30 (10 of it before the window), run 2 (a restart) reached 20.
        let rows = [counter("s", 1, None, 30.0), counter("s", 2, None, 20.0)];
        let before = [counter("s", 1, None, 10.0)];
        let stats = &window_stats(&rows, &before, 60.0)["orders"];
        assert_eq!(stats.increase, Some(40.0));
        assert_eq!(stats.rate_per_second, Some(40.0 / 60.0));
        assert_eq!(stats.stats.count, 2);
    }

    #[test]
    fn buckets_subtract_the_run_state_of_the_bucket_before() {
        let rows = [
            counter("s", 1, Some(0), 5.0),
            counter("s", 1, Some(60), 12.0),
            counter("s", 2, Some(120), 3.0),
            counter("s", 1, Some(180), 12.0),
        ];
        let stats = bucket_stats(&rows, &[], 60.0);
        let increases: Vec<f64> = stats.values().map(|s| s.increase.unwrap()).collect();
        assert_eq!(increases, vec![5.0, 7.0, 3.0, 0.0]);
    }

    #[test]
    fn delta_counters_add_up() {
        let mut row = counter("s", 0, None, 0.0);
        row.delta = true;
        row.delta_value = 7.0;
        row.points = 3;
        let stats = &window_stats(&[row.clone(), row], &[], 10.0)["orders"];
        assert_eq!(stats.increase, Some(14.0));
        assert_eq!(stats.stats.count, 6);
    }

    #[test]
    fn cumulative_histograms_read_their_increase_in_buckets() {
        let histogram = |value: f64, sum: f64, buckets: Vec<(i64, u64)>| RunRow {
            kind: MetricKind::Histogram,
            layout: Layout::Explicit(vec![10.0, 100.0]).key(),
            last_sum: sum,
            last_buckets: buckets,
            ..counter("h", 1, None, value)
        };
        let before = [histogram(2.0, 10.0, vec![(0, 2)])];
        let rows = [histogram(6.0, 250.0, vec![(0, 2), (1, 3), (2, 1)])];
        let stats = &window_stats(&rows, &before, 60.0)["orders"];
        assert_eq!((stats.stats.count, stats.stats.sum), (4, 240.0));
        // 3 of the 4 new observations are in (10, 100]: p50 is in that bucket.
        assert!(stats.stats.p50 > 10.0 && stats.stats.p50 <= 100.0);
        assert_eq!(stats.increase, None);
    }

    #[test]
    fn the_latest_kind_describes_a_metric() {
        let info = |kind: MetricKind, last_seen: i64| MetricKindInfo {
            name: "m".into(),
            kind,
            delta: false,
            unit: "ms".into(),
            last_seen,
        };
        let described = describe(&[info(MetricKind::Histogram, 20), info(MetricKind::Gauge, 10)]);
        assert_eq!(described["m"].kind(), MetricKind::Histogram);
        assert_eq!(described["m"].temporality.as_deref(), Some("cumulative"));
        assert_eq!(described["m"].unit.as_deref(), Some("ms"));
    }
}
