//! OTLP/HTTP ingestion: the fixtures written by the OpenTelemetry project's own bindings
//! (`tests/fixtures/otlp/`), both encodings, gzip, retries, partial success and
//! `google.rpc.Status` errors.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use prost::Message;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use telemetry_presentation::otlp::proto::{ErrorInfo, ExportResponse, Status};

use crate::alerts::create_watched_rule;
use crate::helpers::{
    eventually, json, keep_everything, last_hours, spawn_app, spawn_app_with, TestApp, ACME_KEY,
    GLOBEX_KEY,
};
use crate::receiver::Receiver;

const PROTOBUF: &str = "application/x-protobuf";
const LOGS_PB: &[u8] = include_bytes!("../fixtures/otlp/logs.pb");
const METRICS_PB: &[u8] = include_bytes!("../fixtures/otlp/metrics.pb");
const METRICS_JSON: &str = include_str!("../fixtures/otlp/metrics.json");
const TRACES_PB: &[u8] = include_bytes!("../fixtures/otlp/traces.pb");

/// The day the fixtures' records are stamped with.
fn fixture_day() -> Value {
    json!({"startTime": "2026-01-21T00:00:00Z", "endTime": "2026-01-22T00:00:00Z"})
}

/// The first event of `event_type` on the fixtures' day whose payload `field` is `value`.
async fn stored_event(app: &TestApp, event_type: &str, field: &str, value: &str) -> Value {
    let mut query = fixture_day();
    query["eventType"] = json!(event_type);
    query["limit"] = json!(1000);
    let page = json(app.query(ACME_KEY, &query).await).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["payload"][field] == value)
        .cloned()
        .unwrap_or_else(|| panic!("no {event_type} event with {field} {value}: {page}"))
}

impl TestApp {
    fn export(&self, signal: &str, api_key: &str, content_type: &str) -> RequestBuilder {
        self.client
            .post(self.url(&format!("/v1/{signal}")))
            .header("X-API-Key", api_key)
            .header("Content-Type", content_type)
    }

    /// `/query` grouped by event type over `range`, as `(type, count)` pairs; any other
    /// answer than 200 (a 503 while the read side's schema is still being applied) is an
    /// error for the caller to wait out or report.
    async fn counts_by_type(
        &self,
        api_key: &str,
        range: &Value,
    ) -> Result<Vec<(String, u64)>, String> {
        let mut body = range.clone();
        body["groupBy"] = json!("type");
        let response = self.query(api_key, &body).await;
        if response.status() != StatusCode::OK {
            return Err(format!("/query answered {}", response.status()));
        }
        let mut counts: Vec<(String, u64)> = json(response).await["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| {
                let key = group["key"].as_str().unwrap().to_string();
                (key, group["count"].as_u64().unwrap())
            })
            .collect();
        counts.sort();
        Ok(counts)
    }
}

async fn protobuf_response(response: reqwest::Response) -> ExportResponse {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    ExportResponse::decode(response.bytes().await.unwrap()).unwrap()
}

/// The status of a protobuf error response and its `ErrorInfo.reason`.
async fn protobuf_status(response: reqwest::Response) -> (Status, String) {
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let status = Status::decode(response.bytes().await.unwrap()).unwrap();
    let info = ErrorInfo::decode(status.details[0].value.as_slice()).unwrap();
    (status, info.reason)
}

#[tokio::test]
async fn protobuf_exports_are_recorded_once_and_reach_the_read_side() {
    // The fixtures are dated 2026-01-21.
    let app = spawn_app_with(keep_everything).await;
    for _ in 0..2 {
        // The second round is an exporter's retry: nothing is recorded twice.
        for (signal, body, rejected) in [
            ("logs", LOGS_PB, 1),
            ("metrics", METRICS_PB, 1),
            ("traces", TRACES_PB, 1),
        ] {
            let response = app
                .export(signal, ACME_KEY, PROTOBUF)
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(response.headers().contains_key("x-ratelimit-limit"));
            let answer = protobuf_response(response).await;
            let partial = answer.partial_success.expect("partial success");
            assert_eq!(partial.rejected, rejected, "{signal}");
            assert!(partial.error_message.contains("rejected"), "{signal}");
        }
    }
    // 4 log records, 8 metric events from 5 data points (a summary's count, sum and two
    // quantiles), 2 spans.
    assert_eq!(app.stored_events("acme").await, 14);
    assert_eq!(
        app.counter("telemetry_ingest_events_duplicate_total").await,
        14
    );
    assert_eq!(
        app.counter("telemetry_otlp_records_rejected_total").await,
        6
    );

    let expected = vec![
        ("log".to_string(), 4),
        ("metric".to_string(), 8),
        ("trace".to_string(), 2),
    ];
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            let counts = app.counts_by_type(ACME_KEY, &fixture_day()).await?;
            if counts == expected {
                Ok(())
            } else {
                Err(format!("read side shows {counts:?}"))
            }
        },
    )
    .await;

    // Events read back in the shape they were stored.
    let server = stored_event(&app, "trace", "kind", "server").await;
    assert_eq!(server["serviceName"], "checkout");
    assert_eq!(server["userId"], "u-42");
    assert_eq!(server["payload"]["durationMs"], 250.0);
    assert_eq!(
        server["payload"]["traceId"],
        "5b8efff798038103d269b633813fc60c"
    );
    // A histogram point is one event, with its buckets.
    let histogram = stored_event(&app, "metric", "name", "http.server.duration").await;
    assert_eq!(histogram["payload"]["count"], 4);
    assert_eq!(
        histogram["payload"]["buckets"],
        json!({"bounds": [10.0, 50.0], "counts": [1, 2, 1]})
    );

    // Another tenant sees none of it.
    assert_eq!(
        app.counts_by_type(GLOBEX_KEY, &fixture_day()).await,
        Ok(Vec::new())
    );
}

/// An OTLP/JSON metrics export of one gauge point per value, stamped now, on core 1.
#[tokio::test]
async fn an_export_retried_with_its_idempotency_key_is_answered_as_a_replay() {
    let app = spawn_app().await;
    let send = || {
        app.export("logs", ACME_KEY, PROTOBUF)
            .header("Idempotency-Key", "export-0001")
            .body(LOGS_PB)
            .send()
    };
    let first = send().await.unwrap();
    assert!(!first.headers().contains_key("idempotent-replayed"));
    protobuf_response(first).await;
    let retried = send().await.unwrap();
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let answer = protobuf_response(retried).await;
    assert_eq!(answer.partial_success.expect("partial success").rejected, 1);
    assert_eq!(app.stored_events("acme").await, 4);
}

fn json_gauge(name: &str, values: &[f64]) -> Value {
    json_gauge_on(name, 1, values)
}

/// An OTLP/JSON metrics export of one gauge point per value, stamped now, with an integer
/// attribute `core`.
fn json_gauge_on(name: &str, core: i64, values: &[f64]) -> Value {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let points: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            json!({"timeUnixNano": (now - i as i64 * 1_000_000).to_string(), "asDouble": value,
                   "attributes": [{"key": "core", "value": {"intValue": core.to_string()}}]})
        })
        .collect();
    json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "edge"}}]},
        "scopeMetrics": [{"metrics": [{"name": name, "unit": "ms", "gauge": {"dataPoints": points}}]}]
    }]})
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// More invalid records than `/ingest` lists problems for (1,000): each one is still
/// rejected on its own and the valid ones recorded, not the whole export refused.
#[tokio::test]
async fn thousands_of_invalid_records_are_each_rejected_and_the_rest_recorded() {
    let app = spawn_app().await;
    let nanos = |at: chrono::DateTime<chrono::Utc>| at.timestamp_nanos_opt().unwrap().to_string();
    let now = nanos(chrono::Utc::now());
    let later = nanos(chrono::Utc::now() + chrono::Duration::hours(3));
    let records: Vec<Value> = (0..1_205)
        .map(|i| {
            let stamp = if i % 241 == 0 { &now } else { &later };
            json!({"timeUnixNano": stamp, "body": {"stringValue": format!("line {i}")}})
        })
        .collect();
    let export = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]});
    let response = app
        .export("logs", ACME_KEY, "application/json")
        .body(export.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let partial = &json(response).await["partialSuccess"];
    assert_eq!(partial["rejectedLogRecords"], "1200", "{partial}");
    assert!(partial["errorMessage"]
        .as_str()
        .unwrap()
        .contains("1200 of 1205 log records rejected"));
    assert_eq!(app.stored_events("acme").await, 5);
}

#[tokio::test]
async fn json_exports_gzip_and_partial_success_follow_the_otlp_json_mapping() {
    let app = spawn_app().await;
    let body = json_gauge("edge.latency", &[10.0, 20.0, 30.0, 40.0]).to_string();
    let response = app
        .export("metrics", ACME_KEY, "application/json")
        .header("Content-Encoding", "gzip")
        .body(gzip(body.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(json(response).await, json!({}));

    // The proto's own field names are not OTLP/JSON: refused, not recorded as nothing.
    let snake_case = body.replace("resourceMetrics", "resource_metrics");
    let response = app
        .export("metrics", ACME_KEY, "application/json")
        .body(snake_case)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let status = json(response).await;
    assert_eq!(status["details"][0]["reason"], "invalid_otlp");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `resource_metrics`"));
    // So is another signal's export sent here.
    let response = app
        .export("traces", ACME_KEY, "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let status = json(response).await;
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `resourceMetrics`: this endpoint takes `resourceSpans`"),
        "{status}"
    );
    // An empty export is still an empty success.
    let response = app
        .export("metrics", ACME_KEY, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The fixture in OTLP/JSON: one NaN point is rejected, the rest recorded.
    let response = app
        .export("metrics", ACME_KEY, "application/json")
        .body(METRICS_JSON)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let partial = &json(response).await["partialSuccess"];
    assert_eq!(partial["rejectedDataPoints"], "1");
    assert!(partial["errorMessage"]
        .as_str()
        .unwrap()
        .contains("metrics[0].dataPoints[1]: the value is not a finite number"));
    assert_eq!(app.stored_events("acme").await, 12);

    // The recent samples reach the rollups: the summary's metric statistics.
    let stats = eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            let response = app
                .get_with_key(ACME_KEY, "/accounts/acme/summary?window=1h")
                .await;
            if response.status() != StatusCode::OK {
                // 503 until the service has created its ClickHouse tables.
                return Err(format!("summary answered {}", response.status()));
            }
            let summary = json(response).await;
            let metric = summary["metrics"]
                .as_array()
                .and_then(|metrics| metrics.iter().find(|m| m["name"] == "edge.latency"))
                .cloned();
            match metric {
                Some(metric) if metric["count"] == 4 => Ok(metric),
                other => Err(format!("summary shows {other:?}")),
            }
        },
    )
    .await;
    assert_eq!(
        (stats["min"].as_f64(), stats["max"].as_f64()),
        (Some(10.0), Some(40.0))
    );
    assert_eq!(stats["avg"].as_f64(), Some(25.0));
    let mut edge = last_hours(1);
    edge["serviceName"] = json!("edge");
    let page = json(app.query(ACME_KEY, &edge).await).await;
    assert_eq!(
        page["data"][0]["payload"]["attributes"],
        json!({"core": "1"})
    );
}

#[tokio::test]
async fn failures_are_google_rpc_statuses_and_large_exports_are_split() {
    let app = spawn_app_with(|settings| settings.ingest.max_batch_events = 8).await;
    // No key, in each encoding.
    let response = app
        .client
        .post(app.url("/v1/logs"))
        .header("Content-Type", PROTOBUF)
        .body(LOGS_PB)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, reason) = protobuf_status(response).await;
    assert_eq!((status.code, reason.as_str()), (16, "missing_credentials"));
    let response = app
        .client
        .post(app.url("/v1/logs"))
        .header("X-API-Key", "wrong-key")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let status = json(response).await;
    assert_eq!(status["code"], 16);
    assert_eq!(status["details"][0]["reason"], "invalid_api_key");
    assert_eq!(
        status["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );

    // Not OTLP at all.
    let response = app
        .export("traces", ACME_KEY, PROTOBUF)
        .body(&b"\xff\xff\xff"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, reason) = protobuf_status(response).await;
    assert_eq!((status.code, reason.as_str()), (3, "invalid_otlp"));
    let response = app
        .export("traces", ACME_KEY, "application/json")
        .body(r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not hex"}]}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["details"][0]["reason"], "invalid_otlp");

    // Every record rejected: 400, not an empty success.
    let orphan = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"spanId": "eee19b7ec3c1b174", "name": "orphan"}]}]}]});
    let response = app
        .export("traces", ACME_KEY, "application/json")
        .body(orphan.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let status = json(response).await;
    assert_eq!(status["details"][0]["reason"], "invalid_records");
    assert!(status["message"].as_str().unwrap().contains("spans[0]"));

    // Unsupported media type and encoding.
    let response = app
        .export("logs", ACME_KEY, "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        json(response).await["details"][0]["reason"],
        "unsupported_media_type"
    );
    let response = app
        .export("logs", ACME_KEY, PROTOBUF)
        .header("Content-Encoding", "br")
        .body(LOGS_PB)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, reason) = protobuf_status(response).await;
    assert_eq!(reason, "unsupported_encoding");
    let response = app
        .export("logs", ACME_KEY, PROTOBUF)
        .header("Content-Encoding", "gzip")
        .body(LOGS_PB)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, reason) = protobuf_status(response).await;
    assert_eq!(reason, "invalid_encoding");

    // Nine log records are more than this instance's limit of eight per export.
    let now = chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap()
        .to_string();
    let records: Vec<Value> = (0..9)
        .map(|i| json!({"timeUnixNano": now, "body": {"stringValue": format!("line {i}")}}))
        .collect();
    let eight = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]});
    let response = app
        .export("logs", ACME_KEY, "application/json")
        .body(eight.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let status = json(response).await;
    assert_eq!(status["details"][0]["reason"], "batch_too_large");
    assert_eq!(
        status["message"],
        "an export may hold at most 8 log records"
    );

    assert_eq!(app.stored_events("acme").await, 0);

    // Six data points and two quantiles, within the limit, become eight events.
    let response = app
        .export("metrics", ACME_KEY, PROTOBUF)
        .body(METRICS_PB)
        .send()
        .await
        .unwrap();
    assert_eq!(
        protobuf_response(response)
            .await
            .partial_success
            .unwrap()
            .rejected,
        1
    );
    assert_eq!(app.stored_events("acme").await, 8);

    // Three summary points with one quantile each weigh six records (within the limit) and
    // become nine events (count, sum and quantile each): recorded as two batches.
    let points: Vec<Value> = (0..3)
        .map(|i| {
            json!({"timeUnixNano": now, "count": "4", "sum": 10.0 + f64::from(i),
                   "quantileValues": [{"quantile": 0.5, "value": 2.0}],
                   "attributes": [{"key": "i", "value": {"intValue": i.to_string()}}]})
        })
        .collect();
    let summaries = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "queue.wait", "summary": {"dataPoints": points}}
    ]}]}]});
    let response = app
        .export("metrics", ACME_KEY, "application/json")
        .body(summaries.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.stored_events("acme").await, 17);
    let batches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'IngestBatch' \
         AND event_type = 'BatchAccepted'",
    )
    .fetch_one(&app.postgres().await)
    .await
    .unwrap();
    assert_eq!(
        batches, 3,
        "one batch for the fixture, two for the summaries"
    );
}

#[tokio::test]
async fn exports_of_millions_of_empty_messages_are_refused_before_decoding() {
    let app = spawn_app().await;
    let field = |tag: u32, payload: &[u8]| {
        use prost::encoding::{encode_key, encode_varint, WireType};
        let mut out = Vec::with_capacity(payload.len() + 8);
        encode_key(tag, WireType::LengthDelimited, &mut out);
        encode_varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    };
    // Five million empty log records in 10 MB of protobuf (10 KB gzipped): decoded, they
    // would take about 2.4 GB.
    let records = [0x12, 0x00].repeat(5_000_000);
    let export = gzip(&field(1, &field(2, &records)));
    assert!(export.len() < 100_000);
    let response = app
        .export("logs", ACME_KEY, PROTOBUF)
        .header("Content-Encoding", "gzip")
        .body(export)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, reason) = protobuf_status(response).await;
    assert_eq!(reason, "batch_too_large");
    assert_eq!(
        status.message,
        "an export may hold at most 10000 log records"
    );
    // One span with three million empty attributes, as OTLP/JSON.
    let attributes = vec!["{}"; 3_000_000].join(",");
    let export = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{attributes}]}}]}}]}}]}}"#
    );
    let response = app
        .export("traces", ACME_KEY, "application/json")
        .header("Content-Encoding", "gzip")
        .body(gzip(export.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let status = json(response).await;
    assert_eq!(status["details"][0]["reason"], "batch_too_large");
    assert_eq!(
        status["message"],
        "an export may hold at most 1000000 messages (resources, scopes, records, attributes \
         and values) in all"
    );

    // One attribute holding arrays of arrays 100,000 deep (within the message limit, about
    // 0.6 MB): refused as undecodable, and the service is still there to say so.
    let mut reversed: Vec<u8> = Vec::new();
    for _ in 0..100_000 {
        // AnyValue.arrayValue (field 5) holding an ArrayValue whose one value (field 1) is
        // the level below; written back to front.
        for key in [0x0a, 0x2a] {
            let mut length = Vec::new();
            prost::encoding::encode_varint(reversed.len() as u64, &mut length);
            reversed.extend(length.iter().rev());
            reversed.push(key);
        }
    }
    reversed.reverse();
    let attribute = [field(1, b"deep"), field(2, &reversed)].concat();
    let response = app
        .export("logs", ACME_KEY, PROTOBUF)
        .body(field(1, &field(1, &field(1, &attribute))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, reason) = protobuf_status(response).await;
    assert_eq!(reason, "invalid_otlp");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn rate_limited_exports_carry_retry_after() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.max_requests = 1;
        settings.rate_limit.window = Duration::from_millis(60_000);
    })
    .await;
    let first = app
        .export("logs", ACME_KEY, PROTOBUF)
        .body(LOGS_PB)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let limited = app
        .export("logs", ACME_KEY, PROTOBUF)
        .body(LOGS_PB)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let (status, reason) = protobuf_status(limited).await;
    assert_eq!((status.code, reason.as_str()), (8, "rate_limited"));
    assert_eq!(app.stored_events("acme").await, 4);
}

#[tokio::test]
async fn otlp_metrics_drive_alert_rules_with_attribute_filters() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    // OTLP attribute values become strings: an int attribute matches its decimal text.
    let rule = json!({"name": "slow edge", "metric": "edge.latency", "serviceName": "edge",
        "attributes": {"core": "1"}, "aggregation": "max", "window": "1m", "comparator": ">",
        "threshold": 100, "channels": [{"url": receiver.url, "format": "json"}]});
    create_watched_rule(&app, ACME_KEY, &rule).await;

    let export = |core: i64, values: &[f64]| {
        app.export("metrics", ACME_KEY, "application/json")
            .body(json_gauge_on("edge.latency", core, values).to_string())
            .send()
    };
    let status = export(1, &[20.0, 40.0]).await.unwrap().status();
    assert_eq!(status, StatusCode::OK);
    // Another core's samples are not the rule's.
    let status = export(2, &[500.0]).await.unwrap().status();
    assert_eq!(status, StatusCode::OK);
    let status = export(1, &[250.0]).await.unwrap().status();
    assert_eq!(status, StatusCode::OK);
    // The only notification, and its value is the largest of core 1's samples: had core 2's
    // 500 counted, the rule would have fired on it first, or at 500.
    let fired = receiver.wait_for(1, Duration::from_secs(30)).await;
    let notification = &fired[0].body;
    assert_eq!(notification["kind"], "triggered", "{notification}");
    assert_eq!(notification["series"], "edge");
    assert_eq!(notification["value"], 250.0);
    assert_eq!(receiver.received().len(), 1, "{:?}", receiver.received());
}
