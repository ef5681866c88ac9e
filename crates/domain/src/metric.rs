//! What a metric event's producer meant: its kind, temporality and run, and for histograms
//! the buckets; and the arithmetic the reads need from them (a run's increase between two of
//! its states, percentiles estimated from merged buckets).
//!
//! - **Gauges** (and events that declare no kind) are samples: count, average, minimum,
//!   maximum and percentiles of the values.
//! - **Counters** (monotonic sums) are read as their increase and rate. A cumulative point
//!   carries the total since its start time; points with the same start time form a *run*,
//!   whose value only grows, so the latest state of a run is its largest. A new start time
//!   is a reset: the new run's first value counts in full, as the increase since the reset.
//!   Delta points carry increments and add up.
//! - **Up-down counters** (sums that are not monotonic) read like gauges.
//! - **Histograms** carry a count, a sum and bucket counts (explicit bounds, or an
//!   exponential scale); cumulative ones are turned into increases run by run, like
//!   counters, and percentiles are estimated from the merged buckets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::values::Timestamp;

/// How a metric's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MetricKind {
    Gauge,
    Counter,
    UpDownCounter,
    Histogram,
}

impl MetricKind {
    pub const ALL: [Self; 4] = [
        Self::Gauge,
        Self::Counter,
        Self::UpDownCounter,
        Self::Histogram,
    ];

    /// The name on the wire and in the analytics store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Counter => "counter",
            Self::UpDownCounter => "upDownCounter",
            Self::Histogram => "histogram",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether the reads compute increases (counters) or bucket statistics (histograms)
    /// rather than statistics of the sampled values.
    pub fn has_runs(self) -> bool {
        matches!(self, Self::Counter | Self::Histogram)
    }
}

/// Whether a point carries the total since its start time or the change since the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Temporality {
    Cumulative,
    Delta,
}

impl Temporality {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cumulative => "cumulative",
            Self::Delta => "delta",
        }
    }
}

/// Key of an exponential histogram's zero bucket.
pub const ZERO_BUCKET: i64 = 1 << 40;
/// Keys of an exponential histogram's negative buckets are their index plus this.
pub const NEGATIVE_BUCKETS: i64 = -(1 << 40);

/// How a histogram's bucket keys map to value ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Layout {
    /// Key `i` is the bucket `(bounds[i-1], bounds[i]]`; key 0 starts at -∞ and key
    /// `bounds.len()` ends at +∞.
    Explicit(Vec<f64>),
    /// Key `i` is `(base^i, base^(i+1)]` with `base = 2^(2^-scale)`; negative buckets
    /// (`NEGATIVE_BUCKETS + i`) mirror them below zero; `ZERO_BUCKET` holds zeros.
    Exponential { scale: i32 },
}

impl Layout {
    /// The text the analytics store keys runs by.
    pub fn key(&self) -> String {
        match self {
            Self::Explicit(bounds) => {
                let bounds: Vec<String> = bounds.iter().map(|bound| format!("{bound:?}")).collect();
                format!("explicit:{}", bounds.join(","))
            }
            Self::Exponential { scale } => format!("exponential:{scale}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        if let Some(scale) = key.strip_prefix("exponential:") {
            return scale.parse().ok().map(|scale| Self::Exponential { scale });
        }
        let bounds = key.strip_prefix("explicit:")?;
        if bounds.is_empty() {
            return Some(Self::Explicit(Vec::new()));
        }
        bounds
            .split(',')
            .map(|bound| bound.parse::<f64>().ok())
            .collect::<Option<Vec<f64>>>()
            .map(Self::Explicit)
    }

    /// The value range of bucket `key`: `(lower, upper)`, either possibly infinite.
    pub fn range(&self, key: i64) -> (f64, f64) {
        match self {
            Self::Explicit(bounds) => {
                let index = usize::try_from(key).unwrap_or(0);
                let lower = index
                    .checked_sub(1)
                    .and_then(|i| bounds.get(i))
                    .copied()
                    .unwrap_or(f64::NEG_INFINITY);
                let upper = bounds.get(index).copied().unwrap_or(f64::INFINITY);
                (lower, upper)
            }
            Self::Exponential { scale } => {
                let power = |index: i64| (index as f64 / 2f64.powi(*scale)).exp2();
                if key == ZERO_BUCKET {
                    (0.0, 0.0)
                } else if key < NEGATIVE_BUCKETS / 2 {
                    let index = key - NEGATIVE_BUCKETS;
                    (-power(index + 1), -power(index))
                } else {
                    (power(key), power(key + 1))
                }
            }
        }
    }
}

/// Halves an exponential bucket's resolution `by` times.
pub fn downscale(key: i64, by: u32) -> i64 {
    if key == ZERO_BUCKET || by == 0 {
        key
    } else if key < NEGATIVE_BUCKETS / 2 {
        NEGATIVE_BUCKETS + ((key - NEGATIVE_BUCKETS) >> by)
    } else {
        key >> by
    }
}

/// A histogram data point.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub layout: Layout,
    /// Non-empty buckets, by key.
    pub buckets: Vec<(i64, u64)>,
}

/// The kind-specific part of a metric event.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricShape {
    pub kind: MetricKind,
    /// Counters and histograms only.
    pub temporality: Option<Temporality>,
    /// When the run of a cumulative point started (OTLP `startTimeUnixNano`).
    pub start: Option<Timestamp>,
    pub histogram: Option<HistogramPoint>,
}

/// A payload field that does not fit the kind the payload declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ShapeError {
    pub field: &'static str,
    pub message: String,
}

impl ShapeError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Declared {
    kind: Option<String>,
    temporality: Option<String>,
    monotonic: Option<bool>,
    start_time: Option<String>,
    count: Option<u64>,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    buckets: Option<DeclaredBuckets>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeclaredBuckets {
    bounds: Option<Vec<f64>>,
    counts: Option<Vec<u64>>,
    scale: Option<i32>,
    zero_count: Option<u64>,
    positive: Option<Side>,
    negative: Option<Side>,
}

#[derive(Deserialize)]
struct Side {
    offset: i32,
    counts: Vec<u64>,
}

/// The kinds a payload may declare, as the error message lists them.
const KINDS: &str = "gauge, counter, upDownCounter or histogram (or the OTLP names sum, \
                     exponentialHistogram and summary)";

impl MetricShape {
    /// Reads the kind a metric payload declares (a gauge when it declares none).
    pub fn from_payload(payload: &str) -> Result<Self, ShapeError> {
        let declared: Declared = serde_json::from_str(payload)
            .map_err(|error| ShapeError::new("payload", shape_message(&error.to_string())))?;
        let gauge = Self {
            kind: MetricKind::Gauge,
            temporality: None,
            start: None,
            histogram: None,
        };
        let Some(kind) = declared.kind.as_deref() else {
            return Ok(gauge);
        };
        let kind = match kind {
            "gauge" | "summary" => return Ok(gauge),
            "sum" if declared.monotonic == Some(true) => MetricKind::Counter,
            "sum" | "upDownCounter" => MetricKind::UpDownCounter,
            "counter" => MetricKind::Counter,
            // Points stored before histograms were one event each (`<name>.count`, ...)
            // carry no count of their own: they stay samples.
            "histogram" | "exponentialHistogram" if declared.count.is_none() => return Ok(gauge),
            "histogram" | "exponentialHistogram" => MetricKind::Histogram,
            other => {
                return Err(ShapeError::new(
                    "payload.kind",
                    format!("payload.kind {other:?} is not a metric kind: use {KINDS}"),
                ))
            }
        };
        let temporality = match declared.temporality.as_deref() {
            None | Some("delta") => Temporality::Delta,
            Some("cumulative") => Temporality::Cumulative,
            Some(other) => {
                return Err(ShapeError::new(
                    "payload.temporality",
                    format!("payload.temporality {other:?} must be cumulative or delta"),
                ))
            }
        };
        let start = declared
            .start_time
            .as_deref()
            .map(|text| {
                Timestamp::parse_rfc3339(text).map_err(|error| {
                    ShapeError::new("payload.startTime", format!("payload.startTime {error}"))
                })
            })
            .transpose()?;
        let histogram = match (kind, declared.count) {
            (MetricKind::Histogram, Some(count)) => Some(histogram(&declared, count)?),
            _ => None,
        };
        match kind {
            MetricKind::UpDownCounter => Ok(Self {
                kind,
                temporality: None,
                start: None,
                histogram: None,
            }),
            _ => Ok(Self {
                kind,
                temporality: Some(temporality),
                start,
                histogram,
            }),
        }
    }
}

fn shape_message(error: &str) -> String {
    format!("payload fields of the declared metric kind are malformed: {error}")
}

fn histogram(declared: &Declared, count: u64) -> Result<HistogramPoint, ShapeError> {
    for (field, value) in [
        ("payload.sum", declared.sum),
        ("payload.min", declared.min),
        ("payload.max", declared.max),
    ] {
        if value.is_some_and(|value| !value.is_finite()) {
            return Err(ShapeError::new(field, format!("{field} must be finite")));
        }
    }
    let (layout, buckets) = match &declared.buckets {
        None => (Layout::Explicit(Vec::new()), vec![(0, count)]),
        Some(buckets) if buckets.scale.is_some() => exponential(buckets)?,
        Some(buckets) => explicit(buckets)?,
    };
    let in_buckets: u64 = buckets.iter().map(|(_, count)| count).sum();
    if in_buckets != count {
        return Err(ShapeError::new(
            "payload.buckets",
            format!("the bucket counts add up to {in_buckets}, not to payload.count {count}"),
        ));
    }
    Ok(HistogramPoint {
        count,
        sum: declared.sum,
        min: declared.min,
        max: declared.max,
        layout,
        buckets,
    })
}

fn explicit(buckets: &DeclaredBuckets) -> Result<(Layout, Vec<(i64, u64)>), ShapeError> {
    let bounds = buckets.bounds.clone().unwrap_or_default();
    let counts = buckets.counts.clone().unwrap_or_default();
    let increasing = bounds.windows(2).all(|pair| pair[0] < pair[1]);
    if !increasing || bounds.iter().any(|bound| !bound.is_finite()) {
        return Err(ShapeError::new(
            "payload.buckets.bounds",
            "payload.buckets.bounds must be finite and strictly increasing",
        ));
    }
    if counts.len() != bounds.len() + 1 {
        return Err(ShapeError::new(
            "payload.buckets.counts",
            "payload.buckets.counts must have one more entry than payload.buckets.bounds",
        ));
    }
    let keyed = counts
        .into_iter()
        .enumerate()
        .filter(|(_, count)| *count > 0)
        .map(|(index, count)| (index as i64, count))
        .collect();
    Ok((Layout::Explicit(bounds), keyed))
}

fn exponential(buckets: &DeclaredBuckets) -> Result<(Layout, Vec<(i64, u64)>), ShapeError> {
    let scale = buckets.scale.unwrap_or_default();
    if !(-10..=20).contains(&scale) {
        return Err(ShapeError::new(
            "payload.buckets.scale",
            "payload.buckets.scale must lie between -10 and 20",
        ));
    }
    let mut keyed = BTreeMap::new();
    if let Some(zero) = buckets.zero_count.filter(|count| *count > 0) {
        keyed.insert(ZERO_BUCKET, zero);
    }
    for (side, base) in [
        (&buckets.positive, 0),
        (&buckets.negative, NEGATIVE_BUCKETS),
    ] {
        let Some(side) = side else { continue };
        for (index, count) in side.counts.iter().enumerate() {
            if *count > 0 {
                let key = base + i64::from(side.offset) + index as i64;
                *keyed.entry(key).or_default() += count;
            }
        }
    }
    Ok((Layout::Exponential { scale }, keyed.into_iter().collect()))
}

/// A run's state at some point: a counter's value, or a histogram's count, sum and buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The counter's value, or the histogram's count.
    pub value: f64,
    pub sum: f64,
    pub layout: Option<Layout>,
    pub buckets: Vec<(i64, u64)>,
}

/// What a run added between two of its states.
#[derive(Debug, Clone, PartialEq)]
pub struct Increase {
    pub value: f64,
    pub sum: f64,
    pub layout: Option<Layout>,
    pub buckets: Vec<(i64, u64)>,
}

impl RunState {
    /// What the run added since `before` (its state before the range; `None` when the run
    /// started within it, so everything it holds is new).
    pub fn increase_since(&self, before: Option<&RunState>) -> Increase {
        let whole = Increase {
            value: self.value,
            sum: self.sum,
            layout: self.layout.clone(),
            buckets: self.buckets.clone(),
        };
        let Some(before) = before else {
            return whole;
        };
        let nothing = Increase {
            value: 0.0,
            sum: 0.0,
            layout: self.layout.clone(),
            buckets: Vec::new(),
        };
        if self.value <= before.value {
            return nothing;
        }
        let (Some(layout), Some(before_layout)) = (&self.layout, &before.layout) else {
            // A counter.
            return Increase {
                value: self.value - before.value,
                ..nothing
            };
        };
        let (layout, now, then) = match (layout, before_layout) {
            (
                Layout::Exponential { scale: now_scale },
                Layout::Exponential { scale: then_scale },
            ) => {
                let scale = (*now_scale).min(*then_scale);
                let rescale = |buckets: &[(i64, u64)], from: i32| {
                    let by = u32::try_from(from - scale).unwrap_or(0);
                    let mut merged = BTreeMap::new();
                    for (key, count) in buckets {
                        *merged.entry(downscale(*key, by)).or_insert(0u64) += count;
                    }
                    merged
                };
                (
                    Layout::Exponential { scale },
                    rescale(&self.buckets, *now_scale),
                    rescale(&before.buckets, *then_scale),
                )
            }
            (now_layout, then_layout) if now_layout == then_layout => (
                now_layout.clone(),
                self.buckets.iter().copied().collect(),
                before.buckets.iter().copied().collect(),
            ),
            // Different bounds within one run: the producer changed its configuration,
            // which restarts the instrument; read it as a reset.
            _ => return whole,
        };
        let mut added = Vec::with_capacity(now.len());
        for (key, count) in &now {
            let earlier = then.get(key).copied().unwrap_or(0);
            if *count < earlier {
                return whole;
            }
            if *count > earlier {
                added.push((*key, count - earlier));
            }
        }
        if then.keys().any(|key| !now.contains_key(key)) {
            return whole;
        }
        Increase {
            value: self.value - before.value,
            sum: self.sum - before.sum,
            layout: Some(layout),
            buckets: added,
        }
    }
}

/// Bucket counts merged across runs and series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergedHistogram {
    pub count: f64,
    pub sum: f64,
    /// Smallest and largest observation, where the points reported them.
    pub min: Option<f64>,
    pub max: Option<f64>,
    explicit: Vec<(Vec<f64>, BTreeMap<i64, u64>)>,
    exponential: Option<(i32, BTreeMap<i64, u64>)>,
}

impl MergedHistogram {
    pub fn add(&mut self, layout: &Layout, buckets: &[(i64, u64)]) {
        match layout {
            Layout::Explicit(bounds) => {
                let position = self.explicit.iter().position(|(b, _)| b == bounds);
                let index = position.unwrap_or_else(|| {
                    self.explicit.push((bounds.clone(), BTreeMap::new()));
                    self.explicit.len() - 1
                });
                let counts = &mut self.explicit[index].1;
                for (key, count) in buckets {
                    *counts.entry(*key).or_default() += count;
                }
            }
            Layout::Exponential { scale } => {
                let (common, counts) = self
                    .exponential
                    .get_or_insert_with(|| (*scale, BTreeMap::new()));
                if *scale < *common {
                    let by = u32::try_from(*common - *scale).unwrap_or(0);
                    let mut coarser = BTreeMap::new();
                    for (key, count) in std::mem::take(counts) {
                        *coarser.entry(downscale(key, by)).or_insert(0u64) += count;
                    }
                    *counts = coarser;
                    *common = *scale;
                }
                let by = u32::try_from(*scale - *common).unwrap_or(0);
                for (key, count) in buckets {
                    *counts.entry(downscale(*key, by)).or_default() += count;
                }
            }
        }
    }

    /// Adds what `other` holds.
    pub fn merge(&mut self, other: &MergedHistogram) {
        self.count += other.count;
        self.sum += other.sum;
        if let Some(min) = other.min {
            self.observe_min(min);
        }
        if let Some(max) = other.max {
            self.observe_max(max);
        }
        for (bounds, counts) in &other.explicit {
            let buckets: Vec<(i64, u64)> = counts.iter().map(|(k, c)| (*k, *c)).collect();
            self.add(&Layout::Explicit(bounds.clone()), &buckets);
        }
        if let Some((scale, counts)) = &other.exponential {
            let buckets: Vec<(i64, u64)> = counts.iter().map(|(k, c)| (*k, *c)).collect();
            self.add(&Layout::Exponential { scale: *scale }, &buckets);
        }
    }

    /// Adds a run's increase: its count, sum and buckets.
    pub fn add_increase(&mut self, increase: &Increase) {
        self.count += increase.value;
        self.sum += increase.sum;
        if let Some(layout) = &increase.layout {
            self.add(layout, &increase.buckets);
        }
    }

    pub fn observe_min(&mut self, min: f64) {
        if min.is_finite() {
            self.min = Some(self.min.map_or(min, |known| known.min(min)));
        }
    }

    pub fn observe_max(&mut self, max: f64) {
        if max.is_finite() {
            self.max = Some(self.max.map_or(max, |known| known.max(max)));
        }
    }

    /// The `q` quantile (0 ≤ q ≤ 1) of the merged observations, interpolated linearly within
    /// the bucket that holds it, as Prometheus' `histogram_quantile` does: an open-ended
    /// lowest bucket starts at 0 (or at its bound, if that is negative), an open-ended
    /// highest one ends at its lower bound, each tightened by the observed minimum and
    /// maximum where the points reported them. With buckets of several layouts, their
    /// piecewise-linear distributions are added up. NaN without buckets.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut intervals: Vec<(f64, f64, f64)> = Vec::new();
        let mut push = |layout: &Layout, counts: &BTreeMap<i64, u64>| {
            for (key, count) in counts {
                let (lower, upper) = layout.range(*key);
                if let Some(interval) = self.interval(lower, upper) {
                    intervals.push((interval.0, interval.1, *count as f64));
                }
            }
        };
        for (bounds, counts) in &self.explicit {
            push(&Layout::Explicit(bounds.clone()), counts);
        }
        if let Some((scale, counts)) = &self.exponential {
            push(&Layout::Exponential { scale: *scale }, counts);
        }
        quantile_of(&intervals, q)
    }

    /// A bucket's range as used for interpolation, or `None` if it has no finite end.
    fn interval(&self, lower: f64, upper: f64) -> Option<(f64, f64)> {
        let (mut lower, mut upper) = (lower, upper);
        if lower == f64::NEG_INFINITY {
            lower = match self.min {
                Some(min) => min.min(upper),
                None if upper > 0.0 => 0.0,
                None => upper,
            };
        }
        if upper == f64::INFINITY {
            upper = match self.max {
                Some(max) => max.max(lower),
                None => lower,
            };
        }
        if let Some(min) = self.min {
            lower = lower.max(min).min(upper);
        }
        if let Some(max) = self.max {
            upper = upper.min(max).max(lower);
        }
        (lower.is_finite() && upper.is_finite()).then_some((lower, upper))
    }
}

/// The `q` quantile of observations spread evenly over each `(lower, upper, count)`.
fn quantile_of(intervals: &[(f64, f64, f64)], q: f64) -> f64 {
    let total: f64 = intervals.iter().map(|(_, _, count)| count).sum();
    if total <= 0.0 || !q.is_finite() {
        return f64::NAN;
    }
    let target = q.clamp(0.0, 1.0) * total;
    let mut points: Vec<f64> = intervals.iter().flat_map(|(l, u, _)| [*l, *u]).collect();
    points.sort_by(f64::total_cmp);
    points.dedup();
    // Observations at or below x (`left`: strictly below, for the jumps at x).
    let below = |x: f64, inclusive: bool| -> f64 {
        intervals
            .iter()
            .map(|(lower, upper, count)| {
                if lower == upper {
                    let included = if inclusive { *lower <= x } else { *lower < x };
                    if included {
                        *count
                    } else {
                        0.0
                    }
                } else if x <= *lower {
                    0.0
                } else if x >= *upper {
                    *count
                } else {
                    count * (x - lower) / (upper - lower)
                }
            })
            .sum()
    };
    let mut previous: Option<(f64, f64)> = None;
    for point in points {
        let at = below(point, true);
        if at >= target {
            let Some((start, start_count)) = previous else {
                return point;
            };
            let left = below(point, false);
            if target <= left && left > start_count {
                return start + (target - start_count) / (left - start_count) * (point - start);
            }
            return point;
        }
        previous = Some((point, at));
    }
    previous.map_or(f64::NAN, |(point, _)| point)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(payload: &str) -> Result<MetricShape, ShapeError> {
        MetricShape::from_payload(payload)
    }

    #[test]
    fn payloads_without_a_kind_are_gauges() {
        let gauge = shape(r#"{"name":"cpu","value":1}"#).unwrap();
        assert_eq!(gauge.kind, MetricKind::Gauge);
        assert_eq!(gauge.temporality, None);
        // Samples stored before histograms became one event each stay samples.
        let legacy = shape(r#"{"name":"d.count","value":3,"kind":"histogram"}"#).unwrap();
        assert_eq!(legacy.kind, MetricKind::Gauge);
    }

    #[test]
    fn sums_are_counters_when_monotonic_and_gauges_otherwise() {
        let counter = shape(
            r#"{"kind":"sum","monotonic":true,"temporality":"cumulative",
                "startTime":"2026-01-01T00:00:00.000000001Z"}"#,
        )
        .unwrap();
        assert_eq!(counter.kind, MetricKind::Counter);
        assert_eq!(counter.temporality, Some(Temporality::Cumulative));
        assert!(counter.start.is_some());
        let up_down = shape(r#"{"kind":"sum","monotonic":false,"temporality":"delta"}"#).unwrap();
        assert_eq!(up_down.kind, MetricKind::UpDownCounter);
        assert_eq!(up_down.temporality, None);
        let declared = shape(r#"{"kind":"counter"}"#).unwrap();
        assert_eq!(declared.temporality, Some(Temporality::Delta));
    }

    #[test]
    fn malformed_kinds_name_the_field() {
        assert_eq!(
            shape(r#"{"kind":"meter"}"#).unwrap_err().field,
            "payload.kind"
        );
        assert_eq!(
            shape(r#"{"kind":"counter","temporality":"sometimes"}"#)
                .unwrap_err()
                .field,
            "payload.temporality"
        );
        let wrong_counts = r#"{"kind":"histogram","count":3,
            "buckets":{"bounds":[1,2],"counts":[1,1]}}"#;
        assert_eq!(
            shape(wrong_counts).unwrap_err().field,
            "payload.buckets.counts"
        );
        let wrong_total = r#"{"kind":"histogram","count":3,
            "buckets":{"bounds":[1,2],"counts":[1,1,0]}}"#;
        assert_eq!(shape(wrong_total).unwrap_err().field, "payload.buckets");
        let unordered = r#"{"kind":"histogram","count":2,
            "buckets":{"bounds":[2,1],"counts":[1,1,0]}}"#;
        assert_eq!(
            shape(unordered).unwrap_err().field,
            "payload.buckets.bounds"
        );
        assert_eq!(
            shape(r#"{"kind":"counter","kind":"gauge"}"#)
                .unwrap_err()
                .field,
            "payload"
        );
    }

    #[test]
    fn histograms_keep_their_non_empty_buckets() {
        let point = shape(
            r#"{"kind":"histogram","temporality":"cumulative","count":3,"sum":12.5,
                "buckets":{"bounds":[5,10],"counts":[1,0,2]}}"#,
        )
        .unwrap()
        .histogram
        .unwrap();
        assert_eq!(point.buckets, vec![(0, 1), (2, 2)]);
        assert_eq!(point.layout, Layout::Explicit(vec![5.0, 10.0]));
        let exponential = shape(
            r#"{"kind":"exponentialHistogram","count":4,
                "buckets":{"scale":1,"zeroCount":1,"positive":{"offset":-1,"counts":[1,2]}}}"#,
        )
        .unwrap()
        .histogram
        .unwrap();
        assert_eq!(exponential.buckets, vec![(-1, 1), (0, 2), (ZERO_BUCKET, 1)]);
    }

    #[test]
    fn layouts_round_trip_through_their_keys() {
        for layout in [
            Layout::Explicit(vec![0.5, 5.0, 1e9]),
            Layout::Explicit(Vec::new()),
            Layout::Exponential { scale: -3 },
        ] {
            assert_eq!(Layout::from_key(&layout.key()), Some(layout));
        }
    }

    fn counter(value: f64) -> RunState {
        RunState {
            value,
            sum: 0.0,
            layout: None,
            buckets: Vec::new(),
        }
    }

    #[test]
    fn a_counter_run_adds_what_it_grew_by() {
        assert_eq!(counter(7.0).increase_since(None).value, 7.0);
        assert_eq!(counter(7.0).increase_since(Some(&counter(5.0))).value, 2.0);
        assert_eq!(counter(5.0).increase_since(Some(&counter(5.0))).value, 0.0);
    }

    #[test]
    fn histogram_runs_subtract_bucket_by_bucket() {
        let layout = Some(Layout::Explicit(vec![1.0, 2.0]));
        let state = |value: f64, sum: f64, buckets: Vec<(i64, u64)>| RunState {
            value,
            sum,
            layout: layout.clone(),
            buckets,
        };
        let before = state(2.0, 3.0, vec![(0, 1), (1, 1)]);
        let now = state(5.0, 9.0, vec![(0, 1), (1, 3), (2, 1)]);
        let added = now.increase_since(Some(&before));
        assert_eq!((added.value, added.sum), (3.0, 6.0));
        assert_eq!(added.buckets, vec![(1, 2), (2, 1)]);
        // A bucket that shrank cannot belong to the same run: everything counts.
        let shrunk = state(6.0, 9.0, vec![(1, 6)]);
        assert_eq!(shrunk.increase_since(Some(&before)).value, 6.0);
    }

    #[test]
    fn exponential_runs_are_compared_at_the_coarser_scale() {
        let before = RunState {
            value: 2.0,
            sum: 3.0,
            layout: Some(Layout::Exponential { scale: 2 }),
            buckets: vec![(4, 1), (5, 1)],
        };
        let now = RunState {
            value: 3.0,
            sum: 5.0,
            layout: Some(Layout::Exponential { scale: 1 }),
            buckets: vec![(2, 3)],
        };
        let added = now.increase_since(Some(&before));
        assert_eq!(added.buckets, vec![(2, 1)]);
        assert_eq!(added.layout, Some(Layout::Exponential { scale: 1 }));
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket_as_histogram_quantile_does() {
        let mut merged = MergedHistogram::default();
        // 0..5: 2 observations, 5..10: 2, 10..+inf: 1
        merged.add(&Layout::Explicit(vec![5.0, 10.0]), &[(1, 2), (2, 1)]);
        merged.add(&Layout::Explicit(vec![5.0, 10.0]), &[(0, 2)]);
        assert_eq!(merged.quantile(0.5), 5.0 + 5.0 * 0.5 / 2.0);
        assert_eq!(merged.quantile(0.2), 2.5);
        // The open-ended bucket ends at its lower bound without a reported maximum...
        assert_eq!(merged.quantile(0.99), 10.0);
        // ...and at the maximum when there is one.
        merged.observe_max(20.0);
        assert!(merged.quantile(0.99) > 10.0 && merged.quantile(0.99) <= 20.0);
        assert!(MergedHistogram::default().quantile(0.5).is_nan());
    }

    #[test]
    fn the_estimate_stays_in_the_bucket_of_the_true_quantile() {
        // Observations 1..=100 in buckets of ten: the true p95 (95) is in (90, 100].
        let bounds: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
        let buckets: Vec<(i64, u64)> = (0..10).map(|i| (i, 10)).collect();
        let mut merged = MergedHistogram::default();
        merged.add(&Layout::Explicit(bounds), &buckets);
        for (q, lower, upper) in [(0.5, 40.0, 50.0), (0.95, 90.0, 100.0), (0.99, 90.0, 100.0)] {
            let estimate = merged.quantile(q);
            assert!(estimate > lower && estimate <= upper, "{q}: {estimate}");
        }
    }

    #[test]
    fn exponential_buckets_merge_at_the_common_scale() {
        let mut merged = MergedHistogram::default();
        merged.add(&Layout::Exponential { scale: 1 }, &[(0, 1)]); // (1, √2]
        merged.add(&Layout::Exponential { scale: 0 }, &[(1, 1)]); // (2, 4]
        assert_eq!(merged.exponential.as_ref().unwrap().0, 0);
        let median = merged.quantile(0.5);
        assert!((1.0..=2.0).contains(&median), "{median}");
        let (lower, upper) = Layout::Exponential { scale: 0 }.range(NEGATIVE_BUCKETS + 1);
        assert_eq!((lower, upper), (-4.0, -2.0));
    }
}
