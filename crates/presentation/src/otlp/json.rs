//! The OTLP/JSON rules `serde` does not know by itself.
//!
//! - Integers arrive as decimal strings (the protobuf JSON mapping writes 64-bit ones so)
//!   or as numbers (what most senders write for 32-bit ones); both are accepted for every
//!   integer field and enum, as the mapping says parsers must.
//! - Doubles may be the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
//! - `traceId`, `spanId` and `parentSpanId` are hex, not base64 (an OTLP exception to the
//!   mapping); `bytesValue` is base64.
//! - A oneof is whichever of its fields is present; the `*Json` shapes below collect the
//!   alternatives and convert into the `prost` types.
//! - `null` is accepted for every field and means its default, as the protobuf JSON mapping
//!   says ([`or_default`] on fields whose type has no `null` of its own).

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::proto::{
    any_value, metric, number_data_point, AnyValue, ArrayValue, ExponentialHistogram, Gauge,
    Histogram, KeyValue, KeyValueList, Metric, NumberDataPoint, Sum, Summary,
};

/// A number or a string holding one.
enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a number or a string holding a number")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Number, E> {
                Ok(Number::Unsigned(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Number, E> {
                Ok(Number::Signed(value))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Number, E> {
                Ok(Number::Float(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Number, E> {
                Ok(Number::Text(value.to_string()))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

fn invalid<E: de::Error>(expected: &str, got: impl fmt::Display) -> E {
    E::custom(format!("expected {expected}, got {got}"))
}

fn number_u64<E: de::Error>(number: Number) -> Result<u64, E> {
    match number {
        Number::Unsigned(value) => Ok(value),
        Number::Signed(value) => {
            u64::try_from(value).map_err(|_| invalid("an unsigned integer", value))
        }
        Number::Float(value) if value.fract() == 0.0 && (0.0..1.8e19).contains(&value) => {
            Ok(value as u64)
        }
        Number::Float(value) => Err(invalid("an unsigned integer", value)),
        Number::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| invalid("an unsigned integer", format!("{text:?}"))),
    }
}

fn number_i64<E: de::Error>(number: Number) -> Result<i64, E> {
    match number {
        Number::Unsigned(value) => i64::try_from(value).map_err(|_| invalid("an integer", value)),
        Number::Signed(value) => Ok(value),
        Number::Float(value) if value.fract() == 0.0 && value.abs() < 9.2e18 => Ok(value as i64),
        Number::Float(value) => Err(invalid("an integer", value)),
        Number::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| invalid("an integer", format!("{text:?}"))),
    }
}

fn number_f64<E: de::Error>(number: Number) -> Result<f64, E> {
    match number {
        Number::Unsigned(value) => Ok(value as f64),
        Number::Signed(value) => Ok(value as f64),
        Number::Float(value) => Ok(value),
        Number::Text(text) => match text.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            // Rust would also read "inf" and "nan": only decimal notation is a number here.
            other
                if other
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
            {
                other
                    .parse()
                    .map_err(|_| invalid("a number", format!("{text:?}")))
            }
            _ => Err(invalid("a number", format!("{text:?}"))),
        },
    }
}

/// Any field: `null` is the field's default value.
pub fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A repeated message field: an array of JSON objects, or `null` (no messages). serde's
/// derived structs also read a message from an array of its fields in order; the protobuf
/// JSON mapping has no such form, so an element that is not an object is refused.
pub fn messages<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let Some(messages) = Option::<Vec<Message<T>>>::deserialize(deserializer)? else {
        return Ok(Vec::new());
    };
    Ok(messages
        .into_iter()
        .map(|Message(message)| message)
        .collect())
}

/// One message, read from a JSON object only.
struct Message<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Message<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = Message<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a message (a JSON object)")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Message)
            }
        }
        deserializer.deserialize_map(ObjectOnly(std::marker::PhantomData))
    }
}

/// `fixed64` / `uint64`: a number or a decimal string; `null` is 0.
pub fn u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Option::<Number>::deserialize(deserializer)?.map_or(Ok(0), number_u64)
}

/// `int32` (and enums): a number or a decimal string, as the protobuf JSON mapping allows
/// for every integer type; `null` is 0.
pub fn i32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let Some(number) = Option::<Number>::deserialize(deserializer)? else {
        return Ok(0);
    };
    let value = number_i64(number)?;
    i32::try_from(value).map_err(|_| invalid("a 32-bit integer", value))
}

/// `uint32` / `fixed32`: a number or a decimal string; `null` is 0.
pub fn u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let Some(number) = Option::<Number>::deserialize(deserializer)? else {
        return Ok(0);
    };
    let value = number_u64(number)?;
    u32::try_from(value).map_err(|_| invalid("a 32-bit unsigned integer", value))
}

/// `double`: a number or one of the special strings; `null` is 0.
pub fn f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Option::<Number>::deserialize(deserializer)?.map_or(Ok(0.0), number_f64)
}

/// `repeated fixed64` / `repeated uint64`.
pub fn u64_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Item(#[serde(deserialize_with = "u64")] u64);
    let items = Option::<Vec<Item>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(items.into_iter().map(|Item(value)| value).collect())
}

/// `repeated double`.
pub fn f64_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    #[derive(Deserialize)]
    struct Item(#[serde(deserialize_with = "f64")] f64);
    let items = Option::<Vec<Item>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(items.into_iter().map(|Item(value)| value).collect())
}

/// `optional double`.
pub fn optional_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    Option::<Number>::deserialize(deserializer)?
        .map(number_f64)
        .transpose()
}

fn optional_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Option::<Number>::deserialize(deserializer)?
        .map(number_i64)
        .transpose()
}

fn optional_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Option::<Number>::deserialize(deserializer)?
        .map(number_u64)
        .transpose()
}

/// Trace and span ids: a hex string (empty or `null` is no id).
pub fn hex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    decode_hex(&text).ok_or_else(|| invalid("a hex-encoded id", format!("{text:?}")))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// Lower-case hex, as OTLP/JSON and the stored payloads write ids.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

fn optional_base64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<u8>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let text = text.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map(Some)
        .map_err(|_| invalid("base64", format!("{text:?}")))
}

/// `AnyValue`: one of its fields.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct AnyValueJson {
    string_value: Option<String>,
    bool_value: Option<bool>,
    #[serde(deserialize_with = "optional_i64")]
    int_value: Option<i64>,
    #[serde(deserialize_with = "optional_f64")]
    double_value: Option<f64>,
    array_value: Option<ArrayValue>,
    kvlist_value: Option<KeyValueList>,
    #[serde(deserialize_with = "optional_base64")]
    bytes_value: Option<Vec<u8>>,
}

impl From<AnyValueJson> for AnyValue {
    fn from(json: AnyValueJson) -> Self {
        use any_value::Value;
        let value = json
            .string_value
            .map(Value::StringValue)
            .or(json.bool_value.map(Value::BoolValue))
            .or(json.int_value.map(Value::IntValue))
            .or(json.double_value.map(Value::DoubleValue))
            .or(json.array_value.map(Value::ArrayValue))
            .or(json.kvlist_value.map(Value::KvlistValue))
            .or(json.bytes_value.map(Value::BytesValue));
        AnyValue { value }
    }
}

/// `Metric`: its data is one of five kinds.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct MetricJson {
    #[serde(deserialize_with = "or_default")]
    name: String,
    #[serde(deserialize_with = "or_default")]
    unit: String,
    gauge: Option<Gauge>,
    sum: Option<Sum>,
    histogram: Option<Histogram>,
    exponential_histogram: Option<ExponentialHistogram>,
    summary: Option<Summary>,
}

impl From<MetricJson> for Metric {
    fn from(json: MetricJson) -> Self {
        use metric::Data;
        let data = json
            .gauge
            .map(Data::Gauge)
            .or(json.sum.map(Data::Sum))
            .or(json.histogram.map(Data::Histogram))
            .or(json.exponential_histogram.map(Data::ExponentialHistogram))
            .or(json.summary.map(Data::Summary));
        Metric {
            name: json.name,
            unit: json.unit,
            data,
        }
    }
}

/// `NumberDataPoint`: the value is `asDouble` or `asInt`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct NumberDataPointJson {
    #[serde(deserialize_with = "or_default")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "optional_u64")]
    start_time_unix_nano: Option<u64>,
    #[serde(deserialize_with = "optional_u64")]
    time_unix_nano: Option<u64>,
    #[serde(deserialize_with = "optional_f64")]
    as_double: Option<f64>,
    #[serde(deserialize_with = "optional_i64")]
    as_int: Option<i64>,
    #[serde(deserialize_with = "u32")]
    flags: u32,
}

impl From<NumberDataPointJson> for NumberDataPoint {
    fn from(json: NumberDataPointJson) -> Self {
        use number_data_point::Value;
        NumberDataPoint {
            attributes: json.attributes,
            start_time_unix_nano: json.start_time_unix_nano.unwrap_or_default(),
            time_unix_nano: json.time_unix_nano.unwrap_or_default(),
            value: json
                .as_double
                .map(Value::AsDouble)
                .or(json.as_int.map(Value::AsInt)),
            flags: json.flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_an_object_never_an_array_of_its_fields() {
        use crate::otlp::proto::ExportLogsServiceRequest;
        let parse = |text: &str| serde_json::from_str::<ExportLogsServiceRequest>(text);
        assert!(parse(r#"{"resourceLogs":[[null,null]]}"#).is_err());
        assert!(parse(r#"{"resourceLogs":[null]}"#).is_err());
        assert!(parse(r#"{"resourceLogs":[{"scopeLogs":[[]]}]}"#).is_err());
        assert_eq!(
            parse(r#"{"resourceLogs":null}"#)
                .unwrap()
                .resource_logs
                .len(),
            0
        );
        assert_eq!(
            parse(r#"{"resourceLogs":[{}]}"#)
                .unwrap()
                .resource_logs
                .len(),
            1
        );
    }

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "u64")]
        n: u64,
        #[serde(deserialize_with = "f64")]
        x: f64,
        #[serde(deserialize_with = "hex")]
        id: Vec<u8>,
    }

    fn probe(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integers_may_be_strings_or_numbers() {
        assert_eq!(probe(r#"{"n":"17","x":1,"id":""}"#).unwrap().n, 17);
        assert_eq!(probe(r#"{"n":17,"x":1,"id":""}"#).unwrap().n, 17);
        assert!(probe(r#"{"n":"-1","x":1,"id":""}"#).is_err());
        assert!(probe(r#"{"n":1.5,"x":1,"id":""}"#).is_err());
    }

    #[test]
    fn doubles_may_be_special_strings() {
        assert!(probe(r#"{"n":0,"x":"NaN","id":""}"#).unwrap().x.is_nan());
        assert_eq!(
            probe(r#"{"n":0,"x":"-Infinity","id":""}"#).unwrap().x,
            f64::NEG_INFINITY
        );
        assert!(probe(r#"{"n":0,"x":"many","id":""}"#).is_err());
        assert!(probe(r#"{"n":0,"x":"inf","id":""}"#).is_err());
        assert_eq!(probe(r#"{"n":0,"x":"1.5e3","id":""}"#).unwrap().x, 1500.0);
    }

    #[test]
    fn ids_are_hex() {
        let id = probe(r#"{"n":0,"x":0,"id":"00ff1A"}"#).unwrap().id;
        assert_eq!(id, vec![0x00, 0xff, 0x1a]);
        assert_eq!(encode_hex(&id), "00ff1a");
        assert!(probe(r#"{"n":0,"x":0,"id":"abc"}"#).is_err());
        assert!(probe(r#"{"n":0,"x":0,"id":"zz"}"#).is_err());
        assert!(probe(r#"{"n":0,"x":0,"id":"+f+f"}"#).is_err());
    }

    #[test]
    fn null_is_the_default_of_every_field() {
        use crate::otlp::proto::{ExportLogsServiceRequest, ExportMetricsServiceRequest};
        let logs: ExportLogsServiceRequest = serde_json::from_str(
            r#"{"resourceLogs":[{"resource":{"attributes":null},"schemaUrl":null,
                "scopeLogs":[{"scope":{"name":null,"version":null,"attributes":null},
                "logRecords":[{"timeUnixNano":null,"observedTimeUnixNano":"5",
                "severityNumber":null,"severityText":null,"body":{"stringValue":"up"},
                "attributes":[{"key":"k","value":null}],"droppedAttributesCount":null,
                "flags":null,"traceId":null,"spanId":null,"eventName":null}]}]}]}"#,
        )
        .unwrap();
        let scope = &logs.resource_logs[0].scope_logs[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "");
        let record = &scope.log_records[0];
        assert_eq!(
            (record.time_unix_nano, record.observed_time_unix_nano),
            (0, 5)
        );
        assert_eq!((record.severity_number, record.flags), (0, 0));
        assert_eq!(record.attributes[0].key, "k");
        assert!(record.trace_id.is_empty());

        let metrics: ExportMetricsServiceRequest = serde_json::from_str(
            r#"{"resourceMetrics":[{"resource":null,"scopeMetrics":[{"scope":null,
                "metrics":[{"name":"up","unit":null,"description":null,
                "gauge":{"dataPoints":[{"attributes":null,"asDouble":1}]}},
                {"name":"sum","unit":null,"sum":{"dataPoints":null,
                "aggregationTemporality":null,"isMonotonic":null}}]}]}]}"#,
        )
        .unwrap();
        let decoded = &metrics.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(
            (decoded[0].name.as_str(), decoded[0].unit.as_str()),
            ("up", "")
        );
        assert!(decoded[1].data.is_some());
    }

    #[test]
    fn thirty_two_bit_integers_and_enums_may_be_strings_too() {
        use crate::otlp::proto::{ExportLogsServiceRequest, ExportTraceServiceRequest};
        let logs: ExportLogsServiceRequest = serde_json::from_str(
            r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
                {"timeUnixNano":"5","severityNumber":"9","flags":"1"},
                {"timeUnixNano":"5","severityNumber":9.0,"flags":1}]}]}]}"#,
        )
        .unwrap();
        for record in &logs.resource_logs[0].scope_logs[0].log_records {
            assert_eq!((record.severity_number, record.flags), (9, 1));
        }
        let spans: ExportTraceServiceRequest = serde_json::from_str(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"2"}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(spans.resource_spans[0].scope_spans[0].spans[0].kind, 2);
        let too_large = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
            {"severityNumber":"4294967296"}]}]}]}"#;
        assert!(serde_json::from_str::<ExportLogsServiceRequest>(too_large).is_err());
    }

    #[test]
    fn any_values_take_the_field_that_is_present() {
        let value: AnyValue = serde_json::from_str(r#"{"intValue":"42"}"#).unwrap();
        assert_eq!(value.value, Some(any_value::Value::IntValue(42)));
        for encoded in ["AAE=", "AAE"] {
            let json = format!(r#"{{"bytesValue":"{encoded}"}}"#);
            let value: AnyValue = serde_json::from_str(&json).unwrap();
            assert_eq!(value.value, Some(any_value::Value::BytesValue(vec![0, 1])));
        }
        let value: AnyValue = serde_json::from_str("{}").unwrap();
        assert_eq!(value.value, None);
    }
}
