//! OTLP/gRPC, called with grpcio (the gRPC project's own Python library) on exports built
//! with the OpenTelemetry project's protobuf classes (`tests/otel/grpc_call.py`).

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    eventually, json, last_hours, otel_python, spawn_app, spawn_app_with, TestApp, ACME_KEY,
};
use crate::ingest::postgres_through;

const CATCH_UP: Duration = Duration::from_secs(30);

/// One Export call: `signal` (`logs`, `metrics`, `traces`), `case` (`export`, `garbage`,
/// `oversize`) and further arguments of `grpc_call.py`.
async fn call(app: &TestApp, signal: &str, case: &str, args: &[&str]) -> Value {
    let address = app
        .otlp_grpc_address
        .as_deref()
        .expect("OTLP/gRPC is served");
    let mut all = vec![address, signal, case];
    all.extend_from_slice(args);
    otel_python("grpc_call.py", &all).await
}

async fn events_of(app: &TestApp, event_type: &str) -> u64 {
    let mut body = last_hours(2);
    body["eventType"] = serde_json::json!(event_type);
    json(app.query(ACME_KEY, &body).await).await["pagination"]["total"]
        .as_u64()
        .unwrap_or_default()
}

#[tokio::test]
async fn exports_over_grpc_are_recorded_once_like_those_over_http() {
    let app = spawn_app().await;
    let time = (chrono::Utc::now() - chrono::Duration::seconds(30))
        .timestamp_nanos_opt()
        .expect("a time in range")
        .to_string();
    for signal in ["logs", "metrics", "traces"] {
        let answer = call(
            &app,
            signal,
            "export",
            &[
                "--key",
                ACME_KEY,
                "--gzip",
                "--records",
                "3",
                "--time-unix-nano",
                &time,
            ],
        )
        .await;
        assert_eq!(answer["code"], "OK", "{signal}: {answer}");
        assert_eq!(answer["rejected"], 0, "{signal}: {answer}");
        // The exporter's retry of the same export records nothing twice.
        let again = call(
            &app,
            signal,
            "export",
            &[
                "--key",
                ACME_KEY,
                "--records",
                "3",
                "--time-unix-nano",
                &time,
            ],
        )
        .await;
        assert_eq!(again["code"], "OK", "{signal}: {again}");
    }
    app.wait_for_events(ACME_KEY, "acme", 9, CATCH_UP).await;
    for event_type in ["log", "metric", "trace"] {
        assert_eq!(events_of(&app, event_type).await, 3, "{event_type}");
    }
    let service = json(
        app.query(ACME_KEY, &{
            let mut body = last_hours(2);
            body["groupBy"] = serde_json::json!("service");
            body
        })
        .await,
    )
    .await;
    assert_eq!(service["data"][0]["key"], "grpc-producer", "{service}");
}

#[tokio::test]
async fn refusals_carry_the_codes_otlp_exporters_act_on() {
    let app = spawn_app_with(|settings| {
        settings.ingest.max_body_bytes = 64 * 1024;
        settings.rate_limit.overrides = "globex=0".into();
    })
    .await;
    let refused = |answer: &Value, code: &str, reason: &str| {
        assert_eq!(answer["code"], code, "{answer}");
        assert_eq!(answer["reason"], reason, "{answer}");
    };

    // Without a key, with a bearer token instead, with an unknown key: UNAUTHENTICATED.
    refused(
        &call(&app, "logs", "export", &[]).await,
        "UNAUTHENTICATED",
        "missing_credentials",
    );
    let token = app.token("acme", "admin");
    let bearer = call(&app, "logs", "export", &["--bearer", &token]).await;
    refused(&bearer, "UNAUTHENTICATED", "missing_credentials");
    assert!(
        bearer["message"]
            .as_str()
            .is_some_and(|m| m.contains("x-api-key")),
        "{bearer}"
    );
    let unknown = call(&app, "logs", "export", &["--key", "not-a-key-of-anyone-01"]).await;
    refused(&unknown, "UNAUTHENTICATED", "invalid_api_key");

    // Bad data: INVALID_ARGUMENT, not retried; one bad record of several: a partial success.
    let garbage = call(&app, "metrics", "garbage", &["--key", ACME_KEY]).await;
    refused(&garbage, "INVALID_ARGUMENT", "invalid_otlp");
    assert!(garbage["retryDelay"].is_null(), "{garbage}");
    let all_bad = call(
        &app,
        "metrics",
        "export",
        &["--key", ACME_KEY, "--records", "0", "--bad-records", "2"],
    )
    .await;
    refused(&all_bad, "INVALID_ARGUMENT", "invalid_records");
    let partial = call(
        &app,
        "metrics",
        "export",
        &[
            "--key",
            ACME_KEY,
            "--records",
            "2",
            "--bad-records",
            "1",
            "--prefix",
            "partial",
        ],
    )
    .await;
    assert_eq!(
        (&partial["code"], &partial["rejected"]),
        (&"OK".into(), &1.into()),
        "{partial}"
    );

    // Admission comes before the message is read: without a key, even a message far above
    // the limit is UNAUTHENTICATED.
    let anonymous = call(&app, "logs", "oversize", &["--oversize-bytes", "200000"]).await;
    refused(&anonymous, "UNAUTHENTICATED", "missing_credentials");

    // Larger than the body limit, as sent or once inflated: RESOURCE_EXHAUSTED without
    // RetryInfo, so not retried.
    let oversize = call(
        &app,
        "logs",
        "oversize",
        &["--key", ACME_KEY, "--oversize-bytes", "200000"],
    )
    .await;
    refused(&oversize, "RESOURCE_EXHAUSTED", "payload_too_large");
    assert!(oversize["retryDelay"].is_null(), "{oversize}");
    let inflated = call(
        &app,
        "logs",
        "oversize",
        &["--key", ACME_KEY, "--gzip", "--oversize-bytes", "200000"],
    )
    .await;
    refused(&inflated, "RESOURCE_EXHAUSTED", "payload_too_large");
    assert!(inflated["retryDelay"].is_null(), "{inflated}");

    // An idempotency key: the same export again is a replay; another export under the same
    // key is FAILED_PRECONDITION.
    let time = chrono::Utc::now()
        .timestamp_nanos_opt()
        .expect("a time in range")
        .to_string();
    let keyed = [
        "--key",
        ACME_KEY,
        "--idempotency-key",
        "export-1",
        "--prefix",
        "keyed",
        "--time-unix-nano",
        &time,
    ];
    let first = call(&app, "logs", "export", &keyed).await;
    assert_eq!(
        (&first["code"], &first["replayed"]),
        (&"OK".into(), &false.into()),
        "{first}"
    );
    let again = call(&app, "logs", "export", &keyed).await;
    assert_eq!(
        (&again["code"], &again["replayed"]),
        (&"OK".into(), &true.into()),
        "{again}"
    );
    let mut other = keyed.to_vec();
    other.extend(["--records", "4"]);
    let reused = call(&app, "logs", "export", &other).await;
    refused(&reused, "FAILED_PRECONDITION", "idempotency_key_reused");

    // Past the tenant's rate limit: RESOURCE_EXHAUSTED with RetryInfo, which exporters honour.
    let limited = call(
        &app,
        "logs",
        "export",
        &["--key", crate::helpers::GLOBEX_KEY],
    )
    .await;
    refused(&limited, "RESOURCE_EXHAUSTED", "rate_limited");
    assert!(
        limited["retryDelay"]
            .as_f64()
            .is_some_and(|delay| delay >= 1.0),
        "{limited}"
    );

    // Only the partial success's two good points and the keyed export's three logs were
    // recorded.
    app.wait_for_events(ACME_KEY, "acme", 2 + 3, CATCH_UP).await;
}

#[tokio::test]
async fn an_unreachable_event_store_is_unavailable_with_a_retry_delay() {
    let proxy = crate::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let app = spawn_app_with(|settings| postgres_through(&proxy, settings)).await;
    // The key is looked up (and cached) while the store answers.
    let before = call(
        &app,
        "logs",
        "export",
        &["--key", ACME_KEY, "--prefix", "before"],
    )
    .await;
    assert_eq!(before["code"], "OK", "{before}");

    proxy.disable();
    let during = call(
        &app,
        "logs",
        "export",
        &["--key", ACME_KEY, "--prefix", "during"],
    )
    .await;
    assert_eq!(during["code"], "UNAVAILABLE", "{during}");
    assert_eq!(during["reason"], "event_store_unavailable", "{during}");
    assert!(
        during["retryDelay"]
            .as_f64()
            .is_some_and(|delay| delay >= 1.0),
        "{during}"
    );

    proxy.enable();
    eventually(CATCH_UP, Duration::from_millis(500), async || {
        let after = call(
            &app,
            "logs",
            "export",
            &["--key", ACME_KEY, "--prefix", "after"],
        )
        .await;
        (after["code"] == "OK")
            .then_some(())
            .ok_or_else(|| after.to_string())
    })
    .await;
}

#[tokio::test]
async fn the_opentelemetry_sdk_exports_over_grpc_and_over_http() {
    let app = spawn_app().await;
    let grpc = format!(
        "http://{}",
        app.otlp_grpc_address
            .as_deref()
            .expect("OTLP/gRPC is served")
    );
    for (protocol, endpoint, service, logs, spans) in [
        ("grpc", grpc.as_str(), "sdk-grpc", "4", "2"),
        ("http/protobuf", app.address.as_str(), "sdk-http", "3", "1"),
    ] {
        let exported = otel_python(
            "sdk_export.py",
            &[
                protocol, endpoint, ACME_KEY, service, "--logs", logs, "--spans", spans, "--gauge",
                "5", "7",
            ],
        )
        .await;
        assert_eq!(exported["ok"], true, "{protocol}: {exported}");
    }
    // Logs, spans, and a gauge point for each flush and one more at shutdown.
    app.wait_for_events(ACME_KEY, "acme", 9 + 7, CATCH_UP).await;
    let mut by_service = last_hours(2);
    by_service["groupBy"] = serde_json::json!("service");
    let groups = json(app.query(ACME_KEY, &by_service).await).await;
    assert_eq!(
        groups["data"],
        serde_json::json!([{"key": "sdk-grpc", "count": 9}, {"key": "sdk-http", "count": 7}])
    );
    let mut metrics = last_hours(2);
    metrics["eventType"] = serde_json::json!("metric");
    metrics["serviceName"] = serde_json::json!("sdk-grpc");
    let mut values: Vec<f64> = json(app.query(ACME_KEY, &metrics).await).await["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["payload"]["value"].as_f64())
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, [5.0, 7.0, 7.0]);
}
