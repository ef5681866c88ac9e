//! The read side: counts equal what was acknowledged, cursors, summaries, time series,
//! caching, isolation and input validation.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::Timelike;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    eventually, json, keep_everything, last_hours, log_batch, log_event, metric_event, percentile,
    recent_timestamp, spawn_app, spawn_app_with, ACME_KEY, GLOBEX_KEY,
};

const CATCH_UP: Duration = Duration::from_secs(30);

fn event(id: &str, event_type: &str, service: &str, user: Option<&str>, payload: Value) -> Value {
    let mut event = json!({
        "eventId": id, "eventType": event_type, "serviceName": service,
        "timestamp": recent_timestamp(), "payload": payload,
    });
    if let Some(user) = user {
        event["userId"] = json!(user);
    }
    event
}

/// 60 logs, 30 metrics, 10 traces over three services and four users (and some without).
fn mixed_batch(prefix: &str) -> Vec<Value> {
    let services = ["api-gateway", "checkout", "search"];
    let users = [Some("u1"), Some("u2"), Some("u3"), None];
    (0..100)
        .map(|i| {
            let (event_type, payload) = match i % 10 {
                0..=5 => ("log", json!({"level": "info", "message": "hello"})),
                6..=8 => ("metric", json!({"name": "latency", "value": i as f64})),
                _ => (
                    "trace",
                    json!({"traceId": "t", "spanId": format!("s{i}"), "durationMs": 3}),
                ),
            };
            event(
                &format!("{prefix}-{i}"),
                event_type,
                services[i % 3],
                users[i % 4],
                payload,
            )
        })
        .collect()
}

#[tokio::test]
async fn counts_after_ingest_equal_what_was_acknowledged() {
    let app = spawn_app().await;
    let batch = Value::Array(mixed_batch("mix"));
    let first = app.ingest_ok(ACME_KEY, &batch).await;
    let again = app.ingest_ok(ACME_KEY, &batch).await;
    assert_eq!(
        (first["ingested"].as_u64(), again["ingested"].as_u64()),
        (Some(100), Some(0))
    );
    app.wait_for_events(ACME_KEY, "acme", 100, CATCH_UP).await;
    // The processors took what this instance committed from its memory.
    assert!(app.counter("telemetry_processor_handoff_hits_total").await >= 1);

    let summary = app.summary(ACME_KEY, "acme").await;
    assert_eq!(summary["totalEvents"], 100);
    assert_eq!(
        summary["byType"],
        json!({"log": 60, "metric": 30, "trace": 10})
    );
    let services: u64 = summary["topServices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(services, 100);
    let users: BTreeMap<String, u64> = summary["topUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["key"].as_str().unwrap().to_string(),
                u["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        users,
        BTreeMap::from([("u1".into(), 25), ("u2".into(), 25), ("u3".into(), 25)])
    );

    for group_by in ["service", "type", "user"] {
        let mut body = last_hours(2);
        body["groupBy"] = json!(group_by);
        let response = app.query(ACME_KEY, &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let groups = json(response).await;
        assert_eq!(groups["total"], 100);
        let sum: u64 = groups["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["count"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 100, "groupBy {group_by}: {groups}");
    }
    let mut by_type = last_hours(2);
    by_type["eventType"] = json!("metric");
    by_type["serviceName"] = json!("checkout");
    let filtered = json(app.query(ACME_KEY, &by_type).await).await;
    assert_eq!(filtered["pagination"]["total"], 10);
}

#[tokio::test]
async fn a_batch_spanning_more_than_a_hundred_months_reaches_the_read_side() {
    // Current ClickHouse servers refuse an INSERT touching more than 100 partitions by
    // default (`events` and the rollups are partitioned by month): such a batch must
    // neither stall the processor nor be dropped (and reads must reach back that far).
    let app = spawn_app_with(keep_everything).await;
    let months: u64 = 150;
    let batch: Vec<Value> = (0..months)
        .map(|month| {
            let mut event = log_event(&format!("old-{month}"));
            event["timestamp"] = json!(format!(
                "{}-{:02}-15T12:00:00Z",
                1990 + month / 12,
                1 + month % 12
            ));
            event
        })
        .collect();
    app.ingest_ok(ACME_KEY, &Value::Array(batch)).await;
    // And something recent after it, which must not wait behind it for ever.
    app.ingest_ok(ACME_KEY, &log_event("recent")).await;
    // 150 months make about 600 new parts (the raw table and each rollup a part per month):
    // ClickHouse 18.16 writes them in seconds alone, but CI's two cores running the rest of
    // the suite beside it once needed more than 30 s. Waiting longer is still a positive wait.
    app.wait_until_aggregated(3 * CATCH_UP).await;
    let mut counted = 0;
    for year in 1990..2003 {
        let range = json!({"startTime": format!("{year}-01-01T00:00:00Z"),
                           "endTime": format!("{}-01-01T00:00:00Z", year + 1), "groupBy": "type"});
        let answer = json(app.query(ACME_KEY, &range).await).await;
        counted += answer["total"]
            .as_u64()
            .unwrap_or_else(|| panic!("{answer}"));
    }
    assert_eq!(counted, months);
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;
}

#[tokio::test]
async fn events_come_back_in_the_shape_they_were_ingested() {
    let app = spawn_app().await;
    let original = json!({
        "eventId": "shape-1", "eventType": "log", "serviceName": "api-gateway",
        "timestamp": "2026-11-22T10:00:00.123456Z", "userId": "12345",
        "payload": {"level": "info", "message": "User logged in", "nested": {"a": [1, 2.5, null]}}
    });
    // A recent time with the original's six fractional digits (the service writes as many
    // as the time needs: a whole millisecond would come back as three).
    let mut recent = original.clone();
    let minute_ago = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .with_nanosecond(123_456_000)
        .unwrap();
    recent["timestamp"] = json!(minute_ago.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    app.ingest_ok(ACME_KEY, &recent).await;
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;
    let page = json(app.query(ACME_KEY, &last_hours(1)).await).await;
    let event = &page["data"][0];
    assert_eq!(event, &recent, "{page}");
}

#[tokio::test]
async fn following_cursors_visits_every_event_exactly_once_newest_first() {
    let app = spawn_app().await;
    // Groups of five events share a timestamp, so ties are ordered by eventId.
    let base = chrono::Utc::now() - chrono::Duration::minutes(30);
    let events: Vec<Value> = (0..250)
        .map(|i| {
            let at = base + chrono::Duration::seconds((i / 5) as i64);
            json!({"eventId": format!("c-{:03}", (i * 37) % 250), "eventType": "log",
                   "serviceName": "s", "timestamp": at.to_rfc3339(), "payload": {}})
        })
        .collect();
    app.ingest_ok(ACME_KEY, &Value::Array(events)).await;
    app.wait_for_events(ACME_KEY, "acme", 250, CATCH_UP).await;

    let mut body = last_hours(2);
    body["limit"] = json!(40);
    let first = json(app.query(ACME_KEY, &body).await).await;
    assert_eq!(
        first["pagination"],
        json!({"page": 1, "limit": 40, "total": 250,
        "totalPages": 7, "hasNext": true, "hasPrev": false})
    );
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut collect = |page: &Value| {
        for event in page["data"].as_array().unwrap() {
            seen.push((
                event["timestamp"].as_str().unwrap().to_string(),
                event["eventId"].as_str().unwrap().to_string(),
            ));
        }
    };
    collect(&first);
    let mut cursor = first["nextCursor"].clone();
    let mut pages = 1;
    while let Some(token) = cursor.as_str() {
        let mut next = last_hours(2);
        next["startTime"] = body["startTime"].clone();
        next["endTime"] = body["endTime"].clone();
        next["limit"] = json!(40);
        next["cursor"] = json!(token);
        let page = json(app.query(ACME_KEY, &next).await).await;
        assert_eq!(
            page["hasMore"].as_bool(),
            Some(!page["nextCursor"].is_null()),
            "{page}"
        );
        collect(&page);
        cursor = page["nextCursor"].clone();
        pages += 1;
        assert!(pages < 20, "cursor walk does not end");
    }
    assert_eq!(seen.len(), 250);
    let unique: HashSet<&String> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), 250);
    let parsed: Vec<(chrono::DateTime<chrono::Utc>, &String)> = seen
        .iter()
        .map(|(ts, id)| {
            (
                chrono::DateTime::parse_from_rfc3339(ts).unwrap().to_utc(),
                id,
            )
        })
        .collect();
    for pair in parsed.windows(2) {
        let ((t1, id1), (t2, id2)) = (pair[0], pair[1]);
        assert!(
            t1 > t2 || (t1 == t2 && id1 < id2),
            "order broken at {pair:?}"
        );
    }

    let mut last_page = body.clone();
    last_page["page"] = json!(7);
    let last = json(app.query(ACME_KEY, &last_page).await).await;
    assert_eq!(last["data"].as_array().unwrap().len(), 10);
    assert_eq!(last["pagination"]["hasNext"], false);
    assert_eq!(last["pagination"]["hasPrev"], true);
    assert!(last["nextCursor"].is_null());
}

#[tokio::test]
async fn summary_metrics_match_percentiles_computed_here() {
    let app = spawn_app().await;
    let values: Vec<f64> = (1..=400)
        .map(|i| ((i * 7919) % 1000) as f64 / 10.0 + 1.0)
        .collect();
    let batch: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, value)| metric_event(&format!("m-{i}"), "request.duration", *value))
        .collect();
    app.ingest_ok(ACME_KEY, &Value::Array(batch)).await;
    app.wait_for_events(ACME_KEY, "acme", 400, CATCH_UP).await;

    // Rollups fed by the same INSERT may show up a moment apart; poll until they agree.
    let started = std::time::Instant::now();
    let metric = loop {
        let summary = app.summary(ACME_KEY, "acme").await;
        let metric = summary["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "request.duration")
            .cloned();
        if let Some(metric) = metric.filter(|m| m["count"] == 400) {
            break metric;
        }
        assert!(started.elapsed() < CATCH_UP, "{summary}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    assert_eq!(metric["count"], 400);
    assert_eq!(metric["min"].as_f64().unwrap(), min);
    assert_eq!(metric["max"].as_f64().unwrap(), max);
    let average = values.iter().sum::<f64>() / values.len() as f64;
    assert!((metric["avg"].as_f64().unwrap() - average).abs() < 1e-9);
    // t-digest quantiles: within 2 % of the value range of the exact percentile.
    let tolerance = (max - min) * 0.02;
    for (field, quantile) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
        let expected = percentile(&sorted, quantile);
        let actual = metric[field].as_f64().unwrap();
        assert!(
            (actual - expected).abs() <= tolerance,
            "{field}: {actual} vs exact {expected}"
        );
    }
}

#[tokio::test]
async fn time_series_come_from_the_rollups() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let minute = |ago: i64| now - chrono::Duration::minutes(ago);
    let mut batch = Vec::new();
    for (ago, count) in [(3, 4), (2, 6), (1, 10)] {
        for i in 0..count {
            let mut event = metric_event(&format!("ts-{ago}-{i}"), "cpu", (i + 1) as f64);
            event["timestamp"] = json!(minute(ago).to_rfc3339());
            batch.push(event);
        }
    }
    app.ingest_ok(ACME_KEY, &Value::Array(batch)).await;
    app.wait_for_events(ACME_KEY, "acme", 20, CATCH_UP).await;

    let from =
        (now - chrono::Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!(
        "/timeseries?metric=cpu&from={}&to={}&step=1m",
        urlencode(&from),
        urlencode(&to)
    );
    // The raw rows become visible a moment before the rollups their INSERT also feeds; an
    // answer computed in between is replaced at the next cache invalidation.
    let started = std::time::Instant::now();
    let series = loop {
        let response = app.get_with_key(ACME_KEY, &path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let series = json(response).await;
        let total: u64 = series["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_u64().unwrap())
            .sum();
        if total == 20 {
            break series;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{series}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(series["step"], "1m");
    let points = series["points"].as_array().unwrap();
    let last = points.last().unwrap();
    assert_eq!(last["count"], 10);
    assert_eq!(last["max"], 10.0);
    assert_eq!(last["avg"], 5.5);

    let hourly = format!(
        "/timeseries?metric=cpu&from={}&to={}",
        urlencode(&from),
        urlencode(&to)
    );
    let series = json(app.get_with_key(ACME_KEY, &hourly).await).await;
    assert_eq!(
        series["step"], "1m",
        "a ten-minute range defaults to minutes"
    );
    let other_service = format!("{path}&serviceName=nope");
    let empty = json(app.get_with_key(ACME_KEY, &other_service).await).await;
    assert_eq!(empty["points"], json!([]));
}

fn urlencode(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn every_read_endpoint_is_isolated_per_tenant() {
    let app = spawn_app().await;
    app.ingest_ok(ACME_KEY, &Value::Array(mixed_batch("iso")))
        .await;
    app.ingest_ok(GLOBEX_KEY, &log_event("globex-only")).await;
    app.wait_for_events(ACME_KEY, "acme", 100, CATCH_UP).await;
    app.wait_for_events(GLOBEX_KEY, "globex", 1, CATCH_UP).await;

    let globex_page = json(app.query(GLOBEX_KEY, &last_hours(2)).await).await;
    assert_eq!(globex_page["pagination"]["total"], 1);
    assert_eq!(globex_page["data"][0]["eventId"], "globex-only");
    let mut groups = last_hours(2);
    groups["groupBy"] = json!("service");
    let globex_groups = json(app.query(GLOBEX_KEY, &groups).await).await;
    assert_eq!(globex_groups["total"], 1);

    let foreign = app.get_with_key(GLOBEX_KEY, "/accounts/acme/summary").await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(foreign).await["error"]["code"], "not_found");
    let viewer = app.token("globex", "viewer");
    let foreign_user = app
        .client
        .get(app.url("/accounts/acme/summary"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_user.status(), StatusCode::NOT_FOUND);
    let own = app
        .client
        .get(app.url("/accounts/globex/summary"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(json(own).await["totalEvents"], 1);

    let series = latency_series_path();
    let globex_series = json(app.get_with_key(GLOBEX_KEY, &series).await).await;
    assert_eq!(globex_series["points"], json!([]));
    let acme_series = json(app.get_with_key(ACME_KEY, &series).await).await;
    assert!(!acme_series["points"].as_array().unwrap().is_empty());

    // A cursor from acme's walk, replayed by globex with the very same filters: globex can
    // only ever continue through its own events.
    let mut walk = last_hours(2);
    walk["limit"] = json!(5);
    let cursor = json(app.query(ACME_KEY, &walk).await).await["nextCursor"].clone();
    assert!(cursor.is_string(), "acme's first page has a next cursor");
    walk["cursor"] = cursor;
    let response = app.query(GLOBEX_KEY, &walk).await;
    assert_eq!(response.status(), StatusCode::OK);
    let with_foreign_cursor = json(response).await;
    let events = with_foreign_cursor["data"].as_array().unwrap();
    assert!(
        events.iter().all(|event| event["eventId"] == "globex-only"),
        "{with_foreign_cursor}"
    );
}

/// A full page of the longest ids there can be (128 characters of four bytes each): the
/// page's ids are part of the query text that fetches them.
#[tokio::test]
async fn a_page_of_the_longest_ids_comes_back_whole() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..1_000)
        .map(|i| {
            let id = format!("{i:04}{}", "\u{1F600}".repeat(124));
            assert_eq!(id.chars().count(), 128);
            event(&id, "log", "api", None, json!({"n": i}))
        })
        .collect();
    app.ingest_ok(ACME_KEY, &Value::Array(events)).await;
    app.wait_for_events(ACME_KEY, "acme", 1_000, CATCH_UP).await;
    let mut body = last_hours(1);
    body["limit"] = json!(1_000);
    let response = app.query(ACME_KEY, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = json(response).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1_000));
}

#[tokio::test]
async fn invalid_read_requests_are_400_with_a_code() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let range = |start: chrono::DateTime<chrono::Utc>, end: chrono::DateTime<chrono::Utc>| json!({"startTime": start.to_rfc3339(), "endTime": end.to_rfc3339()});
    let mut cases: Vec<(Value, &str)> = vec![
        (
            range(now, now - chrono::Duration::hours(1)),
            "invalid_range",
        ),
        (
            range(now - chrono::Duration::days(400), now),
            "invalid_range",
        ),
        (
            json!({"startTime": "yesterday", "endTime": now.to_rfc3339()}),
            "invalid_parameter",
        ),
        (json!({"endTime": now.to_rfc3339()}), "invalid_request"),
    ];
    let with = |field: &str, value: Value| {
        let mut body = last_hours(1);
        body[field] = value;
        body
    };
    cases.push((with("limit", json!(1001)), "invalid_limit"));
    cases.push((with("limit", json!(0)), "invalid_limit"));
    cases.push((with("page", json!(0)), "invalid_page"));
    cases.push((with("colour", json!("red")), "invalid_request"));
    cases.push((with("eventType", json!("audit")), "invalid_parameter"));
    cases.push((with("groupBy", json!("country")), "invalid_parameter"));
    cases.push((with("cursor", json!("garbage")), "invalid_parameter"));
    // Filters no event could match: empty, longer than a field holds (this one would also be
    // more query text than ClickHouse accepts), control characters.
    cases.push((with("serviceName", json!("")), "invalid_parameter"));
    cases.push((
        with("serviceName", json!("s".repeat(300_000))),
        "invalid_parameter",
    ));
    cases.push((with("userId", json!("")), "invalid_parameter"));
    cases.push((with("userId", json!("a\u{7}b")), "invalid_parameter"));
    let mut both = with("cursor", json!("garbage"));
    both["page"] = json!(2);
    cases.push((both, "invalid_parameter"));
    for (body, code) in cases {
        let response = app.query(ACME_KEY, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(json(response).await["error"]["code"], code, "{body}");
    }
    for path in [
        "/accounts/acme/summary?window=2h",
        "/accounts/acme/summary?windw=1h",
        "/timeseries?metric=cpu&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&step=5m",
        "/timeseries?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        "/timeseries?metric=cpu&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/timeseries?metric=cpu&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&step=1m",
        "/timeseries?metric=cpu&serviceName=&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        &format!(
            "/timeseries?metric={}&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
            "m".repeat(20_000)
        ),
    ] {
        let response = app.get_with_key(ACME_KEY, path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(json(response).await["error"]["code"].is_string());
    }
    let unauthenticated = app
        .client
        .post(app.url("/query"))
        .json(&last_hours(1))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn summaries_are_cached_and_new_data_invalidates_them() {
    let app = spawn_app().await;
    app.ingest_ok(ACME_KEY, &log_event("cache-1")).await;
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;

    let cached = answered_from_cache(&app, "/accounts/acme/summary?window=1h").await;
    assert_eq!(cached["totalEvents"], 1);
    let fresh = app
        .get_fresh(ACME_KEY, "/accounts/acme/summary?window=1h")
        .await;
    assert_eq!(fresh.headers()["x-cache"], "MISS");

    app.ingest_ok(ACME_KEY, &log_event("cache-2")).await;
    let started = std::time::Instant::now();
    loop {
        let summary = json(
            app.get_with_key(ACME_KEY, "/accounts/acme/summary?window=1h")
                .await,
        )
        .await;
        if summary["totalEvents"] == 2 {
            break;
        }
        assert!(
            started.elapsed() < CATCH_UP,
            "new data stayed hidden behind the cache"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.counter("telemetry_cache_l1_hits_total").await >= 1);
}

#[tokio::test]
async fn reads_still_answer_when_redis_is_down() {
    let app = spawn_app_with(|settings| {
        settings.redis.url = telemetry_server::config::Secret::new(format!(
            "redis://127.0.0.1:{}",
            crate::helpers::closed_port()
        ));
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_event("no-redis")).await;
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;
    let cached = answered_from_cache(&app, "/accounts/acme/summary?window=15m").await;
    assert_eq!(cached["totalEvents"], 1);
}

/// A time series of `latency` over the last hour.
fn latency_series_path() -> String {
    let now = chrono::Utc::now();
    format!(
        "/timeseries?metric=latency&from={}&to={}",
        urlencode(
            &(now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        urlencode(&now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    )
}

#[tokio::test]
async fn a_second_instance_answers_from_the_shared_redis_cache() {
    let first = spawn_app().await;
    let second = crate::helpers::spawn_instance(first.settings.clone()).await;
    first
        .ingest_ok(ACME_KEY, &metric_event("shared-1", "latency", 12.0))
        .await;
    first.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;

    // Cache keys change when the minute does: keep both instances' requests in one minute.
    while chrono::Utc::now().second() >= 50 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let series = latency_series_path();
    for path in ["/accounts/acme/summary?window=1h", series.as_str()] {
        // Computed by the first instance (and stored in Redis), then asked of the second,
        // whose own process cache has never seen it.
        let computed = answered_from_cache(&first, path).await;
        let response = second.get_with_key(ACME_KEY, path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-cache"], "L2", "{path}");
        assert_eq!(json(response).await, computed, "{path}");
    }
    assert!(second.counter("telemetry_cache_l2_hits_total").await >= 2);
}

#[tokio::test]
async fn reads_keep_answering_when_redis_goes_away_mid_run() {
    let proxy = crate::proxy::TcpProxy::start("127.0.0.1:6379").await;
    let app = spawn_app_with(|settings| {
        settings.redis.url =
            telemetry_server::config::Secret::new(format!("redis://127.0.0.1:{}", proxy.port));
    })
    .await;
    app.ingest_ok(ACME_KEY, &metric_event("redis-1", "latency", 12.0))
        .await;
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;

    proxy.disable();
    // Ingestion fails open (no rate limit), reads fall back to the process and ClickHouse.
    app.ingest_ok(ACME_KEY, &metric_event("redis-2", "latency", 14.0))
        .await;
    let series = latency_series_path();
    eventually(CATCH_UP, Duration::from_millis(200), async || {
        let summary = app
            .get_with_key(ACME_KEY, "/accounts/acme/summary?window=1h")
            .await;
        if summary.status() != StatusCode::OK {
            return Err(format!("summary answered {}", summary.status()));
        }
        let total = json(summary).await["totalEvents"].clone();
        (total == 2)
            .then_some(())
            .ok_or_else(|| format!("summary total {total}"))
    })
    .await;
    let points = app.get_with_key(ACME_KEY, &series).await;
    assert_eq!(points.status(), StatusCode::OK);
    let points = json(points).await;
    let count: u64 = points["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["count"].as_u64().unwrap())
        .sum();
    assert_eq!(count, 2, "{points}");
    let ready = json(app.get("/readyz").await).await;
    assert_eq!(ready["dependencies"]["redis"]["status"], "down", "{ready}");
    proxy.enable();
}

/// Asks for `path` until the in-process cache answers (the first answer after new data, or
/// after the minute rolls over, is computed), and returns that answer.
async fn answered_from_cache(app: &crate::helpers::TestApp, path: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let response = app.get_with_key(ACME_KEY, path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let level = response.headers()["x-cache"].to_str().unwrap().to_string();
        let body = json(response).await;
        if level == "L1" {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} never came from the cache"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_clickhouse_that_stops_answering_is_503_for_readers_not_a_hang() {
    let proxy = crate::proxy::TcpProxy::start(&crate::helpers::clickhouse_address()).await;
    let app = spawn_app_with(|settings| {
        settings.clickhouse.url = format!("http://127.0.0.1:{}", proxy.port);
        settings.clickhouse.query_timeout = Duration::from_millis(1_000);
        settings.server.request_timeout = Duration::from_millis(20_000);
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_batch("hung", 10)).await;
    app.wait_for_events(ACME_KEY, "acme", 10, CATCH_UP).await;

    // The server still accepts connections but answers nothing: each read gives up after
    // CLICKHOUSE_QUERY_TIMEOUT_MS with a 503 to retry, long before the request timeout.
    proxy.blackhole();
    let summary = app
        .get_fresh(ACME_KEY, "/accounts/acme/summary?window=24h")
        .await;
    assert_eq!(summary.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(summary.headers().contains_key("retry-after"));
    assert_eq!(
        json(summary).await["error"]["code"],
        "analytics_unavailable"
    );
    let page = app.query(ACME_KEY, &last_hours(1)).await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Once it answers again, so do the reads.
    proxy.enable();
    let summary = app
        .get_fresh(ACME_KEY, "/accounts/acme/summary?window=24h")
        .await;
    assert_eq!(summary.status(), StatusCode::OK);
    assert_eq!(json(summary).await["totalEvents"], 10);
}
