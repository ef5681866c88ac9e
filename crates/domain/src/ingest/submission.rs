//! One submitted event, before validation.
//!
//! Every field is kept as the raw JSON text the producer sent, so validation can say exactly
//! which field of which event is wrong (a typed DTO would fail the whole body at the first
//! type mismatch) and so payloads are stored byte for byte as ingested.
//!
//! The fields are not copied out of the request: every submission of a batch shares one copy
//! of the body and holds where its fields lie in it (six allocations fewer per event). Reading
//! request bodies into submissions is the presentation layer's (`routes::submissions`); it
//! builds them with [`EventSubmission::in_source`], OTLP with [`EventSubmission::from_fields`].

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

    /// A submission whose known fields lie in `source` at `fields` (in the order of
    /// [`field::KNOWN`]), with the names of the fields outside the contract. This is how a
    /// parser of request bodies builds submissions without copying their fields out.
    ///
    /// # Panics
    /// When a range does not lie in `source` on character boundaries.
    pub fn in_source(
        source: Arc<str>,
        fields: [Option<Range<usize>>; 6],
        unexpected_fields: Vec<String>,
    ) -> Self {
        for range in fields.iter().flatten() {
            assert!(
                source.get(range.clone()).is_some(),
                "a field outside its source"
            );
        }
        Self {
            source,
            fields,
            unexpected_fields,
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

/// An object key, borrowed from the input when it has no escapes (`Cow<str>` would always
/// allocate: serde deserializes it through `String`).
pub enum JsonKey<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl JsonKey<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Borrowed(key) => key,
            Self::Owned(key) => key,
        }
    }

    pub fn into_owned(self) -> String {
        match self {
            Self::Borrowed(key) => key.to_string(),
            Self::Owned(key) => key,
        }
    }
}

impl<'de> Deserialize<'de> for JsonKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = JsonKey<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey::Borrowed(key))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey::Owned(key.to_string()))
            }
            fn visit_string<E: de::Error>(self, key: String) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey::Owned(key))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
        while let Some(key) = map.next_key::<JsonKey<'de>>()? {
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
impl EventSubmission {
    /// The submission of one JSON object (unknown fields and fields given twice named), for
    /// the domain's own tests; the request parser is presentation's.
    pub(crate) fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        /// An object's members in order, repeated keys included.
        struct Members<'a>(Vec<(String, &'a RawValue)>);
        impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);
                impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
                    type Value = Members<'a>;
                    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                        formatter.write_str("an object")
                    }
                    fn visit_map<M: MapAccess<'de>>(
                        self,
                        mut map: M,
                    ) -> Result<Members<'a>, M::Error> {
                        let mut members = Vec::new();
                        while let Some(key) = map.next_key::<String>()? {
                            members.push((key, map.next_value::<&'de RawValue>()?));
                        }
                        Ok(Members(members))
                    }
                }
                deserializer.deserialize_map(MembersVisitor(std::marker::PhantomData))
            }
        }
        let Members(members) = serde_json::from_str(json)?;
        let mut values: [Option<&RawValue>; 6] = Default::default();
        let mut unexpected_fields = Vec::new();
        for (key, value) in members {
            match KNOWN.iter().position(|name| *name == key) {
                Some(slot) if values[slot].is_none() => values[slot] = Some(value),
                _ => unexpected_fields.push(key),
            }
        }
        let [event_id, event_type, service_name, timestamp, user_id, payload] = values;
        let mut submission = Self::from_fields(SubmissionFields {
            event_id,
            event_type,
            service_name,
            timestamp,
            user_id,
            payload,
        });
        submission.unexpected_fields = unexpected_fields;
        Ok(submission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_keep_raw_field_text() {
        let id = RawValue::from_string(r#""e1""#.to_string()).unwrap();
        let payload = RawValue::from_string(r#"{"a": [1, 2]}"#.to_string()).unwrap();
        let built = EventSubmission::from_fields(SubmissionFields {
            event_id: Some(&id),
            payload: Some(&payload),
            ..SubmissionFields::default()
        });
        assert_eq!(built.event_id(), Some(r#""e1""#));
        assert_eq!(built.payload(), Some(r#"{"a": [1, 2]}"#));
        assert_eq!(built.timestamp(), None);
        let source: Arc<str> = Arc::from(r#"{"payload":{"a": [1, 2]},"eventId":"e1"}"#);
        let located = EventSubmission::in_source(
            source,
            [Some(35..39), None, None, None, None, Some(11..24)],
            Vec::new(),
        );
        assert_eq!(located, built);
    }

    #[test]
    #[should_panic(expected = "a field outside its source")]
    fn fields_must_lie_in_their_source() {
        EventSubmission::in_source(
            Arc::from("{}"),
            [Some(1..5), None, None, None, None, None],
            Vec::new(),
        );
    }

    #[test]
    fn escaped_keys_are_read_like_plain_ones() {
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
