//! Metrics read as their producer meant them: counters as increases and rates (resets and
//! replays included), histograms as counts, sums and percentiles from their buckets,
//! up-down counters and gauges as samples. Produced by the OpenTelemetry Python SDK over
//! both protocols and both temporalities (`tests/otel/sdk_metrics.py`), and by hand-written
//! OTLP/JSON exports sent out of order and twice.

use std::time::Duration;

use serde_json::{json, Value};

use crate::alerts::create_watched_rule;
use crate::helpers::{
    eventually, json, otel_python, otel_python_child, otel_python_output, spawn_app, test_settings,
    ServerProcess, TestApp, ACME_KEY,
};
use crate::proxy::TcpProxy;
use crate::receiver::Receiver;

const CATCH_UP: Duration = Duration::from_secs(60);

/// Observations the SDK's histogram records (in ms), as the tests check them.
const OBSERVATIONS: [f64; 20] = [
    3.0, 7.0, 12.0, 18.0, 22.0, 30.0, 41.0, 55.0, 60.0, 70.0, 80.0, 90.0, 110.0, 130.0, 200.0,
    240.0, 300.0, 600.0, 800.0, 2000.0,
];

/// The OpenTelemetry SDK's default explicit bucket bounds.
const SDK_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

impl TestApp {
    /// The metric `name` of the tenant's 24h summary, computed afresh.
    async fn summarized_metric(&self, name: &str) -> Value {
        let summary = self.summary(ACME_KEY, "acme").await;
        summary["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .find(|metric| metric["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not in the summary: {summary}"))
    }

    /// `GET /timeseries` of the last two hours by minute, computed afresh.
    async fn minutes_of(&self, metric: &str, service: Option<&str>) -> Value {
        let now = chrono::Utc::now();
        let mut path = format!(
            "/timeseries?metric={metric}&step=1m&from={}&to={}",
            (now - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%SZ"),
            (now + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        );
        if let Some(service) = service {
            path.push_str(&format!("&serviceName={service}"));
        }
        let response = self.get_fresh(ACME_KEY, &path).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        json(response).await
    }
}

/// The sum of `field` over a series' points.
fn total(series: &Value, field: &str) -> f64 {
    series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|point| point[field].as_f64().unwrap_or_default())
        .sum()
}

/// The bucket `(lower, upper]` of the SDK's default bounds that holds `value`.
fn bucket_of(value: f64) -> (f64, f64) {
    let upper = SDK_BOUNDS.iter().position(|bound| value <= *bound);
    match upper {
        Some(0) => (f64::NEG_INFINITY, SDK_BOUNDS[0]),
        Some(index) => (SDK_BOUNDS[index - 1], SDK_BOUNDS[index]),
        None => (SDK_BOUNDS[SDK_BOUNDS.len() - 1], f64::INFINITY),
    }
}

/// The nearest-rank `quantile` of the observations.
fn true_quantile(quantile: f64) -> f64 {
    let mut sorted = OBSERVATIONS.to_vec();
    sorted.sort_by(f64::total_cmp);
    crate::helpers::percentile(&sorted, quantile)
}

#[tokio::test]
async fn sdk_counters_histograms_up_down_counters_and_gauges_read_as_meant() {
    let app = spawn_app().await;
    let grpc = format!(
        "http://{}",
        app.otlp_grpc_address
            .as_deref()
            .expect("OTLP/gRPC is served")
    );
    let observations: Vec<String> = OBSERVATIONS.iter().map(f64::to_string).collect();
    let observations = observations.join(",");
    let producers = [
        ("grpc", grpc.as_str(), "cumulative", "grpc-cumulative"),
        ("grpc", grpc.as_str(), "delta", "grpc-delta"),
        (
            "http/protobuf",
            app.address.as_str(),
            "cumulative",
            "http-cumulative",
        ),
        ("http/protobuf", app.address.as_str(), "delta", "http-delta"),
    ];
    for (protocol, endpoint, temporality, service) in producers {
        // 3 + 4 + 5 increments, a restart (a reset of the cumulative counter), 6 + 2 more.
        let exported = otel_python(
            "sdk_metrics.py",
            &[
                protocol,
                endpoint,
                ACME_KEY,
                service,
                temporality,
                "--increments",
                "3,4,5",
                "--after-restart",
                "6,2",
                "--observations",
                &observations,
            ],
        )
        .await;
        assert_eq!(exported["ok"], true, "{service}: {exported}");
    }
    // Every export was acknowledged: once the processor has caught up, the numbers are final.
    app.wait_until_aggregated(CATCH_UP).await;

    let orders = app.summarized_metric("orders").await;
    assert_eq!(orders["kind"], "counter", "{orders}");
    assert_eq!(orders["increase"], 80.0, "{orders}");
    let rate = orders["ratePerSecond"].as_f64().unwrap();
    assert!((rate - 80.0 / 86_400.0).abs() < 1e-12, "{orders}");
    for (_, _, temporality, service) in producers {
        let series = app.minutes_of("orders", Some(service)).await;
        assert_eq!(series["kind"], "counter");
        assert_eq!(series["temporality"], temporality, "{series}");
        assert_eq!(series["unit"], "1");
        assert_eq!(total(&series, "increase"), 20.0, "{service}: {series}");
        let per_minute = total(&series, "ratePerSecond") * 60.0;
        assert!((per_minute - 20.0).abs() < 1e-9, "{service}: {series}");
        let durations = app.minutes_of("http.server.duration", Some(service)).await;
        assert_eq!(durations["kind"], "histogram");
        assert_eq!(total(&durations, "count"), 20.0, "{service}: {durations}");
        assert_eq!(total(&durations, "sum"), OBSERVATIONS.iter().sum::<f64>());
    }

    let durations = app.summarized_metric("http.server.duration").await;
    assert_eq!(durations["kind"], "histogram", "{durations}");
    assert_eq!(durations["unit"], "ms");
    assert_eq!(durations["count"], 80, "{durations}");
    assert_eq!(durations["sum"], 4.0 * OBSERVATIONS.iter().sum::<f64>());
    // Reported by the delta producers' points (cumulative points report the run's).
    assert_eq!(
        (&durations["min"], &durations["max"]),
        (&json!(3.0), &json!(2000.0))
    );
    for (field, quantile) in [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)] {
        let estimate = durations[field].as_f64().expect(field);
        let (lower, upper) = bucket_of(true_quantile(quantile));
        assert!(
            estimate >= lower && estimate <= upper,
            "{field} {estimate} is outside ({lower}, {upper}]: {durations}"
        );
    }
    assert_eq!(durations["increase"], Value::Null);

    let depth = app.summarized_metric("queue.depth").await;
    assert_eq!(depth["kind"], "upDownCounter", "{depth}");
    assert_eq!((&depth["min"], &depth["max"]), (&json!(3.0), &json!(5.0)));
    assert_eq!(depth["increase"], Value::Null);
    let temperature = app.summarized_metric("temperature").await;
    assert_eq!(temperature["kind"], "gauge", "{temperature}");
    assert_eq!(temperature["unit"], "Cel");
    assert_eq!(
        (&temperature["min"], &temperature["max"]),
        (&json!(20.0), &json!(22.0))
    );
}

#[tokio::test]
async fn exponential_histograms_read_like_explicit_ones() {
    let app = spawn_app().await;
    let observations: Vec<String> = OBSERVATIONS.iter().map(f64::to_string).collect();
    let observations = observations.join(",");
    for temporality in ["cumulative", "delta"] {
        let service = format!("exponential-{temporality}");
        let exported = otel_python(
            "sdk_metrics.py",
            &[
                "http/protobuf",
                &app.address,
                ACME_KEY,
                &service,
                temporality,
                "--increments",
                "1,1,1",
                "--observations",
                &observations,
                "--exponential",
            ],
        )
        .await;
        assert_eq!(exported["ok"], true, "{exported}");
    }
    app.wait_until_aggregated(CATCH_UP).await;
    let durations = app.summarized_metric("http.server.duration").await;
    assert_eq!(durations["kind"], "histogram", "{durations}");
    assert_eq!(durations["count"], 40, "{durations}");
    assert_eq!(durations["sum"], 2.0 * OBSERVATIONS.iter().sum::<f64>());
    // An exponential bucket at scale 0 or finer is at most a factor of two wide.
    for (field, quantile) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        let estimate = durations[field].as_f64().expect(field);
        let truth = true_quantile(quantile);
        assert!(
            estimate >= truth / 2.0 && estimate <= truth * 2.0,
            "{field} {estimate} is not within a bucket of {truth}: {durations}"
        );
    }
    for temporality in ["cumulative", "delta"] {
        let service = format!("exponential-{temporality}");
        let series = app.minutes_of("http.server.duration", Some(&service)).await;
        assert_eq!(total(&series, "count"), 20.0, "{series}");
    }
}

/// An OTLP/JSON export of cumulative points of the monotonic sum `payments` of service
/// `replay`: `(start, time, value)`, times in ns.
fn payments(points: &[(i64, i64, i64)]) -> Value {
    let points: Vec<Value> = points
        .iter()
        .map(|(start, time, value)| {
            json!({
                "startTimeUnixNano": start.to_string(),
                "timeUnixNano": time.to_string(),
                "asInt": value.to_string(),
                "attributes": [{"key": "currency", "value": {"stringValue": "EUR"}}],
            })
        })
        .collect();
    json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "replay"}}]},
        "scopeMetrics": [{"scope": {"name": "billing"}, "metrics": [{
            "name": "payments", "unit": "1",
            "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": points}
        }]}]
    }]})
}

#[tokio::test]
async fn counter_points_out_of_order_and_replayed_give_the_exact_increase() {
    let app = spawn_app().await;
    let minute = 60_000_000_000_i64;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    // Four points a minute apart, ten minutes ago: 2, 5, 9, then a restart at 3.
    let base = (now - 10 * minute).div_euclid(minute) * minute + 5_000_000_000;
    let first_run = base - 60 * minute;
    let second_run = base + 2 * minute + 30_000_000_000;
    let late = payments(&[
        (first_run, base + 2 * minute, 9),
        (second_run, base + 3 * minute, 3),
    ]);
    let early = payments(&[(first_run, base, 2), (first_run, base + minute, 5)]);
    for body in [&late, &early, &late, &early] {
        let response = app
            .client
            .post(app.url("/v1/metrics"))
            .header("X-API-Key", ACME_KEY)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
    // Declared over JSON `/ingest`: a delta counter, one increment per event.
    let jobs: Vec<Value> = (0..3)
        .map(|index| {
            json!({"eventId": format!("job-{index}"), "eventType": "metric",
                   "serviceName": "worker", "timestamp": crate::helpers::recent_timestamp(),
                   "payload": {"name": "jobs", "value": 2, "kind": "counter"}})
        })
        .collect();
    app.ingest_ok(ACME_KEY, &Value::Array(jobs.clone())).await;
    app.ingest_ok(ACME_KEY, &Value::Array(jobs)).await;
    app.wait_until_aggregated(CATCH_UP).await;

    let summary = app.summarized_metric("payments").await;
    assert_eq!(summary["kind"], "counter");
    assert_eq!(summary["temporality"], "cumulative");
    assert_eq!(summary["increase"], 12.0, "{summary}");
    assert_eq!(summary["count"], 4, "data points: {summary}");
    let series = app.minutes_of("payments", Some("replay")).await;
    let increases: Vec<f64> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["increase"].as_f64().unwrap())
        .collect();
    assert_eq!(increases, [2.0, 3.0, 4.0, 3.0], "{series}");
    let jobs = app.summarized_metric("jobs").await;
    assert_eq!(
        (&jobs["kind"], &jobs["temporality"], &jobs["increase"]),
        (&json!("counter"), &json!("delta"), &json!(6.0)),
        "{jobs}"
    );
}

#[tokio::test]
async fn a_declared_kind_with_malformed_fields_is_refused_naming_the_field() {
    let app = spawn_app().await;
    for (payload, field) in [
        (
            json!({"name": "jobs", "value": 1, "kind": "meter"}),
            "payload.kind",
        ),
        (
            json!({"name": "jobs", "value": 1, "kind": "counter", "temporality": "sometimes"}),
            "payload.temporality",
        ),
        (
            json!({"name": "latency", "value": 3, "kind": "histogram", "count": 3,
                   "buckets": {"bounds": [10], "counts": [1, 1]}}),
            "payload.buckets",
        ),
    ] {
        let event = json!({"eventId": "bad-kind", "eventType": "metric", "serviceName": "s",
                           "timestamp": crate::helpers::recent_timestamp(), "payload": payload});
        let response = app.ingest(ACME_KEY, &event).await;
        assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
        let body = json(response).await;
        let detail = &body["error"]["details"][0];
        assert_eq!(detail["field"], field, "{body}");
        assert_eq!(detail["code"], "invalid_value", "{body}");
    }
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn alert_rules_watch_a_counters_increase_and_rate_and_a_histograms_percentile() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let channels = json!([{"url": receiver.url, "format": "json"}]);
    let rules = [
        ("orders placed", "orders", "increase", ">=", 20.0),
        // 20 in an hour is 0.00556 per second; 18 (before the last export) is 0.005.
        // The counter reaches 12, restarts, and adds 6, then 2.
        ("order rate", "orders", "rate", ">", 0.005),
        ("slow requests", "http.server.duration", "p95", ">", 750.0),
    ];
    for (name, metric, aggregation, comparator, threshold) in rules {
        let rule = json!({"name": name, "metric": metric, "aggregation": aggregation,
                          "window": "1h", "comparator": comparator, "threshold": threshold,
                          "channels": channels});
        create_watched_rule(&app, ACME_KEY, &rule).await;
    }
    let observations: Vec<String> = OBSERVATIONS.iter().map(f64::to_string).collect();
    let exported = otel_python(
        "sdk_metrics.py",
        &[
            "http/protobuf",
            &app.address,
            ACME_KEY,
            "alerting",
            "cumulative",
            // One export before the restart, holding every observation: the first breach
            // of the percentile rule sees them all, however the evaluator's rounds fall.
            "--increments",
            "12",
            "--after-restart",
            "6,2",
            "--observations",
            &observations.join(","),
        ],
    )
    .await;
    assert_eq!(exported["ok"], true, "{exported}");

    let fired = receiver.wait_for(3, CATCH_UP).await;
    let value_of = |rule: &str| {
        fired
            .iter()
            .map(|notification| &notification.body)
            .find(|body| body["ruleName"] == rule)
            .unwrap_or_else(|| panic!("{rule} did not fire: {fired:?}"))["value"]
            .as_f64()
            .unwrap()
    };
    // Both runs of the counter, the reset counted from zero: exactly 20.
    assert_eq!(value_of("orders placed"), 20.0);
    assert!((value_of("order rate") - 20.0 / 3_600.0).abs() < 1e-12);
    // The true p95 (800) is in the bucket (750, 1000]; interpolated, the 19th of 20
    // observations is at the bucket's end.
    let p95 = value_of("slow requests");
    assert!(p95 > 750.0 && p95 <= 1000.0, "{p95}");
    assert_eq!(p95, 1000.0);
    assert!(
        fired.iter().all(|n| n.body["kind"] == "triggered"),
        "{fired:?}"
    );
}

#[tokio::test]
async fn kill_9_during_sdk_exports_changes_no_number() {
    let settings = test_settings().await;
    let mut server = ServerProcess::start(&settings).await;
    let host = |address: &str| address.trim_start_matches("http://").to_string();
    // The exporter keeps one endpoint; the proxy follows the server across restarts.
    let proxy = TcpProxy::start(&host(&server.address)).await;
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let ones = vec!["1"; 40].join(",");
    let observations: Vec<String> = OBSERVATIONS.iter().map(f64::to_string).collect();
    let observations = observations.join(",");
    let args = [
        "http/protobuf",
        endpoint.as_str(),
        ACME_KEY,
        "restarts",
        "delta",
        "--increments",
        ones.as_str(),
        "--observations",
        observations.as_str(),
        "--pause",
        "0.3",
    ];
    // Delta points: every export must land exactly once for the numbers to add up.
    let producer = otel_python_child("sdk_metrics.py", &args);
    let stored = TestApp::attach(&server.address, settings.clone());
    let mut before = 0;
    for _ in 0..2 {
        // Kill while the producer is exporting: once the service has recorded more since
        // the last kill (the producer exports every 0.3 s, each export a few events).
        before = eventually(CATCH_UP, Duration::from_millis(50), async || {
            let now = stored.stored_events("acme").await;
            (now > before)
                .then_some(now)
                .ok_or_else(|| format!("no export recorded beyond {before}"))
        })
        .await;
        server.kill();
        // The exporter finds nothing listening until it has tried twice (an export and
        // its immediate retry), so it must back off and retry.
        proxy.redirect("127.0.0.1:9");
        let accepted = proxy.accepted();
        server = ServerProcess::start(&settings).await;
        eventually(CATCH_UP, Duration::from_millis(20), async || {
            (proxy.accepted() >= accepted + 2)
                .then_some(())
                .ok_or_else(|| "the exporter did not try the stopped service".to_string())
        })
        .await;
        proxy.redirect(&host(&server.address));
    }
    let exported = otel_python_output("sdk_metrics.py", &args, producer).await;
    assert_eq!(exported["ok"], true, "an export was given up: {exported}");
    assert!(
        exported["retries"].as_u64() > Some(0),
        "no export met a killed server: {exported}"
    );

    let app = TestApp::attach(&server.address, settings.clone());
    app.wait_until_aggregated(CATCH_UP).await;
    let orders = app.summarized_metric("orders").await;
    assert_eq!(orders["increase"], 40.0, "{orders}");
    let durations = app.summarized_metric("http.server.duration").await;
    assert_eq!(durations["count"], 20, "{durations}");
    assert_eq!(durations["sum"], OBSERVATIONS.iter().sum::<f64>());
    drop(server);
}
