//! Deterministic, seed-shaped telemetry events (the shape of the API documentation's example),
//! written straight into a buffer: the generator must not be the bottleneck it measures.

use std::fmt::Write;

pub const SERVICES: [&str; 12] = [
    "api-gateway",
    "auth",
    "checkout",
    "payments",
    "search",
    "catalog",
    "inventory",
    "shipping",
    "notifications",
    "recommendations",
    "accounts",
    "reporting",
];

pub const ROUTES: [&str; 6] = [
    "/api/v1/orders",
    "/api/v1/users",
    "/api/v1/cart",
    "/api/v1/search",
    "/api/v1/login",
    "/api/v1/items",
];

/// SplitMix64: a fast, well-mixed hash of the event index.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One generated event, in the fields both outputs need.
pub struct Event {
    pub event_id: String,
    pub event_type: &'static str,
    pub service: &'static str,
    pub timestamp: String,
    pub user_id: String,
    pub payload: String,
}

/// The `index`-th event of a run: ids are unique per (run, index).
pub fn event(run_id: &str, index: u64, timestamp_millis: i64, metric_names: usize) -> Event {
    let h = mix(index);
    let kind = h % 10;
    let service = SERVICES[(h >> 8) as usize % SERVICES.len()];
    let route = ROUTES[(h >> 16) as usize % ROUTES.len()];
    let user = (h >> 24) % 5_000;
    let timestamp = chrono::DateTime::from_timestamp_millis(timestamp_millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut payload = String::with_capacity(160);
    let event_type = match kind {
        0..=5 => {
            let _ = write!(
                payload,
                r#"{{"level":"info","message":"User logged in","route":"{route}","requestId":"req-{h:016x}"}}"#
            );
            "log"
        }
        6..=8 => {
            let name_index = (h >> 32) as usize % metric_names.max(1);
            let value = ((h >> 40) % 100_000) as f64 / 100.0;
            let _ = write!(
                payload,
                r#"{{"name":"http.request.duration.{name_index}","value":{value},"unit":"ms","attributes":{{"route":"{route}"}}}}"#
            );
            "metric"
        }
        _ => {
            let duration = ((h >> 40) % 50_000) as f64 / 10.0;
            let _ = write!(
                payload,
                r#"{{"traceId":"{:032x}","spanId":"{:016x}","durationMs":{duration}}}"#,
                mix(h) as u128 * 3 + 1,
                h >> 1
            );
            "trace"
        }
    };
    Event {
        event_id: format!("{run_id}-{index}"),
        event_type,
        service,
        timestamp,
        user_id: user.to_string(),
        payload,
    }
}

/// Appends `event` as an ingestion API JSON object.
pub fn write_json(out: &mut String, event: &Event) {
    let _ = write!(
        out,
        r#"{{"eventId":"{}","eventType":"{}","serviceName":"{}","timestamp":"{}","userId":"{}","payload":{}}}"#,
        event.event_id,
        event.event_type,
        event.service,
        event.timestamp,
        event.user_id,
        event.payload
    );
}

/// A batch body generated once; each request only rewrites the sequence digits inside the
/// event ids, so every request carries new, unique ids at almost no client cost.
pub struct BatchTemplate {
    pub body: String,
    sequence_offsets: Vec<usize>,
}

/// Width of the per-request sequence number inside event ids.
const SEQUENCE_DIGITS: usize = 10;

impl BatchTemplate {
    /// Event timestamps lie within `spread_millis` (at least one second) before
    /// `timestamp_millis`.
    pub fn new(
        prefix: &str,
        batch_size: usize,
        timestamp_millis: i64,
        spread_millis: i64,
        metric_names: usize,
    ) -> Self {
        let mut body = String::with_capacity(batch_size * 330);
        let mut sequence_offsets = Vec::with_capacity(batch_size);
        let spread = spread_millis.max(1000) as u64;
        let seed = mix(prefix.len() as u64 ^ timestamp_millis as u64);
        body.push('[');
        for index in 0..batch_size as u64 {
            let offset = (mix(seed ^ index) % spread) as i64;
            let mut generated = event(prefix, index, timestamp_millis - offset, metric_names);
            generated.event_id = format!("{prefix}-{}-{index}", "0".repeat(SEQUENCE_DIGITS));
            if index > 0 {
                body.push(',');
            }
            let id_start = body.len() + r#"{"eventId":""#.len() + prefix.len() + 1;
            sequence_offsets.push(id_start);
            write_json(&mut body, &generated);
        }
        body.push(']');
        Self {
            body,
            sequence_offsets,
        }
    }

    /// Rewrites the ids for request number `sequence`.
    pub fn stamp(&mut self, sequence: u64) {
        let digits = format!("{sequence:0width$}", width = SEQUENCE_DIGITS);
        // The replaced bytes are ASCII digits and are replaced by ASCII digits.
        let mut bytes = std::mem::take(&mut self.body).into_bytes();
        for &offset in &self.sequence_offsets {
            bytes[offset..offset + SEQUENCE_DIGITS].copy_from_slice(digits.as_bytes());
        }
        self.body = String::from_utf8(bytes).unwrap_or_default();
    }
}

/// Appends `event` as one line of PostgreSQL COPY text format.
pub fn write_copy_line(out: &mut String, tenant: &str, event: &Event) {
    let payload = event.payload.replace('\\', "\\\\");
    let _ = writeln!(
        out,
        "{tenant}\t{}\t{}\t{}\t{}\t{}\t{payload}",
        event.event_id, event.event_type, event.service, event.timestamp, event.user_id
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_give_every_request_new_ids() {
        let mut template = BatchTemplate::new("run-0", 3, 1_700_000_000_000, 1_000, 5);
        template.stamp(7);
        let first: serde_json::Value = serde_json::from_str(&template.body).unwrap();
        assert_eq!(first[1]["eventId"], "run-0-0000000007-1");
        template.stamp(8);
        let second: serde_json::Value = serde_json::from_str(&template.body).unwrap();
        assert_eq!(second[1]["eventId"], "run-0-0000000008-1");
    }

    #[test]
    fn events_are_valid_json_with_unique_ids() {
        let mut seen = std::collections::HashSet::new();
        for index in 0..1_000 {
            let event = event("run", index, 1_700_000_000_000, 20);
            let mut json = String::new();
            write_json(&mut json, &event);
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(parsed["payload"].is_object());
            assert!(seen.insert(event.event_id));
        }
    }
}
