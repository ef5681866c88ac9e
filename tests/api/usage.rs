//! `GET /usage` and daily quotas: counted with the batches that recorded the events, so
//! retries, replays and concurrent batches count exactly what the event store holds.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{json, log_batch, log_event, spawn_app, spawn_app_with, ACME_KEY, GLOBEX_KEY};

fn today(usage: &Value) -> Value {
    let today = chrono::Utc::now().date_naive().to_string();
    usage["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|day| day["day"] == today.as_str())
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn usage_counts_each_recorded_event_once_per_tenant() {
    let app = spawn_app().await;
    app.ingest_ok(ACME_KEY, &log_batch("usage", 10)).await;
    let metrics = json!([
        {"eventId": "m1", "eventType": "metric", "serviceName": "api", "timestamp": crate::helpers::recent_timestamp(), "payload": {"name": "cpu", "value": 1}},
        {"eventId": "m2", "eventType": "metric", "serviceName": "api", "timestamp": crate::helpers::recent_timestamp(), "payload": {"name": "cpu", "value": 2}},
    ]);
    app.ingest_ok(ACME_KEY, &metrics).await;
    // A retry of the first batch records nothing new: a batch of duplicates.
    app.ingest_ok(ACME_KEY, &log_batch("usage", 10)).await;
    // A replayed answer (same Idempotency-Key, same body) is not a batch at all.
    let keyed = log_event("keyed");
    for _ in 0..2 {
        let replayed = app
            .client
            .post(app.url("/ingest"))
            .header("X-API-Key", ACME_KEY)
            .header("Idempotency-Key", "usage-once")
            .json(&keyed)
            .send()
            .await
            .unwrap();
        assert_eq!(replayed.status(), StatusCode::ACCEPTED);
    }

    let usage = app.usage(ACME_KEY, "").await;
    assert_eq!(usage["tenantId"], "acme");
    assert_eq!(usage["quota"], Value::Null);
    assert_eq!(
        today(&usage),
        json!({"day": chrono::Utc::now().date_naive().to_string(), "batches": 4,
               "accepted": 13, "duplicates": 10,
               "byType": {"log": 11, "metric": 2, "trace": 0},
               "otlp": 0, "refused": {}}),
        "{usage}"
    );
    // Other tenants see only their own, and may not ask for anyone else's.
    assert_eq!(app.usage(GLOBEX_KEY, "").await["days"], json!([]));
    let other = app
        .client
        .get(app.url("/usage?tenant=acme"))
        .bearer_auth(app.token("globex", "admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    for (query, code) in [
        ("from=yesterday", "invalid_parameter"),
        ("from=2026-12-08&to=2026-12-07", "invalid_range"),
        ("from=2020-01-01&to=2026-12-07", "invalid_range"),
    ] {
        let refused = app
            .client
            .get(app.url(&format!("/usage?{query}")))
            .header("X-API-Key", ACME_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(json(refused).await["error"]["code"], code, "{query}");
    }
}

#[tokio::test]
async fn a_daily_quota_refuses_the_first_batch_over_it_and_none_under_it() {
    let app = spawn_app_with(|settings| {
        settings.ingest.daily_quotas = "acme=25,globex=3".into();
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_batch("quota-a", 10)).await;
    app.ingest_ok(ACME_KEY, &log_batch("quota-b", 10)).await;
    let usage = app.usage(ACME_KEY, "").await;
    assert_eq!(usage["quota"]["dailyEvents"], 25, "{usage}");
    assert_eq!(usage["quota"]["acceptedToday"], 20);
    assert_eq!(usage["quota"]["remainingToday"], 5);

    // Six would take the day to 26: refused whole, nothing recorded, until the next day.
    let over = app.ingest(ACME_KEY, &log_batch("quota-c", 6)).await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    assert_eq!(json(over).await["error"]["code"], "quota_exceeded");
    assert_eq!(app.stored_events("acme").await, 20);
    // Five take it to exactly 25; resending recorded events costs nothing (duplicates).
    app.ingest_ok(ACME_KEY, &log_batch("quota-c", 5)).await;
    let resent = app.ingest_ok(ACME_KEY, &log_batch("quota-a", 10)).await;
    assert_eq!(resent["duplicates"], 10);
    let one_more = app.ingest(ACME_KEY, &log_event("quota-d")).await;
    assert_eq!(one_more.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.stored_events("acme").await, 25);
    assert_eq!(app.usage(ACME_KEY, "").await["quota"]["remainingToday"], 0);

    // Concurrent batches cannot slip past it together: of eight single events against a
    // quota of three, exactly three are recorded.
    let sends = (0..8).map(|n| {
        let app = &app;
        async move {
            app.ingest(GLOBEX_KEY, &log_event(&format!("race-{n}")))
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let accepted = statuses
        .iter()
        .filter(|status| **status == StatusCode::ACCEPTED)
        .count();
    let refused = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((accepted, refused), (3, 5), "{statuses:?}");
    assert_eq!(app.stored_events("globex").await, 3);
    assert_eq!(today(&app.usage(GLOBEX_KEY, "").await)["accepted"], 3);
}

#[tokio::test]
async fn otlp_exports_and_refused_requests_are_counted_per_day() {
    let app = spawn_app_with(|settings| settings.rate_limit.max_requests = 4).await;
    let nanos = chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap()
        .to_string();
    let export = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": nanos, "body": {"stringValue": "one"}},
        {"timeUnixNano": nanos, "body": {"stringValue": "two"}}]}]}]});
    let exported = app
        .client
        .post(app.url("/v1/logs"))
        .header("X-API-Key", ACME_KEY)
        .header("Content-Type", "application/json")
        .body(export.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(exported.status(), StatusCode::OK);
    let mut invalid = log_event("bad");
    invalid["eventType"] = json!("gauge");
    assert_eq!(
        app.ingest(ACME_KEY, &invalid).await.status(),
        StatusCode::BAD_REQUEST
    );
    app.ingest_ok(ACME_KEY, &log_batch("ok", 3)).await;
    app.ingest_ok(ACME_KEY, &log_event("ok-again")).await;
    for _ in 0..2 {
        let limited = app.ingest(ACME_KEY, &log_event("late")).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // Unauthenticated refusals belong to no tenant.
    assert_eq!(
        app.ingest("not-a-key", &log_event("x")).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let day = crate::helpers::eventually(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(200),
        async || {
            let day = today(&app.usage(ACME_KEY, "").await);
            (day["refused"]["rate_limited"] == 2)
                .then(|| day.clone())
                .ok_or_else(|| format!("{day}"))
        },
    )
    .await;
    assert_eq!(day["accepted"], 6, "{day}");
    assert_eq!(day["otlp"], 2, "{day}");
    assert_eq!(
        day["refused"],
        json!({"invalid_events": 1, "rate_limited": 2}),
        "{day}"
    );
    assert_eq!(today(&app.usage(GLOBEX_KEY, "").await), Value::Null);

    // Bytes on disk: Acme's share of each store; Globex has none.
    app.wait_until_aggregated(std::time::Duration::from_secs(60))
        .await;
    let storage = &app.usage(ACME_KEY, "").await["storage"];
    for store in ["eventStore", "rawEvents", "rollups"] {
        assert!(storage[store].as_u64().unwrap() > 0, "{store}: {storage}");
    }
    assert_eq!(
        app.usage(GLOBEX_KEY, "").await["storage"],
        json!({"eventStore": 0, "rawEvents": 0, "rollups": 0})
    );
}

#[tokio::test]
async fn operators_list_every_tenants_usage_and_no_one_else_does() {
    let app = spawn_app_with(|settings| {
        settings.auth.operator_tenant =
            Some(telemetry_domain::values::TenantId::parse("ops").unwrap());
        settings.ingest.daily_quotas = "globex=1000".into();
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_batch("a", 5)).await;
    app.ingest_ok(ACME_KEY, &log_batch("a", 5)).await;
    app.ingest_ok(GLOBEX_KEY, &log_batch("g", 2)).await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/usage/tenants"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let listed = list(app.token("ops", "admin")).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed = json(listed).await;
    assert_eq!(
        listed["tenants"],
        json!([
            {"tenantId": "acme", "batches": 2, "accepted": 5, "duplicates": 5, "otlp": 0,
             "refused": 0, "dailyQuota": null},
            {"tenantId": "globex", "batches": 1, "accepted": 2, "duplicates": 0, "otlp": 0,
             "refused": 0, "dailyQuota": 1000},
        ]),
        "{listed}"
    );
    assert_eq!(
        list(app.token("acme", "admin")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        list(app.token("ops", "viewer")).await.status(),
        StatusCode::FORBIDDEN
    );
}
