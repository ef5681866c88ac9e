//! The ingestion contract's validation rules, applied to every submitted event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::record::{Payload, TelemetryEvent};
use super::submission::{field, probe_payload, EventSubmission, PayloadProbe};
use crate::field_code::FieldCode;
use crate::metric::MetricShape;
use crate::values::{EventId, EventType, MetricName, ServiceName, Timestamp, UserId, ValueError};

/// How far in the future an event's timestamp may lie, in microseconds (one hour).
pub const MAX_FUTURE_SKEW_MICROS: i64 = 3_600_000_000;

/// The most problems an answer lists. Validation stops once it has found one more, so the
/// answer can say that there were more; what a hostile batch (thousands of unknown fields,
/// say) can make the service hold and send back stays bounded.
pub const MAX_LISTED_VIOLATIONS: usize = 1_000;

/// One problem with one field of one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    /// Position of the event in the submitted batch (0 for a single object).
    pub index: usize,
    /// JSON path of the field, such as `eventId` or `payload.value`.
    pub field: String,
    /// Machine-readable reason, such as `required` or `invalid_type`.
    pub code: FieldCode,
    pub message: String,
}

impl FieldViolation {
    fn new(index: usize, field: &str, code: FieldCode, message: impl Into<String>) -> Self {
        Self {
            index,
            field: field.to_string(),
            code,
            message: message.into(),
        }
    }

    /// The batch element at `index` is not a JSON object at all (so it has no fields).
    pub fn not_an_object(index: usize) -> Self {
        Self::new(
            index,
            "",
            FieldCode::InvalidType,
            "an event must be a JSON object",
        )
    }

    fn from_value_error(index: usize, field: &str, error: &ValueError) -> Self {
        Self::new(index, field, error.code(), format!("{field} {error}"))
    }
}

/// Validates every submission. Returns all events, or the violations found (not only the
/// first, so a producer can fix a batch in one round trip): all of them, or, when there are
/// more than `MAX_LISTED_VIOLATIONS`, the first `MAX_LISTED_VIOLATIONS + 1`.
pub fn validate_submissions(
    submissions: &[EventSubmission],
    received_at: Timestamp,
) -> Result<Vec<TelemetryEvent>, Vec<FieldViolation>> {
    let mut events = Vec::with_capacity(submissions.len());
    let mut violations = Vec::new();
    for (index, submission) in submissions.iter().enumerate() {
        if violations.len() > MAX_LISTED_VIOLATIONS {
            break;
        }
        let mut checker = Checker {
            index,
            violations: &mut violations,
        };
        if let Some(event) = checker.event(submission, received_at) {
            events.push(event);
        }
    }
    if violations.is_empty() {
        Ok(events)
    } else {
        Err(violations)
    }
}

/// The first problem of every invalid submission, however many there are (at most one per
/// submission, so bounded by the batch). For callers that drop invalid events one by one
/// instead of refusing the batch: OTLP's partial success.
pub fn first_violation_of_each(
    submissions: &[EventSubmission],
    received_at: Timestamp,
) -> Vec<FieldViolation> {
    let mut found = Vec::new();
    let mut violations = Vec::new();
    for (index, submission) in submissions.iter().enumerate() {
        let mut checker = Checker {
            index,
            violations: &mut violations,
        };
        checker.event(submission, received_at);
        if let Some(first) = violations.drain(..).next() {
            found.push(first);
        }
    }
    found
}

struct Checker<'v> {
    index: usize,
    violations: &'v mut Vec<FieldViolation>,
}

impl Checker<'_> {
    fn report(&mut self, field: &str, code: FieldCode, message: impl Into<String>) {
        self.push(FieldViolation::new(self.index, field, code, message));
    }

    fn push(&mut self, violation: FieldViolation) {
        if self.violations.len() <= MAX_LISTED_VIOLATIONS {
            self.violations.push(violation);
        }
    }

    fn event(
        &mut self,
        submission: &EventSubmission,
        received_at: Timestamp,
    ) -> Option<TelemetryEvent> {
        let before = self.violations.len();
        for name in &submission.unexpected_fields {
            let is_repeat = field::KNOWN.contains(&name.as_str());
            if is_repeat {
                self.report(
                    name,
                    FieldCode::DuplicateField,
                    format!("{name} is given more than once"),
                );
            } else {
                self.report(
                    name,
                    FieldCode::UnknownField,
                    format!("{name} is not a known field"),
                );
            }
        }
        let event_id = self.required_text(submission.event_id(), field::EVENT_ID, EventId::parse);
        let event_type = self.required_text(submission.event_type(), field::EVENT_TYPE, |text| {
            EventType::parse(&text)
        });
        let service_name = self.required_text(
            submission.service_name(),
            field::SERVICE_NAME,
            ServiceName::parse,
        );
        let timestamp = self.timestamp(submission.timestamp(), received_at);
        let top_level_user =
            self.optional_text(submission.user_id(), field::USER_ID, UserId::parse);
        let payload = self.payload(submission.payload(), event_type);

        let (payload, payload_user) = payload?;
        if self.violations.len() > before {
            return None;
        }
        Some(TelemetryEvent {
            event_id: event_id?,
            event_type: event_type?,
            service_name: service_name?,
            timestamp: timestamp?,
            user_id: top_level_user.flatten().or(payload_user),
            payload,
        })
    }

    /// A required JSON string, parsed into a value object.
    fn required_text<T>(
        &mut self,
        raw: Option<&str>,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, ValueError>,
    ) -> Option<T> {
        let Some(raw) = raw.filter(|raw| *raw != "null") else {
            self.report(field, FieldCode::Required, format!("{field} is required"));
            return None;
        };
        self.text(raw, field, parse)
    }

    /// An optional JSON string (absent or `null` is fine): `Some(None)` when absent.
    fn optional_text<T>(
        &mut self,
        raw: Option<&str>,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, ValueError>,
    ) -> Option<Option<T>> {
        match raw.filter(|raw| *raw != "null") {
            None => Some(None),
            Some(raw) => self.text(raw, field, parse).map(Some),
        }
    }

    fn text<T>(
        &mut self,
        raw: &str,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, ValueError>,
    ) -> Option<T> {
        let Ok(text) = serde_json::from_str::<String>(raw) else {
            self.report(
                field,
                FieldCode::InvalidType,
                format!("{field} must be a string"),
            );
            return None;
        };
        match parse(text) {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(FieldViolation::from_value_error(self.index, field, &error));
                None
            }
        }
    }

    fn timestamp(&mut self, raw: Option<&str>, received_at: Timestamp) -> Option<Timestamp> {
        let timestamp = self.required_text(raw, field::TIMESTAMP, |text| {
            Timestamp::parse_rfc3339(&text)
        })?;
        if timestamp.as_micros() > received_at.as_micros() + MAX_FUTURE_SKEW_MICROS {
            self.report(
                field::TIMESTAMP,
                FieldCode::TimestampInFuture,
                "timestamp is more than 1 hour in the future",
            );
            return None;
        }
        Some(timestamp)
    }

    /// The payload object and, when it carries one, its `userId`.
    fn payload(
        &mut self,
        raw: Option<&str>,
        event_type: Option<EventType>,
    ) -> Option<(Payload, Option<UserId>)> {
        let Some(raw) = raw.filter(|raw| *raw != "null") else {
            self.report(field::PAYLOAD, FieldCode::Required, "payload is required");
            return None;
        };
        let Ok(probe) = probe_payload(raw) else {
            self.report(
                field::PAYLOAD,
                FieldCode::InvalidType,
                "payload must be a JSON object",
            );
            return None;
        };
        // Only the fields this event type gives a meaning to: a log may repeat any key.
        let meaningful: &[&str] = match event_type {
            Some(EventType::Metric) => &["userId", "name", "value", "unit", "attributes", "kind"],
            Some(EventType::Trace) => &["userId", "traceId", "spanId", "durationMs"],
            Some(EventType::Log) | None => &["userId"],
        };
        for name in probe
            .repeated
            .iter()
            .filter(|name| meaningful.contains(name))
        {
            self.report(
                &format!("payload.{name}"),
                FieldCode::DuplicateField,
                format!("payload.{name} is given more than once"),
            );
        }
        let user = self
            .optional_raw_text(probe.user_id, "payload.userId", UserId::parse)
            .flatten();
        match event_type {
            Some(EventType::Metric) => self.metric_fields(&probe, raw),
            Some(EventType::Trace) => self.trace_fields(&probe),
            Some(EventType::Log) | None => {}
        }
        Some((Payload::from_validated(raw.to_string()), user))
    }

    fn optional_raw_text<T>(
        &mut self,
        raw: Option<&RawValue>,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, ValueError>,
    ) -> Option<Option<T>> {
        match raw.filter(|raw| raw.get() != "null") {
            None => Some(None),
            Some(raw) => self.text(raw.get(), field, parse).map(Some),
        }
    }

    fn metric_fields(&mut self, probe: &PayloadProbe<'_>, raw: &str) {
        match probe.name.filter(|raw| raw.get() != "null") {
            None => self.report(
                "payload.name",
                FieldCode::Required,
                "metric events need payload.name",
            ),
            Some(raw) => {
                self.text(raw.get(), "payload.name", MetricName::parse);
            }
        }
        match probe.value.filter(|raw| raw.get() != "null") {
            None => self.report(
                "payload.value",
                FieldCode::Required,
                "metric events need payload.value",
            ),
            Some(raw) => {
                self.finite_number(raw, "payload.value");
            }
        }
        self.optional_raw_text(probe.unit, "payload.unit", Ok);
        if let Some(raw) = probe.attributes.filter(|raw| raw.get() != "null") {
            if serde_json::from_str::<BTreeMap<String, String>>(raw.get()).is_err() {
                self.report(
                    "payload.attributes",
                    FieldCode::InvalidType,
                    "payload.attributes must be an object of string values",
                );
            }
        }
        // A declared kind has fields of its own (temporality, start time, buckets): read
        // them as the analytics processor will, so nothing stored fails to read back.
        if probe.kind.is_some_and(|kind| kind.get() != "null") {
            if let Err(error) = MetricShape::from_payload(raw) {
                self.report(error.field, FieldCode::InvalidValue, error.message);
            }
        }
    }

    fn trace_fields(&mut self, probe: &PayloadProbe<'_>) {
        self.optional_raw_text(probe.trace_id, "payload.traceId", Ok);
        self.optional_raw_text(probe.span_id, "payload.spanId", Ok);
        if let Some(raw) = probe.duration_ms.filter(|raw| raw.get() != "null") {
            if let Some(duration) = self.finite_number(raw, "payload.durationMs") {
                if duration < 0.0 {
                    self.report(
                        "payload.durationMs",
                        FieldCode::OutOfRange,
                        "payload.durationMs must not be negative",
                    );
                }
            }
        }
    }

    fn finite_number(&mut self, raw: &RawValue, field: &str) -> Option<f64> {
        let is_number = raw
            .get()
            .starts_with(|c: char| c == '-' || c.is_ascii_digit());
        match serde_json::from_str::<f64>(raw.get()) {
            Ok(number) if is_number && number.is_finite() => Some(number),
            _ => {
                self.report(
                    field,
                    FieldCode::InvalidType,
                    format!("{field} must be a finite number"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::record::MetricSample;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-01-21T12:00:00Z").unwrap()
    }

    fn check(json: &str) -> Result<Vec<TelemetryEvent>, Vec<FieldViolation>> {
        validate_submissions(&[EventSubmission::from_json(json).unwrap()], now())
    }

    fn codes(json: &str) -> Vec<(String, String)> {
        check(json)
            .unwrap_err()
            .into_iter()
            .map(|v| (v.field, v.code.to_string()))
            .collect()
    }

    const LOG: &str = r#"{"eventId":"evt_1","eventType":"log","serviceName":"api-gateway",
        "timestamp":"2026-01-21T11:59:00Z","userId":"12345","payload":{"level":"info"}}"#;

    #[test]
    fn a_valid_log_event_passes() {
        let events = check(LOG).unwrap();
        assert_eq!(events[0].event_id.as_str(), "evt_1");
        assert_eq!(events[0].user_id.as_ref().unwrap().as_str(), "12345");
        assert_eq!(events[0].payload.as_str(), r#"{"level":"info"}"#);
    }

    #[test]
    fn user_id_may_come_from_the_payload() {
        let events = check(
            r#"{"eventId":"e","eventType":"log","serviceName":"s",
            "timestamp":"2026-01-21T11:59:00Z","payload":{"userId":"u7"}}"#,
        )
        .unwrap();
        assert_eq!(events[0].user_id.as_ref().unwrap().as_str(), "u7");
    }

    #[test]
    fn every_missing_field_is_named() {
        assert_eq!(
            codes("{}"),
            vec![
                ("eventId".into(), "required".into()),
                ("eventType".into(), "required".into()),
                ("serviceName".into(), "required".into()),
                ("timestamp".into(), "required".into()),
                ("payload".into(), "required".into()),
            ]
        );
    }

    #[test]
    fn wrong_types_and_values_are_named() {
        assert_eq!(
            codes(
                r#"{"eventId":7,"eventType":"audit","serviceName":"","timestamp":"soon",
                "payload":[1],"extra":true}"#
            ),
            vec![
                ("extra".into(), "unknown_field".into()),
                ("eventId".into(), "invalid_type".into()),
                ("eventType".into(), "unknown_value".into()),
                ("serviceName".into(), "empty".into()),
                ("timestamp".into(), "invalid_timestamp".into()),
                ("payload".into(), "invalid_type".into()),
            ]
        );
    }

    #[test]
    fn future_timestamps_beyond_one_hour_are_rejected() {
        let ok = LOG.replace("2026-01-21T11:59:00Z", "2026-01-21T12:59:59Z");
        assert!(check(&ok).is_ok());
        let late = LOG.replace("2026-01-21T11:59:00Z", "2026-01-21T13:00:01Z");
        assert_eq!(
            codes(&late),
            vec![("timestamp".into(), "timestamp_in_future".into())]
        );
    }

    #[test]
    fn metrics_need_a_name_and_a_finite_value() {
        let base = r#"{"eventId":"m","eventType":"metric","serviceName":"s",
            "timestamp":"2026-01-21T11:00:00Z","payload":PAYLOAD}"#;
        let with = |payload: &str| base.replace("PAYLOAD", payload);
        assert!(check(&with(r#"{"name":"cpu","value":0.25,"unit":"%"}"#)).is_ok());
        assert_eq!(
            codes(&with("{}")),
            vec![
                ("payload.name".into(), "required".into()),
                ("payload.value".into(), "required".into()),
            ]
        );
        assert_eq!(
            codes(&with(r#"{"name":"cpu","value":"1"}"#)),
            vec![("payload.value".into(), "invalid_type".into())]
        );
        assert_eq!(
            codes(&with(r#"{"name":"cpu","value":1e400}"#)),
            vec![("payload.value".into(), "invalid_type".into())]
        );
        assert_eq!(
            codes(&with(r#"{"name":"cpu","value":1,"attributes":{"a":1}}"#)),
            vec![("payload.attributes".into(), "invalid_type".into())]
        );
    }

    #[test]
    fn first_violation_of_each_names_every_invalid_event_once() {
        let bad = LOG.replace(r#""serviceName":"#, r#""colour":1,"serviceName":"#);
        let bad = bad.replace(r#""eventType":"log""#, r#""eventType":"span""#);
        let submissions: Vec<EventSubmission> = (0..MAX_LISTED_VIOLATIONS * 2 + 1)
            .map(|i| EventSubmission::from_json(if i % 2 == 0 { &bad } else { LOG }).unwrap())
            .collect();
        let found = first_violation_of_each(&submissions, now());
        assert_eq!(found.len(), MAX_LISTED_VIOLATIONS + 1);
        assert!(found.iter().enumerate().all(|(n, v)| v.index == 2 * n));
        assert!(
            validate_submissions(&submissions, now()).unwrap_err().len()
                <= MAX_LISTED_VIOLATIONS + 1
        );
    }

    #[test]
    fn a_payload_may_repeat_only_keys_its_type_does_not_read() {
        let event = |event_type: &str, payload: &str| {
            format!(
                r#"{{"eventId":"m","eventType":"{event_type}","serviceName":"s",
                "timestamp":"2026-01-21T11:00:00Z","payload":{payload}}}"#
            )
        };
        // Every reader of the stored payload (the rollups, alerting) refuses a repeated key.
        let repeated_value = event("metric", r#"{"name":"cpu","value":1,"value":2}"#);
        assert_eq!(
            codes(&repeated_value),
            vec![("payload.value".into(), "duplicate_field".into())]
        );
        let sample = r#"{"name":"cpu","value":1,"note":"a","note":"b"}"#;
        let events = check(&event("metric", sample)).unwrap();
        assert!(MetricSample::from_payload(&events[0].payload).is_ok());
        // A log's payload is kept as sent; only userId means something in it.
        assert!(check(&event(
            "log",
            r#"{"name":"a","name":"b","value":1,"value":2}"#
        ))
        .is_ok());
    }

    #[test]
    fn trace_fields_are_typed_when_present() {
        let base = r#"{"eventId":"t","eventType":"trace","serviceName":"s",
            "timestamp":"2026-01-21T11:00:00Z","payload":PAYLOAD}"#;
        let with = |payload: &str| base.replace("PAYLOAD", payload);
        assert!(check(&with(r#"{"traceId":"a","spanId":"b","durationMs":3.5}"#)).is_ok());
        assert!(check(&with("{}")).is_ok());
        assert_eq!(
            codes(&with(r#"{"durationMs":-1}"#)),
            vec![("payload.durationMs".into(), "out_of_range".into())]
        );
    }

    #[test]
    fn violations_carry_the_event_index() {
        let good = EventSubmission::from_json(LOG).unwrap();
        let bad = EventSubmission::from_json(r#"{"eventId":"x"}"#).unwrap();
        let violations = validate_submissions(&[good, bad], now()).unwrap_err();
        assert!(violations.iter().all(|violation| violation.index == 1));
    }

    #[test]
    fn validation_stops_one_past_the_listed_problems() {
        // An empty object has five problems (eventId, eventType, serviceName, timestamp and
        // payload are required), so 1,000 of them hold 5,000.
        let empty = EventSubmission::from_json("{}").unwrap();
        let batch = vec![empty; 1_000];
        let violations = validate_submissions(&batch, now()).unwrap_err();
        assert_eq!(violations.len(), MAX_LISTED_VIOLATIONS + 1);
        let few = vec![EventSubmission::from_json("{}").unwrap(); 3];
        assert_eq!(validate_submissions(&few, now()).unwrap_err().len(), 15);
    }
}
