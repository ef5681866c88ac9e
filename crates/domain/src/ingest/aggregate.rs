//! The `IngestBatch` aggregate: decides what of a request is recorded.

use std::collections::HashSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::IngestEvents;
use super::errors::IngestError;
use super::events::{BatchAccepted, IngestBatchEvent, TypeCounts};
use super::record::{EventSection, TelemetryEvent};
use super::validation::validate_submissions;
use crate::values::{EventType, TenantId};

/// What the producer of a batch is told; kept so a retried request gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceipt {
    pub batch_id: String,
    pub tenant_id: TenantId,
    pub ingested: u32,
    pub duplicates: u32,
    pub request_fingerprint: String,
}

/// One ingestion request. Fresh instances accept a batch once; afterwards they only answer
/// with their receipt.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IngestBatch {
    receipt: Option<BatchReceipt>,
}

impl IngestBatch {
    pub fn receipt(&self) -> Option<&BatchReceipt> {
        self.receipt.as_ref()
    }
}

/// The aggregate type `IngestBatch` events are stored under (usable in `match` patterns).
pub const INGEST_BATCH: &str = "IngestBatch";

impl Aggregate for IngestBatch {
    const TYPE: &'static str = INGEST_BATCH;
    type Command = IngestEvents;
    type Event = IngestBatchEvent;
    type Error = IngestError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(receipt) = &self.receipt {
            return Err(IngestError::AlreadyRecorded(receipt.clone()));
        }
        if command.submissions.is_empty() {
            return Err(IngestError::EmptyBatch);
        }
        let events = validate_submissions(&command.submissions, command.received_at)
            .map_err(IngestError::InvalidEvents)?;

        let mut seen = HashSet::with_capacity(events.len());
        let mut by_type: [Vec<TelemetryEvent>; 3] = Default::default();
        let mut accepted_by_type = TypeCounts::default();
        let mut duplicates = 0u32;
        for (index, event) in events.into_iter().enumerate() {
            // The key the deduplication index holds: the id within its UTC day.
            let first_in_batch = seen.insert((event.event_id.clone(), event.timestamp.epoch_day()));
            if !first_in_batch || command.known_duplicates.contains(&index) {
                duplicates += 1;
                continue;
            }
            accepted_by_type.add(event.event_type);
            by_type[type_slot(event.event_type)].push(event);
        }
        let ingested = accepted_by_type.log + accepted_by_type.metric + accepted_by_type.trace;

        let accepted = IngestBatchEvent::BatchAccepted(BatchAccepted {
            batch_id: command.batch_id,
            tenant_id: command.tenant_id.clone(),
            key_id: command.key_id,
            received_at: command.received_at,
            request_fingerprint: command.request_fingerprint,
            ingested,
            duplicates,
            accepted_by_type,
            otlp: command.otlp,
        });
        sink.write(accepted, self).await;
        for (event_type, events) in EventType::ALL.into_iter().zip(by_type) {
            if events.is_empty() {
                continue;
            }
            let section = EventSection {
                tenant_id: command.tenant_id.clone(),
                event_type,
                events: events.into(),
            };
            sink.write(IngestBatchEvent::section(section), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        if let IngestBatchEvent::BatchAccepted(accepted) = event {
            self.receipt = Some(BatchReceipt {
                batch_id: accepted.batch_id,
                tenant_id: accepted.tenant_id,
                ingested: accepted.ingested,
                duplicates: accepted.duplicates,
                request_fingerprint: accepted.request_fingerprint,
            });
        }
    }
}

fn type_slot(event_type: EventType) -> usize {
    match event_type {
        EventType::Log => 0,
        EventType::Metric => 1,
        EventType::Trace => 2,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::ingest::{EventSubmission, FieldViolation, Payload};
    use crate::values::{ApiKeyId, EventId, ServiceName, Timestamp, UserId};

    type BatchTest = TestFramework<IngestBatch>;

    fn received_at() -> Timestamp {
        Timestamp::parse_rfc3339("2026-01-21T12:00:00Z").unwrap()
    }

    fn submission(id: &str, event_type: &str, payload: &str) -> EventSubmission {
        EventSubmission::from_json(&format!(
            r#"{{"eventId":"{id}","eventType":"{event_type}","serviceName":"api-gateway",
            "timestamp":"2026-01-21T11:00:00Z","userId":"u1","payload":{payload}}}"#
        ))
        .unwrap()
    }

    fn command(submissions: Vec<EventSubmission>) -> IngestEvents {
        IngestEvents {
            batch_id: "batch-1".to_string(),
            tenant_id: TenantId::parse("acme").unwrap(),
            key_id: ApiKeyId::parse("0123456789abcdef").unwrap(),
            received_at: received_at(),
            request_fingerprint: "fp".to_string(),
            submissions: std::sync::Arc::new(submissions),
            known_duplicates: BTreeSet::new(),
            otlp: false,
        }
    }

    fn event(id: &str, event_type: EventType, payload: &str) -> TelemetryEvent {
        TelemetryEvent {
            event_id: EventId::parse(id).unwrap(),
            event_type,
            service_name: ServiceName::parse("api-gateway").unwrap(),
            timestamp: Timestamp::parse_rfc3339("2026-01-21T11:00:00Z").unwrap(),
            user_id: Some(UserId::parse("u1").unwrap()),
            payload: Payload::from_stored(payload.to_string()),
        }
    }

    fn accepted(ingested: u32, duplicates: u32, by_type: TypeCounts) -> IngestBatchEvent {
        IngestBatchEvent::BatchAccepted(BatchAccepted {
            batch_id: "batch-1".to_string(),
            tenant_id: TenantId::parse("acme").unwrap(),
            key_id: ApiKeyId::parse("0123456789abcdef").unwrap(),
            received_at: received_at(),
            request_fingerprint: "fp".to_string(),
            ingested,
            duplicates,
            accepted_by_type: by_type,
            otlp: false,
        })
    }

    fn section(event_type: EventType, events: Vec<TelemetryEvent>) -> IngestBatchEvent {
        IngestBatchEvent::section(EventSection {
            tenant_id: TenantId::parse("acme").unwrap(),
            event_type,
            events: events.into(),
        })
    }

    const METRIC: &str = r#"{"name":"cpu","value":0.5}"#;
    const LOG: &str = r#"{"message":"hi"}"#;

    #[test]
    fn a_new_batch_records_a_receipt_and_one_section_per_type() {
        BatchTest::with(())
            .given_no_previous_events()
            .when(command(vec![
                submission("m1", "metric", METRIC),
                submission("l1", "log", LOG),
                submission("m2", "metric", METRIC),
            ]))
            .then_expect_events(vec![
                accepted(
                    3,
                    0,
                    TypeCounts {
                        log: 1,
                        metric: 2,
                        trace: 0,
                    },
                ),
                section(EventType::Log, vec![event("l1", EventType::Log, LOG)]),
                section(
                    EventType::Metric,
                    vec![
                        event("m1", EventType::Metric, METRIC),
                        event("m2", EventType::Metric, METRIC),
                    ],
                ),
            ]);
    }

    #[test]
    fn repeated_ids_within_a_batch_count_as_duplicates() {
        BatchTest::with(())
            .given_no_previous_events()
            .when(command(vec![
                submission("l1", "log", LOG),
                submission("l1", "log", LOG),
            ]))
            .then_expect_events(vec![
                accepted(
                    1,
                    1,
                    TypeCounts {
                        log: 1,
                        ..TypeCounts::default()
                    },
                ),
                section(EventType::Log, vec![event("l1", EventType::Log, LOG)]),
            ]);
    }

    #[test]
    fn a_repeated_id_is_a_duplicate_within_its_day_only_as_across_batches() {
        let at = |id: &str, timestamp: &str| {
            let submission = EventSubmission::from_json(&format!(
                r#"{{"eventId":"{id}","eventType":"log","serviceName":"api-gateway",
                "timestamp":"{timestamp}","userId":"u1","payload":{LOG}}}"#
            ))
            .unwrap();
            let mut event = event(id, EventType::Log, LOG);
            event.timestamp = Timestamp::parse_rfc3339(timestamp).unwrap();
            (submission, event)
        };
        let (first, first_event) = at("l1", "2026-01-20T23:59:59Z");
        let (same_day, _) = at("l1", "2026-01-20T00:00:00Z");
        let (next_day, next_day_event) = at("l1", "2026-01-21T00:00:00Z");
        BatchTest::with(())
            .given_no_previous_events()
            .when(command(vec![first, same_day, next_day]))
            .then_expect_events(vec![
                accepted(
                    2,
                    1,
                    TypeCounts {
                        log: 2,
                        ..TypeCounts::default()
                    },
                ),
                section(EventType::Log, vec![first_event, next_day_event]),
            ]);
    }

    #[test]
    fn events_known_to_the_deduplication_index_are_skipped() {
        let mut cmd = command(vec![
            submission("l1", "log", LOG),
            submission("l2", "log", LOG),
        ]);
        cmd.known_duplicates = BTreeSet::from([0]);
        BatchTest::with(())
            .given_no_previous_events()
            .when(cmd)
            .then_expect_events(vec![
                accepted(
                    1,
                    1,
                    TypeCounts {
                        log: 1,
                        ..TypeCounts::default()
                    },
                ),
                section(EventType::Log, vec![event("l2", EventType::Log, LOG)]),
            ]);
    }

    #[test]
    fn an_all_duplicate_batch_still_records_its_receipt() {
        let mut cmd = command(vec![submission("l1", "log", LOG)]);
        cmd.known_duplicates = BTreeSet::from([0]);
        BatchTest::with(())
            .given_no_previous_events()
            .when(cmd)
            .then_expect_events(vec![accepted(0, 1, TypeCounts::default())]);
    }

    #[test]
    fn one_invalid_event_rejects_the_whole_batch() {
        BatchTest::with(())
            .given_no_previous_events()
            .when(command(vec![
                submission("ok", "log", LOG),
                submission("bad", "metric", r#"{"name":"cpu"}"#),
            ]))
            .then_expect_error(IngestError::InvalidEvents(vec![FieldViolation {
                index: 1,
                field: "payload.value".to_string(),
                code: crate::field_code::FieldCode::Required,
                message: "metric events need payload.value".to_string(),
            }]));
    }

    /// Each rule of the ingestion contract, given a batch of one valid event and one that
    /// breaks the rule: the batch is refused (no events) with the rule's field and code,
    /// naming the second event.
    #[test]
    fn every_validation_rule_refuses_the_whole_batch() {
        let long = "x".repeat(129);
        let event = |fields: &str| format!("{{{fields}}}");
        let base = |id: &str, event_type: &str, payload: &str| {
            format!(
                r#""eventId":{id},"eventType":{event_type},"serviceName":"api",
                "timestamp":"2026-01-21T11:00:00Z","payload":{payload}"#
            )
        };
        let log = |payload: &str| event(&base(r#""e""#, r#""log""#, payload));
        let metric = |payload: &str| event(&base(r#""m""#, r#""metric""#, payload));
        let trace = |payload: &str| event(&base(r#""t""#, r#""trace""#, payload));
        let cases: Vec<(String, &str, &str)> = vec![
            (
                log("{}").replace(r#""eventId":"e","#, ""),
                "eventId",
                "required",
            ),
            (
                event(&base("7", r#""log""#, "{}")),
                "eventId",
                "invalid_type",
            ),
            (event(&base(r#""""#, r#""log""#, "{}")), "eventId", "empty"),
            (
                event(&base(&format!(r#""{long}""#), r#""log""#, "{}")),
                "eventId",
                "too_long",
            ),
            (
                event(&base(r#""e""#, r#""span""#, "{}")),
                "eventType",
                "unknown_value",
            ),
            (
                log("{}").replace(r#""serviceName":"api""#, r#""serviceName":"""#),
                "serviceName",
                "empty",
            ),
            (
                log("{}").replace("2026-01-21T11:00:00Z", "yesterday"),
                "timestamp",
                "invalid_timestamp",
            ),
            (
                log("{}").replace("2026-01-21T11:00:00Z", "2200-01-01T00:00:00Z"),
                "timestamp",
                "timestamp_out_of_range",
            ),
            (
                log("{}").replace("2026-01-21T11:00:00Z", "2026-01-21T13:00:01Z"),
                "timestamp",
                "timestamp_in_future",
            ),
            (log(r#""text""#), "payload", "invalid_type"),
            (log(r#"{"userId":7}"#), "payload.userId", "invalid_type"),
            (
                log("{}").replace(r#""payload""#, &format!(r#""userId":"{long}","payload""#)),
                "userId",
                "too_long",
            ),
            (metric(r#"{"value":1}"#), "payload.name", "required"),
            (
                metric(r#"{"name":3,"value":1}"#),
                "payload.name",
                "invalid_type",
            ),
            (metric(r#"{"name":"cpu"}"#), "payload.value", "required"),
            (
                metric(r#"{"name":"cpu","value":"1"}"#),
                "payload.value",
                "invalid_type",
            ),
            (
                metric(r#"{"name":"cpu","value":1,"unit":5}"#),
                "payload.unit",
                "invalid_type",
            ),
            (
                metric(r#"{"name":"cpu","value":1,"attributes":{"a":1}}"#),
                "payload.attributes",
                "invalid_type",
            ),
            (trace(r#"{"traceId":1}"#), "payload.traceId", "invalid_type"),
            (trace(r#"{"spanId":[]}"#), "payload.spanId", "invalid_type"),
            (
                trace(r#"{"durationMs":-1}"#),
                "payload.durationMs",
                "out_of_range",
            ),
            (
                log("{}").replace(r#""payload""#, r#""colour":"red","payload""#),
                "colour",
                "unknown_field",
            ),
            (
                log("{}").replace(r#""payload""#, r#""eventId":"again","payload""#),
                "eventId",
                "duplicate_field",
            ),
            // Valid either way, but which one counts would be a guess.
            (
                metric(r#"{"name":"cpu","value":1,"value":2}"#),
                "payload.value",
                "duplicate_field",
            ),
            (
                trace(r#"{"spanId":"a","sp\u0061nId":"b"}"#),
                "payload.spanId",
                "duplicate_field",
            ),
            (
                log(r#"{"userId":"u1","userId":"u2"}"#),
                "payload.userId",
                "duplicate_field",
            ),
        ];
        let mut wrong = Vec::new();
        for (json, field, code) in cases {
            let bad = EventSubmission::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
            let result = BatchTest::with(())
                .given_no_previous_events()
                .when(command(vec![submission("ok", "log", LOG), bad]))
                .inspect_result();
            let Err(IngestError::InvalidEvents(violations)) = result else {
                panic!("{json}: expected invalid events, got {result:?}");
            };
            let found: Vec<(usize, &str, &str)> = violations
                .iter()
                .map(|v| (v.index, v.field.as_str(), v.code.as_str()))
                .collect();
            if found != [(1, field, code)] {
                wrong.push(format!("{json}: {found:?}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn an_empty_batch_is_refused() {
        BatchTest::with(())
            .given_no_previous_events()
            .when(command(vec![]))
            .then_expect_error(IngestError::EmptyBatch);
    }

    #[test]
    fn a_recorded_batch_answers_with_its_original_receipt() {
        BatchTest::with(())
            .given(vec![accepted(2, 1, TypeCounts::default())])
            .when(command(vec![submission("l9", "log", LOG)]))
            .then_expect_error(IngestError::AlreadyRecorded(BatchReceipt {
                batch_id: "batch-1".to_string(),
                tenant_id: TenantId::parse("acme").unwrap(),
                ingested: 2,
                duplicates: 1,
                request_fingerprint: "fp".to_string(),
            }));
    }
}
