//! The recent samples of one rule and series, in slices of a sixtieth of the rule's window:
//! enough to compute count, sum, min, max, average and quantiles over the window in bounded
//! space (at most 61 slices, however many samples), with the oldest slice possibly reaching
//! up to one slice (1.7 % of the window) beyond it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telemetry_domain::alert_rule::{Aggregation, Seconds};

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
}

/// Slices keyed by their start (µs since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesWindow {
    /// What the samples were selected for (the rule's metric, filters and window); a window
    /// whose basis differs from its rule's current one is stale.
    basis: String,
    width_us: i64,
    buckets: BTreeMap<i64, Bucket>,
}

impl SeriesWindow {
    pub fn new(basis: String, width_us: i64) -> Self {
        Self {
            basis,
            width_us: width_us.max(1),
            buckets: BTreeMap::new(),
        }
    }

    pub fn basis(&self) -> &str {
        &self.basis
    }

    fn slice_of(&self, micros: i64) -> i64 {
        micros.div_euclid(self.width_us) * self.width_us
    }

    pub fn add(&mut self, at_us: i64, value: f64) {
        let bucket = self.buckets.entry(self.slice_of(at_us)).or_insert(Bucket {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: Sketch::default(),
        });
        bucket.count += 1;
        bucket.sum = finite_sum(bucket.sum, value);
        bucket.min = bucket.min.min(value);
        bucket.max = bucket.max.max(value);
        bucket.sketch.add(value);
    }

    /// Drops slices that end before `before_us`; whether there were any.
    pub fn evict(&mut self, before_us: i64) -> bool {
        let slices = self.buckets.len();
        self.buckets = self.buckets.split_off(&self.slice_of(before_us));
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

    /// `aggregation` of the samples in the slices overlapping `[from_us, to_us]`; `None`
    /// when there are none (except for `count`, which is then 0).
    pub fn aggregate(&self, aggregation: Aggregation, from_us: i64, to_us: i64) -> Option<f64> {
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
            Aggregation::P95 | Aggregation::P99 => {
                let mut merged = Sketch::default();
                buckets
                    .iter()
                    .for_each(|bucket| merged.merge(&bucket.sketch));
                let quantile = if aggregation == Aggregation::P95 {
                    0.95
                } else {
                    0.99
                };
                merged.quantile(quantile)?
            }
        })
    }
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
