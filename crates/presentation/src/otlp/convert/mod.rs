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

mod logs;
mod metrics;
#[cfg(test)]
mod tests;
mod traces;

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
