//! The wire shape of one submitted event, before validation.
//!
//! Every field is kept as the raw JSON text the producer sent, so validation can say exactly
//! which field of which event is wrong (a typed DTO would fail the whole body at the first
//! type mismatch) and so payloads are stored byte for byte as ingested.

use std::fmt;

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
}

/// One event as submitted: raw JSON per known field, plus the names of fields the contract
/// does not know.
#[derive(Debug, Default, Clone)]
pub struct EventSubmission {
    pub event_id: Option<Box<RawValue>>,
    pub event_type: Option<Box<RawValue>>,
    pub service_name: Option<Box<RawValue>>,
    pub timestamp: Option<Box<RawValue>>,
    pub user_id: Option<Box<RawValue>>,
    pub payload: Option<Box<RawValue>>,
    /// Fields outside the contract, and fields given twice, by name.
    pub unexpected_fields: Vec<String>,
}

impl PartialEq for EventSubmission {
    fn eq(&self, other: &Self) -> bool {
        fn text(value: &Option<Box<RawValue>>) -> Option<&str> {
            value.as_deref().map(RawValue::get)
        }
        text(&self.event_id) == text(&other.event_id)
            && text(&self.event_type) == text(&other.event_type)
            && text(&self.service_name) == text(&other.service_name)
            && text(&self.timestamp) == text(&other.timestamp)
            && text(&self.user_id) == text(&other.user_id)
            && text(&self.payload) == text(&other.payload)
            && self.unexpected_fields == other.unexpected_fields
    }
}

impl EventSubmission {
    /// Parses one JSON object. Used by tests and tools; the HTTP layer deserializes
    /// whole request bodies with serde directly.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

impl<'de> Deserialize<'de> for EventSubmission {
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
    type Value = EventSubmission;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an event object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut submission = EventSubmission::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let slot = match key.as_str() {
                field::EVENT_ID => &mut submission.event_id,
                field::EVENT_TYPE => &mut submission.event_type,
                field::SERVICE_NAME => &mut submission.service_name,
                field::TIMESTAMP => &mut submission.timestamp,
                field::USER_ID => &mut submission.user_id,
                field::PAYLOAD => &mut submission.payload,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    submission.unexpected_fields.push(key.into_owned());
                    continue;
                }
            };
            let value: Box<RawValue> = map.next_value()?;
            if slot.replace(value).is_some() {
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
pub(crate) fn probe_payload(raw: &RawValue) -> Result<PayloadProbe<'_>, de::value::Error> {
    serde_json::from_str(raw.get()).map_err(|error| de::Error::custom(error.to_string()))
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
        assert_eq!(submission.event_id.unwrap().get(), "\"e1\"");
        assert_eq!(submission.payload.unwrap().get(), r#"{"a": [1, 2]}"#);
        assert_eq!(submission.unexpected_fields, vec!["colour".to_string()]);
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
        assert_eq!(submission.event_id.unwrap().get(), "\"e1\"");
        assert_eq!(submission.unexpected_fields, vec!["colour".to_string()]);
        let raw = RawValue::from_string(r#"{"n\u0061me":"cpu"}"#.to_string()).unwrap();
        assert_eq!(probe_payload(&raw).unwrap().name.unwrap().get(), "\"cpu\"");
    }

    #[test]
    fn probe_rejects_non_objects() {
        let raw = RawValue::from_string("[1]".to_string()).unwrap();
        assert!(probe_payload(&raw).is_err());
        let raw = RawValue::from_string(r#"{"name":"cpu","x":{"y":1}}"#.to_string()).unwrap();
        assert_eq!(probe_payload(&raw).unwrap().name.unwrap().get(), "\"cpu\"");
    }
}
