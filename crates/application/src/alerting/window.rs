//! The recent samples of one rule and series, in minute buckets: enough to compute count,
//! sum, min, max, average and quantiles over any window of whole minutes, in bounded space.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telemetry_domain::alert_rule::Aggregation;

use super::sketch::Sketch;

const MINUTE_US: i64 = 60_000_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Bucket {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    sketch: Sketch,
}

/// Minute buckets keyed by their start (µs since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesWindow {
    buckets: BTreeMap<i64, Bucket>,
}

fn minute_of(micros: i64) -> i64 {
    micros.div_euclid(MINUTE_US) * MINUTE_US
}

impl SeriesWindow {
    pub fn add(&mut self, at_us: i64, value: f64) {
        let bucket = self.buckets.entry(minute_of(at_us)).or_insert(Bucket {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: Sketch::default(),
        });
        bucket.count += 1;
        bucket.sum += value;
        bucket.min = bucket.min.min(value);
        bucket.max = bucket.max.max(value);
        bucket.sketch.add(value);
    }

    /// Drops buckets that end before `before_us`.
    pub fn evict(&mut self, before_us: i64) {
        self.buckets = self.buckets.split_off(&minute_of(before_us));
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Samples in the minutes overlapping `[from_us, to_us]`.
    pub fn count(&self, from_us: i64, to_us: i64) -> u64 {
        self.in_range(from_us, to_us)
            .map(|bucket| bucket.count)
            .sum()
    }

    fn in_range(&self, from_us: i64, to_us: i64) -> impl Iterator<Item = &Bucket> {
        self.buckets
            .range(minute_of(from_us)..=minute_of(to_us))
            .map(|(_, bucket)| bucket)
    }

    /// `aggregation` of the samples in the minutes overlapping `[from_us, to_us]`; `None`
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
        let sum: f64 = buckets.iter().map(|bucket| bucket.sum).sum();
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000_000;

    #[test]
    fn aggregates_cover_the_minutes_of_the_window() {
        let mut window = SeriesWindow::default();
        window.add(NOW - 3 * MINUTE_US, 1000.0);
        for value in [10.0, 20.0, 30.0] {
            window.add(NOW, value);
        }
        let last_minute = |aggregation| window.aggregate(aggregation, NOW - 30_000_000, NOW);
        assert_eq!(last_minute(Aggregation::Count), Some(3.0));
        assert_eq!(last_minute(Aggregation::Avg), Some(20.0));
        assert_eq!(last_minute(Aggregation::Max), Some(30.0));
        assert_eq!(
            window.aggregate(Aggregation::Max, NOW - 5 * MINUTE_US, NOW),
            Some(1000.0)
        );
        assert_eq!(
            window.aggregate(Aggregation::Avg, NOW - 20 * MINUTE_US, NOW - 10 * MINUTE_US),
            None
        );
        assert_eq!(
            window.aggregate(
                Aggregation::Count,
                NOW - 20 * MINUTE_US,
                NOW - 10 * MINUTE_US
            ),
            Some(0.0)
        );
    }

    #[test]
    fn eviction_drops_old_minutes() {
        let mut window = SeriesWindow::default();
        window.add(NOW - 10 * MINUTE_US, 1.0);
        window.add(NOW, 2.0);
        window.evict(NOW - 5 * MINUTE_US);
        assert_eq!(window.count(NOW - 20 * MINUTE_US, NOW), 1);
    }

    #[test]
    fn windows_survive_serialization() {
        let mut window = SeriesWindow::default();
        window.add(NOW, 12.5);
        let json = serde_json::to_string(&window).unwrap();
        let back: SeriesWindow = serde_json::from_str(&json).unwrap();
        assert_eq!(back, window);
    }
}
