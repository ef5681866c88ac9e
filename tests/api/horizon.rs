//! The event store's replay horizon: telemetry partitions past it are dropped once every
//! processor that reads telemetry has passed them, and only then; every other aggregate's
//! events are kept. Maintenance runs through the operator command with `--at`, a clock set
//! past the horizon, instead of waiting for days.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use telemetry_domain::values::TenantId;
use telemetry_server::config::Settings;

use crate::helpers::{
    closed_port, eventually, json, log_batch, operator_command, spawn_instance, test_settings,
    TestApp, ACME_KEY,
};

const CATCH_UP: Duration = Duration::from_secs(60);

/// One maintenance run as of `at` (RFC 3339), through the operator command; its outcome.
fn maintain(settings: &Settings, at: &str) -> Value {
    operator_command(settings, &["maintain-event-store", "--at", at])
}

async fn count(app: &TestApp, statement: &str) -> i64 {
    let pool = app.postgres().await;
    let count = sqlx::query_scalar(statement)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count
}

async fn readyz(app: &TestApp) -> Value {
    json(app.get("/readyz").await).await
}

async fn rebuild(app: &TestApp, read_model: &str) -> StatusCode {
    app.client
        .post(app.url(&format!("/admin/read-models/{read_model}/rebuild")))
        .bearer_auth(app.token("acme", "admin"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn telemetry_past_the_horizon_is_dropped_once_every_reader_has_read_it() {
    let mut settings = test_settings().await;
    settings.auth.operator_tenant = Some(TenantId::parse("acme").unwrap());
    let clickhouse = settings.clickhouse.url.clone();
    // A run as of a time past the horizon (30 days by default) for everything recorded now.
    let days = i64::from(settings.ingest.event_store_horizon_days) + 2;
    let later = (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();

    // ClickHouse unreachable: the rollups and audit processors cannot start, so they never
    // read the batch, and the store keeps it for them past the horizon.
    settings.clickhouse.url = format!("http://127.0.0.1:{}", closed_port());
    let stalled = spawn_instance(settings.clone()).await;
    stalled.ingest_ok(ACME_KEY, &log_batch("horizon", 30)).await;
    let telemetry = "SELECT count(*) FROM events_telemetry";
    let kept = "SELECT count(*) FROM events_kept";
    let (batch_rows, kept_rows) = (
        count(&stalled, telemetry).await,
        count(&stalled, kept).await,
    );
    assert!(batch_rows > 0, "the batch is in the telemetry partitions");
    assert!(kept_rows > 0, "the API keys' events are kept apart");

    let held = maintain(&settings, &later);
    let held_back_by = held["heldBackBy"].as_array().unwrap();
    assert!(
        held_back_by.contains(&"rollups".into()) && held_back_by.contains(&"audit".into()),
        "{held}"
    );
    assert_eq!(held["droppedBefore"], Value::Null, "{held}");
    assert_eq!(count(&stalled, telemetry).await, batch_rows);
    let said = readyz(&stalled).await;
    assert!(
        said["eventStore"]["heldBackBy"]
            .as_array()
            .is_some_and(|names| names.contains(&"rollups".into())),
        "{said}"
    );
    stalled.stop().await;

    // ClickHouse back: the readers catch up, record how far they got, and the next run past
    // the horizon drops the day; the API keys' events stay.
    settings.clickhouse.url = clickhouse;
    let app = spawn_instance(settings.clone()).await;
    app.wait_for_events(ACME_KEY, "acme", 30, CATCH_UP).await;
    let dropped = eventually(CATCH_UP, Duration::from_millis(300), async || {
        let run = maintain(&settings, &later);
        (run["droppedBefore"].is_string() && run["heldBackBy"] == serde_json::json!([]))
            .then_some(run.clone())
            .ok_or_else(|| format!("not dropped yet: {run}"))
    })
    .await;
    assert_eq!(count(&app, telemetry).await, 0, "{dropped}");
    assert!(count(&app, kept).await >= kept_rows);
    let said = readyz(&app).await;
    assert!(said["eventStore"]["droppedBefore"].is_string(), "{said}");
    assert_eq!(said["eventStore"]["heldBackBy"], serde_json::json!([]));

    // The read side keeps what it read: the events are still there, exactly once.
    assert_eq!(app.queried_total(ACME_KEY).await, 30);
    // A replay would lose them: read models built from telemetry are not rebuilt any more;
    // the alert history (built from alerts, which are kept) still is.
    assert_eq!(rebuild(&app, "rollups").await, StatusCode::CONFLICT);
    assert_eq!(rebuild(&app, "audit").await, StatusCode::CONFLICT);
    assert_eq!(rebuild(&app, "alert_history").await, StatusCode::ACCEPTED);

    // Deduplication does not depend on the dropped batch: the retry is all duplicates.
    let retry = app.ingest_ok(ACME_KEY, &log_batch("horizon", 30)).await;
    assert_eq!(
        (retry["ingested"].as_u64(), retry["duplicates"].as_u64()),
        (Some(0), Some(30))
    );
    // Today's partition went with the run as of later: new batches land in the late
    // partition, the next run as of now sorts them into a new partition of today, and
    // nothing is lost or counted twice on the way.
    app.ingest_ok(ACME_KEY, &log_batch("after-the-drop", 5))
        .await;
    app.wait_for_events(ACME_KEY, "acme", 35, CATCH_UP).await;
    let late = "SELECT count(*) FROM events_telemetry_late";
    assert!(count(&app, late).await > 0);
    maintain(&settings, &chrono::Utc::now().to_rfc3339());
    assert_eq!(count(&app, late).await, 0);
    assert!(count(&app, telemetry).await > 0);
    app.ingest_ok(ACME_KEY, &log_batch("after-the-run", 5))
        .await;
    app.wait_for_events(ACME_KEY, "acme", 40, CATCH_UP).await;
}
