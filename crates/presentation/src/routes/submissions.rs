//! Reading `/ingest` bodies into submissions: the measured fast path.
//!
//! A body is parsed once, by serde visitors that note where each known field's value lies in
//! the body (no field is copied out: every submission of a batch shares the body) and name
//! the fields outside the contract, up to one more than an answer lists. An array is read to
//! at most the batch limit, so what a body can make the service hold is bounded by the limit,
//! not by the body. What the values mean is the domain's to check (`validate_submissions`).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use telemetry_domain::ingest::field::KNOWN;
use telemetry_domain::ingest::{EventSubmission, JsonKey, MAX_LISTED_VIOLATIONS};

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

/// Reads one JSON event object; the submission keeps the text.
pub fn event(json: &str) -> Result<EventSubmission, serde_json::Error> {
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

/// Reads a JSON array of at most `max` event objects; the submissions share one copy of
/// `json`.
///
/// Fields outside the contract are named for at most one more than the number of
/// problems an answer lists, over the whole array: enough to say there were more.
pub fn events(json: &str, max: usize) -> Result<Vec<EventSubmission>, ArrayError> {
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
        EventSubmission::in_source(Arc::clone(source), fields, self.unexpected_fields)
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

struct SubmissionVisitor<'n> {
    names_left: &'n Cell<usize>,
}

impl SubmissionVisitor<'_> {
    fn note_unexpected(&self, submission: &mut Borrowed<'_>, key: JsonKey<'_>) {
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
        while let Some(key) = map.next_key::<JsonKey<'de>>()? {
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

#[cfg(test)]
mod tests {
    use telemetry_domain::ingest::SubmissionFields;

    use super::*;

    #[test]
    fn keeps_raw_field_text_and_reports_unknown_fields() {
        let submission =
            event(r#"{"eventId":"e1","eventType":"log","colour":"red","payload":{"a": [1, 2]}}"#)
                .unwrap();
        assert_eq!(submission.event_id(), Some("\"e1\""));
        assert_eq!(submission.payload(), Some(r#"{"a": [1, 2]}"#));
        assert_eq!(submission.unexpected_fields, vec!["colour".to_string()]);
    }

    #[test]
    fn the_events_of_an_array_keep_their_own_fields() {
        let submissions = events(
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
            events(r#"[{"eventId":"e1"}, 7]"#, 2),
            Err(ArrayError::Json(_))
        ));
    }

    #[test]
    fn an_array_past_the_limit_is_not_read_to_its_end() {
        let three = r#"[{"eventId":"a"},{"eventId":"b"},{"eventId":"c"}]"#;
        assert_eq!(events(three, 3).unwrap().len(), 3);
        assert!(matches!(events(three, 2), Err(ArrayError::TooMany)));
        // Reading stops at the first element past the limit: what follows is never parsed.
        let broken_tail = r#"[{"eventId":"a"},{"eventId":"b"},{"eventId":"c"}, oops"#;
        assert!(matches!(events(broken_tail, 2), Err(ArrayError::TooMany)));
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
        let object = format!("{{{}}}", fields.join(","));
        let one = event(&object).unwrap();
        assert_eq!(one.unexpected_fields.len(), MAX_LISTED_VIOLATIONS + 1);
        let batch = format!("[{object},{object}]");
        let two = events(&batch, 2).unwrap();
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
        let parsed = event(r#"{"payload":{"a":1},"eventId":"e1"}"#).unwrap();
        assert_eq!(built, parsed);
        assert_eq!(built.timestamp(), None);
    }

    #[test]
    fn a_field_given_twice_is_reported() {
        let submission = event(r#"{"eventId":"e1","eventId":"e2"}"#).unwrap();
        assert_eq!(submission.unexpected_fields, vec!["eventId".to_string()]);
    }

    #[test]
    fn escaped_keys_are_read_like_plain_ones() {
        let submission = event(r#"{"event\u0049d":"e1","col\u006fur":"red"}"#).unwrap();
        assert_eq!(submission.event_id(), Some("\"e1\""));
        assert_eq!(submission.unexpected_fields, vec!["colour".to_string()]);
    }
}
