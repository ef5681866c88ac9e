//! Ingestion: durability, exactly-once counting, validation, limits, idempotency, isolation.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    json, log_batch, log_event, metric_event, spawn_app, spawn_app_with, TestApp, ACME_KEY,
    GLOBEX_KEY,
};

#[tokio::test]
async fn a_single_event_is_recorded_before_the_answer() {
    let app = spawn_app().await;
    let receipt = app.ingest_ok(ACME_KEY, &log_event("evt_1")).await;
    assert_eq!(receipt["ingested"], 1);
    assert_eq!(receipt["duplicates"], 0);
    assert!(receipt["batchId"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(app.stored_events("acme").await, 1);
}

#[tokio::test]
async fn a_mixed_batch_is_recorded_whole() {
    let app = spawn_app().await;
    let mut events: Vec<Value> = (0..40).map(|i| log_event(&format!("log-{i}"))).collect();
    events.extend((0..30).map(|i| metric_event(&format!("metric-{i}"), "latency", i as f64)));
    events.extend((0..30).map(|i| {
        json!({"eventId": format!("trace-{i}"), "eventType": "trace", "serviceName": "checkout",
               "timestamp": crate::helpers::recent_timestamp(),
               "payload": {"traceId": "t1", "spanId": format!("s{i}"), "durationMs": 12.5}})
    }));
    let receipt = app.ingest_ok(ACME_KEY, &Value::Array(events)).await;
    assert_eq!(receipt["ingested"], 100);
    assert_eq!(receipt["duplicates"], 0);
    assert_eq!(app.stored_events("acme").await, 100);
}

#[tokio::test]
async fn the_same_batch_twice_is_all_duplicates_the_second_time() {
    let app = spawn_app().await;
    let batch = log_batch("again", 50);
    let first = app.ingest_ok(ACME_KEY, &batch).await;
    let second = app.ingest_ok(ACME_KEY, &batch).await;
    assert_eq!(
        (first["ingested"].as_u64(), first["duplicates"].as_u64()),
        (Some(50), Some(0))
    );
    assert_eq!(
        (second["ingested"].as_u64(), second["duplicates"].as_u64()),
        (Some(0), Some(50))
    );
    assert_ne!(first["batchId"], second["batchId"]);
    assert_eq!(app.stored_events("acme").await, 50);
}

#[tokio::test]
async fn a_half_new_batch_records_only_the_new_half() {
    let app = spawn_app().await;
    app.ingest_ok(ACME_KEY, &log_batch("half", 20)).await;
    let mixed: Vec<Value> = (10..30).map(|i| log_event(&format!("half-{i}"))).collect();
    let receipt = app.ingest_ok(ACME_KEY, &Value::Array(mixed)).await;
    assert_eq!(receipt["ingested"], 10);
    assert_eq!(receipt["duplicates"], 10);
    assert_eq!(app.stored_events("acme").await, 30);
}

#[tokio::test]
async fn repeats_within_one_batch_count_as_duplicates() {
    let app = spawn_app().await;
    let batch = json!([log_event("same"), log_event("same"), log_event("other")]);
    let receipt = app.ingest_ok(ACME_KEY, &batch).await;
    assert_eq!(receipt["ingested"], 2);
    assert_eq!(receipt["duplicates"], 1);
    assert_eq!(app.stored_events("acme").await, 2);
}

#[tokio::test]
async fn an_id_repeated_on_another_day_is_new_within_a_batch_as_across_batches() {
    let app = spawn_app().await;
    // Days within the deduplication window, and a day long past it.
    let on = |days_ago: u64, time: &str| {
        let day = chrono::Utc::now().date_naive() - chrono::Days::new(days_ago);
        let mut event = log_event("daily");
        event["timestamp"] = json!(format!("{day}T{time}Z"));
        event
    };
    let batch = json!([on(3, "08:00:00"), on(2, "08:00:00"), on(2, "23:00:00")]);
    let receipt = app.ingest_ok(ACME_KEY, &batch).await;
    assert_eq!(
        (&receipt["ingested"], &receipt["duplicates"]),
        (&json!(2), &json!(1))
    );
    // Sent apart, the same events are counted the same way.
    let again = app.ingest_ok(ACME_KEY, &json!([on(2, "12:00:00")])).await;
    assert_eq!(
        (&again["ingested"], &again["duplicates"]),
        (&json!(0), &json!(1))
    );
    let elsewhere = app.ingest_ok(ACME_KEY, &json!([on(30, "12:00:00")])).await;
    assert_eq!(elsewhere["ingested"], 1);
    assert_eq!(app.stored_events("acme").await, 3);
}

#[tokio::test]
async fn concurrent_retries_of_one_batch_record_each_event_once() {
    let app = std::sync::Arc::new(spawn_app().await);
    let batch = std::sync::Arc::new(log_batch("race", 200));
    let mut requests = Vec::new();
    for _ in 0..6 {
        let (app, batch) = (app.clone(), batch.clone());
        requests.push(tokio::spawn(async move {
            app.ingest_ok(ACME_KEY, &batch).await
        }));
    }
    let mut ingested = 0;
    let mut duplicates = 0;
    for request in requests {
        let receipt = request.await.unwrap();
        ingested += receipt["ingested"].as_u64().unwrap();
        duplicates += receipt["duplicates"].as_u64().unwrap();
    }
    assert_eq!(ingested, 200);
    assert_eq!(duplicates, 5 * 200);
    assert_eq!(app.stored_events("acme").await, 200);
}

/// Two batches holding the same ids in opposite orders, sent at once: Postgres can find the
/// two commits deadlocked on each other's deduplication claims. Either way each event is
/// recorded once and both producers hear 202 (a deadlock is a conflict, resolved like one).
#[tokio::test]
async fn concurrent_batches_claiming_the_same_ids_in_opposite_orders_both_succeed() {
    let app = std::sync::Arc::new(spawn_app().await);
    let rounds = 6;
    for round in 0..rounds {
        let logs = |prefix: &'static str| {
            (0..300).map(move |i| log_event(&format!("{round}-{prefix}-{i}")))
        };
        let metrics = |prefix: &'static str| {
            (0..300).map(move |i| metric_event(&format!("{round}-{prefix}-{i}"), "latency", 1.0))
        };
        // Sections are claimed logs first: one batch claims the a-ids first, the other the b-ids.
        let first: Vec<Value> = logs("a").chain(metrics("b")).collect();
        let second: Vec<Value> = logs("b").chain(metrics("a")).collect();
        let requests = [first, second].map(|batch| {
            let app = app.clone();
            tokio::spawn(async move { app.ingest_ok(ACME_KEY, &Value::Array(batch)).await })
        });
        let mut counted = (0, 0);
        for request in requests {
            let receipt = request.await.unwrap();
            counted.0 += receipt["ingested"].as_u64().unwrap();
            counted.1 += receipt["duplicates"].as_u64().unwrap();
        }
        assert_eq!(counted, (600, 600), "round {round}");
    }
    assert_eq!(app.stored_events("acme").await, rounds * 600);
}

/// One invalid event among valid ones: 400, the event's index and field named, nothing stored.
async fn assert_rejected(event: Value, field: &str, code: &str) {
    let app = spawn_app().await;
    let batch = json!([log_event("fine-0"), event, log_event("fine-2")]);
    let response = app.ingest(ACME_KEY, &batch).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "invalid_events", "{body}");
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["index"] == 1 && d["field"] == field && d["code"] == code),
        "expected index 1, field {field}, code {code} in {body}"
    );
    assert_eq!(app.stored_events("acme").await, 0);
}

fn with(mut event: Value, field: &str, value: Value) -> Value {
    event[field] = value;
    event
}

fn without(mut event: Value, field: &str) -> Value {
    event.as_object_mut().unwrap().remove(field);
    event
}

#[tokio::test]
async fn validation_errors_name_index_field_and_code_and_store_nothing() {
    let base = log_event("bad");
    let cases = vec![
        (without(base.clone(), "eventId"), "eventId", "required"),
        (with(base.clone(), "eventId", json!("")), "eventId", "empty"),
        (
            with(base.clone(), "eventId", json!("x".repeat(129))),
            "eventId",
            "too_long",
        ),
        (
            with(base.clone(), "eventId", json!(42)),
            "eventId",
            "invalid_type",
        ),
        (
            with(base.clone(), "eventType", json!("audit")),
            "eventType",
            "unknown_value",
        ),
        (
            without(base.clone(), "serviceName"),
            "serviceName",
            "required",
        ),
        (
            with(base.clone(), "serviceName", json!("s".repeat(129))),
            "serviceName",
            "too_long",
        ),
        (
            with(base.clone(), "timestamp", json!("yesterday")),
            "timestamp",
            "invalid_timestamp",
        ),
        (
            with(
                base.clone(),
                "timestamp",
                json!((chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()),
            ),
            "timestamp",
            "timestamp_in_future",
        ),
        (
            with(base.clone(), "userId", json!(12345)),
            "userId",
            "invalid_type",
        ),
        (
            with(base.clone(), "payload", json!("text")),
            "payload",
            "invalid_type",
        ),
        (without(base.clone(), "payload"), "payload", "required"),
        (
            with(base.clone(), "colour", json!("red")),
            "colour",
            "unknown_field",
        ),
        (without(base.clone(), "eventType"), "eventType", "required"),
        (
            with(base.clone(), "eventType", json!(7)),
            "eventType",
            "invalid_type",
        ),
        (without(base.clone(), "timestamp"), "timestamp", "required"),
        (
            with(base.clone(), "serviceName", json!("")),
            "serviceName",
            "empty",
        ),
        (
            with(base.clone(), "payload", json!({"userId": 42})),
            "payload.userId",
            "invalid_type",
        ),
        (
            with(
                with(base.clone(), "eventType", json!("trace")),
                "payload",
                json!({"traceId": "t", "durationMs": "slow"}),
            ),
            "payload.durationMs",
            "invalid_type",
        ),
        (
            with(
                with(base.clone(), "eventType", json!("trace")),
                "payload",
                json!({"durationMs": -1}),
            ),
            "payload.durationMs",
            "out_of_range",
        ),
        (
            with(
                metric_event("m", "cpu", 1.0),
                "payload",
                json!({"value": 1.0}),
            ),
            "payload.name",
            "required",
        ),
        (
            with(
                metric_event("m", "cpu", 1.0),
                "payload",
                json!({"name": "cpu", "value": "high"}),
            ),
            "payload.value",
            "invalid_type",
        ),
        (
            with(
                metric_event("m", "cpu", 1.0),
                "payload",
                json!({"name": "cpu", "value": 1, "attributes": {"a": 1}}),
            ),
            "payload.attributes",
            "invalid_type",
        ),
        (
            with(
                metric_event("m", "cpu", 1.0),
                "payload",
                json!({"name": "cpu"}),
            ),
            "payload.value",
            "required",
        ),
        (
            with(
                metric_event("m", "cpu", 1.0),
                "payload",
                json!({"name": ["cpu"], "value": 1}),
            ),
            "payload.name",
            "invalid_type",
        ),
        (
            with(
                metric_event("m", "cpu", 1.0),
                "payload",
                json!({"name": "cpu", "value": 1, "unit": 5}),
            ),
            "payload.unit",
            "invalid_type",
        ),
        (
            with(
                with(base.clone(), "eventType", json!("trace")),
                "payload",
                json!({"traceId": 1}),
            ),
            "payload.traceId",
            "invalid_type",
        ),
        (
            with(
                with(base.clone(), "eventType", json!("trace")),
                "payload",
                json!({"spanId": {"id": "s"}}),
            ),
            "payload.spanId",
            "invalid_type",
        ),
        (
            with(base.clone(), "userId", json!("u".repeat(129))),
            "userId",
            "too_long",
        ),
        (
            with(base.clone(), "timestamp", json!("2200-01-01T00:00:00Z")),
            "timestamp",
            "timestamp_out_of_range",
        ),
    ];
    for (event, field, code) in cases {
        assert_rejected(event, field, code).await;
    }
}

#[tokio::test]
async fn what_a_json_value_cannot_show_is_rejected_by_field_too() {
    // A field given twice, and a number beyond f64: serde_json::Value would hide both.
    let app = spawn_app().await;
    let timestamp = crate::helpers::recent_timestamp();
    for (body, field, code) in [
        (
            format!(
                r#"[{{"eventId":"a","eventId":"b","eventType":"log","serviceName":"api",
                "timestamp":"{timestamp}","payload":{{}}}}]"#
            ),
            "eventId",
            "duplicate_field",
        ),
        (
            format!(
                r#"[{{"eventId":"m","eventType":"metric","serviceName":"api",
                "timestamp":"{timestamp}","payload":{{"name":"cpu","value":1e400}}}}]"#
            ),
            "payload.value",
            "invalid_type",
        ),
        // Accepted, a metric given twice a value would be dropped by every reader of the
        // stored payload.
        (
            format!(
                r#"[{{"eventId":"v","eventType":"metric","serviceName":"api",
                "timestamp":"{timestamp}","payload":{{"name":"cpu","value":"x","value":1}}}}]"#
            ),
            "payload.value",
            "duplicate_field",
        ),
        // A single object rather than an array: its problems name index 0.
        (
            format!(
                r#"{{"eventId":"s","eventType":"log","serviceName":"api",
                "timestamp":"{timestamp}","payload":[]}}"#
            ),
            "payload",
            "invalid_type",
        ),
    ] {
        let response = app
            .client
            .post(app.url("/ingest"))
            .header("X-API-Key", ACME_KEY)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error = json(response).await;
        assert_eq!(error["error"]["code"], "invalid_events", "{error}");
        assert_eq!(error["error"]["details"][0]["index"], 0, "{error}");
        assert_eq!(error["error"]["details"][0]["field"], field, "{error}");
        assert_eq!(error["error"]["details"][0]["code"], code, "{error}");
    }
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn malformed_bodies_get_400_and_never_500() {
    let app = spawn_app().await;
    for body in [
        "{\"eventId\": ",
        "[1, 2, 3]",
        "\"just text\"",
        "[]",
        "null",
        "",
    ] {
        let response = app
            .client
            .post(app.url("/ingest"))
            .header("X-API-Key", ACME_KEY)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "body {body:?}");
        let error = json(response).await;
        assert!(
            ["invalid_json", "empty_batch", "invalid_events"]
                .contains(&error["error"]["code"].as_str().unwrap()),
            "{error}"
        );
    }
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn array_elements_that_are_not_objects_are_named_by_index() {
    let app = spawn_app().await;
    // The objects beside them are validated too: one answer lists every problem.
    let body = json!([
        log_event("fine"),
        42,
        "text",
        with(log_event("bad-type"), "eventType", json!("audit"))
    ]);
    let response = app.ingest(ACME_KEY, &body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = json(response).await;
    assert_eq!(error["error"]["code"], "invalid_events", "{error}");
    let problems: Vec<(u64, &str, &str)> = error["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|detail| {
            (
                detail["index"].as_u64().unwrap(),
                detail["field"].as_str().unwrap(),
                detail["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            (1, "", "invalid_type"),
            (2, "", "invalid_type"),
            (3, "eventType", "unknown_value")
        ]
    );
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn missing_or_unknown_keys_are_401() {
    let app = spawn_app().await;
    let missing = app
        .client
        .post(app.url("/ingest"))
        .json(&log_event("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let error = json(missing).await["error"].clone();
    assert_eq!(error["code"], "missing_credentials");
    assert_eq!(error["message"], "send an X-API-Key header");

    let unknown = app.ingest("not-a-real-key-123", &log_event("x")).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    // The budget of failed authentications of this client address (default 100).
    assert_eq!(unknown.headers()["x-ratelimit-limit"], "100");
    assert_eq!(json(unknown).await["error"]["code"], "invalid_api_key");

    let bearer_only = app
        .client
        .post(app.url("/ingest"))
        .bearer_auth(app.token("acme", "admin"))
        .json(&log_event("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer_only.status(), StatusCode::UNAUTHORIZED);
    let error = json(bearer_only).await["error"].clone();
    assert_eq!(error["code"], "missing_credentials");
    assert_eq!(
        error["message"],
        "ingestion takes an X-API-Key header; bearer tokens are for reads and administration"
    );
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn failed_authentications_have_a_budget_per_client_address() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.failed_auth_max_requests = 4;
        settings.rate_limit.window = Duration::from_millis(60_000);
    })
    .await;
    let first = app.ingest("not-a-real-key-123", &log_event("x")).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(first.headers()["x-ratelimit-limit"], "4");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "3");
    assert!(first.headers().contains_key("x-ratelimit-reset"));
    assert!(!first.headers().contains_key("retry-after"));

    // OTLP routes spend the same budget.
    let second = app
        .client
        .post(app.url("/v1/logs"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(second.headers()["x-ratelimit-remaining"], "2");

    // So do read routes, with an unknown key (here one that is not even ASCII: a wrong key,
    // not a missing one) or a bad bearer token.
    let unreadable_key =
        reqwest::header::HeaderValue::from_bytes(b"caf\xe9-0000000000000001").unwrap();
    let read = app
        .client
        .get(app.url("/accounts/acme/summary"))
        .header("X-API-Key", unreadable_key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(read.headers()["x-ratelimit-remaining"], "1");
    assert_eq!(json(read).await["error"]["code"], "invalid_api_key");
    let read = app
        .client
        .get(app.url("/alerts/rules"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(read.headers()["x-ratelimit-remaining"], "0");
    let read = app
        .client
        .get(app.url("/accounts/acme/summary"))
        .header("X-API-Key", "yet-another-wrong-key")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(read.headers().contains_key("retry-after"));

    let limited = app.ingest("another-wrong-key-1", &log_event("x")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = limited.headers().clone();
    assert_eq!(headers["x-ratelimit-limit"], "4");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(json(limited).await["error"]["code"], "rate_limited");

    // A valid key from the same address spends its tenant's budget, not this one.
    let accepted = app.ingest(ACME_KEY, &log_event("after-failures")).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(accepted.headers()["x-ratelimit-limit"], "1000");
    assert_eq!(app.stored_events("acme").await, 1);
}

#[tokio::test]
async fn failed_authentications_are_not_limited_when_switched_off() {
    let app = spawn_app_with(|settings| settings.rate_limit.failed_auth_max_requests = 0).await;
    for _ in 0..3 {
        let unknown = app.ingest("not-a-real-key-123", &log_event("x")).await;
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        assert!(!unknown.headers().contains_key("x-ratelimit-limit"));
    }
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let app = spawn_app().await;
    let admin = app.token("acme", "admin");
    let issued = app
        .client
        .post(app.url("/admin/api-keys"))
        .bearer_auth(&admin)
        .json(&json!({"label": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    let issued = json(issued).await;
    let key = issued["key"].as_str().unwrap().to_string();
    app.ingest_ok(&key, &log_event("with-new-key")).await;

    let viewer = app.token("acme", "viewer");
    let forbidden = app
        .client
        .delete(app.url(&format!(
            "/admin/api-keys/{}",
            issued["keyId"].as_str().unwrap()
        )))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    let other_tenant = app.token("globex", "admin");
    let not_theirs = app
        .client
        .delete(app.url(&format!(
            "/admin/api-keys/{}",
            issued["keyId"].as_str().unwrap()
        )))
        .bearer_auth(&other_tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(not_theirs.status(), StatusCode::NOT_FOUND);

    // The id as shown, or in capitals: the same key.
    let revoked = app
        .client
        .delete(app.url(&format!(
            "/admin/api-keys/{}",
            issued["keyId"].as_str().unwrap().to_ascii_uppercase()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let refused = app.ingest(&key, &log_event("after-revoke")).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_413() {
    let app = spawn_app_with(|settings| {
        settings.ingest.max_batch_events = 5;
        settings.ingest.max_body_bytes = 4_000;
    })
    .await;
    // Every refusal is an answer to a known tenant, so it carries the rate-limit headers.
    let refused = |response: reqwest::Response, code: &'static str| async move {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(response.headers().contains_key(name), "{code}: no {name}");
        }
        assert_eq!(json(response).await["error"]["code"], code);
    };
    let too_many = app.ingest(ACME_KEY, &log_batch("many", 6)).await;
    refused(too_many, "batch_too_large").await;

    let post = |path: &str, content_type: &str, body: Vec<u8>| {
        app.client
            .post(app.url(path))
            .header("X-API-Key", ACME_KEY)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let declared = post("/ingest", "application/json", vec![b' '; 5_000])
        .await
        .unwrap();
    refused(declared, "payload_too_large").await;

    // Refused from the Content-Length alone: none of the body is ever sent.
    let unsent = raw_post(&app, "/ingest", "Content-Length: 5000\r\n", b"").await;
    assert!(unsent.starts_with("HTTP/1.1 413"), "{unsent}");
    assert!(unsent.contains("x-ratelimit-limit: "), "{unsent}");
    assert!(unsent.contains("payload_too_large"), "{unsent}");

    // A chunked body (no Content-Length) is stopped at the limit: this one never ends.
    let chunk = [b"bb8\r\n".as_slice(), &[b' '; 3_000], b"\r\n"].concat();
    let endless = raw_post(
        &app,
        "/ingest",
        "Transfer-Encoding: chunked\r\n",
        &chunk.repeat(2),
    )
    .await;
    assert!(endless.starts_with("HTTP/1.1 413"), "{endless}");
    assert!(endless.contains("x-ratelimit-limit: "), "{endless}");
    assert!(endless.contains("payload_too_large"), "{endless}");

    let mut big = log_event("big");
    big["payload"]["message"] = json!("x".repeat(5_000));
    let too_big = app.ingest(ACME_KEY, &big).await;
    refused(too_big, "payload_too_large").await;

    // OTLP exports are held to the same limit, the same way.
    let export = post("/v1/logs", "application/x-protobuf", vec![0; 5_000])
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(export.headers().contains_key("x-ratelimit-limit"));

    // Every other route is held to the same limit by the router, before its handler.
    let query = post("/query", "application/json", vec![b' '; 5_000])
        .await
        .unwrap();
    assert_eq!(query.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(query).await["error"]["code"], "payload_too_large");
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn a_body_that_cannot_be_read_is_400_not_413() {
    let app = spawn_app().await;
    let answer = raw_post(
        &app,
        "/ingest",
        "Transfer-Encoding: chunked\r\n",
        b"not-hex\r\n{}\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("invalid_body"), "{answer}");
    assert_eq!(app.stored_events("acme").await, 0);
}

/// Sends a JSON POST to `path` over a raw connection: the extra `headers` (each ending in
/// CRLF), then `body` as given, and nothing after it. Returns what the server answers within
/// ten seconds; writes after it has answered may fail, which is fine.
async fn raw_post(app: &TestApp, path: &str, headers: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {ACME_KEY}\r\n\
         Content-Type: application/json\r\n{headers}\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(read)) = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
        if complete_response(&answer) {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Whether `bytes` hold a whole HTTP response with a `content-length` body.
fn complete_response(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .is_some_and(|length| body.len() >= length)
}

#[tokio::test]
async fn non_json_content_types_are_415_and_gzip_bodies_are_inflated_within_limits() {
    let app = spawn_app().await;
    // JSON in another charset is refused as such, however its bytes would read as UTF-8.
    for content_type in ["text/plain", "application/json; charset=utf-16"] {
        let utf16: Vec<u8> = log_event("x")
            .to_string()
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let response = app
            .client
            .post(app.url("/ingest"))
            .header("X-API-Key", ACME_KEY)
            .header("Content-Type", content_type)
            .body(utf16)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            json(response).await["error"]["code"],
            "unsupported_media_type"
        );
    }
    assert_eq!(app.stored_events("acme").await, 0);

    let gzip = |bytes: &[u8]| {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let send = |body: Vec<u8>, encoding: &'static str| {
        app.client
            .post(app.url("/ingest"))
            .header("X-API-Key", ACME_KEY)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", encoding)
            .body(body)
            .send()
    };
    let batch = log_batch("zipped", 20).to_string();
    let response = send(gzip(batch.as_bytes()), "gzip").await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(json(response).await["ingested"], 20);
    // A small body that inflates beyond the 10 MiB limit is refused, not inflated whole.
    let bomb = gzip(&vec![b' '; 11 * 1024 * 1024]);
    assert!(bomb.len() < 100_000);
    let response = send(bomb, "gzip").await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = send(batch.into_bytes(), "zstd").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        json(response).await["error"]["code"],
        "unsupported_encoding"
    );
    assert_eq!(app.stored_events("acme").await, 20);
}

#[tokio::test]
async fn a_small_body_that_unfolds_into_millions_of_elements_gets_a_short_answer() {
    let app = spawn_app().await;
    let send = |json: String| {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(json.as_bytes()).unwrap();
        let body = encoder.finish().unwrap();
        assert!(body.len() < 20_000, "{} bytes compressed", body.len());
        app.client
            .post(app.url("/ingest"))
            .header("X-API-Key", ACME_KEY)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(body)
            .send()
    };
    // About 3 million empty events (9 MiB inflated): refused as soon as the 10,001st is read.
    let empties = format!("[{}]", vec!["{}"; 3_000_000].join(","));
    let response = send(empties).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "batch_too_large");
    assert_eq!(
        body["error"]["message"],
        "a batch may hold at most 10000 events, this one has more"
    );
    // One event with a million unknown fields: the first 1,000 problems are listed.
    let fields: Vec<String> = (0..1_000_000).map(|_| r#""a":0"#.to_string()).collect();
    let response = send(format!("{{{}}}", fields.join(","))).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "invalid_events");
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 1_000);
    assert_eq!(
        body["error"]["message"],
        "more than 1000 problems found (the first 1000 are listed); nothing was ingested"
    );
    assert_eq!(app.stored_events("acme").await, 0);
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers_per_tenant() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.max_requests = 2;
        settings.rate_limit.window = Duration::from_millis(60_000);
    })
    .await;
    let first = app.ingest(ACME_KEY, &log_event("r1")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    assert!(first.headers().contains_key("x-ratelimit-reset"));
    app.ingest_ok(ACME_KEY, &log_event("r2")).await;

    let limited = app.ingest(ACME_KEY, &log_event("r3")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = limited.headers().clone();
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let reset: u64 = headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset >= retry_after);
    assert_eq!(json(limited).await["error"]["code"], "rate_limited");

    // Another tenant has its own budget.
    app.ingest_ok(GLOBEX_KEY, &log_event("g1")).await;
    assert_eq!(app.stored_events("acme").await, 2);
}

#[tokio::test]
async fn per_tenant_overrides_apply() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.max_requests = 100;
        settings.rate_limit.overrides = "acme=1".into();
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_event("o1")).await;
    let limited = app.ingest(ACME_KEY, &log_event("o2")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let globex = app.ingest(GLOBEX_KEY, &log_event("o1")).await;
    assert_eq!(globex.headers()["x-ratelimit-limit"], "100");
}

#[tokio::test]
async fn ingestion_fails_open_when_redis_is_down() {
    let app = spawn_app_with(|settings| {
        settings.redis.url = telemetry_server::config::Secret::new(format!(
            "redis://127.0.0.1:{}",
            crate::helpers::closed_port()
        ));
        settings.rate_limit.max_requests = 1;
    })
    .await;
    for index in 0..3 {
        let response = app
            .ingest(ACME_KEY, &log_event(&format!("open-{index}")))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert!(response.headers().contains_key("x-ratelimit-limit"));
    }
    assert_eq!(app.counter("telemetry_rate_limit_fail_open_total").await, 3);
}

#[tokio::test]
async fn a_redis_connection_gone_silent_is_replaced() {
    let proxy = crate::proxy::TcpProxy::start("127.0.0.1:6379").await;
    let app = spawn_app_with(|settings| {
        settings.redis.url =
            telemetry_server::config::Secret::new(format!("redis://127.0.0.1:{}", proxy.port));
        settings.redis.timeout = Duration::from_millis(1_000);
        settings.processors.enabled = false;
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_event("before")).await;
    assert_eq!(app.counter("telemetry_rate_limit_fail_open_total").await, 0);

    // The connection carries nothing more; a new one would be answered.
    proxy.silence();
    for index in 0..3 {
        app.ingest_ok(ACME_KEY, &log_event(&format!("silent-{index}")))
            .await;
    }
    let failed_open = app.counter("telemetry_rate_limit_fail_open_total").await;
    assert!(failed_open >= 1, "{failed_open}");
    // A few unanswered commands in a row, and the service opened a new connection: the
    // rate limiter answers again.
    for index in 0..3 {
        let response = app
            .ingest(ACME_KEY, &log_event(&format!("after-{index}")))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(
        app.counter("telemetry_rate_limit_fail_open_total").await,
        failed_open
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_original_answer() {
    let app = spawn_app().await;
    let batch = log_batch("idem", 10);
    let send = |body: &Value, key: &str| {
        app.client
            .post(app.url("/ingest"))
            .header("X-API-Key", ACME_KEY)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };
    let first = send(&batch, "request-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first = json(first).await;
    let replay = send(&batch, "request-1").await.unwrap();
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay = json(replay).await;
    assert_eq!(replay, first);
    assert_eq!(replay["ingested"], 10);

    let reused = send(&log_batch("other", 3), "request-1").await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json(reused).await["error"]["code"],
        "idempotency_key_reused"
    );

    // The same key from another tenant is another request.
    let globex = app
        .client
        .post(app.url("/ingest"))
        .header("X-API-Key", GLOBEX_KEY)
        .header("Idempotency-Key", "request-1")
        .json(&batch)
        .send()
        .await
        .unwrap();
    let globex = json(globex).await;
    assert_eq!(globex["ingested"], 10);
    assert_ne!(globex["batchId"], first["batchId"]);
    assert_eq!(app.stored_events("acme").await, 10);
}

#[tokio::test]
async fn tenants_have_separate_event_id_spaces() {
    let app = spawn_app().await;
    let acme = app.ingest_ok(ACME_KEY, &log_event("shared-id")).await;
    let globex = app.ingest_ok(GLOBEX_KEY, &log_event("shared-id")).await;
    assert_eq!(acme["ingested"], 1);
    assert_eq!(globex["ingested"], 1);
    assert_eq!(app.stored_events("acme").await, 1);
    assert_eq!(app.stored_events("globex").await, 1);
}

/// Points the service's Postgres connections at `proxy` (which forwards to the server).
pub(crate) fn postgres_through(
    proxy: &crate::proxy::TcpProxy,
    settings: &mut telemetry_server::config::Settings,
) {
    let url = settings
        .database
        .url
        .expose()
        .replace(":5432/", &format!(":{}/", proxy.port));
    settings.database.url = telemetry_server::config::Secret::new(url);
}

#[tokio::test]
async fn postgres_outage_is_503_with_retry_after_and_the_service_recovers() {
    let proxy = crate::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let app = spawn_app_with(|settings| postgres_through(&proxy, settings)).await;
    app.ingest_ok(ACME_KEY, &log_event("before")).await;

    proxy.disable();
    let during = app.ingest(ACME_KEY, &log_event("during")).await;
    assert_eq!(during.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(during.headers().contains_key("retry-after"));
    assert_eq!(
        json(during).await["error"]["code"],
        "event_store_unavailable"
    );
    // A batch that can never be recorded is told so now, not asked to retry.
    let mut invalid = log_event("invalid during");
    invalid["eventType"] = json!("audit");
    let refused = app.ingest(ACME_KEY, &invalid).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused = json(refused).await;
    assert_eq!(refused["error"]["code"], "invalid_events");
    assert_eq!(refused["error"]["details"][0]["field"], "eventType");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json(ready).await["dependencies"]["postgres"]["status"],
        "down"
    );

    proxy.enable();
    let mut recovered = false;
    for _ in 0..40 {
        let response = app.ingest(ACME_KEY, &log_event("after")).await;
        if response.status() == StatusCode::ACCEPTED {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        recovered,
        "ingestion did not recover after Postgres came back"
    );
    assert_eq!(app.stored_events("acme").await, 2);
}

#[tokio::test]
async fn very_high_limits_are_enforced_without_failing_open() {
    let app = spawn_app_with(|settings| {
        // The most a minute allows: one request per microsecond.
        settings.rate_limit.max_requests = 60_000_000;
    })
    .await;
    for index in 0..3 {
        let response = app
            .ingest(ACME_KEY, &log_event(&format!("high-{index}")))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(app.counter("telemetry_rate_limit_fail_open_total").await, 0);
}

#[tokio::test]
async fn an_event_store_that_stops_answering_is_503_and_its_connections_are_replaced() {
    let proxy = crate::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let app = spawn_app_with(|settings| {
        postgres_through(&proxy, settings);
        // Two connections: were a silent one to keep its slot, the pool would soon have none.
        settings.database.max_connections = 2;
        settings.database.acquire_timeout = Duration::from_millis(1_000);
        settings.server.request_timeout = Duration::from_millis(2_000);
        settings.processors.enabled = false;
        // Every request looks its key up in Postgres: the stall comes before the body is
        // read, and is still the store's, not the producer's.
        settings.auth.api_key_cache_ttl = Duration::from_millis(1);
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_event("before")).await;
    // Its connections are back in the pool (released connections are pinged first).
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Postgres's host is gone without a word: the pooled connections stay open and silent.
    // A request that takes one gets no answer: past the request timeout, stuck on its key
    // lookup, it is the store's delay, not the producer's (and, the key unchecked, it spent
    // no budget to report).
    proxy.silence();
    let during = app.ingest(ACME_KEY, &log_event("during")).await;
    let (status, headers) = (during.status(), during.headers().clone());
    let body = json(during).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert_eq!(headers["retry-after"], "1");

    // New connections are answered (the host is back at its address): each silent
    // connection is dropped once its request gave up on it, so ingestion recovers.
    let mut statuses = Vec::new();
    for attempt in 0..10 {
        let response = app
            .ingest(ACME_KEY, &log_event(&format!("after-{attempt}")))
            .await;
        statuses.push(response.status());
        if response.status() == StatusCode::ACCEPTED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::ACCEPTED),
        "ingestion did not recover: {statuses:?}"
    );
    for attempt in 0..5 {
        app.ingest_ok(ACME_KEY, &log_event(&format!("steady-{attempt}")))
            .await;
    }
}

#[tokio::test]
async fn a_timed_out_ingestion_still_carries_the_rate_limit_headers() {
    let app =
        spawn_app_with(|settings| settings.server.request_timeout = Duration::from_millis(2_000))
            .await;
    // The key is checked and the budget spent at once; the rest of the body never comes.
    // OTLP exporters do not retry a 408: an export gets 503 with Retry-After instead.
    for (path, status) in [("/ingest", "408"), ("/v1/logs", "503")] {
        let answer = raw_post(&app, path, "Content-Length: 100\r\n", b"[{\"eventId\"").await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {answer}"
        );
        assert!(answer.contains("request_timeout"), "{path}: {answer}");
        if path == "/v1/logs" {
            assert!(
                answer.to_ascii_lowercase().contains("retry-after: 1"),
                "{answer}"
            );
        }
        let head = answer.to_ascii_lowercase();
        for header in [
            "x-ratelimit-limit:",
            "x-ratelimit-remaining:",
            "x-ratelimit-reset:",
        ] {
            assert!(head.contains(header), "{path}: no {header} in {answer}");
        }
    }
    assert_eq!(app.stored_events("acme").await, 0);
}
