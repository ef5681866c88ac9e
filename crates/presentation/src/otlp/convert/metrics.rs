//! Metric data points as `metric` events: gauges and sums one event per point, histograms
//! (explicit and exponential) one event per point with their buckets, summaries one sample
//! per statistic and quantile.

use super::*;

impl Builder {
    pub(super) fn metric(&mut self, record: Position, scope: &Scope<'_>, metric: &Metric) {
        let at = |point: usize| Position {
            point: Some(point),
            ..record
        };
        let identity = [metric.name.as_bytes(), metric.unit.as_bytes()];
        match &metric.data {
            Some(metric::Data::Gauge(gauge)) => {
                for (p, point) in gauge.data_points.iter().enumerate() {
                    let sample = Sample::new(metric, "gauge", &point.attributes);
                    self.number_point(at(p), scope, &identity, sample, point, 0);
                }
            }
            Some(metric::Data::Sum(sum)) => {
                for (p, point) in sum.data_points.iter().enumerate() {
                    let mut sample = Sample::new(metric, "sum", &point.attributes);
                    sample.temporality(sum.aggregation_temporality);
                    sample
                        .extra
                        .insert("monotonic".into(), sum.is_monotonic.into());
                    let start = point.start_time_unix_nano;
                    self.number_point(at(p), scope, &identity, sample, point, start);
                }
            }
            Some(metric::Data::Histogram(histogram)) => {
                let kind = ("histogram", histogram.aggregation_temporality);
                for (p, point) in histogram.data_points.iter().enumerate() {
                    self.histogram(at(p), scope, &identity, metric, kind, point);
                }
            }
            Some(metric::Data::ExponentialHistogram(histogram)) => {
                let kind = ("exponentialHistogram", histogram.aggregation_temporality);
                for (p, point) in histogram.data_points.iter().enumerate() {
                    self.histogram(at(p), scope, &identity, metric, kind, point);
                }
            }
            Some(metric::Data::Summary(summary)) => {
                for (p, point) in summary.data_points.iter().enumerate() {
                    self.summary(at(p), scope, &identity, metric, point);
                }
            }
            None => {}
        }
    }

    fn number_point(
        &mut self,
        at: Position,
        scope: &Scope<'_>,
        identity: &[&[u8]; 2],
        sample: Sample<'_>,
        point: &crate::otlp::proto::NumberDataPoint,
        start_time_unix_nano: u64,
    ) {
        if self
            .point_time(at, point.flags, point.time_unix_nano, 1)
            .is_none()
        {
            return;
        }
        let value = match point.value {
            Some(number_data_point::Value::AsDouble(value)) => value,
            Some(number_data_point::Value::AsInt(value)) => value as f64,
            None => {
                self.reject(at, "the data point has no value");
                return;
            }
        };
        let bytes = point.encode_to_vec();
        let kind = sample.kind();
        let parts = [identity[0], identity[1], kind.as_bytes(), &bytes];
        let id = self.content_id("otlp-metric-", scope, &parts);
        let mut sample = sample;
        if start_time_unix_nano != 0 {
            let start = rfc3339(start_time_unix_nano);
            sample.extra.insert("startTime".into(), start.into());
        }
        let reading = Reading {
            name: sample.metric.name.clone(),
            value,
            quantile: None,
            with_unit: true,
            buckets: None,
        };
        self.sample(at, scope, id, &sample, reading, point.time_unix_nano);
    }

    /// A histogram point: one event under the metric's name, with its count (also its
    /// `value`), sum, minimum, maximum and buckets. Its content id is the one its `.count`
    /// sample had when histograms were stored as separate samples, so an exporter's retry
    /// across that upgrade still finds it recorded.
    fn histogram<P: Distribution>(
        &mut self,
        at: Position,
        scope: &Scope<'_>,
        identity: &[&[u8]; 2],
        metric: &Metric,
        (kind, temporality): (&str, i32),
        point: &P,
    ) {
        let Some(time_unix_nano) = self.point_time(at, point.flags(), point.time_unix_nano(), 1)
        else {
            return;
        };
        let mut sample = Sample::new(metric, kind, point.attributes());
        sample.temporality(temporality);
        let bytes = point.identity();
        let kind = sample.kind();
        let count_name = format!("{}.count", sample.metric.name);
        let parts = [
            identity[0],
            identity[1],
            kind.as_bytes(),
            &bytes,
            count_name.as_bytes(),
            b"",
        ];
        let id = self.content_id("otlp-metric-", scope, &parts);
        let statistics = point.statistics();
        if point.start_time_unix_nano() != 0 {
            let start = rfc3339(point.start_time_unix_nano());
            sample.extra.insert("startTime".into(), start.into());
        }
        sample.extra.insert("count".into(), statistics.count.into());
        for (key, value) in [
            ("sum", statistics.sum),
            ("min", statistics.min),
            ("max", statistics.max),
        ] {
            if let Some(value) = value {
                if !value.is_finite() {
                    self.reject(at, format!("the {key} is not a finite number"));
                    return;
                }
                sample.extra.insert(key.into(), number(value));
            }
        }
        let reading = Reading {
            name: sample.metric.name.clone(),
            value: statistics.count as f64,
            quantile: None,
            with_unit: true,
            buckets: point.buckets(),
        };
        self.sample(at, scope, id, &sample, reading, time_unix_nano);
    }

    /// A summary point: its count, sum and quantiles as samples.
    fn summary(
        &mut self,
        at: Position,
        scope: &Scope<'_>,
        identity: &[&[u8]; 2],
        metric: &Metric,
        point: &SummaryDataPoint,
    ) {
        let quantiles = point.quantile_values.iter().map(|q| (q.quantile, q.value));
        let weight = 1 + point.quantile_values.len();
        let Some(time_unix_nano) = self.point_time(at, point.flags, point.time_unix_nano, weight)
        else {
            return;
        };
        let sample = Sample::new(metric, "summary", &point.attributes);
        let bytes = point.encode_to_vec();
        let kind = sample.kind();
        let name = &sample.metric.name;
        let reading = |name: String, value: f64, quantile: Option<f64>, with_unit: bool| Reading {
            name,
            value,
            quantile,
            with_unit,
            buckets: None,
        };
        let mut readings = vec![
            reading(format!("{name}.count"), point.count as f64, None, false),
            reading(format!("{name}.sum"), point.sum, None, true),
        ];
        for (quantile, value) in quantiles {
            readings.push(reading(name.clone(), value, Some(quantile), true));
        }
        for reading in readings {
            let quantile = reading.quantile.map(|q| q.to_string()).unwrap_or_default();
            let parts = [
                identity[0],
                identity[1],
                kind.as_bytes(),
                &bytes,
                reading.name.as_bytes(),
                quantile.as_bytes(),
            ];
            let id = self.content_id("otlp-metric-", scope, &parts);
            self.sample(at, scope, id, &sample, reading, time_unix_nano);
        }
    }

    /// A data point's time, once it is counted against the limit (`weight` records) and
    /// known to be a measurement with a time; `None` (rejected, or skipped) otherwise.
    fn point_time(&mut self, at: Position, flags: u32, time: u64, weight: usize) -> Option<u64> {
        if flags & NO_RECORDED_VALUE != 0 || !self.admit(weight) {
            return None;
        }
        if time == 0 {
            self.reject(at, "a data point needs timeUnixNano");
            return None;
        }
        Some(time)
    }

    fn sample(
        &mut self,
        at: Position,
        scope: &Scope<'_>,
        id: String,
        sample: &Sample<'_>,
        reading: Reading,
        time_unix_nano: u64,
    ) {
        if !reading.value.is_finite() {
            self.reject(at, "the value is not a finite number");
            return;
        }
        let mut payload = Map::new();
        payload.insert("name".into(), reading.name.into());
        payload.insert("value".into(), number(reading.value));
        if !sample.metric.unit.is_empty() && reading.with_unit {
            payload.insert("unit".into(), sample.metric.unit.clone().into());
        }
        let mut attributes = string_map(sample.attributes);
        if let Some(quantile) = reading.quantile {
            attributes.insert("quantile".into(), quantile.to_string().into());
        }
        if !attributes.is_empty() {
            payload.insert("attributes".into(), Value::Object(attributes));
        }
        for (key, value) in &sample.extra {
            payload.insert(key.clone(), value.clone());
        }
        if let Some(buckets) = reading.buckets {
            payload.insert("buckets".into(), buckets);
        }
        let payload = scope.payload_text(payload);
        self.push(
            at,
            Event {
                id,
                event_type: "metric",
                service: &scope.origin.service,
                timestamp_nanos: time_unix_nano,
                user: None,
                payload,
            },
        );
    }
}

/// One sample of a data point: its series name, value and, for summaries, quantile.
struct Reading {
    name: String,
    value: f64,
    quantile: Option<f64>,
    /// Whether the metric's unit applies (not to `.count`).
    with_unit: bool,
    /// The histogram's buckets, on its `.count` reading.
    buckets: Option<Value>,
}

struct Statistics {
    count: u64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the point marks a series gone stale (the
/// Prometheus receiver sends them), not a measurement. Such a point is skipped: neither
/// recorded (a count or sum of 0 would read as a reset) nor rejected.
pub(super) const NO_RECORDED_VALUE: u32 = 1;

/// Explicit and exponential histogram points: no single value, but statistics and buckets.
trait Distribution: Message {
    fn attributes(&self) -> &[KeyValue];
    fn time_unix_nano(&self) -> u64;
    fn start_time_unix_nano(&self) -> u64;
    fn flags(&self) -> u32;
    fn statistics(&self) -> Statistics;
    /// The buckets as stored.
    fn buckets(&self) -> Option<Value>;
    /// The encoding the point's content id is derived from.
    fn identity(&self) -> Vec<u8>;
}

macro_rules! histogram_distribution {
    ($point:ty, $buckets:ident, $identity:ident) => {
        impl Distribution for $point {
            fn attributes(&self) -> &[KeyValue] {
                &self.attributes
            }
            fn time_unix_nano(&self) -> u64 {
                self.time_unix_nano
            }
            fn start_time_unix_nano(&self) -> u64 {
                self.start_time_unix_nano
            }
            fn flags(&self) -> u32 {
                self.flags
            }
            fn statistics(&self) -> Statistics {
                Statistics {
                    count: self.count,
                    sum: self.sum,
                    min: self.min,
                    max: self.max,
                }
            }
            fn buckets(&self) -> Option<Value> {
                $buckets(self)
            }
            fn identity(&self) -> Vec<u8> {
                $identity(self)
            }
        }
    };
}

histogram_distribution!(HistogramDataPoint, explicit_buckets, explicit_identity);
histogram_distribution!(
    ExponentialHistogramDataPoint,
    exponential_buckets,
    exponential_identity
);

/// A histogram point's encoding without its buckets: the fields the service read before it
/// kept buckets, so a point has the same content id as then and an exporter's retry across
/// that upgrade still finds its events recorded. (Protobuf writes no empty or default field,
/// so these bytes are the ones the earlier declaration encoded.)
fn explicit_identity(point: &HistogramDataPoint) -> Vec<u8> {
    HistogramDataPoint {
        bucket_counts: Vec::new(),
        explicit_bounds: Vec::new(),
        ..point.clone()
    }
    .encode_to_vec()
}

/// See [`explicit_identity`].
fn exponential_identity(point: &ExponentialHistogramDataPoint) -> Vec<u8> {
    ExponentialHistogramDataPoint {
        scale: 0,
        zero_count: 0,
        positive: None,
        negative: None,
        zero_threshold: 0.0,
        ..point.clone()
    }
    .encode_to_vec()
}

/// `{"bounds": [...], "counts": [...]}`: one more count than bounds.
fn explicit_buckets(point: &HistogramDataPoint) -> Option<Value> {
    if point.bucket_counts.is_empty() {
        return None;
    }
    let bounds = point.explicit_bounds.iter().map(|bound| number(*bound));
    let mut buckets = Map::new();
    buckets.insert("bounds".into(), Value::Array(bounds.collect()));
    buckets.insert("counts".into(), point.bucket_counts.clone().into());
    Some(Value::Object(buckets))
}

/// `{"scale", "zeroCount", "zeroThreshold"?, "positive"?, "negative"?}`, each side
/// `{"offset", "counts"}`.
fn exponential_buckets(point: &ExponentialHistogramDataPoint) -> Option<Value> {
    let side = |buckets: &Option<ExponentialBuckets>| {
        let buckets = buckets.as_ref().filter(|b| !b.bucket_counts.is_empty())?;
        let mut side = Map::new();
        side.insert("offset".into(), buckets.offset.into());
        side.insert("counts".into(), buckets.bucket_counts.clone().into());
        Some(Value::Object(side))
    };
    let (positive, negative) = (side(&point.positive), side(&point.negative));
    if positive.is_none() && negative.is_none() && point.zero_count == 0 {
        return None;
    }
    let mut buckets = Map::new();
    buckets.insert("scale".into(), point.scale.into());
    buckets.insert("zeroCount".into(), point.zero_count.into());
    if point.zero_threshold != 0.0 {
        buckets.insert("zeroThreshold".into(), number(point.zero_threshold));
    }
    for (key, side) in [("positive", positive), ("negative", negative)] {
        if let Some(side) = side {
            buckets.insert(key.into(), side);
        }
    }
    Some(Value::Object(buckets))
}

/// What the samples of one data point share.
struct Sample<'a> {
    metric: &'a Metric,
    attributes: &'a [KeyValue],
    extra: Map<String, Value>,
}

impl<'a> Sample<'a> {
    fn new(metric: &'a Metric, kind: &str, attributes: &'a [KeyValue]) -> Self {
        let mut extra = Map::new();
        extra.insert("kind".into(), kind.into());
        Self {
            metric,
            attributes,
            extra,
        }
    }

    /// Kind, temporality and monotonicity as text: part of a sample's identity, so points
    /// of a gauge and a sum of the same name and time are different samples.
    fn kind(&self) -> String {
        Value::Object(self.extra.clone()).to_string()
    }

    fn temporality(&mut self, temporality: i32) {
        let name = match temporality {
            1 => "delta",
            2 => "cumulative",
            _ => return,
        };
        self.extra.insert("temporality".into(), name.into());
    }
}

/// Metric attributes: every value as text (the stored contract is a string map).
fn string_map(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .map(|kv| {
            let text = kv.value.as_ref().map(any_text).unwrap_or_default();
            (kv.key.clone(), Value::String(text))
        })
        .collect()
}
