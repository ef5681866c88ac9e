//! The recent samples of one rule and series, in slices of a sixtieth of the rule's window:
//! enough to compute count, sum, min, max, average and quantiles over the window in bounded
//! space (at most 61 slices, however many samples), with the oldest slice possibly reaching
//! up to one slice (1.7 % of the window) beyond it.

use std::collections::BTreeMap;

use crate::alert_rule::{Aggregation, Seconds};
use crate::metric::{MergedHistogram, MetricKind, RunState};
use serde::{Deserialize, Serialize};

use super::sketch::Sketch;

/// Slices per window.
const SLICES: i64 = 60;

/// The slice width for a window of `length`: a sixtieth of it, at least a second.
pub fn slice_width(length: Seconds) -> i64 {
    (length.as_micros() / SLICES).max(1_000_000)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Bucket {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    sketch: Sketch,
    /// Counters and histograms: the cumulative runs seen in the slice, by run key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    runs: BTreeMap<String, RunSpan>,
    /// Delta counters: their increments; delta histograms: their observations.
    #[serde(default, skip_serializing_if = "is_zero")]
    delta: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observations: Option<MergedHistogram>,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

/// A cumulative run's earliest and latest state within one slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunSpan {
    start_us: i64,
    first: RunState,
    last: RunState,
}

/// A counter's or histogram's data point, as a window takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    pub kind: MetricKind,
    /// A cumulative point's run (series and start time) and start (µs); `None` for delta
    /// points, which add up.
    pub run: Option<(String, i64)>,
    /// The point's value (a counter) or count, sum and buckets (a histogram).
    pub state: RunState,
    /// The minimum and maximum a delta histogram point reported.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Slices keyed by their start (µs since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesWindow {
    /// What the samples were selected for (the rule's metric, filters and window); a window
    /// whose basis differs from its rule's current one is stale.
    basis: String,
    width_us: i64,
    buckets: BTreeMap<i64, Bucket>,
    /// The kind of the points last added (gauge when only samples were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<MetricKind>,
    /// The latest state of each run in slices already evicted: what its increase in the
    /// window is counted from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    floors: BTreeMap<String, RunState>,
}

impl SeriesWindow {
    pub fn new(basis: String, width_us: i64) -> Self {
        Self {
            basis,
            width_us: width_us.max(1),
            buckets: BTreeMap::new(),
            kind: None,
            floors: BTreeMap::new(),
        }
    }

    pub fn basis(&self) -> &str {
        &self.basis
    }

    fn slice_of(&self, micros: i64) -> i64 {
        micros.div_euclid(self.width_us) * self.width_us
    }

    fn bucket_mut(&mut self, at_us: i64) -> &mut Bucket {
        self.buckets
            .entry(self.slice_of(at_us))
            .or_insert_with(|| Bucket {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Bucket::default()
            })
    }

    /// A sampled value (a gauge's, or a counter's point read as a sample).
    pub fn add(&mut self, at_us: i64, value: f64) {
        let bucket = self.bucket_mut(at_us);
        bucket.count += 1;
        bucket.sum = finite_sum(bucket.sum, value);
        bucket.min = bucket.min.min(value);
        bucket.max = bucket.max.max(value);
        bucket.sketch.add(value);
    }

    /// A counter's or histogram's point. A counter's value is also added as a sample.
    pub fn add_point(&mut self, at_us: i64, point: RunPoint) {
        self.kind = Some(point.kind);
        if point.kind == MetricKind::Counter {
            self.add(at_us, point.state.value);
        }
        let bucket = self.bucket_mut(at_us);
        match point.run {
            Some((key, start_us)) => {
                let state = point.state;
                let span = bucket.runs.entry(key).or_insert_with(|| RunSpan {
                    start_us,
                    first: state.clone(),
                    last: state.clone(),
                });
                if state.value < span.first.value {
                    span.first = state;
                } else if state.value > span.last.value {
                    span.last = state;
                }
            }
            None => {
                bucket.delta = finite_sum(bucket.delta, point.state.value);
                if point.kind == MetricKind::Histogram {
                    let observations = bucket.observations.get_or_insert_with(Default::default);
                    observations.add_increase(&point.state.increase_since(None));
                    if let Some(min) = point.min {
                        observations.observe_min(min);
                    }
                    if let Some(max) = point.max {
                        observations.observe_max(max);
                    }
                }
            }
        }
    }

    /// Drops slices that end before `before_us`; whether there were any. The runs they
    /// held keep their latest state as the floor their increase counts from, for as long as
    /// a slice still holds them.
    pub fn evict(&mut self, before_us: i64) -> bool {
        let slices = self.buckets.len();
        let kept = self.buckets.split_off(&self.slice_of(before_us));
        let evicted = std::mem::replace(&mut self.buckets, kept);
        for (key, span) in evicted.into_values().flat_map(|bucket| bucket.runs) {
            let floor = self.floors.entry(key).or_insert_with(|| span.last.clone());
            if span.last.value > floor.value {
                *floor = span.last;
            }
        }
        let buckets = &self.buckets;
        self.floors
            .retain(|key, _| buckets.values().any(|bucket| bucket.runs.contains_key(key)));
        self.buckets.len() != slices
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Samples in the slices overlapping `[from_us, to_us]`.
    pub fn count(&self, from_us: i64, to_us: i64) -> u64 {
        self.in_range(from_us, to_us)
            .map(|bucket| bucket.count)
            .sum()
    }

    fn in_range(&self, from_us: i64, to_us: i64) -> impl Iterator<Item = &Bucket> {
        self.buckets
            .range(self.slice_of(from_us)..=self.slice_of(to_us))
            .map(|(_, bucket)| bucket)
    }

    /// What the counter or histogram runs added in the slices overlapping
    /// `[from_us, to_us]`: each cumulative run's latest state there minus its latest state
    /// before (in an evicted or earlier slice); a run that started within the range counts
    /// from zero; one whose earlier state the window never saw (it started before the rule
    /// watched) counts from its first state in the range. Delta points add up.
    fn runs_added(&self, from_us: i64, to_us: i64) -> (f64, MergedHistogram) {
        let first_slice = self.slice_of(from_us);
        let mut before: BTreeMap<&str, &RunState> = self
            .floors
            .iter()
            .map(|(key, state)| (key.as_str(), state))
            .collect();
        for bucket in self.buckets.range(..first_slice).map(|(_, bucket)| bucket) {
            for (key, span) in &bucket.runs {
                let known = before.entry(key).or_insert(&span.last);
                if span.last.value > known.value {
                    *known = &span.last;
                }
            }
        }
        let mut within: BTreeMap<&str, (i64, &RunState, &RunState)> = BTreeMap::new();
        let mut increase = 0.0;
        let mut observations = MergedHistogram::default();
        for bucket in self.in_range(from_us, to_us) {
            increase = finite_sum(increase, bucket.delta);
            if let Some(delta) = &bucket.observations {
                observations.merge(delta);
            }
            for (key, span) in &bucket.runs {
                let entry = within
                    .entry(key)
                    .or_insert((span.start_us, &span.first, &span.last));
                if span.first.value < entry.1.value {
                    entry.1 = &span.first;
                }
                if span.last.value > entry.2.value {
                    entry.2 = &span.last;
                }
            }
        }
        for (key, (start_us, first, last)) in within {
            let baseline = match before.get(key) {
                Some(state) => Some(*state),
                None if start_us >= from_us => None,
                None => Some(first),
            };
            let added = last.increase_since(baseline);
            increase = finite_sum(increase, added.value);
            observations.add_increase(&added);
        }
        (increase, observations)
    }

    /// `aggregation` of the window over the slices overlapping `[from_us, to_us]`; `None`
    /// when there is nothing to aggregate (`count` is then 0). `rate` and `increase` need a
    /// counter's (or histogram's) points; a histogram is aggregated by its observations.
    pub fn aggregate(&self, aggregation: Aggregation, from_us: i64, to_us: i64) -> Option<f64> {
        if matches!(aggregation, Aggregation::Rate | Aggregation::Increase) {
            self.kind.filter(|kind| kind.has_runs())?;
            let (increase, _) = self.runs_added(from_us, to_us);
            return Some(match aggregation {
                Aggregation::Rate => increase / ((to_us - from_us + 1) as f64 / 1e6),
                _ => increase,
            });
        }
        if self.kind == Some(MetricKind::Histogram) {
            let (_, observations) = self.runs_added(from_us, to_us);
            return histogram_aggregate(aggregation, &observations);
        }
        let buckets: Vec<&Bucket> = self.in_range(from_us, to_us).collect();
        let count: u64 = buckets.iter().map(|bucket| bucket.count).sum();
        if aggregation == Aggregation::Count {
            return Some(count as f64);
        }
        if count == 0 {
            return None;
        }
        let sum = buckets
            .iter()
            .fold(0.0, |sum, bucket| finite_sum(sum, bucket.sum));
        Some(match aggregation {
            Aggregation::Count => count as f64,
            Aggregation::Sum => sum,
            Aggregation::Avg => sum / count as f64,
            Aggregation::Min => buckets.iter().map(|b| b.min).fold(f64::INFINITY, f64::min),
            Aggregation::Max => buckets
                .iter()
                .map(|b| b.max)
                .fold(f64::NEG_INFINITY, f64::max),
            Aggregation::P50 | Aggregation::P90 | Aggregation::P95 | Aggregation::P99 => {
                let mut merged = Sketch::default();
                buckets
                    .iter()
                    .for_each(|bucket| merged.merge(&bucket.sketch));
                merged.quantile(aggregation.quantile()?)?
            }
            Aggregation::Rate | Aggregation::Increase => return None,
        })
    }
}

/// `aggregation` of a histogram's observations.
fn histogram_aggregate(aggregation: Aggregation, observations: &MergedHistogram) -> Option<f64> {
    let count = observations.count;
    if aggregation == Aggregation::Count {
        return Some(count);
    }
    if count <= 0.0 {
        return None;
    }
    let value = match aggregation {
        Aggregation::Sum => observations.sum,
        Aggregation::Avg => observations.sum / count,
        Aggregation::Min => observations.min?,
        Aggregation::Max => observations.max?,
        _ => observations.quantile(aggregation.quantile()?),
    };
    value.is_finite().then_some(value)
}

/// `a + b`, held within the finite range: each sample is finite, but a sum of huge ones
/// could reach infinity, which JSON cannot hold (a stored window would not read back) and a
/// notification would show as `null`. Such a sum saturates at ±`f64::MAX` instead.
fn finite_sum(a: f64, b: f64) -> f64 {
    (a + b).clamp(-f64::MAX, f64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000_000;
    const SECOND: i64 = 1_000_000;

    fn one_minute() -> SeriesWindow {
        SeriesWindow::new("b".into(), slice_width(Seconds(60)))
    }

    #[test]
    fn aggregates_cover_the_slices_of_the_window() {
        let mut window = one_minute();
        window.add(NOW - 3 * 60 * SECOND, 1000.0);
        for value in [10.0, 20.0, 30.0] {
            window.add(NOW, value);
        }
        let last_minute = |aggregation| window.aggregate(aggregation, NOW - 60 * SECOND, NOW);
        assert_eq!(last_minute(Aggregation::Count), Some(3.0));
        assert_eq!(last_minute(Aggregation::Avg), Some(20.0));
        assert_eq!(last_minute(Aggregation::Max), Some(30.0));
        assert_eq!(
            window.aggregate(Aggregation::Max, NOW - 5 * 60 * SECOND, NOW),
            Some(1000.0)
        );
        assert_eq!(
            window.aggregate(
                Aggregation::Avg,
                NOW - 20 * 60 * SECOND,
                NOW - 10 * 60 * SECOND
            ),
            None
        );
        assert_eq!(
            window.aggregate(
                Aggregation::Count,
                NOW - 20 * 60 * SECOND,
                NOW - 10 * 60 * SECOND
            ),
            Some(0.0)
        );
    }

    #[test]
    fn a_window_reaches_at_most_one_slice_beyond_its_length() {
        let mut window = one_minute();
        window.add(NOW - 62 * SECOND, 1.0);
        window.add(NOW - 61 * SECOND, 1.0);
        window.add(NOW - 30 * SECOND, 1.0);
        // From NOW - 60 s: the slice holding NOW - 61 s may be included, not older ones.
        let counted = window.count(NOW - 60 * SECOND + 1, NOW);
        assert!((1..=2).contains(&counted), "{counted}");
        assert_eq!(slice_width(Seconds(86_400)), 1_440 * SECOND);
        assert_eq!(slice_width(Seconds(30)), SECOND);
    }

    #[test]
    fn eviction_drops_old_slices() {
        let mut window = one_minute();
        window.add(NOW - 10 * 60 * SECOND, 1.0);
        window.add(NOW, 2.0);
        window.evict(NOW - 5 * 60 * SECOND);
        assert_eq!(window.count(NOW - 20 * 60 * SECOND, NOW), 1);
        window.evict(NOW + SECOND);
        assert!(window.is_empty());
    }

    fn counter_point(run: Option<(&str, i64)>, value: f64) -> RunPoint {
        RunPoint {
            kind: MetricKind::Counter,
            run: run.map(|(key, start)| (key.to_string(), start)),
            state: RunState {
                value,
                sum: 0.0,
                layout: None,
                buckets: Vec::new(),
            },
            min: None,
            max: None,
        }
    }

    #[test]
    fn a_cumulative_counter_increases_by_what_it_grew_within_the_window() {
        let mut window = one_minute();
        let since = NOW - 10 * 60 * SECOND;
        // A run that started before the window: 100 before it, 130 at its end.
        window.add_point(
            NOW - 3 * 60 * SECOND,
            counter_point(Some(("a", since)), 100.0),
        );
        window.add_point(NOW - 30 * SECOND, counter_point(Some(("a", since)), 110.0));
        window.add_point(NOW - 10 * SECOND, counter_point(Some(("a", since)), 130.0));
        // The producer restarted 5 s ago: a new run counts from zero.
        let restarted = NOW - 5 * SECOND;
        window.add_point(NOW, counter_point(Some(("b", restarted)), 4.0));
        let last_minute = |window: &SeriesWindow, aggregation| {
            window.aggregate(aggregation, NOW - 60 * SECOND + 1, NOW)
        };
        assert_eq!(last_minute(&window, Aggregation::Increase), Some(34.0));
        assert_eq!(last_minute(&window, Aggregation::Rate), Some(34.0 / 60.0));
        // Evicting the slice before the window keeps its state as the run's floor.
        window.evict(NOW - 2 * 60 * SECOND);
        assert_eq!(last_minute(&window, Aggregation::Increase), Some(34.0));
        let json = serde_json::to_string(&window).unwrap();
        let back: SeriesWindow = serde_json::from_str(&json).unwrap();
        assert_eq!(last_minute(&back, Aggregation::Increase), Some(34.0));
        // Samples have no rate.
        assert_eq!(last_minute(&one_minute(), Aggregation::Rate), None);
    }

    #[test]
    fn a_run_first_seen_within_the_window_counts_from_its_first_point_there() {
        // The rule started watching after the run did: what it grew by before is unknown.
        let mut window = one_minute();
        let since = NOW - 3_600 * SECOND;
        window.add_point(NOW - 40 * SECOND, counter_point(Some(("a", since)), 500.0));
        window.add_point(NOW, counter_point(Some(("a", since)), 520.0));
        let mut delta = counter_point(None, 3.0);
        delta.kind = MetricKind::Counter;
        window.add_point(NOW, delta);
        let increase = window.aggregate(Aggregation::Increase, NOW - 60 * SECOND + 1, NOW);
        assert_eq!(increase, Some(23.0));
    }

    #[test]
    fn histograms_are_aggregated_by_their_observations() {
        use crate::metric::Layout;
        let mut window = one_minute();
        let layout = Some(Layout::Explicit(vec![100.0, 300.0, 1000.0]));
        let state = |value: f64, sum: f64, buckets: Vec<(i64, u64)>| RunState {
            value,
            sum,
            layout: layout.clone(),
            buckets,
        };
        let since = NOW - 10 * 60 * SECOND;
        let point = |state: RunState| RunPoint {
            kind: MetricKind::Histogram,
            run: Some(("h".into(), since)),
            state,
            min: None,
            max: None,
        };
        window.add_point(
            NOW - 2 * 60 * SECOND,
            point(state(10.0, 500.0, vec![(0, 10)])),
        );
        // 10 new observations in the last minute, 9 of them in (300, 1000].
        let now = state(20.0, 7_600.0, vec![(0, 10), (1, 1), (2, 9)]);
        window.add_point(NOW, point(now));
        let last_minute = |aggregation| window.aggregate(aggregation, NOW - 60 * SECOND + 1, NOW);
        assert_eq!(last_minute(Aggregation::Count), Some(10.0));
        assert_eq!(last_minute(Aggregation::Avg), Some(710.0));
        let p95 = last_minute(Aggregation::P95).unwrap();
        assert!(p95 > 300.0 && p95 <= 1000.0, "{p95}");
        assert_eq!(last_minute(Aggregation::Max), None, "not reported");
    }

    #[test]
    fn windows_survive_serialization() {
        let mut window = one_minute();
        window.add(NOW, 12.5);
        let json = serde_json::to_string(&window).unwrap();
        let back: SeriesWindow = serde_json::from_str(&json).unwrap();
        assert_eq!(back, window);
        assert_eq!(back.basis(), "b");
    }

    #[test]
    fn sums_of_huge_samples_stay_finite_and_the_window_reads_back() {
        let mut window = one_minute();
        window.add(NOW, f64::MAX);
        window.add(NOW, f64::MAX);
        window.add(NOW - 2 * SECOND, f64::MAX);
        let sum = window.aggregate(Aggregation::Sum, NOW - 60 * SECOND, NOW);
        assert_eq!(sum, Some(f64::MAX));
        let avg = window
            .aggregate(Aggregation::Avg, NOW - 60 * SECOND, NOW)
            .unwrap();
        assert!(avg.is_finite() && avg > 0.0, "{avg}");
        window.add(NOW, -f64::MAX);
        let json = serde_json::to_string(&window).unwrap();
        let back: SeriesWindow = serde_json::from_str(&json).unwrap();
        assert_eq!(back, window);
    }
}
