//! A mergeable quantile sketch with a relative-error guarantee (the DDSketch idea): values
//! fall into logarithmic buckets, so any quantile is within 1 % of the true value, two
//! sketches merge by adding counts, and the size grows with the value range, not the
//! number of values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Relative accuracy of quantiles.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Values closer to zero than this count as zero.
const MIN_MAGNITUDE: f64 = 1e-9;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

fn bucket_of(magnitude: f64) -> i32 {
    (magnitude.ln() / gamma().ln()).ceil() as i32
}

fn representative(bucket: i32) -> f64 {
    2.0 * gamma().powi(bucket) / (gamma() + 1.0)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    positive: BTreeMap<i32, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    negative: BTreeMap<i32, u64>,
    #[serde(default)]
    zeros: u64,
}

impl Sketch {
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if value > MIN_MAGNITUDE {
            *self.positive.entry(bucket_of(value)).or_default() += 1;
        } else if value < -MIN_MAGNITUDE {
            *self.negative.entry(bucket_of(-value)).or_default() += 1;
        } else {
            self.zeros += 1;
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (bucket, count) in &other.positive {
            *self.positive.entry(*bucket).or_default() += count;
        }
        for (bucket, count) in &other.negative {
            *self.negative.entry(*bucket).or_default() += count;
        }
        self.zeros += other.zeros;
    }

    pub fn count(&self) -> u64 {
        self.positive.values().sum::<u64>() + self.negative.values().sum::<u64>() + self.zeros
    }

    /// The `quantile` (0..=1) of the values added, or `None` without values.
    pub fn quantile(&self, quantile: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = (quantile.clamp(0.0, 1.0) * (count - 1) as f64).round() as u64;
        let mut seen = 0u64;
        for (bucket, bucket_count) in self.negative.iter().rev() {
            seen += bucket_count;
            if seen > rank {
                return Some(-representative(*bucket));
            }
        }
        seen += self.zeros;
        if seen > rank {
            return Some(0.0);
        }
        for (bucket, bucket_count) in &self.positive {
            seen += bucket_count;
            if seen > rank {
                return Some(representative(*bucket));
            }
        }
        self.positive
            .keys()
            .next_back()
            .map(|bucket| representative(*bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], quantile: f64) -> f64 {
        let rank = (quantile * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank]
    }

    #[test]
    fn quantiles_are_within_the_relative_accuracy() {
        let values: Vec<f64> = (1..=10_000).map(|i| (i as f64).powf(1.7) / 13.0).collect();
        let mut sketch = Sketch::default();
        values.iter().for_each(|value| sketch.add(*value));
        for quantile in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let expected = exact(&values, quantile);
            let actual = sketch.quantile(quantile).unwrap();
            assert!(
                (actual - expected).abs() <= expected * RELATIVE_ACCURACY * 1.01,
                "q{quantile}: {actual} vs {expected}"
            );
        }
    }

    #[test]
    fn negative_values_and_zeros_keep_their_order() {
        let mut sketch = Sketch::default();
        for value in [-50.0, -1.0, 0.0, 0.0, 3.0, 40.0] {
            sketch.add(value);
        }
        assert!(sketch.quantile(0.0).unwrap() < -49.0);
        assert_eq!(sketch.quantile(0.5).unwrap(), 0.0);
        assert!(sketch.quantile(1.0).unwrap() > 39.0);
    }

    #[test]
    fn merged_sketches_equal_one_sketch_of_everything() {
        let (mut left, mut right, mut both) =
            (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..500 {
            let value = f64::from(i) * 1.3;
            if i % 2 == 0 {
                left.add(value)
            } else {
                right.add(value)
            }
            both.add(value);
        }
        left.merge(&right);
        assert_eq!(left, both);
        assert_eq!(Sketch::default().quantile(0.5), None);
    }
}
