//! OTLP export requests as submitted events: the same validation, deduplication and storage
//! as `POST /ingest`.
//!
//! - **Service**: the resource's `service.name` (`unknown_service` when absent, as the
//!   OpenTelemetry SDKs default it). **User**: the `user.id` or `enduser.id` attribute.
//! - **Event ids** are derived from content, so a retried export records nothing twice:
//!   spans use their trace and span ids; log records and metric data points a digest of
//!   resource, scope and record (plus a counter when one request holds identical records).
//!   Every record must carry its own time (a log record its event or observed time, a data
//!   point its time, a span its start): a time the service filled in would differ between
//!   an export and its retry.
//! - **Logs** become `log` events; **spans** `trace` events with `durationMs`; **gauge and
//!   sum** data points `metric` events with the point's attributes, `kind`, and for sums
//!   `temporality`, `monotonic` and `startTime` (what makes a monotonic sum a counter whose
//!   increase the reads compute; see `telemetry_domain::metric`). A **histogram** point
//!   (explicit or exponential) is one `metric` event under the metric's name with `count`
//!   (also its `value`), `sum`, `min`, `max`, `startTime` and `buckets` (explicit `bounds`
//!   and `counts`, or the exponential `scale`, `zeroCount` and `positive` / `negative`
//!   `offset` and `counts`). **Summaries**, which cannot be merged, become `<name>.count`
//!   and `<name>.sum` samples and one `<name>` sample per quantile with a `quantile`
//!   attribute.
//! - A record that cannot become a valid event (no trace id, a value that is not finite, a
//!   timestamp an hour or more ahead, ...) is rejected alone: the rest is recorded, and the
//!   response's `partialSuccess` counts and names what was rejected.
//! - [`Limits`] bound the records of one export and the bytes its events take, so a small
//!   (compressed) request cannot expand into an unbounded amount of work.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, SecondsFormat};
use prost::Message;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use telemetry_domain::ingest::{first_violation_of_each, EventSubmission, SubmissionFields};
use telemetry_domain::values::Timestamp;

use super::json::encode_hex;
use super::proto::{
    any_value, metric, number_data_point, AnyValue, ExponentialBuckets,
    ExponentialHistogramDataPoint, ExportLogsServiceRequest, ExportMetricsServiceRequest,
    ExportTraceServiceRequest, HistogramDataPoint, InstrumentationScope, KeyValue, LogRecord,
    Metric, Resource, Span, SummaryDataPoint,
};

/// The service name OpenTelemetry SDKs report when none is configured.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// At most this many rejected records are named in a partial-success message.
const NAMED_REJECTIONS: usize = 5;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    /// The field of the signal's export request in OTLP/JSON.
    pub fn resources_field(self) -> &'static str {
        match self {
            Signal::Logs => "resourceLogs",
            Signal::Metrics => "resourceMetrics",
            Signal::Traces => "resourceSpans",
        }
    }

    /// What the signal's records are called in messages and in `partialSuccess`.
    pub fn records(self) -> &'static str {
        match self {
            Signal::Logs => "log records",
            Signal::Metrics => "data points",
            Signal::Traces => "spans",
        }
    }

    /// Why an export with more records than `max` is refused.
    pub fn too_many_records(self, max: usize) -> String {
        format!("an export may hold at most {max} {}", self.records())
    }

    /// The JSON name of the rejected count in the signal's `partialSuccess`.
    pub fn rejected_field(self) -> &'static str {
        match self {
            Signal::Logs => "rejectedLogRecords",
            Signal::Metrics => "rejectedDataPoints",
            Signal::Traces => "rejectedSpans",
        }
    }

    fn path(self) -> [&'static str; 3] {
        match self {
            Signal::Logs => ["resourceLogs", "scopeLogs", "logRecords"],
            Signal::Metrics => ["resourceMetrics", "scopeMetrics", "metrics"],
            Signal::Traces => ["resourceSpans", "scopeSpans", "spans"],
        }
    }
}

/// Where a record sits in the request: resource, scope, record and, for metrics, data point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Position {
    resource: usize,
    scope: usize,
    record: usize,
    point: Option<usize>,
}

struct Located(Signal, Position);

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [resources, scopes, records] = self.0.path();
        let at = self.1;
        write!(
            f,
            "{resources}[{}].{scopes}[{}].{records}[{}]",
            at.resource, at.scope, at.record
        )?;
        if let Some(point) = at.point {
            write!(f, ".dataPoints[{point}]")?;
        }
        Ok(())
    }
}

/// Bounds on what one export may become, so a small request cannot expand into an
/// unbounded number or size of events.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records: log records, spans, data points and summary quantile values.
    pub max_records: usize,
    /// Total bytes of the events' payloads.
    pub max_payload_bytes: usize,
}

/// An export request turned into events, and what could not be.
#[derive(Debug)]
pub struct Conversion {
    pub submissions: Vec<EventSubmission>,
    /// Records (log records, data points, spans) in the request, rejected or not.
    pub records: usize,
    /// Records rejected; none of their events is in `submissions`.
    pub rejected: usize,
    /// Names the first rejected records and why; empty when none was.
    pub error_message: String,
    /// Set when the export exceeds the [`Limits`]: it must be refused whole.
    pub too_large: Option<String>,
}

pub fn logs(
    request: &ExportLogsServiceRequest,
    received_at: Timestamp,
    limits: Limits,
) -> Conversion {
    walk(
        Builder::new(Signal::Logs, received_at, limits),
        &request.resource_logs,
        |r| (r.resource.as_ref(), &r.scope_logs),
        |s| (s.scope.as_ref(), &s.log_records),
        Builder::log,
    )
}

pub fn metrics(
    request: &ExportMetricsServiceRequest,
    received_at: Timestamp,
    limits: Limits,
) -> Conversion {
    walk(
        Builder::new(Signal::Metrics, received_at, limits),
        &request.resource_metrics,
        |r| (r.resource.as_ref(), &r.scope_metrics),
        |s| (s.scope.as_ref(), &s.metrics),
        Builder::metric,
    )
}

pub fn traces(
    request: &ExportTraceServiceRequest,
    received_at: Timestamp,
    limits: Limits,
) -> Conversion {
    walk(
        Builder::new(Signal::Traces, received_at, limits),
        &request.resource_spans,
        |r| (r.resource.as_ref(), &r.scope_spans),
        |s| (s.scope.as_ref(), &s.spans),
        Builder::span,
    )
}

/// Visits every record of an export (resources, their scopes, their records) with its
/// position and its resource and scope, then validates what the visits built.
fn walk<'a, R, S: 'a, T: 'a>(
    mut builder: Builder,
    resources: &'a [R],
    resource_of: impl Fn(&'a R) -> (Option<&'a Resource>, &'a Vec<S>),
    scope_of: impl Fn(&'a S) -> (Option<&'a InstrumentationScope>, &'a Vec<T>),
    mut each: impl FnMut(&mut Builder, Position, &Scope<'_>, &'a T),
) -> Conversion {
    for (r, resource) in resources.iter().enumerate() {
        let (resource, scopes) = resource_of(resource);
        let origin = Origin::new(resource);
        for (s, scope) in scopes.iter().enumerate() {
            let (scope, records) = scope_of(scope);
            let scope = origin.scope(scope);
            for (i, record) in records.iter().enumerate() {
                let at = Position {
                    resource: r,
                    scope: s,
                    record: i,
                    point: None,
                };
                each(&mut builder, at, &scope, record);
            }
        }
    }
    builder.finish()
}

/// What every record of one resource shares.
struct Origin {
    service: String,
    /// The other resource attributes as a JSON object, serialized once for all events.
    attributes: String,
    digest: Sha256,
}

impl Origin {
    fn new(resource: Option<&Resource>) -> Self {
        let attributes = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let service = attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(any_text)
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| UNKNOWN_SERVICE.to_string());
        let mut attributes = attribute_map(attributes);
        attributes.remove("service.name");
        let attributes = match attributes.is_empty() {
            true => String::new(),
            false => Value::Object(attributes).to_string(),
        };
        let mut digest = Sha256::new();
        update(
            &mut digest,
            &resource.map(Message::encode_to_vec).unwrap_or_default(),
        );
        Self {
            service,
            attributes,
            digest,
        }
    }

    fn scope(&self, scope: Option<&InstrumentationScope>) -> Scope<'_> {
        let mut digest = self.digest.clone();
        update(
            &mut digest,
            &scope.map(Message::encode_to_vec).unwrap_or_default(),
        );
        let mut description = Map::new();
        if let Some(scope) = scope.filter(|scope| !scope.name.is_empty()) {
            description.insert("name".into(), scope.name.clone().into());
            if !scope.version.is_empty() {
                description.insert("version".into(), scope.version.clone().into());
            }
        }
        let description = match description.is_empty() {
            true => String::new(),
            false => Value::Object(description).to_string(),
        };
        Scope {
            origin: self,
            digest,
            description,
        }
    }
}

struct Scope<'a> {
    origin: &'a Origin,
    digest: Sha256,
    /// `name` and `version` as a JSON object (empty when the scope has no name).
    description: String,
}

impl Scope<'_> {
    /// The payload's JSON text, with the resource's other attributes (`resource`) and the
    /// scope (`scope`) spliced in from their text serialized once per scope.
    fn payload_text(&self, payload: Map<String, Value>) -> String {
        let mut text = Value::Object(payload).to_string();
        text.pop(); // the closing brace
        for (key, json) in [
            ("resource", &self.origin.attributes),
            ("scope", &self.description),
        ] {
            if json.is_empty() {
                continue;
            }
            if text.len() > 1 {
                text.push(',');
            }
            text.push('"');
            text.push_str(key);
            text.push_str("\":");
            text.push_str(json);
        }
        text.push('}');
        text
    }
}

/// Collects events and rejections, then validates them as `/ingest` would.
struct Builder {
    signal: Signal,
    received_at: Timestamp,
    limits: Limits,
    payload_bytes: usize,
    /// Records counted against the limit (summary quantiles count too).
    weight: usize,
    too_large: Option<String>,
    submissions: Vec<EventSubmission>,
    /// The record each submission came from.
    origins: Vec<Position>,
    records: usize,
    rejected: BTreeMap<Position, String>,
    /// Content digests seen in this request, and how often.
    seen: HashMap<[u8; 16], u32>,
}

/// The top-level fields of one event to submit.
struct Event<'a> {
    id: String,
    event_type: &'static str,
    service: &'a str,
    timestamp_nanos: u64,
    user: Option<String>,
    payload: String,
}

impl Builder {
    fn new(signal: Signal, received_at: Timestamp, limits: Limits) -> Self {
        Self {
            signal,
            received_at,
            limits,
            payload_bytes: 0,
            weight: 0,
            too_large: None,
            submissions: Vec::new(),
            origins: Vec::new(),
            records: 0,
            rejected: BTreeMap::new(),
            seen: HashMap::new(),
        }
    }

    /// Counts one more record, which weighs `weight` against the record limit (a summary
    /// point weighs one more per quantile); false (and the export is refused) beyond the
    /// limit, or once it was refused for any reason.
    fn admit(&mut self, weight: usize) -> bool {
        if self.too_large.is_some() {
            return false;
        }
        self.records += 1;
        self.weight += weight;
        if self.weight > self.limits.max_records {
            self.too_large = Some(self.signal.too_many_records(self.limits.max_records));
            return false;
        }
        true
    }

    fn reject(&mut self, at: Position, reason: impl Into<String>) {
        self.rejected.entry(at).or_insert_with(|| reason.into());
    }

    /// A stable id for content: the digest of scope and `parts`, and a counter when the
    /// same content already occurred in this request.
    fn content_id(&mut self, prefix: &str, scope: &Scope<'_>, parts: &[&[u8]]) -> String {
        let mut digest = scope.digest.clone();
        for part in parts {
            update(&mut digest, part);
        }
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest.finalize()[..16]);
        let occurrence = self.seen.entry(key).or_insert(0);
        let id = match *occurrence {
            0 => format!("{prefix}{}", encode_hex(&key)),
            n => format!("{prefix}{}-{n}", encode_hex(&key)),
        };
        *occurrence += 1;
        id
    }

    fn push(&mut self, at: Position, event: Event<'_>) {
        self.payload_bytes += event.payload.len();
        if self.payload_bytes > self.limits.max_payload_bytes {
            self.too_large.get_or_insert_with(|| {
                format!(
                    "the export expands to more than {} bytes of events",
                    self.limits.max_payload_bytes
                )
            });
            return;
        }
        let (id, event_type) = (raw(&event.id), raw(&event.event_type));
        let (service, timestamp) = (raw(&event.service), raw(&rfc3339(event.timestamp_nanos)));
        let user = event.user.as_ref().and_then(raw);
        let payload = RawValue::from_string(event.payload).ok();
        self.submissions
            .push(EventSubmission::from_fields(SubmissionFields {
                event_id: id.as_deref(),
                event_type: event_type.as_deref(),
                service_name: service.as_deref(),
                timestamp: timestamp.as_deref(),
                user_id: user.as_deref(),
                payload: payload.as_deref(),
            }));
        self.origins.push(at);
    }

    fn log(&mut self, at: Position, scope: &Scope<'_>, record: &LogRecord) {
        if !self.admit(1) {
            return;
        }
        let timestamp_nanos = match record.time_unix_nano {
            0 => record.observed_time_unix_nano,
            time => time,
        };
        if timestamp_nanos == 0 {
            self.reject(
                at,
                "a log record needs timeUnixNano or observedTimeUnixNano",
            );
            return;
        }
        let id = self.content_id("otlp-log-", scope, &[&record.encode_to_vec()]);
        let mut payload = Map::new();
        if let Some(level) = severity(record) {
            payload.insert("level".into(), level.into());
        }
        if record.severity_number != 0 {
            payload.insert("severityNumber".into(), record.severity_number.into());
        }
        match record.body.as_ref().and_then(|body| body.value.as_ref()) {
            Some(any_value::Value::StringValue(text)) => {
                payload.insert("message".into(), text.clone().into());
            }
            Some(_) => {
                let body = record.body.as_ref().map(json_value).unwrap_or(Value::Null);
                payload.insert("body".into(), body);
            }
            None => {}
        }
        if !record.event_name.is_empty() {
            payload.insert("eventName".into(), record.event_name.clone().into());
        }
        if !record.trace_id.is_empty() {
            payload.insert("traceId".into(), encode_hex(&record.trace_id).into());
        }
        if !record.span_id.is_empty() {
            payload.insert("spanId".into(), encode_hex(&record.span_id).into());
        }
        insert_attributes(&mut payload, &record.attributes);
        let payload = scope.payload_text(payload);
        self.push(
            at,
            Event {
                id,
                event_type: "log",
                service: &scope.origin.service,
                timestamp_nanos,
                user: user_of(&record.attributes),
                payload,
            },
        );
    }

    fn span(&mut self, at: Position, scope: &Scope<'_>, span: &Span) {
        if !self.admit(1) {
            return;
        }
        if span.start_time_unix_nano == 0 {
            self.reject(at, "a span needs startTimeUnixNano");
            return;
        }
        let valid_id = |id: &[u8], length: usize| id.len() == length && id.iter().any(|&b| b != 0);
        if !valid_id(&span.trace_id, 16) || !valid_id(&span.span_id, 8) {
            self.reject(
                at,
                "a span needs a 16-byte trace id and an 8-byte span id, not all zero",
            );
            return;
        }
        let trace_id = encode_hex(&span.trace_id);
        let span_id = encode_hex(&span.span_id);
        let mut payload = Map::new();
        payload.insert("traceId".into(), trace_id.clone().into());
        payload.insert("spanId".into(), span_id.clone().into());
        if !span.parent_span_id.is_empty() {
            payload.insert(
                "parentSpanId".into(),
                encode_hex(&span.parent_span_id).into(),
            );
        }
        payload.insert("name".into(), span.name.clone().into());
        if let Some(kind) = span_kind(span.kind) {
            payload.insert("kind".into(), kind.into());
        }
        if span.end_time_unix_nano >= span.start_time_unix_nano {
            let nanos = span.end_time_unix_nano - span.start_time_unix_nano;
            payload.insert("durationMs".into(), number(nanos as f64 / 1e6));
        }
        if let Some(status) = &span.status {
            let mut described = Map::new();
            described.insert("code".into(), status_code(status.code).into());
            if !status.message.is_empty() {
                described.insert("message".into(), status.message.clone().into());
            }
            payload.insert("status".into(), Value::Object(described));
        }
        if !span.trace_state.is_empty() {
            payload.insert("traceState".into(), span.trace_state.clone().into());
        }
        insert_attributes(&mut payload, &span.attributes);
        if !span.events.is_empty() {
            let events = span
                .events
                .iter()
                .map(|event| {
                    let mut described = Map::new();
                    described.insert("name".into(), event.name.clone().into());
                    if event.time_unix_nano > 0 {
                        described.insert("timestamp".into(), rfc3339(event.time_unix_nano).into());
                    }
                    insert_attributes(&mut described, &event.attributes);
                    Value::Object(described)
                })
                .collect();
            payload.insert("events".into(), Value::Array(events));
        }
        let payload = scope.payload_text(payload);
        self.push(
            at,
            Event {
                id: format!("otlp-span-{trace_id}{span_id}"),
                event_type: "trace",
                service: &scope.origin.service,
                timestamp_nanos: span.start_time_unix_nano,
                user: user_of(&span.attributes),
                payload,
            },
        );
    }

    fn metric(&mut self, record: Position, scope: &Scope<'_>, metric: &Metric) {
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
        point: &super::proto::NumberDataPoint,
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

    /// Validates every event as `/ingest` does; a record any of whose events is invalid is
    /// rejected with all its events.
    fn finish(mut self) -> Conversion {
        // Every invalid event, not the first 1,000 problems `/ingest` lists: one left unmarked
        // would make the aggregate refuse the whole export.
        for violation in first_violation_of_each(&self.submissions, self.received_at) {
            let at = self.origins[violation.index];
            self.reject(at, violation.message);
        }
        let rejected = &self.rejected;
        let submissions = self
            .submissions
            .into_iter()
            .zip(&self.origins)
            .filter(|(_, at)| !rejected.contains_key(at))
            .map(|(submission, _)| submission)
            .collect();
        let error_message = if rejected.is_empty() {
            String::new()
        } else {
            let named: Vec<String> = rejected
                .iter()
                .take(NAMED_REJECTIONS)
                .map(|(at, reason)| format!("{}: {reason}", Located(self.signal, *at)))
                .collect();
            let more = rejected.len().saturating_sub(NAMED_REJECTIONS);
            let mut message = format!(
                "{} of {} {} rejected: {}",
                rejected.len(),
                self.records,
                self.signal.records(),
                named.join("; ")
            );
            if more > 0 {
                message.push_str(&format!("; and {more} more"));
            }
            message
        };
        Conversion {
            submissions,
            records: self.records,
            rejected: rejected.len(),
            error_message,
            too_large: self.too_large,
        }
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
const NO_RECORDED_VALUE: u32 = 1;

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

fn update(digest: &mut Sha256, part: &[u8]) {
    digest.update((part.len() as u64).to_le_bytes());
    digest.update(part);
}

fn raw<T: Serialize + ?Sized>(value: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn rfc3339(nanos: u64) -> String {
    let micros = i64::try_from(nanos / 1_000).unwrap_or(i64::MAX);
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An attribute value as JSON: strings, booleans and numbers as themselves, arrays and
/// maps recursively, bytes as base64, and the doubles JSON has no number for as OTLP/JSON
/// spells them (`"NaN"`, `"Infinity"`, `"-Infinity"`).
fn json_value(value: &AnyValue) -> Value {
    use base64::Engine as _;
    match &value.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(text)) => text.clone().into(),
        Some(any_value::Value::BoolValue(flag)) => (*flag).into(),
        Some(any_value::Value::IntValue(number)) => (*number).into(),
        Some(any_value::Value::DoubleValue(double)) => serde_json::Number::from_f64(*double)
            .map_or_else(|| non_finite(*double).into(), Value::Number),
        Some(any_value::Value::ArrayValue(array)) => {
            Value::Array(array.values.iter().map(json_value).collect())
        }
        Some(any_value::Value::KvlistValue(list)) => Value::Object(attribute_map(&list.values)),
        Some(any_value::Value::BytesValue(bytes)) => base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into(),
    }
}

fn non_finite(double: f64) -> &'static str {
    if double.is_nan() {
        "NaN"
    } else if double > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// An attribute value as text: strings as they are, anything else as its JSON.
fn any_text(value: &AnyValue) -> String {
    match json_value(value) {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

fn attribute_map(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .map(|kv| {
            let value = kv.value.as_ref().map(json_value).unwrap_or(Value::Null);
            (kv.key.clone(), value)
        })
        .collect()
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

fn insert_attributes(payload: &mut Map<String, Value>, attributes: &[KeyValue]) {
    if !attributes.is_empty() {
        payload.insert(
            "attributes".into(),
            Value::Object(attribute_map(attributes)),
        );
    }
}

fn user_of(attributes: &[KeyValue]) -> Option<String> {
    ["user.id", "enduser.id"].iter().find_map(|key| {
        attributes
            .iter()
            .find(|kv| kv.key == *key)
            .and_then(|kv| kv.value.as_ref())
            .map(any_text)
            .filter(|user| !user.is_empty())
    })
}

/// The level a log record states, or the one its severity number stands for.
fn severity(record: &LogRecord) -> Option<String> {
    if !record.severity_text.is_empty() {
        return Some(record.severity_text.to_ascii_lowercase());
    }
    let level = match record.severity_number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => return None,
    };
    Some(level.to_string())
}

fn span_kind(kind: i32) -> Option<&'static str> {
    Some(match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => return None,
    })
}

fn status_code(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGS_PB: &[u8] = include_bytes!("../../../../tests/fixtures/otlp/logs.pb");
    const LOGS_JSON: &str = include_str!("../../../../tests/fixtures/otlp/logs.json");
    use telemetry_domain::metric::{MetricKind, MetricShape};

    const METRICS_PB: &[u8] = include_bytes!("../../../../tests/fixtures/otlp/metrics.pb");
    const METRICS_JSON: &str = include_str!("../../../../tests/fixtures/otlp/metrics.json");
    const TRACES_PB: &[u8] = include_bytes!("../../../../tests/fixtures/otlp/traces.pb");
    const TRACES_JSON: &str = include_str!("../../../../tests/fixtures/otlp/traces.json");

    /// A minute after the fixtures' records.
    fn received_at() -> Timestamp {
        Timestamp::parse_rfc3339("2026-01-21T12:01:00Z").unwrap()
    }

    const LIMITS: Limits = Limits {
        max_records: 10_000,
        max_payload_bytes: 1 << 20,
    };

    /// The submissions as `(eventId, serviceName, timestamp, userId, payload)` JSON.
    fn events(conversion: &Conversion) -> Vec<Value> {
        let text = |raw: Option<&str>| {
            raw.map(|raw| serde_json::from_str::<Value>(raw).unwrap())
                .unwrap_or(Value::Null)
        };
        conversion
            .submissions
            .iter()
            .map(|s| {
                serde_json::json!({
                    "eventId": text(s.event_id()), "eventType": text(s.event_type()),
                    "serviceName": text(s.service_name()), "timestamp": text(s.timestamp()),
                    "userId": text(s.user_id()), "payload": text(s.payload()),
                })
            })
            .collect()
    }

    fn event_ids(conversion: &Conversion) -> Vec<Value> {
        events(conversion)
            .into_iter()
            .map(|event| event["eventId"].clone())
            .collect()
    }

    #[test]
    fn both_encodings_of_the_fixtures_decode_to_the_same_requests() {
        let logs = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
        assert_eq!(logs, serde_json::from_str(LOGS_JSON).unwrap());
        let metrics = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
        // NaN is never equal to itself: compare the encodings instead.
        let from_json: ExportMetricsServiceRequest = serde_json::from_str(METRICS_JSON).unwrap();
        assert_eq!(metrics.encode_to_vec(), from_json.encode_to_vec());
        let traces = ExportTraceServiceRequest::decode(TRACES_PB).unwrap();
        assert_eq!(traces, serde_json::from_str(TRACES_JSON).unwrap());
    }

    #[test]
    fn log_records_become_log_events() {
        let request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
        let conversion = logs(&request, received_at(), LIMITS);
        assert_eq!((conversion.records, conversion.rejected), (5, 1));
        assert!(
            conversion.error_message.starts_with(
                "1 of 5 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[3]: "
            ),
            "{}",
            conversion.error_message
        );
        let events = events(&conversion);
        assert_eq!(events.len(), 4);
        let first = &events[0];
        assert!(first["eventId"].as_str().unwrap().starts_with("otlp-log-"));
        assert_eq!(first["eventType"], "log");
        assert_eq!(first["serviceName"], "checkout");
        assert_eq!(first["timestamp"], "2026-01-21T12:00:00Z");
        assert_eq!(first["userId"], "u-42");
        let payload = &first["payload"];
        assert_eq!(payload["level"], "info");
        assert_eq!(payload["severityNumber"], 9);
        assert_eq!(payload["message"], "payment accepted");
        assert_eq!(payload["attributes"]["http.status_code"], 200);
        assert_eq!(payload["attributes"]["retry"], false);
        assert_eq!(payload["traceId"], "5b8efff798038103d269b633813fc60c");
        assert_eq!(payload["spanId"], "eee19b7ec3c1b174");
        assert_eq!(payload["resource"]["host.name"], "node-1");
        assert_eq!(payload["scope"]["name"], "checkout.instrumentation");
        let second = &events[1]["payload"];
        assert_eq!(second["level"], "error");
        assert_eq!(second["body"]["error"], "card declined");
        assert_eq!(second["body"]["codes"], serde_json::json!([51]));
        assert_eq!(second["eventName"], "payment.failed");
        assert_eq!(events[2]["timestamp"], "2026-01-21T12:00:02Z");
        assert_eq!(events[3]["serviceName"], UNKNOWN_SERVICE);
        assert_eq!(events[3]["userId"], Value::Null);
    }

    #[test]
    fn data_points_become_metric_samples() {
        let request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
        let conversion = metrics(&request, received_at(), LIMITS);
        assert_eq!((conversion.records, conversion.rejected), (6, 1));
        assert!(conversion
            .error_message
            .contains("resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[1]: the value is not a finite number"));
        let samples: Vec<(String, f64, Value)> = events(&conversion)
            .iter()
            .map(|event| {
                let payload = &event["payload"];
                (
                    payload["name"].as_str().unwrap().to_string(),
                    payload["value"].as_f64().unwrap(),
                    payload["attributes"].clone(),
                )
            })
            .collect();
        let names: Vec<&str> = samples.iter().map(|(name, ..)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "system.cpu.utilization",
                "http.server.requests",
                "http.server.duration",
                "rpc.latency.count",
                "rpc.latency.sum",
                "rpc.latency",
                "rpc.latency",
                "queue.wait",
            ]
        );
        let values: Vec<f64> = samples.iter().map(|(_, value, _)| *value).collect();
        assert_eq!(values, [0.42, 7.0, 4.0, 10.0, 55.0, 4.0, 9.0, 3.0]);
        assert_eq!(samples[0].2, serde_json::json!({"cpu": "0"}));
        assert_eq!(samples[6].2, serde_json::json!({"quantile": "0.99"}));
        let events = events(&conversion);
        let sum = &events[1]["payload"];
        assert_eq!(sum["kind"], "sum");
        assert_eq!(sum["temporality"], "cumulative");
        assert_eq!(sum["monotonic"], true);
        assert_eq!(sum["unit"], "{request}");
        // A histogram point is one event: count (its value), sum, min, max and buckets.
        let histogram = &events[2]["payload"];
        assert_eq!(histogram["kind"], "histogram");
        assert_eq!(histogram["unit"], "ms");
        assert_eq!(
            (&histogram["count"], &histogram["sum"]),
            (&serde_json::json!(4), &serde_json::json!(100.5))
        );
        assert_eq!(
            (&histogram["min"], &histogram["max"]),
            (&serde_json::json!(3.0), &serde_json::json!(60.0))
        );
        assert_eq!(
            histogram["buckets"],
            serde_json::json!({"bounds": [10.0, 50.0], "counts": [1, 2, 1]})
        );
        assert_eq!(events[3]["payload"]["unit"], Value::Null);
        assert_eq!(events[4]["payload"]["unit"], "ms");
        let mut ids: Vec<&str> = events
            .iter()
            .map(|e| e["eventId"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let exponential = &events[7]["payload"];
        assert_eq!(
            exponential["buckets"],
            serde_json::json!({"scale": 1, "zeroCount": 0,
                               "positive": {"offset": 2, "counts": [1, 2]}})
        );
        assert_eq!(
            events[3]["payload"].get("buckets"),
            None,
            "summaries have none"
        );
        assert_eq!(exponential["kind"], "exponentialHistogram");
        assert_eq!(exponential["temporality"], "delta");
        assert_eq!(ids.len(), 8, "every sample has its own id");
        // What the analytics processor reads from them.
        for (index, kind) in [
            (1, MetricKind::Counter),
            (2, MetricKind::Histogram),
            (7, MetricKind::Histogram),
        ] {
            let payload = events[index]["payload"].to_string();
            assert_eq!(MetricShape::from_payload(&payload).unwrap().kind, kind);
        }
    }

    #[test]
    fn spans_become_trace_events() {
        let request = ExportTraceServiceRequest::decode(TRACES_PB).unwrap();
        let conversion = traces(&request, received_at(), LIMITS);
        assert_eq!((conversion.records, conversion.rejected), (3, 1));
        let events = events(&conversion);
        let server = &events[0];
        assert_eq!(
            server["eventId"],
            "otlp-span-5b8efff798038103d269b633813fc60ceee19b7ec3c1b174"
        );
        assert_eq!(server["eventType"], "trace");
        assert_eq!(server["userId"], "u-42");
        let payload = &server["payload"];
        assert_eq!(payload["durationMs"], 250.0);
        assert_eq!(payload["kind"], "server");
        assert_eq!(
            payload["status"],
            serde_json::json!({"code": "error", "message": "declined"})
        );
        assert_eq!(payload["events"][0]["name"], "exception");
        assert_eq!(
            payload["events"][0]["timestamp"],
            "2026-01-21T12:00:00.200Z"
        );
        let child = &events[1]["payload"];
        assert_eq!(child["parentSpanId"], "eee19b7ec3c1b174");
        assert_eq!(child["durationMs"], 12.5);
        assert_eq!(child["kind"], "client");
    }

    #[test]
    fn ids_are_stable_and_identical_records_stay_distinct() {
        let request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
        let ids =
            |request: &ExportLogsServiceRequest| event_ids(&logs(request, received_at(), LIMITS));
        let first = ids(&request);
        assert_eq!(first, ids(&request), "a retry derives the same ids");
        let mut doubled = request.clone();
        let records = &mut doubled.resource_logs[0].scope_logs[0].log_records;
        records.push(records[0].clone());
        let second = ids(&doubled);
        // The copy follows the first resource's records; the second resource comes last.
        assert_eq!(second[..3], first[..3]);
        assert_eq!(second[3], format!("{}-1", first[0].as_str().unwrap()));
        assert_eq!(second[4], first[3]);
    }

    /// Content ids of histogram points are what they were before buckets were kept: derived
    /// from the point without its buckets (here: the same ids as with the buckets removed
    /// from the request, bytes the earlier declaration of the points could not see).
    #[test]
    fn histogram_ids_do_not_depend_on_the_buckets() {
        let request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
        let mut without = request.clone();
        let points = without
            .resource_metrics
            .iter_mut()
            .flat_map(|resource| &mut resource.scope_metrics)
            .flat_map(|scope| &mut scope.metrics);
        for exported in points {
            match &mut exported.data {
                Some(metric::Data::Histogram(histogram)) => {
                    for point in &mut histogram.data_points {
                        point.bucket_counts.clear();
                        point.explicit_bounds.clear();
                    }
                }
                Some(metric::Data::ExponentialHistogram(histogram)) => {
                    for point in &mut histogram.data_points {
                        (point.scale, point.positive, point.negative) = (0, None, None);
                    }
                }
                _ => {}
            }
        }
        let ids = |request: &ExportMetricsServiceRequest| {
            event_ids(&metrics(request, received_at(), LIMITS))
        };
        assert_eq!(ids(&request), ids(&without));
        let with_buckets = events(&metrics(&request, received_at(), LIMITS));
        assert!(with_buckets[2]["payload"].get("buckets").is_some());
    }

    #[test]
    fn doubles_json_has_no_number_for_are_spelled_as_otlp_json_spells_them() {
        let double = |value: f64| AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        };
        assert_eq!(json_value(&double(f64::INFINITY)), "Infinity");
        assert_eq!(json_value(&double(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(json_value(&double(f64::NAN)), "NaN");
        assert_eq!(json_value(&double(1.5)), 1.5);
    }

    #[test]
    fn an_empty_request_has_no_events_and_no_rejections() {
        let conversion = traces(&ExportTraceServiceRequest::default(), received_at(), LIMITS);
        assert_eq!((conversion.records, conversion.rejected), (0, 0));
        assert!(conversion.submissions.is_empty() && conversion.error_message.is_empty());
    }

    #[test]
    fn records_without_their_own_time_are_rejected() {
        let mut request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
        let record = &mut request.resource_logs[0].scope_logs[0].log_records[2];
        record.observed_time_unix_nano = 0;
        let conversion = logs(&request, received_at(), LIMITS);
        assert_eq!(conversion.rejected, 2);
        assert!(conversion
            .error_message
            .contains("logRecords[2]: a log record needs timeUnixNano or observedTimeUnixNano"));
        let mut request = ExportTraceServiceRequest::decode(TRACES_PB).unwrap();
        request.resource_spans[0].scope_spans[0].spans[1].start_time_unix_nano = 0;
        let conversion = traces(&request, received_at(), LIMITS);
        assert!(conversion
            .error_message
            .contains("spans[1]: a span needs startTimeUnixNano"));
    }

    #[test]
    fn points_with_no_recorded_value_are_skipped_not_recorded_or_rejected() {
        let mut request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
        let before = metrics(&request, received_at(), LIMITS);
        assert!(!before.submissions.is_empty());
        let metrics_list = &mut request.resource_metrics[0].scope_metrics[0].metrics;
        let mut kinds = std::collections::BTreeSet::new();
        for metric in metrics_list.iter_mut() {
            match metric.data.as_mut().unwrap() {
                metric::Data::Gauge(gauge) => gauge.data_points.iter_mut().for_each(|point| {
                    kinds.insert("gauge");
                    point.flags = NO_RECORDED_VALUE;
                    point.value = None;
                }),
                metric::Data::Sum(sum) => sum.data_points.iter_mut().for_each(|point| {
                    kinds.insert("sum");
                    point.flags = NO_RECORDED_VALUE;
                    point.value = None;
                }),
                metric::Data::Histogram(histogram) => {
                    histogram.data_points.iter_mut().for_each(|point| {
                        kinds.insert("histogram");
                        point.flags = NO_RECORDED_VALUE;
                    })
                }
                metric::Data::ExponentialHistogram(histogram) => {
                    histogram.data_points.iter_mut().for_each(|point| {
                        kinds.insert("exponential");
                        point.flags = NO_RECORDED_VALUE;
                    })
                }
                metric::Data::Summary(summary) => {
                    summary.data_points.iter_mut().for_each(|point| {
                        kinds.insert("summary");
                        point.flags = NO_RECORDED_VALUE;
                    })
                }
            }
        }
        assert_eq!(
            kinds.len(),
            5,
            "the fixture has every kind of point: {kinds:?}"
        );
        let after = metrics(&request, received_at(), LIMITS);
        assert_eq!((after.submissions.len(), after.rejected), (0, 0));
        // The flag arrives in either encoding.
        let json: ExportMetricsServiceRequest = serde_json::from_str(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"up",
                "gauge":{"dataPoints":[{"timeUnixNano":"1","flags":1}]},
                "summary":{"dataPoints":[{"timeUnixNano":"1","flags":1}]}}]}]}]}"#,
        )
        .unwrap();
        let recoded = ExportMetricsServiceRequest::decode(&json.encode_to_vec()[..]).unwrap();
        assert_eq!(recoded, json);
        assert_eq!(metrics(&json, received_at(), LIMITS).rejected, 0);
    }

    #[test]
    fn gauge_and_sum_points_of_the_same_name_and_time_are_different_samples() {
        let mut request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
        let metrics_list = &mut request.resource_metrics[0].scope_metrics[0].metrics;
        let Some(metric::Data::Gauge(gauge)) = metrics_list[0].data.clone() else {
            panic!("the fixture's first metric is a gauge")
        };
        let mut as_sum = metrics_list[0].clone();
        as_sum.data = Some(metric::Data::Sum(super::super::proto::Sum {
            data_points: gauge.data_points,
            aggregation_temporality: 1,
            is_monotonic: false,
        }));
        metrics_list.push(as_sum);
        let events = events(&metrics(&request, received_at(), LIMITS));
        let cpu: Vec<&Value> = events
            .iter()
            .filter(|e| e["payload"]["name"] == "system.cpu.utilization")
            .map(|e| &e["eventId"])
            .collect();
        assert_eq!(cpu.len(), 2);
        assert_ne!(cpu[0], cpu[1]);
    }

    #[test]
    fn exports_beyond_the_limits_are_refused_whole() {
        let request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
        // Six data points and two quantile values count as eight records.
        let eight = Limits {
            max_records: 8,
            ..LIMITS
        };
        assert_eq!(metrics(&request, received_at(), eight).too_large, None);
        let seven = Limits {
            max_records: 7,
            ..LIMITS
        };
        let refused = metrics(&request, received_at(), seven);
        assert_eq!(
            refused.too_large.as_deref(),
            Some("an export may hold at most 7 data points")
        );
        // A large resource attribute is repeated in every event's payload.
        let mut request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
        let resource = request.resource_logs[0].resource.as_mut().unwrap();
        resource.attributes.push(KeyValue {
            key: "blob".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("x".repeat(400_000))),
            }),
        });
        let small = Limits {
            max_payload_bytes: 1_000_000,
            ..LIMITS
        };
        let refused = logs(&request, received_at(), small);
        assert_eq!(
            refused.too_large.as_deref(),
            Some("the export expands to more than 1000000 bytes of events")
        );
    }
}
