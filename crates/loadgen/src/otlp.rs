//! OTLP/HTTP log exports for the ingestion benchmark: the same shape of traffic as
//! `POST /ingest` (seed-shaped log lines over twelve services), as an OpenTelemetry SDK or
//! Collector would send it.

use prost::Message;
use telemetry_presentation::otlp::proto::{
    any_value, AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Resource, ResourceLogs,
    ScopeLogs,
};

use crate::events::{mix, ROUTES, SERVICES};

fn text(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

/// An `ExportLogsServiceRequest` of `batch_size` log records, one resource per service.
/// Every record carries a `request.id` unique to (prefix, sequence, index), so every record
/// of every request is new to the service.
pub fn logs_body(prefix: &str, sequence: u64, batch_size: usize, now_nanos: u64) -> Vec<u8> {
    let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); SERVICES.len()];
    for index in 0..batch_size as u64 {
        let h = mix(sequence << 24 ^ index);
        let route = ROUTES[(h >> 16) as usize % ROUTES.len()];
        by_service[(h >> 8) as usize % SERVICES.len()].push(LogRecord {
            time_unix_nano: now_nanos - h % 1_000_000_000,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("User logged in".into())),
            }),
            attributes: vec![
                text("user.id", ((h >> 24) % 5_000).to_string()),
                text("http.route", route),
                text("request.id", format!("{prefix}-{sequence}-{index}")),
            ],
            ..Default::default()
        });
    }
    let resource_logs = by_service
        .into_iter()
        .zip(SERVICES)
        .filter(|(records, _)| !records.is_empty())
        .map(|(log_records, service)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
            }),
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records,
            }],
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_hold_the_batch_and_differ_by_sequence() {
        let first =
            ExportLogsServiceRequest::decode(&logs_body("run", 1, 50, 1 << 62)[..]).unwrap();
        let records: usize = first
            .resource_logs
            .iter()
            .map(|r| r.scope_logs[0].log_records.len())
            .sum();
        assert_eq!(records, 50);
        assert_ne!(
            logs_body("run", 1, 50, 1 << 62),
            logs_body("run", 2, 50, 1 << 62)
        );
    }
}
