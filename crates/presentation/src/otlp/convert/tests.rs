use super::metrics::NO_RECORDED_VALUE;
use super::*;

const LOGS_PB: &[u8] = include_bytes!("../../../../../tests/fixtures/otlp/logs.pb");
const LOGS_JSON: &str = include_str!("../../../../../tests/fixtures/otlp/logs.json");
use telemetry_domain::metric::{MetricKind, MetricShape};

const METRICS_PB: &[u8] = include_bytes!("../../../../../tests/fixtures/otlp/metrics.pb");
const METRICS_JSON: &str = include_str!("../../../../../tests/fixtures/otlp/metrics.json");
const TRACES_PB: &[u8] = include_bytes!("../../../../../tests/fixtures/otlp/traces.pb");
const TRACES_JSON: &str = include_str!("../../../../../tests/fixtures/otlp/traces.json");

/// A minute after the fixtures' records.
fn received_at() -> Timestamp {
    Timestamp::parse_rfc3339("2026-01-21T12:01:00Z").unwrap()
}

const LIMITS: Limits = Limits {
    max_records: 10_000,
    max_payload_bytes: 1 << 20,
};

/// The submissions as `(eventId, serviceName, timestamp, userId, payload)` JSON.
fn events(conversion: &Conversion) -> Vec<Value> {
    let text = |raw: Option<&str>| {
        raw.map(|raw| serde_json::from_str::<Value>(raw).unwrap())
            .unwrap_or(Value::Null)
    };
    conversion
        .submissions
        .iter()
        .map(|s| {
            serde_json::json!({
                "eventId": text(s.event_id()), "eventType": text(s.event_type()),
                "serviceName": text(s.service_name()), "timestamp": text(s.timestamp()),
                "userId": text(s.user_id()), "payload": text(s.payload()),
            })
        })
        .collect()
}

fn event_ids(conversion: &Conversion) -> Vec<Value> {
    events(conversion)
        .into_iter()
        .map(|event| event["eventId"].clone())
        .collect()
}

#[test]
fn both_encodings_of_the_fixtures_decode_to_the_same_requests() {
    let logs = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
    assert_eq!(logs, serde_json::from_str(LOGS_JSON).unwrap());
    let metrics = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
    // NaN is never equal to itself: compare the encodings instead.
    let from_json: ExportMetricsServiceRequest = serde_json::from_str(METRICS_JSON).unwrap();
    assert_eq!(metrics.encode_to_vec(), from_json.encode_to_vec());
    let traces = ExportTraceServiceRequest::decode(TRACES_PB).unwrap();
    assert_eq!(traces, serde_json::from_str(TRACES_JSON).unwrap());
}

#[test]
fn log_records_become_log_events() {
    let request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
    let conversion = logs(&request, received_at(), LIMITS);
    assert_eq!((conversion.records, conversion.rejected), (5, 1));
    assert!(
        conversion.error_message.starts_with(
            "1 of 5 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[3]: "
        ),
        "{}",
        conversion.error_message
    );
    let events = events(&conversion);
    assert_eq!(events.len(), 4);
    let first = &events[0];
    assert!(first["eventId"].as_str().unwrap().starts_with("otlp-log-"));
    assert_eq!(first["eventType"], "log");
    assert_eq!(first["serviceName"], "checkout");
    assert_eq!(first["timestamp"], "2026-01-21T12:00:00Z");
    assert_eq!(first["userId"], "u-42");
    let payload = &first["payload"];
    assert_eq!(payload["level"], "info");
    assert_eq!(payload["severityNumber"], 9);
    assert_eq!(payload["message"], "payment accepted");
    assert_eq!(payload["attributes"]["http.status_code"], 200);
    assert_eq!(payload["attributes"]["retry"], false);
    assert_eq!(payload["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(payload["spanId"], "eee19b7ec3c1b174");
    assert_eq!(payload["resource"]["host.name"], "node-1");
    assert_eq!(payload["scope"]["name"], "checkout.instrumentation");
    let second = &events[1]["payload"];
    assert_eq!(second["level"], "error");
    assert_eq!(second["body"]["error"], "card declined");
    assert_eq!(second["body"]["codes"], serde_json::json!([51]));
    assert_eq!(second["eventName"], "payment.failed");
    assert_eq!(events[2]["timestamp"], "2026-01-21T12:00:02Z");
    assert_eq!(events[3]["serviceName"], UNKNOWN_SERVICE);
    assert_eq!(events[3]["userId"], Value::Null);
}

#[test]
fn data_points_become_metric_samples() {
    let request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
    let conversion = metrics(&request, received_at(), LIMITS);
    assert_eq!((conversion.records, conversion.rejected), (6, 1));
    assert!(conversion
        .error_message
        .contains("resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[1]: the value is not a finite number"));
    let samples: Vec<(String, f64, Value)> = events(&conversion)
        .iter()
        .map(|event| {
            let payload = &event["payload"];
            (
                payload["name"].as_str().unwrap().to_string(),
                payload["value"].as_f64().unwrap(),
                payload["attributes"].clone(),
            )
        })
        .collect();
    let names: Vec<&str> = samples.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "system.cpu.utilization",
            "http.server.requests",
            "http.server.duration",
            "rpc.latency.count",
            "rpc.latency.sum",
            "rpc.latency",
            "rpc.latency",
            "queue.wait",
        ]
    );
    let values: Vec<f64> = samples.iter().map(|(_, value, _)| *value).collect();
    assert_eq!(values, [0.42, 7.0, 4.0, 10.0, 55.0, 4.0, 9.0, 3.0]);
    assert_eq!(samples[0].2, serde_json::json!({"cpu": "0"}));
    assert_eq!(samples[6].2, serde_json::json!({"quantile": "0.99"}));
    let events = events(&conversion);
    let sum = &events[1]["payload"];
    assert_eq!(sum["kind"], "sum");
    assert_eq!(sum["temporality"], "cumulative");
    assert_eq!(sum["monotonic"], true);
    assert_eq!(sum["unit"], "{request}");
    // A histogram point is one event: count (its value), sum, min, max and buckets.
    let histogram = &events[2]["payload"];
    assert_eq!(histogram["kind"], "histogram");
    assert_eq!(histogram["unit"], "ms");
    assert_eq!(
        (&histogram["count"], &histogram["sum"]),
        (&serde_json::json!(4), &serde_json::json!(100.5))
    );
    assert_eq!(
        (&histogram["min"], &histogram["max"]),
        (&serde_json::json!(3.0), &serde_json::json!(60.0))
    );
    assert_eq!(
        histogram["buckets"],
        serde_json::json!({"bounds": [10.0, 50.0], "counts": [1, 2, 1]})
    );
    assert_eq!(events[3]["payload"]["unit"], Value::Null);
    assert_eq!(events[4]["payload"]["unit"], "ms");
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["eventId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let exponential = &events[7]["payload"];
    assert_eq!(
        exponential["buckets"],
        serde_json::json!({"scale": 1, "zeroCount": 0,
                           "positive": {"offset": 2, "counts": [1, 2]}})
    );
    assert_eq!(
        events[3]["payload"].get("buckets"),
        None,
        "summaries have none"
    );
    assert_eq!(exponential["kind"], "exponentialHistogram");
    assert_eq!(exponential["temporality"], "delta");
    assert_eq!(ids.len(), 8, "every sample has its own id");
    // What the analytics processor reads from them.
    for (index, kind) in [
        (1, MetricKind::Counter),
        (2, MetricKind::Histogram),
        (7, MetricKind::Histogram),
    ] {
        let payload = events[index]["payload"].to_string();
        assert_eq!(MetricShape::from_payload(&payload).unwrap().kind, kind);
    }
}

#[test]
fn spans_become_trace_events() {
    let request = ExportTraceServiceRequest::decode(TRACES_PB).unwrap();
    let conversion = traces(&request, received_at(), LIMITS);
    assert_eq!((conversion.records, conversion.rejected), (3, 1));
    let events = events(&conversion);
    let server = &events[0];
    assert_eq!(
        server["eventId"],
        "otlp-span-5b8efff798038103d269b633813fc60ceee19b7ec3c1b174"
    );
    assert_eq!(server["eventType"], "trace");
    assert_eq!(server["userId"], "u-42");
    let payload = &server["payload"];
    assert_eq!(payload["durationMs"], 250.0);
    assert_eq!(payload["kind"], "server");
    assert_eq!(
        payload["status"],
        serde_json::json!({"code": "error", "message": "declined"})
    );
    assert_eq!(payload["events"][0]["name"], "exception");
    assert_eq!(
        payload["events"][0]["timestamp"],
        "2026-01-21T12:00:00.200Z"
    );
    let child = &events[1]["payload"];
    assert_eq!(child["parentSpanId"], "eee19b7ec3c1b174");
    assert_eq!(child["durationMs"], 12.5);
    assert_eq!(child["kind"], "client");
}

#[test]
fn ids_are_stable_and_identical_records_stay_distinct() {
    let request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
    let ids = |request: &ExportLogsServiceRequest| event_ids(&logs(request, received_at(), LIMITS));
    let first = ids(&request);
    assert_eq!(first, ids(&request), "a retry derives the same ids");
    let mut doubled = request.clone();
    let records = &mut doubled.resource_logs[0].scope_logs[0].log_records;
    records.push(records[0].clone());
    let second = ids(&doubled);
    // The copy follows the first resource's records; the second resource comes last.
    assert_eq!(second[..3], first[..3]);
    assert_eq!(second[3], format!("{}-1", first[0].as_str().unwrap()));
    assert_eq!(second[4], first[3]);
}

/// Content ids of histogram points are what they were before buckets were kept: derived
/// from the point without its buckets (here: the same ids as with the buckets removed
/// from the request, bytes the earlier declaration of the points could not see).
#[test]
fn histogram_ids_do_not_depend_on_the_buckets() {
    let request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
    let mut without = request.clone();
    let points = without
        .resource_metrics
        .iter_mut()
        .flat_map(|resource| &mut resource.scope_metrics)
        .flat_map(|scope| &mut scope.metrics);
    for exported in points {
        match &mut exported.data {
            Some(metric::Data::Histogram(histogram)) => {
                for point in &mut histogram.data_points {
                    point.bucket_counts.clear();
                    point.explicit_bounds.clear();
                }
            }
            Some(metric::Data::ExponentialHistogram(histogram)) => {
                for point in &mut histogram.data_points {
                    (point.scale, point.positive, point.negative) = (0, None, None);
                }
            }
            _ => {}
        }
    }
    let ids =
        |request: &ExportMetricsServiceRequest| event_ids(&metrics(request, received_at(), LIMITS));
    assert_eq!(ids(&request), ids(&without));
    let with_buckets = events(&metrics(&request, received_at(), LIMITS));
    assert!(with_buckets[2]["payload"].get("buckets").is_some());
}

#[test]
fn doubles_json_has_no_number_for_are_spelled_as_otlp_json_spells_them() {
    let double = |value: f64| AnyValue {
        value: Some(any_value::Value::DoubleValue(value)),
    };
    assert_eq!(json_value(&double(f64::INFINITY)), "Infinity");
    assert_eq!(json_value(&double(f64::NEG_INFINITY)), "-Infinity");
    assert_eq!(json_value(&double(f64::NAN)), "NaN");
    assert_eq!(json_value(&double(1.5)), 1.5);
}

#[test]
fn an_empty_request_has_no_events_and_no_rejections() {
    let conversion = traces(&ExportTraceServiceRequest::default(), received_at(), LIMITS);
    assert_eq!((conversion.records, conversion.rejected), (0, 0));
    assert!(conversion.submissions.is_empty() && conversion.error_message.is_empty());
}

#[test]
fn records_without_their_own_time_are_rejected() {
    let mut request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
    let record = &mut request.resource_logs[0].scope_logs[0].log_records[2];
    record.observed_time_unix_nano = 0;
    let conversion = logs(&request, received_at(), LIMITS);
    assert_eq!(conversion.rejected, 2);
    assert!(conversion
        .error_message
        .contains("logRecords[2]: a log record needs timeUnixNano or observedTimeUnixNano"));
    let mut request = ExportTraceServiceRequest::decode(TRACES_PB).unwrap();
    request.resource_spans[0].scope_spans[0].spans[1].start_time_unix_nano = 0;
    let conversion = traces(&request, received_at(), LIMITS);
    assert!(conversion
        .error_message
        .contains("spans[1]: a span needs startTimeUnixNano"));
}

#[test]
fn points_with_no_recorded_value_are_skipped_not_recorded_or_rejected() {
    let mut request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
    let before = metrics(&request, received_at(), LIMITS);
    assert!(!before.submissions.is_empty());
    let metrics_list = &mut request.resource_metrics[0].scope_metrics[0].metrics;
    let mut kinds = std::collections::BTreeSet::new();
    for metric in metrics_list.iter_mut() {
        match metric.data.as_mut().unwrap() {
            metric::Data::Gauge(gauge) => gauge.data_points.iter_mut().for_each(|point| {
                kinds.insert("gauge");
                point.flags = NO_RECORDED_VALUE;
                point.value = None;
            }),
            metric::Data::Sum(sum) => sum.data_points.iter_mut().for_each(|point| {
                kinds.insert("sum");
                point.flags = NO_RECORDED_VALUE;
                point.value = None;
            }),
            metric::Data::Histogram(histogram) => {
                histogram.data_points.iter_mut().for_each(|point| {
                    kinds.insert("histogram");
                    point.flags = NO_RECORDED_VALUE;
                })
            }
            metric::Data::ExponentialHistogram(histogram) => {
                histogram.data_points.iter_mut().for_each(|point| {
                    kinds.insert("exponential");
                    point.flags = NO_RECORDED_VALUE;
                })
            }
            metric::Data::Summary(summary) => summary.data_points.iter_mut().for_each(|point| {
                kinds.insert("summary");
                point.flags = NO_RECORDED_VALUE;
            }),
        }
    }
    assert_eq!(
        kinds.len(),
        5,
        "the fixture has every kind of point: {kinds:?}"
    );
    let after = metrics(&request, received_at(), LIMITS);
    assert_eq!((after.submissions.len(), after.rejected), (0, 0));
    // The flag arrives in either encoding.
    let json: ExportMetricsServiceRequest = serde_json::from_str(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"up",
            "gauge":{"dataPoints":[{"timeUnixNano":"1","flags":1}]},
            "summary":{"dataPoints":[{"timeUnixNano":"1","flags":1}]}}]}]}]}"#,
    )
    .unwrap();
    let recoded = ExportMetricsServiceRequest::decode(&json.encode_to_vec()[..]).unwrap();
    assert_eq!(recoded, json);
    assert_eq!(metrics(&json, received_at(), LIMITS).rejected, 0);
}

#[test]
fn gauge_and_sum_points_of_the_same_name_and_time_are_different_samples() {
    let mut request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
    let metrics_list = &mut request.resource_metrics[0].scope_metrics[0].metrics;
    let Some(metric::Data::Gauge(gauge)) = metrics_list[0].data.clone() else {
        panic!("the fixture's first metric is a gauge")
    };
    let mut as_sum = metrics_list[0].clone();
    as_sum.data = Some(metric::Data::Sum(super::super::proto::Sum {
        data_points: gauge.data_points,
        aggregation_temporality: 1,
        is_monotonic: false,
    }));
    metrics_list.push(as_sum);
    let events = events(&metrics(&request, received_at(), LIMITS));
    let cpu: Vec<&Value> = events
        .iter()
        .filter(|e| e["payload"]["name"] == "system.cpu.utilization")
        .map(|e| &e["eventId"])
        .collect();
    assert_eq!(cpu.len(), 2);
    assert_ne!(cpu[0], cpu[1]);
}

#[test]
fn exports_beyond_the_limits_are_refused_whole() {
    let request = ExportMetricsServiceRequest::decode(METRICS_PB).unwrap();
    // Six data points and two quantile values count as eight records.
    let eight = Limits {
        max_records: 8,
        ..LIMITS
    };
    assert_eq!(metrics(&request, received_at(), eight).too_large, None);
    let seven = Limits {
        max_records: 7,
        ..LIMITS
    };
    let refused = metrics(&request, received_at(), seven);
    assert_eq!(
        refused.too_large.as_deref(),
        Some("an export may hold at most 7 data points")
    );
    // A large resource attribute is repeated in every event's payload.
    let mut request = ExportLogsServiceRequest::decode(LOGS_PB).unwrap();
    let resource = request.resource_logs[0].resource.as_mut().unwrap();
    resource.attributes.push(KeyValue {
        key: "blob".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue("x".repeat(400_000))),
        }),
    });
    let small = Limits {
        max_payload_bytes: 1_000_000,
        ..LIMITS
    };
    let refused = logs(&request, received_at(), small);
    assert_eq!(
        refused.too_large.as_deref(),
        Some("the export expands to more than 1000000 bytes of events")
    );
}
