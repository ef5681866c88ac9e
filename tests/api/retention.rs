//! Per-tenant retention and quotas set by administrators: reads stop showing what is past a
//! tenant's retention at once, maintenance (the operator command, as of now) removes it from
//! ClickHouse, other tenants keep theirs, and every change is in the audit log.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use telemetry_domain::values::TenantId;

use crate::helpers::{
    eventually, json, log_event, operator_command, spawn_app_with, TestApp, ACME_KEY, GLOBEX_KEY,
};

const CATCH_UP: Duration = Duration::from_secs(60);
const OLD: usize = 12;
const NEW: usize = 7;

/// Logs and metrics of one tenant `days_ago` days back (plus a few minutes).
fn batch(prefix: &str, count: usize, at: chrono::DateTime<chrono::Utc>) -> Value {
    Value::Array(
        (0..count)
            .map(|index| {
                let mut event = log_event(&format!("{prefix}-{index}"));
                event["timestamp"] = json!(at.to_rfc3339());
                if index % 3 == 0 {
                    event["eventType"] = json!("metric");
                    event["payload"] = json!({"name": "latency", "value": index as f64});
                }
                event
            })
            .collect(),
    )
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, json(response).await)
}

async fn query_total(app: &TestApp, key: &str) -> u64 {
    let now = chrono::Utc::now();
    let body = json!({"startTime": (now - chrono::Duration::days(6)).to_rfc3339(),
                      "endTime": (now + chrono::Duration::minutes(1)).to_rfc3339(),
                      "groupBy": "type"});
    json(app.query(key, &body).await).await["total"]
        .as_u64()
        .unwrap()
}

async fn summary(app: &TestApp, key: &str, tenant: &str) -> Value {
    let response = app
        .client
        .get(app.url(&format!("/accounts/{tenant}/summary?window=7d")))
        .header("X-API-Key", key)
        .header("Cache-Control", "no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json(response).await
}

async fn series(app: &TestApp, key: &str) -> Value {
    let now = chrono::Utc::now();
    let path = format!(
        "/timeseries?metric=latency&step=1h&from={}&to={}",
        (now - chrono::Duration::days(6)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let response = app.get_with_key(key, &path).await;
    assert_eq!(response.status(), StatusCode::OK);
    json(response).await
}

fn samples(series: &Value) -> u64 {
    series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["count"].as_u64().unwrap())
        .sum()
}

async fn stored(app: &TestApp, table: &str, column: &str, tenant: &str) -> u64 {
    app.clickhouse_answer(&format!(
        "SELECT {column} FROM {table} WHERE tenant_id = '{tenant}'"
    ))
    .await
    .parse()
    .unwrap()
}

/// The tenant's audit log for `action` once it holds `count` entries (the audit processor
/// writes them a moment after the change).
async fn audit_entries(app: &TestApp, token: &str, action: &str, count: usize) -> Value {
    eventually(CATCH_UP, Duration::from_millis(200), async || {
        let response = app
            .client
            .get(app.url(&format!("/audit?action={action}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let audit = json(response).await;
        if audit["data"].as_array().map_or(0, Vec::len) == count {
            Ok(audit)
        } else {
            Err(format!("{audit}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_tenants_retention_hides_then_removes_its_older_data_and_no_one_elses() {
    let app = spawn_app_with(|_| {}).await;
    let now = chrono::Utc::now();
    // Within the deduplication window (7 days): producers may send that far back.
    for (tenant_key, tenant) in [(ACME_KEY, "acme"), (GLOBEX_KEY, "globex")] {
        app.ingest_ok(
            tenant_key,
            &batch(
                &format!("{tenant}-5d"),
                OLD / 2,
                now - chrono::Duration::days(5),
            ),
        )
        .await;
        app.ingest_ok(
            tenant_key,
            &batch(
                &format!("{tenant}-3d"),
                OLD / 2,
                now - chrono::Duration::days(3),
            ),
        )
        .await;
    }
    // The newest rows last: each checkpoint table keeps the rows of its last source event.
    for (tenant_key, tenant) in [(ACME_KEY, "acme"), (GLOBEX_KEY, "globex")] {
        app.ingest_ok(
            tenant_key,
            &batch(
                &format!("{tenant}-new"),
                NEW,
                now - chrono::Duration::minutes(30),
            ),
        )
        .await;
    }
    let all = (OLD + NEW) as u64;
    app.wait_until_aggregated(CATCH_UP).await;
    assert_eq!(query_total(&app, ACME_KEY).await, all);
    assert_eq!(query_total(&app, GLOBEX_KEY).await, all);
    let metrics_before = samples(&series(&app, ACME_KEY).await);

    // Acme's admins keep two days of everything.
    let acme_admin = app.token("acme", "admin");
    let two_days = json!({"retentionDays": {"events": 2, "minuteRollups": 2, "hourRollups": 2,
                                           "dayRollups": 2, "auditLog": 2, "alertHistory": 2}});
    let (status, set) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/acme/retention",
        &acme_admin,
        Some(two_days),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["retentionDays"]["events"], 2);
    assert_eq!(set["chosen"]["minuteRollups"], 2);
    assert_eq!(set["defaults"]["events"], 30);
    assert_eq!(set["defaults"]["dayRollups"], 730);
    // Nobody else's, and no nonsense.
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/globex/retention",
        &acme_admin,
        Some(json!({"retentionDays": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, refused) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/acme/retention",
        &acme_admin,
        Some(json!({"retentionDays": {"events": 0}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["code"], "invalid_request");
    assert_eq!(
        refused["error"]["details"][0]["field"],
        "retentionDays.events"
    );
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/acme/retention",
        &app.token("acme", "editor"),
        Some(json!({"retentionDays": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Reads at once: only the last two days, and answers over longer ranges say so.
    assert_eq!(query_total(&app, ACME_KEY).await, NEW as u64);
    assert_eq!(query_total(&app, GLOBEX_KEY).await, all);
    let acme = summary(&app, ACME_KEY, "acme").await;
    assert_eq!(acme["totalEvents"], NEW as u64, "{acme}");
    assert_eq!(acme["coverage"]["complete"], false, "{acme}");
    let cutoff = (now.date_naive() - chrono::Days::new(2))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    assert!(
        acme["coverage"]["from"].as_str().unwrap()
            >= cutoff
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str(),
        "{acme}"
    );
    let globex = summary(&app, GLOBEX_KEY, "globex").await;
    assert_eq!(globex["totalEvents"], all);
    assert_eq!(globex["coverage"]["complete"], true);
    let acme_series = series(&app, ACME_KEY).await;
    assert_eq!(acme_series["coverage"]["complete"], false);
    let new_metrics = (0..NEW).filter(|index| index % 3 == 0).count() as u64;
    assert_eq!(samples(&acme_series), new_metrics, "{acme_series}");
    assert_eq!(samples(&series(&app, GLOBEX_KEY).await), metrics_before);

    // Maintenance removes the rest from storage, Acme's only, once the choice is projected
    // into the table it reads.
    eventually(CATCH_UP, Duration::from_millis(100), async || {
        let ready = json(app.get("/readyz").await).await;
        let projection = &ready["processors"]["tenant_policies"];
        (projection["lagEvents"] == 0)
            .then_some(())
            .ok_or_else(|| format!("{projection}"))
    })
    .await;
    let at = chrono::Utc::now().to_rfc3339();
    let runs = operator_command(&app.settings, &["maintain-retention", "--at", &at]);
    let raw = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["store"] == "events")
        .unwrap();
    assert_eq!(raw["rowsPastCutoff"], OLD as u64, "{runs}");
    assert_eq!(stored(&app, "events", "count()", "acme").await, NEW as u64);
    assert_eq!(stored(&app, "events", "count()", "globex").await, all);
    for rollup in ["event_counts_1m", "event_counts_1h", "event_counts_1d"] {
        assert_eq!(
            stored(&app, rollup, "sum(events)", "acme").await,
            NEW as u64,
            "{rollup}"
        );
        assert_eq!(
            stored(&app, rollup, "sum(events)", "globex").await,
            all,
            "{rollup}"
        );
    }
    assert_eq!(
        stored(&app, "metric_stats_1m", "countMerge(samples)", "acme").await,
        new_metrics
    );
    // Reads after maintenance are what they were before it.
    assert_eq!(query_total(&app, ACME_KEY).await, NEW as u64);
    assert_eq!(
        summary(&app, ACME_KEY, "acme").await["totalEvents"],
        NEW as u64
    );
    // A second run finds nothing more to remove.
    let again = operator_command(&app.settings, &["maintain-retention"]);
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|run| run["rowsPastCutoff"] == 0),
        "{again}"
    );

    // Old events sent last are the newest rows, which the rollups processor resumes after:
    // maintenance spares them until something newer is written.
    let late = now - chrono::Duration::days(4);
    // Logs only: one source event, all of whose rows are the newest.
    let late_logs: Vec<Value> = (0..3)
        .map(|index| {
            let mut event = log_event(&format!("acme-late-{index}"));
            event["timestamp"] = json!(late.to_rfc3339());
            event
        })
        .collect();
    app.ingest_ok(ACME_KEY, &Value::Array(late_logs)).await;
    app.wait_until_aggregated(CATCH_UP).await;
    let raw_past = |runs: &Value| {
        runs.as_array()
            .unwrap()
            .iter()
            .find(|run| run["store"] == "events")
            .map(|run| run["rowsPastCutoff"].clone())
            .unwrap()
    };
    let spared = operator_command(&app.settings, &["maintain-retention"]);
    assert_eq!(raw_past(&spared), 0, "{spared}");
    assert_eq!(
        stored(&app, "events", "count()", "acme").await,
        NEW as u64 + 3
    );
    assert_eq!(query_total(&app, ACME_KEY).await, NEW as u64);
    app.ingest_ok(GLOBEX_KEY, &log_event("newer")).await;
    app.wait_until_aggregated(CATCH_UP).await;
    let removed = operator_command(&app.settings, &["maintain-retention"]);
    assert_eq!(raw_past(&removed), 3, "{removed}");
    assert_eq!(stored(&app, "events", "count()", "acme").await, NEW as u64);

    // The change is in Acme's audit log, with who made it.
    let audit = audit_entries(&app, &acme_admin, "tenant.retention_set", 1).await;
    let entry = &audit["data"][0];
    assert_eq!(entry["actor"], "user:test-user");
    assert_eq!(entry["details"]["retentionDays"]["events"], 2);
}

#[tokio::test]
async fn operators_set_a_tenants_quota_which_refuses_the_first_event_over_it() {
    let app = spawn_app_with(|settings| {
        settings.auth.operator_tenant = Some(TenantId::parse("ops").unwrap());
    })
    .await;
    let operator = app.token("ops", "admin");
    let acme_admin = app.token("acme", "admin");
    // A tenant's admins read their quota but do not set it.
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/acme/quota",
        &acme_admin,
        Some(json!({"dailyEvents": 1000})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/acme/quota",
        &operator,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "dailyEvents is required");
    let (status, set) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/acme/quota",
        &operator,
        Some(json!({"dailyEvents": 15})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        set,
        json!({"tenantId": "acme", "source": "daily", "dailyEvents": 15})
    );
    let (status, read) = admin(
        &app,
        reqwest::Method::GET,
        "/admin/tenants/acme/quota",
        &acme_admin,
        None,
    )
    .await;
    assert_eq!(
        (status, read["dailyEvents"].clone()),
        (StatusCode::OK, json!(15))
    );

    // In force once the usage counters have it (on every instance: it is in Postgres).
    eventually(CATCH_UP, Duration::from_millis(100), async || {
        let usage = app.usage(ACME_KEY, "").await;
        (usage["quota"]["dailyEvents"] == 15)
            .then_some(())
            .ok_or_else(|| format!("{usage}"))
    })
    .await;
    let events = |prefix: &str, count: usize| {
        Value::Array(
            (0..count)
                .map(|index| log_event(&format!("{prefix}-{index}")))
                .collect(),
        )
    };
    assert_eq!(
        app.ingest(ACME_KEY, &events("a", 10)).await.status(),
        StatusCode::ACCEPTED
    );
    let over = app.ingest(ACME_KEY, &events("b", 6)).await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json(over).await["error"]["code"], "quota_exceeded");
    assert_eq!(
        app.ingest(ACME_KEY, &events("c", 5)).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.ingest(ACME_KEY, &events("d", 1)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.ingest(GLOBEX_KEY, &events("e", 20)).await.status(),
        StatusCode::ACCEPTED
    );

    // No quota, then back to the configured one (none).
    let (status, unlimited) = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/tenants/acme/quota",
        &operator,
        Some(json!({"dailyEvents": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unlimited["source"], "unlimited");
    eventually(CATCH_UP, Duration::from_millis(100), async || {
        let usage = app.usage(ACME_KEY, "").await;
        usage["quota"]
            .is_null()
            .then_some(())
            .ok_or_else(|| format!("{usage}"))
    })
    .await;
    assert_eq!(
        app.ingest(ACME_KEY, &events("f", 3)).await.status(),
        StatusCode::ACCEPTED
    );
    let (status, default) = admin(
        &app,
        reqwest::Method::DELETE,
        "/admin/tenants/acme/quota",
        &operator,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        default,
        json!({"tenantId": "acme", "source": "default", "dailyEvents": null})
    );

    // Each change is audited in the tenant's log, naming the operator.
    let audit = audit_entries(&app, &acme_admin, "tenant.quota_set", 3).await;
    assert_eq!(
        audit["data"][2]["details"],
        json!({"quota": "daily", "dailyEvents": 15})
    );
    assert_eq!(audit["data"][0]["details"]["quota"], "default");
    assert_eq!(audit["data"][0]["actor"], "user:test-user@ops");
}
