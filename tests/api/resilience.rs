//! Exactly-once effect through crashes and outages, processor ownership, rebuilds, audit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    clickhouse_address, eventually, json, log_batch, log_event, metric_event, spawn_app,
    spawn_app_with, spawn_instance, test_settings, ServerProcess, TestApp, ACME_KEY,
};
use crate::proxy::TcpProxy;

const CATCH_UP: Duration = Duration::from_secs(60);

/// An address nothing listens on (a port below the range the system hands out).
const NOWHERE: &str = "http://127.0.0.1:9";

/// A producer that pushes numbered batches to `address` until stopped, retrying each batch
/// (same event ids) until it is acknowledged, and adds up the events acknowledged.
///
/// A batch answered 202 is durable exactly once whether this answer counted its events as
/// `ingested` or (because an earlier attempt was recorded but its answer was lost to a
/// crash) as `duplicates`, so the events to expect are `ingested + duplicates` per batch.
struct Producer {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Producer {
    fn start(address: Arc<std::sync::Mutex<String>>, prefix: &str, batch_size: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicU64::new(0));
        let batches = Arc::new(AtomicU64::new(0));
        let (stop_flag, total, count) = (stop.clone(), acknowledged.clone(), batches.clone());
        let prefix = prefix.to_string();
        let task = tokio::spawn(async move {
            let client = Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut number = 0u64;
            while !stop_flag.load(Ordering::SeqCst) {
                let batch = mixed_batch(&format!("{prefix}-{number}"), batch_size);
                loop {
                    let url = format!("{}/ingest", address.lock().unwrap());
                    let sent = client
                        .post(url)
                        .header("X-API-Key", ACME_KEY)
                        .json(&batch)
                        .send()
                        .await;
                    if let Ok(response) = sent {
                        if response.status() == StatusCode::ACCEPTED {
                            let receipt: Value = response.json().await.unwrap();
                            let events = receipt["ingested"].as_u64().unwrap()
                                + receipt["duplicates"].as_u64().unwrap();
                            assert_eq!(events, batch_size as u64, "{receipt}");
                            total.fetch_add(events, Ordering::SeqCst);
                            count.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                number += 1;
            }
        });
        Self {
            stop,
            acknowledged,
            batches,
            task,
        }
    }

    /// Waits until one more batch than so far has been acknowledged.
    async fn wait_for_another_batch(&self) {
        let count = self.batches.load(Ordering::SeqCst) + 1;
        eventually(CATCH_UP, Duration::from_millis(50), async || {
            let acknowledged = self.batches.load(Ordering::SeqCst);
            (acknowledged >= count)
                .then_some(())
                .ok_or_else(|| format!("{acknowledged} of {count} batches acknowledged"))
        })
        .await;
    }

    /// Stops after the batch in flight is acknowledged; returns the acknowledged total.
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        self.acknowledged.load(Ordering::SeqCst)
    }
}

/// `count` events with ids `<prefix>-0`, ... : every fourth a `latency` metric (value 3 to
/// 99) with a user of its own, the rest logs; so a crash or an outage is checked against
/// the metric and user rollups as well as the event counts.
fn mixed_batch(prefix: &str, count: usize) -> Value {
    Value::Array(
        (0..count)
            .map(|index| {
                let id = format!("{prefix}-{index}");
                if index % 4 == 3 {
                    let mut metric = metric_event(&id, "latency", (index % 100) as f64);
                    metric["userId"] = json!(format!("user-{}", index % 7));
                    metric
                } else {
                    log_event(&id)
                }
            })
            .collect(),
    )
}

/// The summary's `latency` metric holds exactly `expected` samples.
async fn assert_latency_samples(app: &TestApp, expected: u64) {
    let summary = app.summary(ACME_KEY, "acme").await;
    let latency = summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|metric| metric["name"] == "latency")
        .cloned()
        .unwrap_or_default();
    assert_eq!(latency["count"], expected, "{summary}");
}

async fn audit_ingested_total(app_address: &str, token: &str) -> u64 {
    let client = Client::new();
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{app_address}/audit?action=ingest.batch&limit=1000");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for entry in page["data"].as_array().unwrap() {
            total += entry["details"]["ingested"].as_u64().unwrap();
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return total,
        }
    }
}

#[tokio::test]
async fn kill_9_during_ingestion_loses_and_double_counts_nothing() {
    let settings = test_settings().await;
    let mut server = ServerProcess::start(&settings).await;
    let address = Arc::new(std::sync::Mutex::new(server.address.clone()));
    let producer = Producer::start(address.clone(), "kill", 400);

    for round in 1..=3 {
        // Each kill comes after the running server has acknowledged a batch, a little later
        // each round, so that it lands at different points of the work in flight.
        producer.wait_for_another_batch().await;
        tokio::time::sleep(Duration::from_millis(200 * round)).await;
        // Until the restarted server is up, the producer's retries go nowhere: the old port
        // is free once the server is killed, and another test's server may take it.
        *address.lock().unwrap() = NOWHERE.to_string();
        server.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        server = ServerProcess::start(&settings).await;
        *address.lock().unwrap() = server.address.clone();
    }
    producer.wait_for_another_batch().await;
    let acknowledged = producer.finish().await;

    let app = TestApp::attach(&server.address, settings.clone());
    app.wait_for_events(ACME_KEY, "acme", acknowledged, CATCH_UP)
        .await;
    assert_eq!(app.stored_events("acme").await as u64, acknowledged);
    // Usage is counted with each batch: through the kills, exactly what was recorded.
    let usage = app.usage(ACME_KEY, "").await;
    let accepted: u64 = usage["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| day["accepted"].as_u64().unwrap())
        .sum();
    assert_eq!(accepted, acknowledged, "{usage}");
    assert_latency_samples(&app, acknowledged / 4).await;
    let token = app.token("acme", "admin");
    let started = std::time::Instant::now();
    loop {
        let audited = audit_ingested_total(&server.address, &token).await;
        if audited == acknowledged {
            break;
        }
        assert!(
            audited < acknowledged,
            "audit counts {audited} > {acknowledged}"
        );
        assert!(
            started.elapsed() < CATCH_UP,
            "audit log shows {audited} of {acknowledged}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(server);
}

#[tokio::test]
async fn a_clickhouse_outage_during_ingestion_is_caught_up_exactly() {
    let proxy = TcpProxy::start(&clickhouse_address()).await;
    let app = spawn_app_with(|settings| {
        settings.clickhouse.url = format!("http://127.0.0.1:{}", proxy.port);
    })
    .await;
    let address = Arc::new(std::sync::Mutex::new(app.address.clone()));
    app.ingest_ok(ACME_KEY, &log_event("before-outage")).await;
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;

    let producer = Producer::start(address, "outage", 500);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        proxy.disable();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let ready = json(app.get("/readyz").await).await;
        assert_eq!(
            ready["dependencies"]["clickhouse"]["status"], "down",
            "{ready}"
        );
        proxy.enable();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acknowledged = producer.finish().await + 1;

    app.wait_for_events(ACME_KEY, "acme", acknowledged, CATCH_UP)
        .await;
    // All but the one log event before the outage came in batches of 500 (125 metrics).
    assert_latency_samples(&app, (acknowledged - 1) / 4).await;
    let ready = json(app.get("/readyz").await).await;
    assert_eq!(
        ready["processors"]["rollups"]["status"], "running",
        "{ready}"
    );
}

#[tokio::test]
async fn processor_ownership_moves_when_the_owner_stops() {
    let first = spawn_app().await;
    let second = spawn_instance(first.settings.clone()).await;
    first.ingest_ok(ACME_KEY, &log_batch("owner", 50)).await;
    first.wait_for_events(ACME_KEY, "acme", 50, CATCH_UP).await;

    let started = std::time::Instant::now();
    let (owner, standby) = loop {
        let one = aggregation_status(&json(first.get("/readyz").await).await);
        let two = aggregation_status(&json(second.get("/readyz").await).await);
        match (one.as_str(), two.as_str()) {
            ("running", "standby") => break (first, second),
            ("standby", "running") => break (second, first),
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "statuses {one} / {two}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    owner.stop().await;
    standby
        .ingest_ok(ACME_KEY, &log_batch("after-handover", 30))
        .await;
    standby
        .wait_for_events(ACME_KEY, "acme", 80, CATCH_UP)
        .await;
    let ready = json(standby.get("/readyz").await).await;
    assert_eq!(aggregation_status(&ready), "running");
}

/// The processor status `/readyz` reports for the aggregation processor.
fn aggregation_status(ready: &Value) -> String {
    ready["processors"]["rollups"]["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn processor_ownership_moves_when_the_owner_is_killed() {
    let settings = test_settings().await;
    let first = ServerProcess::start(&settings).await;
    let second = ServerProcess::start(&settings).await;
    let apps = [
        TestApp::attach(&first.address, settings.clone()),
        TestApp::attach(&second.address, settings.clone()),
    ];
    let owner = eventually(CATCH_UP, Duration::from_millis(200), async || {
        let one = aggregation_status(&json(apps[0].get("/readyz").await).await);
        let two = aggregation_status(&json(apps[1].get("/readyz").await).await);
        match (one.as_str(), two.as_str()) {
            ("running", "standby") => Ok(0),
            ("standby", "running") => Ok(1),
            _ => Err(format!("statuses {one} / {two}")),
        }
    })
    .await;
    apps[owner]
        .ingest_ok(ACME_KEY, &log_batch("before-kill", 50))
        .await;
    // SIGKILL: the owner releases nothing itself; Postgres ends its session and with it
    // the advisory locks.
    let (owner_process, standby_process) = match owner {
        0 => (first, second),
        _ => (second, first),
    };
    owner_process.kill();
    let standby = &apps[1 - owner];
    standby
        .ingest_ok(ACME_KEY, &log_batch("after-kill", 30))
        .await;
    standby
        .wait_for_events(ACME_KEY, "acme", 80, CATCH_UP)
        .await;
    assert_eq!(
        aggregation_status(&json(standby.get("/readyz").await).await),
        "running"
    );
    drop(standby_process);
}

#[tokio::test]
async fn sigterm_finishes_the_work_in_hand_and_exits_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let settings = test_settings().await;
    let server = ServerProcess::start(&settings).await;
    let app = TestApp::attach(&server.address, settings.clone());
    app.ingest_ok(ACME_KEY, &log_batch("before-term", 20)).await;

    // A request whose body is half sent when the signal arrives: the server must wait for
    // the rest and answer it, not cut it off.
    let body = serde_json::to_vec(&log_batch("during-term", 500)).unwrap();
    let head = format!(
        "POST /ingest HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {ACME_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log_path = server.log_path.clone();
    let exited = tokio::spawn(server.terminate(Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");

    let status = exited.await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("http server stopped; stopping background tasks"),
        "no orderly shutdown in {}",
        log_path.display()
    );
    assert_eq!(app.stored_events("acme").await, 520);
}

#[tokio::test]
async fn a_request_that_never_finishes_does_not_hold_shutdown_past_the_grace_period() {
    use tokio::io::AsyncWriteExt;

    let mut settings = test_settings().await;
    settings.server.shutdown_grace = Duration::from_millis(1_000);
    settings.server.request_timeout = Duration::from_millis(600_000);
    let server = ServerProcess::start(&settings).await;
    let address = server.address.trim_start_matches("http://").to_string();
    // Headers sent halfway, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(b"POST /ingest HTTP/1.1\r\nHost: localhost\r\nX-API-")
        .await
        .unwrap();
    // A body that stops halfway.
    let mut halfway = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /ingest HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {ACME_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{\"eventId\""
    );
    halfway.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log_path = server.log_path.clone();
    let started = std::time::Instant::now();
    let status = server.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("requests still in flight after the shutdown grace period"),
        "see {}",
        log_path.display()
    );
    drop((stalled, halfway));
}

#[tokio::test]
async fn readiness_shows_processor_lag() {
    let app = spawn_app().await;
    app.ingest_ok(ACME_KEY, &log_event("lag")).await;
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;
    let ready = json(app.get("/readyz").await).await;
    for name in ["rollups", "audit"] {
        let processor = &ready["processors"][name];
        assert_eq!(processor["status"], "running", "{ready}");
        assert!(processor["lagEvents"].is_u64(), "{ready}");
        assert!(processor["lagSeconds"].is_number(), "{ready}");
    }
}

#[tokio::test]
async fn administrative_actions_and_batches_land_in_the_audit_log() {
    let app = spawn_app().await;
    let admin = app.token("acme", "admin");
    let issued = json(
        app.client
            .post(app.url("/admin/api-keys"))
            .bearer_auth(&admin)
            .json(&json!({"label": "audit-test"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let key = issued["key"].as_str().unwrap().to_string();
    let key_id = issued["keyId"].as_str().unwrap().to_string();
    app.ingest_ok(&key, &log_batch("audited", 7)).await;
    let revoked = app
        .client
        .delete(app.url(&format!("/admin/api-keys/{key_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    let started = std::time::Instant::now();
    let entries = loop {
        let page = json(
            app.client
                .get(app.url("/audit"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let entries = page["data"].as_array().cloned().unwrap_or_default();
        let actions: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        if actions.contains(&"api_key.revoked") && actions.contains(&"ingest.batch") {
            break entries;
        }
        assert!(started.elapsed() < CATCH_UP, "audit log so far: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap()
            .clone()
    };
    let issued_entry = find("api_key.issued");
    assert_eq!(issued_entry["actor"], "user:test-user");
    assert_eq!(issued_entry["subject"], key_id.as_str());
    assert_eq!(issued_entry["details"]["label"], "audit-test");
    let batch = find("ingest.batch");
    assert_eq!(batch["actor"], format!("key:{key_id}"));
    assert_eq!(batch["details"]["ingested"], 7);
    assert_eq!(find("api_key.revoked")["actor"], "user:test-user");

    // One entry per page: following the cursors visits the same entries in the same order.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/audit?limit=1&cursor={cursor}"),
            None => "/audit?limit=1".to_string(),
        };
        let page = json(
            app.client
                .get(app.url(&path))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        walked.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(walked.len() <= entries.len(), "the walk does not end");
    }
    assert_eq!(walked, entries);

    let globex_admin = app.token("globex", "admin");
    let other = json(
        app.client
            .get(app.url("/audit"))
            .bearer_auth(&globex_admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(other["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["subject"] != key_id.as_str()));
    let viewer = app.token("acme", "viewer");
    let forbidden = app
        .client
        .get(app.url("/audit"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rebuild_replays_the_event_store_into_the_read_model() {
    let app = spawn_app_with(|settings| {
        settings.auth.operator_tenant =
            Some(telemetry_domain::values::TenantId::parse("acme").unwrap())
    })
    .await;
    app.ingest_ok(ACME_KEY, &log_batch("rebuild", 120)).await;
    app.wait_for_events(ACME_KEY, "acme", 120, CATCH_UP).await;
    // Lose the raw events behind the service's back (the rollups keep their counts): only a
    // replay of the event store can bring them back, and only a rebuild that empties the
    // rollups first keeps them from counting twice.
    app.clickhouse("TRUNCATE TABLE events").await;
    assert_eq!(app.queried_total(ACME_KEY).await, 0);

    let not_operator = app
        .client
        .post(app.url("/admin/read-models/rollups/rebuild"))
        .bearer_auth(app.token("globex", "admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_operator.status(), StatusCode::FORBIDDEN);
    // Asked for by its former name, which stays accepted.
    let response = app
        .client
        .post(app.url("/admin/read-models/aggregation/rebuild"))
        .bearer_auth(app.token("acme", "admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        json(response).await,
        json!({"readModel": "rollups", "generation": 1})
    );

    // Its generations are recorded under its storage key, the former name.
    let generation_url = format!(
        "{}/?database={}&query=SELECT%20max(generation)%20FROM%20read_model_generations%20WHERE%20name%20%3D%20'aggregation'",
        app.settings.clickhouse.url, app.settings.clickhouse.database
    );
    let started = std::time::Instant::now();
    loop {
        let generation = Client::new()
            .get(&generation_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if generation.trim() == "1" {
            break;
        }
        assert!(started.elapsed() < CATCH_UP, "the rebuild did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.wait_for_events(ACME_KEY, "acme", 120, CATCH_UP).await;
    let unknown = app
        .client
        .post(app.url("/admin/read-models/nope/rebuild"))
        .bearer_auth(app.token("acme", "admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
