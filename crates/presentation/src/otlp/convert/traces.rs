//! Spans as `trace` events.

use super::*;

impl Builder {
    pub(super) fn span(&mut self, at: Position, scope: &Scope<'_>, span: &Span) {
        if !self.admit(1) {
            return;
        }
        if span.start_time_unix_nano == 0 {
            self.reject(at, "a span needs startTimeUnixNano");
            return;
        }
        let valid_id = |id: &[u8], length: usize| id.len() == length && id.iter().any(|&b| b != 0);
        if !valid_id(&span.trace_id, 16) || !valid_id(&span.span_id, 8) {
            self.reject(
                at,
                "a span needs a 16-byte trace id and an 8-byte span id, not all zero",
            );
            return;
        }
        let trace_id = encode_hex(&span.trace_id);
        let span_id = encode_hex(&span.span_id);
        let mut payload = Map::new();
        payload.insert("traceId".into(), trace_id.clone().into());
        payload.insert("spanId".into(), span_id.clone().into());
        if !span.parent_span_id.is_empty() {
            payload.insert(
                "parentSpanId".into(),
                encode_hex(&span.parent_span_id).into(),
            );
        }
        payload.insert("name".into(), span.name.clone().into());
        if let Some(kind) = span_kind(span.kind) {
            payload.insert("kind".into(), kind.into());
        }
        if span.end_time_unix_nano >= span.start_time_unix_nano {
            let nanos = span.end_time_unix_nano - span.start_time_unix_nano;
            payload.insert("durationMs".into(), number(nanos as f64 / 1e6));
        }
        if let Some(status) = &span.status {
            let mut described = Map::new();
            described.insert("code".into(), status_code(status.code).into());
            if !status.message.is_empty() {
                described.insert("message".into(), status.message.clone().into());
            }
            payload.insert("status".into(), Value::Object(described));
        }
        if !span.trace_state.is_empty() {
            payload.insert("traceState".into(), span.trace_state.clone().into());
        }
        insert_attributes(&mut payload, &span.attributes);
        if !span.events.is_empty() {
            let events = span
                .events
                .iter()
                .map(|event| {
                    let mut described = Map::new();
                    described.insert("name".into(), event.name.clone().into());
                    if event.time_unix_nano > 0 {
                        described.insert("timestamp".into(), rfc3339(event.time_unix_nano).into());
                    }
                    insert_attributes(&mut described, &event.attributes);
                    Value::Object(described)
                })
                .collect();
            payload.insert("events".into(), Value::Array(events));
        }
        let payload = scope.payload_text(payload);
        self.push(
            at,
            Event {
                id: format!("otlp-span-{trace_id}{span_id}"),
                event_type: "trace",
                service: &scope.origin.service,
                timestamp_nanos: span.start_time_unix_nano,
                user: user_of(&span.attributes),
                payload,
            },
        );
    }
}

fn span_kind(kind: i32) -> Option<&'static str> {
    Some(match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => return None,
    })
}

fn status_code(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}
