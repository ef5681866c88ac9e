//! The wire shape of one submitted event, before validation.
//!
//! Every field is kept as the raw JSON text the producer sent, so validation can say exactly
//! which field of which event is wrong (a typed DTO would fail the whole body at the first
//! type mismatch) and so payloads are stored byte for byte as ingested.
//!
//! The fields are not copied out of the request: every submission of a batch shares one copy
//! of the body and holds where its fields lie in it (six allocations fewer per event).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::validation::MAX_LISTED_VIOLATIONS;

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

/// Why a JSON array was not read.
#[derive(Debug)]
pub enum ArrayError {
    /// The text is not a JSON array of the expected elements.
    Json(serde_json::Error),
    /// The array holds more elements than allowed: reading stopped at the first one past
    /// the limit.
    TooMany,
}

impl fmt::Display for ArrayError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(error) => error.fmt(formatter),
            Self::TooMany => formatter.write_str("the array holds too many elements"),
        }
    }
}

impl std::error::Error for ArrayError {}

/// Reads a JSON array of at most `max` elements of `T`. A longer array is not read to its
/// end, so what a body can make the service hold is bounded by the limit, not by the body.
pub fn json_array_at_most<'de, T: Deserialize<'de>>(
    json: &'de str,
    max: usize,
) -> Result<Vec<T>, ArrayError> {
    array_at_most(json, max, || PhantomData::<T>)
}

fn array_at_most<'de, S: DeserializeSeed<'de>>(
    json: &'de str,
    max: usize,
    element: impl FnMut() -> S,
) -> Result<Vec<S::Value>, ArrayError> {
    let exceeded = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let visitor = AtMost {
        max,
        element,
        exceeded: &exceeded,
    };
    let parsed = deserializer
        .deserialize_seq(visitor)
        .and_then(|elements| deserializer.end().map(|()| elements));
    parsed.map_err(|error| {
        if exceeded.get() {
            ArrayError::TooMany
        } else {
            ArrayError::Json(error)
        }
    })
}

struct AtMost<'f, F> {
    max: usize,
    element: F,
    exceeded: &'f Cell<bool>,
}

impl<'de, S, F> Visitor<'de> for AtMost<'_, F>
where
    S: DeserializeSeed<'de>,
    F: FnMut() -> S,
{
    type Value = Vec<S::Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = seq.next_element_seed((self.element)())? {
            if elements.len() == self.max {
                self.exceeded.set(true);
                return Err(de::Error::custom("too many elements"));
            }
            elements.push(element);
        }
        Ok(elements)
    }
}

impl EventSubmission {
    /// Parses one JSON object. Used by tests and tools.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let source: Arc<str> = Arc::from(json);
        let names_left = Cell::new(MAX_LISTED_VIOLATIONS + 1);
        let mut deserializer = serde_json::Deserializer::from_str(&source);
        let parsed = SubmissionSeed {
            names_left: &names_left,
        }
        .deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(parsed.locate(&source))
    }

    /// Parses a JSON array of at most `max` event objects; the submissions share one copy
    /// of `json`.
    ///
    /// Fields outside the contract are named for at most one more than the number of
    /// problems an answer lists, over the whole array: enough to say there were more.
    pub fn from_json_array(json: &str, max: usize) -> Result<Vec<Self>, ArrayError> {
        let source: Arc<str> = Arc::from(json);
        let names_left = Cell::new(MAX_LISTED_VIOLATIONS + 1);
        let parsed = array_at_most(&source, max, || SubmissionSeed {
            names_left: &names_left,
        })?;
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

/// Reads one submission, naming unexpected fields while `names_left` lasts.
struct SubmissionSeed<'n> {
    names_left: &'n Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for SubmissionSeed<'_> {
    type Value = Borrowed<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(SubmissionVisitor {
            names_left: self.names_left,
        })
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

struct SubmissionVisitor<'n> {
    names_left: &'n Cell<usize>,
}

impl SubmissionVisitor<'_> {
    fn note_unexpected(&self, submission: &mut Borrowed<'_>, key: Key<'_>) {
        let left = self.names_left.get();
        if left > 0 {
            self.names_left.set(left - 1);
            submission.unexpected_fields.push(key.into_owned());
        }
    }
}

impl<'de> Visitor<'de> for SubmissionVisitor<'_> {
    type Value = Borrowed<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an event object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut submission = Borrowed::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Some(slot) = KNOWN.iter().position(|name| *name == key.as_str()) else {
                map.next_value::<IgnoredAny>()?;
                self.note_unexpected(&mut submission, key);
                continue;
            };
            let value: &'de RawValue = map.next_value()?;
            if submission.fields[slot].replace(value).is_some() {
                self.note_unexpected(&mut submission, key);
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
    /// A metric's declared kind (`MetricShape` reads the rest when there is one).
    pub kind: Option<&'a RawValue>,
    /// Fields above given more than once, by name (the last one is kept above). Readers of
    /// stored payloads refuse such a payload, so validation must too.
    pub repeated: Vec<&'static str>,
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
            let (name, slot) = match key.as_str() {
                "name" => ("name", &mut probe.name),
                "value" => ("value", &mut probe.value),
                "unit" => ("unit", &mut probe.unit),
                "attributes" => ("attributes", &mut probe.attributes),
                "userId" => ("userId", &mut probe.user_id),
                "traceId" => ("traceId", &mut probe.trace_id),
                "spanId" => ("spanId", &mut probe.span_id),
                "durationMs" => ("durationMs", &mut probe.duration_ms),
                "kind" => ("kind", &mut probe.kind),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.replace(map.next_value::<&'de RawValue>()?).is_some()
                && !probe.repeated.contains(&name)
            {
                probe.repeated.push(name);
            }
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
            2,
        )
        .unwrap();
        assert_eq!(submissions.len(), 2);
        assert_eq!(submissions[0].event_id(), Some(r#""e1""#));
        assert_eq!(submissions[0].payload(), Some(r#"{"m":"a\"b"}"#));
        assert_eq!(submissions[0].service_name(), None);
        assert_eq!(submissions[1].event_id(), Some(r#""e\u0032""#));
        assert_eq!(submissions[1].payload(), Some(r#"{"n":1}"#));
        assert_eq!(submissions[1].unexpected_fields, vec!["x".to_string()]);
        assert!(matches!(
            EventSubmission::from_json_array(r#"[{"eventId":"e1"}, 7]"#, 2),
            Err(ArrayError::Json(_))
        ));
    }

    #[test]
    fn an_array_past_the_limit_is_not_read_to_its_end() {
        let three = r#"[{"eventId":"a"},{"eventId":"b"},{"eventId":"c"}]"#;
        assert_eq!(EventSubmission::from_json_array(three, 3).unwrap().len(), 3);
        assert!(matches!(
            EventSubmission::from_json_array(three, 2),
            Err(ArrayError::TooMany)
        ));
        // Reading stops at the first element past the limit: what follows is never parsed.
        let broken_tail = r#"[{"eventId":"a"},{"eventId":"b"},{"eventId":"c"}, oops"#;
        assert!(matches!(
            EventSubmission::from_json_array(broken_tail, 2),
            Err(ArrayError::TooMany)
        ));
        assert!(matches!(
            json_array_at_most::<&RawValue>("[1,2,3]", 2),
            Err(ArrayError::TooMany)
        ));
        assert!(matches!(
            json_array_at_most::<&RawValue>("[1,2] x", 2),
            Err(ArrayError::Json(_))
        ));
    }

    #[test]
    fn unexpected_fields_are_named_up_to_one_past_what_an_answer_lists() {
        let fields: Vec<String> = (0..MAX_LISTED_VIOLATIONS + 50)
            .map(|n| format!(r#""x{n}":0"#))
            .collect();
        let event = format!("{{{}}}", fields.join(","));
        let one = EventSubmission::from_json(&event).unwrap();
        assert_eq!(one.unexpected_fields.len(), MAX_LISTED_VIOLATIONS + 1);
        let batch = format!("[{event},{event}]");
        let two = EventSubmission::from_json_array(&batch, 2).unwrap();
        let named: usize = two.iter().map(|s| s.unexpected_fields.len()).sum();
        assert_eq!(named, MAX_LISTED_VIOLATIONS + 1);
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
