//! Counting an export's records and messages before decoding it.
//!
//! Decoding allocates per message: an empty log record is 2 bytes of protobuf (3 of JSON)
//! and about 200 bytes once decoded, so a 10 MiB export of empty records (10 KB gzipped)
//! would take 2.4 GB of memory before the record limit could refuse it. The checks here
//! ([`check_protobuf`], [`check_json`]) walk the encoded export along the message fields the
//! service decodes (the same schema as [`super::proto`]) without building anything, and
//! stop at the first record or message past the limits.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

use super::convert::Signal;

/// How many messages (resources, scopes, attributes, values, buckets...) an export may hold
/// per record the record limit allows: 1 million at the default 10,000 records, about
/// 150 MB decoded, more than a 10 MiB export of real attributes holds.
pub const MESSAGES_PER_RECORD: usize = 100;

/// How deeply messages may nest: decoding (`prost`) refuses more than 100 levels, and the
/// walk stops there too, so a small export of values nested a million deep (arrays of
/// arrays) neither exhausts the walk's stack nor gets past decoding.
const MAX_DEPTH: u32 = 100;

/// What the walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limits, or not well-formed (decoding then says why).
    Within,
    /// More records than `max_records`.
    TooManyRecords,
    /// More messages than `max_records * MESSAGES_PER_RECORD`.
    TooManyMessages,
}

/// Counts the records and messages of a protobuf-encoded export of `signal`, stopping
/// past the limits.
pub fn check_protobuf(signal: Signal, bytes: &[u8], max_records: usize) -> Verdict {
    Tally::new(max_records, max_records.saturating_mul(MESSAGES_PER_RECORD)).protobuf(signal, bytes)
}

/// The same for an OTLP/JSON export.
pub fn check_json(signal: Signal, bytes: &[u8], max_records: usize) -> Verdict {
    Tally::new(max_records, max_records.saturating_mul(MESSAGES_PER_RECORD)).json(signal, bytes)
}

struct Tally {
    records: Cell<usize>,
    messages: Cell<usize>,
    max_records: usize,
    max_messages: usize,
    verdict: Cell<Verdict>,
}

/// The walk stopped: past a limit, or at something not well-formed.
struct Stop;

impl Tally {
    fn new(max_records: usize, max_messages: usize) -> Self {
        Self {
            records: Cell::new(0),
            messages: Cell::new(0),
            max_records,
            max_messages,
            verdict: Cell::new(Verdict::Within),
        }
    }

    /// Walks a protobuf export (the request counts as a message, as in `json`).
    fn protobuf(self, signal: Signal, bytes: &[u8]) -> Verdict {
        let root = Node::root(signal);
        let _ = self
            .count(root)
            .and_then(|()| walk_protobuf(bytes, root, &self, 1));
        self.verdict.get()
    }

    fn json(self, signal: Signal, bytes: &[u8]) -> Verdict {
        let root = JsonMessage {
            node: Node::root(signal),
            tally: &self,
        };
        let _ = root.deserialize(&mut serde_json::Deserializer::from_slice(bytes));
        self.verdict.get()
    }

    /// Counts one message of `node`; `Stop` once past a limit.
    fn count(&self, node: Node) -> Result<(), Stop> {
        self.messages.set(self.messages.get() + 1);
        if self.messages.get() > self.max_messages {
            self.verdict.set(Verdict::TooManyMessages);
            return Err(Stop);
        }
        if node.is_record() {
            self.records.set(self.records.get() + 1);
            if self.records.get() > self.max_records {
                self.verdict.set(Verdict::TooManyRecords);
                return Err(Stop);
            }
        }
        Ok(())
    }
}

/// The message types of `super::proto` that hold other messages or are records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    LogsRequest,
    MetricsRequest,
    TracesRequest,
    Resource,
    Scope,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    Gauge,
    Histogram,
    ExponentialHistogram,
    Summary,
    NumberPoint,
    HistogramPoint,
    ExponentialPoint,
    Buckets,
    SummaryPoint,
    Quantile,
    ResourceSpans,
    ScopeSpans,
    Span,
    SpanEvent,
    SpanStatus,
}

impl Node {
    fn root(signal: Signal) -> Self {
        match signal {
            Signal::Logs => Self::LogsRequest,
            Signal::Metrics => Self::MetricsRequest,
            Signal::Traces => Self::TracesRequest,
        }
    }

    fn is_record(self) -> bool {
        matches!(
            self,
            Self::LogRecord
                | Self::NumberPoint
                | Self::HistogramPoint
                | Self::ExponentialPoint
                | Self::SummaryPoint
                | Self::Span
        )
    }

    /// The message type of field `tag` (protobuf) or `name` (OTLP/JSON), if it is one.
    fn child(self, tag: u64, name: &str) -> Option<Self> {
        use Node::*;
        let by = |field: u64, json: &str| tag == field || name == json;
        Some(match self {
            LogsRequest if by(1, "resourceLogs") => ResourceLogs,
            MetricsRequest if by(1, "resourceMetrics") => ResourceMetrics,
            TracesRequest if by(1, "resourceSpans") => ResourceSpans,
            Resource if by(1, "attributes") => KeyValue,
            KeyValue if by(2, "value") => AnyValue,
            AnyValue if by(5, "arrayValue") => ArrayValue,
            AnyValue if by(6, "kvlistValue") => KeyValueList,
            ArrayValue if by(1, "values") => AnyValue,
            KeyValueList if by(1, "values") => KeyValue,
            ResourceLogs | ResourceMetrics | ResourceSpans if by(1, "resource") => Resource,
            ScopeLogs | ScopeMetrics | ScopeSpans if by(1, "scope") => Scope,
            ResourceLogs if by(2, "scopeLogs") => ScopeLogs,
            ScopeLogs if by(2, "logRecords") => LogRecord,
            LogRecord if by(5, "body") => AnyValue,
            LogRecord if by(6, "attributes") => KeyValue,
            ResourceMetrics if by(2, "scopeMetrics") => ScopeMetrics,
            ScopeMetrics if by(2, "metrics") => Metric,
            Metric if by(5, "gauge") || by(7, "sum") => Gauge,
            Metric if by(9, "histogram") => Histogram,
            Metric if by(10, "exponentialHistogram") => ExponentialHistogram,
            Metric if by(11, "summary") => Summary,
            Gauge if by(1, "dataPoints") => NumberPoint,
            Histogram if by(1, "dataPoints") => HistogramPoint,
            ExponentialHistogram if by(1, "dataPoints") => ExponentialPoint,
            Summary if by(1, "dataPoints") => SummaryPoint,
            NumberPoint if by(7, "attributes") => KeyValue,
            HistogramPoint if by(9, "attributes") => KeyValue,
            ExponentialPoint if by(1, "attributes") => KeyValue,
            ExponentialPoint if by(8, "positive") || by(9, "negative") => Buckets,
            SummaryPoint if by(7, "attributes") => KeyValue,
            SummaryPoint if by(6, "quantileValues") => Quantile,
            ResourceSpans if by(2, "scopeSpans") => ScopeSpans,
            ScopeSpans if by(2, "spans") => Span,
            Span if by(9, "attributes") => KeyValue,
            Span if by(11, "events") => SpanEvent,
            Span if by(15, "status") => SpanStatus,
            SpanEvent if by(3, "attributes") => KeyValue,
            _ => return None,
        })
    }
}

/// Walks the protobuf encoding of one message of type `node` (its fields, without the
/// message's own tag and length), `depth` levels down from the request. Past
/// [`MAX_DEPTH`] it stops with the verdict so far: decoding then refuses the export.
fn walk_protobuf(mut bytes: &[u8], node: Node, tally: &Tally, depth: u32) -> Result<(), Stop> {
    if depth > MAX_DEPTH {
        return Err(Stop);
    }
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        match key & 7 {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..).ok_or(Stop)?,
            5 => bytes = bytes.get(4..).ok_or(Stop)?,
            2 => {
                let length = usize::try_from(varint(&mut bytes)?).map_err(|_| Stop)?;
                if length > bytes.len() {
                    return Err(Stop);
                }
                let (inner, rest) = bytes.split_at(length);
                bytes = rest;
                if let Some(child) = node.child(key >> 3, "") {
                    tally.count(child)?;
                    walk_protobuf(inner, child, tally, depth + 1)?;
                }
            }
            // Groups (deprecated) and invalid wire types: decoding reports them.
            _ => return Err(Stop),
        }
    }
    Ok(())
}

fn varint(bytes: &mut &[u8]) -> Result<u64, Stop> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or(Stop)?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Stop)
}

/// One OTLP/JSON message of type `node`; counted when it turns out to be an object.
struct JsonMessage<'t> {
    node: Node,
    tally: &'t Tally,
}

impl<'de> DeserializeSeed<'de> for JsonMessage<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for JsonMessage<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an OTLP message")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        self.tally
            .count(self.node)
            .map_err(|Stop| de::Error::custom("past the limits"))?;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.node.child(0, &key) {
                Some(child) => map.next_value_seed(JsonField {
                    node: child,
                    tally: self.tally,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The value of a message field: one message, an array of them, or `null`.
struct JsonField<'t> {
    node: Node,
    tally: &'t Tally,
}

impl JsonField<'_> {
    fn message(&self) -> JsonMessage<'_> {
        JsonMessage {
            node: self.node,
            tally: self.tally,
        }
    }
}

impl<'de> DeserializeSeed<'de> for JsonField<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonField<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an OTLP message, an array of them or null")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
        self.message().visit_map(map)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element_seed(self.message())?.is_some() {}
        Ok(())
    }

    // Anything else is not a message: decoding accepts `null` and reports the rest.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::otlp::convert::{self, Limits};
    use crate::otlp::proto::{
        ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest,
    };
    use telemetry_domain::values::Timestamp;

    const FIXTURES: [(Signal, &[u8], &str); 3] = [
        (
            Signal::Logs,
            include_bytes!("../../../../tests/fixtures/otlp/logs.pb"),
            include_str!("../../../../tests/fixtures/otlp/logs.json"),
        ),
        (
            Signal::Metrics,
            include_bytes!("../../../../tests/fixtures/otlp/metrics.pb"),
            include_str!("../../../../tests/fixtures/otlp/metrics.json"),
        ),
        (
            Signal::Traces,
            include_bytes!("../../../../tests/fixtures/otlp/traces.pb"),
            include_str!("../../../../tests/fixtures/otlp/traces.json"),
        ),
    ];

    /// The records the conversion counts in a protobuf fixture.
    fn converted_records(signal: Signal, bytes: &[u8]) -> usize {
        let limits = Limits {
            max_records: 10_000,
            max_payload_bytes: 1 << 20,
        };
        let at = Timestamp::now();
        match signal {
            Signal::Logs => {
                convert::logs(
                    &ExportLogsServiceRequest::decode(bytes).unwrap(),
                    at,
                    limits,
                )
                .records
            }
            Signal::Metrics => {
                let request = ExportMetricsServiceRequest::decode(bytes).unwrap();
                convert::metrics(&request, at, limits).records
            }
            Signal::Traces => {
                let request = ExportTraceServiceRequest::decode(bytes).unwrap();
                convert::traces(&request, at, limits).records
            }
        }
    }

    /// The fewest messages a walk admits without stopping.
    fn messages(walk: impl Fn(Tally) -> Verdict) -> usize {
        (1..10_000)
            .find(|&max| walk(Tally::new(10_000, max)) == Verdict::Within)
            .unwrap()
    }

    #[test]
    fn both_encodings_of_the_fixtures_count_what_the_conversion_counts() {
        for (signal, protobuf, json) in FIXTURES {
            let records = converted_records(signal, protobuf);
            assert!(records > 1, "{signal:?}");
            let json_bytes = json.as_bytes();
            assert_eq!(check_protobuf(signal, protobuf, records), Verdict::Within);
            assert_eq!(check_json(signal, json_bytes, records), Verdict::Within);
            let fewer = records - 1;
            assert_eq!(
                check_protobuf(signal, protobuf, fewer),
                Verdict::TooManyRecords
            );
            assert_eq!(
                check_json(signal, json_bytes, fewer),
                Verdict::TooManyRecords
            );
            // The same request in either encoding holds the same messages: each tag of the
            // walk's schema matches its JSON name.
            let in_protobuf = messages(|tally| tally.protobuf(signal, protobuf));
            let in_json = messages(|tally| tally.json(signal, json.as_bytes()));
            assert_eq!(in_protobuf, in_json, "{signal:?}");
            assert!(in_protobuf > records * 2, "{signal:?}: {in_protobuf}");
        }
    }

    fn field(tag: u32, payload: &[u8]) -> Vec<u8> {
        use prost::encoding::{encode_key, encode_varint, WireType};
        let mut out = Vec::with_capacity(payload.len() + 8);
        encode_key(tag, WireType::LengthDelimited, &mut out);
        encode_varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }

    /// A log export whose one resource attribute holds an array of arrays `levels` deep.
    fn deeply_nested_export(levels: usize) -> Vec<u8> {
        use prost::encoding::encode_varint;
        // Built back to front: each level wraps the bytes so far in an `arrayValue` (AnyValue
        // field 5) holding them as its one value (ArrayValue field 1).
        let mut reversed: Vec<u8> = Vec::with_capacity(levels * 10);
        let wrap = |reversed: &mut Vec<u8>, key: u8| {
            let mut length = Vec::new();
            encode_varint(reversed.len() as u64, &mut length);
            reversed.extend(length.iter().rev());
            reversed.push(key);
        };
        for _ in 0..levels {
            wrap(&mut reversed, 0x0a);
            wrap(&mut reversed, 0x2a);
        }
        reversed.reverse();
        let key_value = [field(1, b"deep"), field(2, &reversed)].concat();
        field(1, &field(1, &field(1, &key_value)))
    }

    #[test]
    fn values_nested_a_million_deep_stop_the_walk_and_fail_decoding() {
        let export = deeply_nested_export(1_000_000);
        assert!(export.len() < 10 << 20, "{}", export.len());
        let tally = Tally::new(10_000, usize::MAX);
        assert_eq!(tally.protobuf(Signal::Logs, &export), Verdict::Within);
        assert!(ExportLogsServiceRequest::decode(&export[..]).is_err());
        // Nesting within the limit decodes.
        let shallow = deeply_nested_export(40);
        assert_eq!(check_protobuf(Signal::Logs, &shallow, 10), Verdict::Within);
        assert!(ExportLogsServiceRequest::decode(&shallow[..]).is_ok());
    }

    #[test]
    fn empty_records_and_attributes_count_before_anything_is_decoded() {
        // One resource, one scope, a million empty log records: 2 MB of protobuf.
        let records = [0x12, 0x00].repeat(1_000_000);
        let export = field(1, &field(2, &records));
        assert_eq!(
            check_protobuf(Signal::Logs, &export, 10_000),
            Verdict::TooManyRecords
        );
        // One record with 2,000 empty attributes against a limit of 10 records (1,000
        // messages).
        let record = field(2, &[0x32, 0x00].repeat(2_000));
        let export = field(1, &field(2, &record));
        assert_eq!(
            check_protobuf(Signal::Logs, &export, 10),
            Verdict::TooManyMessages
        );
        assert_eq!(check_protobuf(Signal::Logs, &export, 100), Verdict::Within);
        let json = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{}]}}]}}]}}"#,
            vec!["{}"; 20].join(",")
        );
        assert_eq!(
            check_json(Signal::Logs, json.as_bytes(), 20),
            Verdict::Within
        );
        assert_eq!(
            check_json(Signal::Logs, json.as_bytes(), 19),
            Verdict::TooManyRecords
        );
    }

    #[test]
    fn what_is_not_well_formed_is_left_to_decoding() {
        assert_eq!(
            check_protobuf(Signal::Logs, &[0x0a, 0x05, 0x12], 1),
            Verdict::Within
        );
        assert_eq!(check_protobuf(Signal::Logs, &[0x0b], 1), Verdict::Within);
        assert_eq!(
            check_json(Signal::Traces, b"{\"resourceSpans\": [", 1),
            Verdict::Within
        );
        assert_eq!(check_json(Signal::Traces, b"[1, 2]", 1), Verdict::Within);
    }
}
