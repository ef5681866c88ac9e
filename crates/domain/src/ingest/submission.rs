//! The wire shape of one submitted event, before validation.
//!
//! Every field is kept as the raw JSON text the producer sent, so validation can say exactly
//! which field of which event is wrong (a typed DTO would fail the whole body at the first
//! type mismatch) and so payloads are stored byte for byte as ingested.
//!
//! The fields are not copied out of the request: every submission of a batch shares one copy
//! of the body and holds where its fields lie in it (six allocations fewer per event).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Top-level field names of the ingestion contract.
pub mod field {
    pub const EVENT_ID: &str = "eventId";
    pub const EVENT_TYPE: &str = "eventType";
    pub const SERVICE_NAME: &str = "serviceName";
    pub const TIMESTAMP: &str = "timestamp";
    pub const USER_ID: &str = "userId";
    pub const PAYLOAD: &str = "payload";

    /// Every field above, in the order an `EventSubmission` keeps them.
    pub const KNOWN: [&str; 6] = [
        EVENT_ID,
        EVENT_TYPE,
        SERVICE_NAME,
        TIMESTAMP,
        USER_ID,
        PAYLOAD,
    ];
}

use field::KNOWN;
const EVENT_ID: usize = 0;
const EVENT_TYPE: usize = 1;
const SERVICE_NAME: usize = 2;
const TIMESTAMP: usize = 3;
const USER_ID: usize = 4;
const PAYLOAD: usize = 5;

/// One event as submitted: the raw JSON text of each known field, plus the names of fields
/// the contract does not know.
#[derive(Debug, Default, Clone)]
pub struct EventSubmission {
    /// The JSON text the fields lie in (for a request, its whole body).
    source: Arc<str>,
    /// Where each known field's value lies in `source`, in the order of `KNOWN`.
    fields: [Option<Range<usize>>; 6],
    /// Fields outside the contract, and fields given twice, by name.
    pub unexpected_fields: Vec<String>,
}

/// The raw JSON values of a submission built from something other than JSON text (OTLP).
#[derive(Debug, Default)]
pub struct SubmissionFields<'a> {
    pub event_id: Option<&'a RawValue>,
    pub event_type: Option<&'a RawValue>,
    pub service_name: Option<&'a RawValue>,
    pub timestamp: Option<&'a RawValue>,
    pub user_id: Option<&'a RawValue>,
    pub payload: Option<&'a RawValue>,
}

impl PartialEq for EventSubmission {
    fn eq(&self, other: &Self) -> bool {
        (0..KNOWN.len()).all(|slot| self.raw(slot) == other.raw(slot))
            && self.unexpected_fields == other.unexpected_fields
    }
}

impl EventSubmission {
    /// Parses one JSON object. Used by tests and tools.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let source: Arc<str> = Arc::from(json);
        let parsed: Borrowed<'_> = serde_json::from_str(&source)?;
        Ok(parsed.locate(&source))
    }

    /// Parses a JSON array of event objects; the submissions share one copy of `json`.
    pub fn from_json_array(json: &str) -> Result<Vec<Self>, serde_json::Error> {
        let source: Arc<str> = Arc::from(json);
        let parsed: Vec<Borrowed<'_>> = serde_json::from_str(&source)?;
        Ok(parsed
            .into_iter()
            .map(|submission| submission.locate(&source))
            .collect())
    }

    /// A submission of ready-made JSON values.
    pub fn from_fields(fields: SubmissionFields<'_>) -> Self {
        let values = [
            fields.event_id,
            fields.event_type,
            fields.service_name,
            fields.timestamp,
            fields.user_id,
            fields.payload,
        ];
        let mut source =
            String::with_capacity(values.iter().flatten().map(|v| v.get().len()).sum());
        let mut ranges: [Option<Range<usize>>; 6] = Default::default();
        for (range, value) in ranges.iter_mut().zip(values) {
            if let Some(value) = value {
                let start = source.len();
                source.push_str(value.get());
                *range = Some(start..source.len());
            }
        }
        Self {
            source: Arc::from(source),
            fields: ranges,
            unexpected_fields: Vec::new(),
        }
    }

    fn raw(&self, slot: usize) -> Option<&str> {
        self.fields[slot].clone().map(|range| &self.source[range])
    }

    /// The raw JSON text of `eventId`, when given.
    pub fn event_id(&self) -> Option<&str> {
        self.raw(EVENT_ID)
    }

    pub fn event_type(&self) -> Option<&str> {
        self.raw(EVENT_TYPE)
    }

    pub fn service_name(&self) -> Option<&str> {
        self.raw(SERVICE_NAME)
    }

    pub fn timestamp(&self) -> Option<&str> {
        self.raw(TIMESTAMP)
    }

    pub fn user_id(&self) -> Option<&str> {
        self.raw(USER_ID)
    }

    pub fn payload(&self) -> Option<&str> {
        self.raw(PAYLOAD)
    }
}

/// A submission as parsed: its values borrowed from the JSON text.
#[derive(Default)]
struct Borrowed<'de> {
    fields: [Option<&'de RawValue>; 6],
    unexpected_fields: Vec<String>,
}

impl Borrowed<'_> {
    /// The submission with each value's place in `source`, the text this was parsed from.
    fn locate(self, source: &Arc<str>) -> EventSubmission {
        let base = source.as_ptr() as usize;
        let fields = self.fields.map(|value| {
            value.map(|value| {
                let start = value.get().as_ptr() as usize - base;
                start..start + value.get().len()
            })
        });
        EventSubmission {
            source: Arc::clone(source),
            fields,
            unexpected_fields: self.unexpected_fields,
        }
    }
}

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SubmissionVisitor)
    }
}

/// An object key, borrowed from the input when it has no escapes (`Cow<str>` would always
/// allocate: serde deserializes it through `String`).
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Borrowed(key) => key,
            Self::Owned(key) => key,
        }
    }

    fn into_owned(self) -> String {
        match self {
            Self::Borrowed(key) => key.to_string(),
            Self::Owned(key) => key,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(key))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(key.to_string()))
            }
            fn visit_string<E: de::Error>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(key))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct SubmissionVisitor;

impl<'de> Visitor<'de> for SubmissionVisitor {
    type Value = Borrowed<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an event object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut submission = Borrowed::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Some(slot) = KNOWN.iter().position(|name| *name == key.as_str()) else {
                map.next_value::<IgnoredAny>()?;
                submission.unexpected_fields.push(key.into_owned());
                continue;
            };
            let value: &'de RawValue = map.next_value()?;
            if submission.fields[slot].replace(value).is_some() {
                submission.unexpected_fields.push(key.into_owned());
            }
        }
        Ok(submission)
    }
}

/// The fields of a payload that validation looks at; everything else is skipped unread.
#[derive(Debug, Default)]
pub(crate) struct PayloadProbe<'a> {
    pub name: Option<&'a RawValue>,
    pub value: Option<&'a RawValue>,
    pub unit: Option<&'a RawValue>,
    pub attributes: Option<&'a RawValue>,
    pub user_id: Option<&'a RawValue>,
    pub trace_id: Option<&'a RawValue>,
    pub span_id: Option<&'a RawValue>,
    pub duration_ms: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for PayloadProbe<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PayloadProbeVisitor(std::marker::PhantomData))
    }
}

struct PayloadProbeVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for PayloadProbeVisitor<'a> {
    type Value = PayloadProbe<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut probe = PayloadProbe::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let slot = match key.as_str() {
                "name" => &mut probe.name,
                "value" => &mut probe.value,
                "unit" => &mut probe.unit,
                "attributes" => &mut probe.attributes,
                "userId" => &mut probe.user_id,
                "traceId" => &mut probe.trace_id,
                "spanId" => &mut probe.span_id,
                "durationMs" => &mut probe.duration_ms,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value::<&'de RawValue>()?);
        }
        Ok(probe)
    }
}

/// Parses `raw` as a payload probe, failing unless it is a JSON object.
pub(crate) fn probe_payload(raw: &str) -> Result<PayloadProbe<'_>, de::value::Error> {
    serde_json::from_str(raw).map_err(|error| de::Error::custom(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_field_text_and_reports_unknown_fields() {
        let submission = EventSubmission::from_json(
            r#"{"eventId":"e1","eventType":"log","colour":"red","payload":{"a": [1, 2]}}"#,
        )
        .unwrap();
        assert_eq!(submission.event_id(), Some("\"e1\""));
        assert_eq!(submission.payload(), Some(r#"{"a": [1, 2]}"#));
        assert_eq!(submission.unexpected_fields, vec!["colour".to_string()]);
    }

    #[test]
    fn the_events_of_an_array_keep_their_own_fields() {
        let submissions = EventSubmission::from_json_array(
            r#"[{"eventId":"e1","payload":{"m":"a\"b"}},
                {"payload":{"n":1},"eventId":"e\u0032","x":1}]"#,
        )
        .unwrap();
        assert_eq!(submissions.len(), 2);
        assert_eq!(submissions[0].event_id(), Some(r#""e1""#));
        assert_eq!(submissions[0].payload(), Some(r#"{"m":"a\"b"}"#));
        assert_eq!(submissions[0].service_name(), None);
        assert_eq!(submissions[1].event_id(), Some(r#""e\u0032""#));
        assert_eq!(submissions[1].payload(), Some(r#"{"n":1}"#));
        assert_eq!(submissions[1].unexpected_fields, vec!["x".to_string()]);
        assert!(EventSubmission::from_json_array(r#"[{"eventId":"e1"}, 7]"#).is_err());
    }

    #[test]
    fn submissions_of_ready_made_values_equal_parsed_ones() {
        let id = RawValue::from_string(r#""e1""#.to_string()).unwrap();
        let payload = RawValue::from_string(r#"{"a":1}"#.to_string()).unwrap();
        let built = EventSubmission::from_fields(SubmissionFields {
            event_id: Some(&id),
            payload: Some(&payload),
            ..SubmissionFields::default()
        });
        let parsed = EventSubmission::from_json(r#"{"payload":{"a":1},"eventId":"e1"}"#).unwrap();
        assert_eq!(built, parsed);
        assert_eq!(built.timestamp(), None);
    }

    #[test]
    fn a_field_given_twice_is_reported() {
        let submission = EventSubmission::from_json(r#"{"eventId":"e1","eventId":"e2"}"#).unwrap();
        assert_eq!(submission.unexpected_fields, vec!["eventId".to_string()]);
    }

    #[test]
    fn escaped_keys_are_read_like_plain_ones() {
        let submission =
            EventSubmission::from_json(r#"{"event\u0049d":"e1","col\u006fur":"red"}"#).unwrap();
        assert_eq!(submission.event_id(), Some("\"e1\""));
        assert_eq!(submission.unexpected_fields, vec!["colour".to_string()]);
        let raw = r#"{"n\u0061me":"cpu"}"#;
        assert_eq!(probe_payload(raw).unwrap().name.unwrap().get(), "\"cpu\"");
    }

    #[test]
    fn probe_rejects_non_objects() {
        assert!(probe_payload("[1]").is_err());
        let raw = r#"{"name":"cpu","x":{"y":1}}"#;
        assert_eq!(probe_payload(raw).unwrap().name.unwrap().get(), "\"cpu\"");
    }
}
