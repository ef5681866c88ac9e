//! Log records as `log` events.

use super::*;

impl Builder {
    pub(super) fn log(&mut self, at: Position, scope: &Scope<'_>, record: &LogRecord) {
        if !self.admit(1) {
            return;
        }
        let timestamp_nanos = match record.time_unix_nano {
            0 => record.observed_time_unix_nano,
            time => time,
        };
        if timestamp_nanos == 0 {
            self.reject(
                at,
                "a log record needs timeUnixNano or observedTimeUnixNano",
            );
            return;
        }
        let id = self.content_id("otlp-log-", scope, &[&record.encode_to_vec()]);
        let mut payload = Map::new();
        if let Some(level) = severity(record) {
            payload.insert("level".into(), level.into());
        }
        if record.severity_number != 0 {
            payload.insert("severityNumber".into(), record.severity_number.into());
        }
        match record.body.as_ref().and_then(|body| body.value.as_ref()) {
            Some(any_value::Value::StringValue(text)) => {
                payload.insert("message".into(), text.clone().into());
            }
            Some(_) => {
                let body = record.body.as_ref().map(json_value).unwrap_or(Value::Null);
                payload.insert("body".into(), body);
            }
            None => {}
        }
        if !record.event_name.is_empty() {
            payload.insert("eventName".into(), record.event_name.clone().into());
        }
        if !record.trace_id.is_empty() {
            payload.insert("traceId".into(), encode_hex(&record.trace_id).into());
        }
        if !record.span_id.is_empty() {
            payload.insert("spanId".into(), encode_hex(&record.span_id).into());
        }
        insert_attributes(&mut payload, &record.attributes);
        let payload = scope.payload_text(payload);
        self.push(
            at,
            Event {
                id,
                event_type: "log",
                service: &scope.origin.service,
                timestamp_nanos,
                user: user_of(&record.attributes),
                payload,
            },
        );
    }
}

/// The level a log record states, or the one its severity number stands for.
fn severity(record: &LogRecord) -> Option<String> {
    if !record.severity_text.is_empty() {
        return Some(record.severity_text.to_ascii_lowercase());
    }
    let level = match record.severity_number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => return None,
    };
    Some(level.to_string())
}
