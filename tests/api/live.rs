//! `GET /live/events`: events reach open streams as they are accepted, on every instance,
//! per tenant, within a bounded buffer, and a reconnecting client resumes where it was.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    eventually, json as body_json, log_event, recent_timestamp, spawn_app, spawn_app_with,
    spawn_instance, TestApp, ACME_KEY, GLOBEX_KEY,
};

/// How long a frame may take to arrive.
const PATIENCE: Duration = Duration::from_secs(20);

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
struct Frame {
    event: String,
    id: Option<String>,
    data: String,
}

impl Frame {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("frame data is JSON")
    }

    fn event_id(&self) -> String {
        assert_eq!(self.event, "event", "{self:?}");
        self.json()["eventId"]
            .as_str()
            .expect("eventId")
            .to_string()
    }
}

/// An open stream, read frame by frame.
struct LiveStream {
    response: reqwest::Response,
    pending: String,
}

impl LiveStream {
    /// Opens a stream (`query` like `?serviceName=api`), expecting 200.
    async fn open(app: &TestApp, credential: (&str, &str), query: &str) -> Self {
        Self::resume(app, credential, query, None).await
    }

    async fn resume(
        app: &TestApp,
        (header, value): (&str, &str),
        query: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        // A client without the test client's 60 s bound on a whole exchange: a stream is
        // one exchange for as long as the test reads it (`next` bounds each wait instead).
        let client = reqwest::Client::new();
        let mut request = client
            .get(app.url(&format!("/live/events{query}")))
            .header(header, value);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("request failed");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{:?}",
            response.headers()
        );
        Self {
            response,
            pending: String::new(),
        }
    }

    /// The next frame (comments skipped), within the patience (heartbeats do not extend it).
    async fn next(&mut self) -> Frame {
        self.next_within(PATIENCE).await
    }

    async fn next_within(&mut self, patience: Duration) -> Frame {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut frame = Frame::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        frame.event = value.to_string();
                    } else if let Some(value) = line.strip_prefix("id: ") {
                        frame.id = Some(value.to_string());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push(value);
                    }
                }
                frame.data = data.join("\n");
                if !frame.event.is_empty() {
                    return frame;
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("no frame within the patience")
                .expect("the stream failed")
                .expect("the stream ended");
            self.pending.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads up to the `ready` frame: from then on every accepted event reaches the stream.
    async fn ready(&mut self) -> Frame {
        let frame = self.next().await;
        assert_eq!(frame.event, "ready", "{frame:?}");
        frame
    }

    /// Whether the server ended the stream (within the patience).
    async fn ended(&mut self) -> bool {
        matches!(
            tokio::time::timeout(PATIENCE, self.response.chunk()).await,
            Ok(Ok(None))
        )
    }
}

fn key(key: &str) -> (&'static str, &str) {
    ("X-API-Key", key)
}

fn event(id: &str, event_type: &str, service: &str, user: Option<&str>) -> Value {
    let payload = if event_type == "metric" {
        json!({"name": "latency", "value": 12.5})
    } else {
        json!({"message": format!("event {id}")})
    };
    json!({"eventId": id, "eventType": event_type, "serviceName": service,
           "timestamp": recent_timestamp(), "userId": user, "payload": payload})
}

#[tokio::test]
async fn an_event_accepted_by_one_instance_reaches_a_stream_opened_on_another() {
    let first = spawn_app().await;
    let second = spawn_instance(first.settings.clone()).await;
    let mut stream = LiveStream::open(&second, key(ACME_KEY), "").await;
    assert_eq!(stream.ready().await.json(), json!({"resuming": false}));

    let sent = event("cross-1", "log", "api-gateway", Some("u-1"));
    first.ingest_ok(ACME_KEY, &sent).await;
    let frame = stream.next().await;
    assert_eq!(frame.event, "event");
    assert!(frame.id.is_some(), "{frame:?}");
    // The shape `/query` returns.
    let received = frame.json();
    assert_eq!(received["eventId"], "cross-1");
    assert_eq!(received["eventType"], "log");
    assert_eq!(received["serviceName"], "api-gateway");
    assert_eq!(received["userId"], "u-1");
    assert_eq!(received["payload"], sent["payload"]);
    assert!(received["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // A duplicate is not an accepted event: only the next new one arrives.
    first.ingest_ok(ACME_KEY, &sent).await;
    first
        .ingest_ok(ACME_KEY, &event("cross-2", "log", "api-gateway", None))
        .await;
    assert_eq!(stream.next().await.event_id(), "cross-2");
}

#[tokio::test]
async fn a_stream_sees_its_tenant_only_and_only_what_its_filters_match() {
    let app = spawn_app().await;
    let mut filtered = LiveStream::open(
        &app,
        key(ACME_KEY),
        "?serviceName=checkout&eventType=metric&userId=u-7",
    )
    .await;
    filtered.ready().await;
    let viewer = app.token("globex", "viewer");
    let authorization = format!("Bearer {viewer}");
    let mut globex = LiveStream::open(&app, ("Authorization", &authorization), "").await;
    globex.ready().await;

    // Each of these misses one condition of the filter, then one matches all of them.
    for (id, event_type, service, user) in [
        ("f-1", "log", "checkout", Some("u-7")),
        ("f-2", "metric", "api-gateway", Some("u-7")),
        ("f-3", "metric", "checkout", Some("u-8")),
        ("f-4", "metric", "checkout", None),
        ("f-5", "metric", "checkout", Some("u-7")),
    ] {
        app.ingest_ok(ACME_KEY, &event(id, event_type, service, user))
            .await;
    }
    app.ingest_ok(GLOBEX_KEY, &event("g-1", "trace", "billing", None))
        .await;
    assert_eq!(filtered.next().await.event_id(), "f-5");
    // Acme's events went into the log before Globex's: had they reached Globex's stream,
    // they would come first.
    assert_eq!(globex.next().await.event_id(), "g-1");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_skipped_and_told_exactly_how_many() {
    let app = spawn_app_with(|settings| {
        settings.live.buffer_events = 20;
        settings.live.max_events_per_second = 1_000_000;
    })
    .await;
    let mut stream = LiveStream::open(&app, key(ACME_KEY), "?serviceName=bulk").await;
    stream.ready().await;

    // About 24 MB of events while the client reads nothing: far more than the socket
    // buffers and the stream's own buffer hold.
    let filler = "x".repeat(8_000);
    let mut sent = 0;
    for batch in 0..3 {
        let events: Vec<Value> = (0..1_000)
            .map(|index| {
                json!({"eventId": format!("bulk-{batch}-{index}"), "eventType": "log",
                       "serviceName": "bulk", "timestamp": recent_timestamp(),
                       "payload": {"filler": filler}})
            })
            .collect();
        app.ingest_ok(ACME_KEY, &Value::Array(events)).await;
        sent += 1_000;
    }
    // Ingestion was not held back by the stalled client; the stream skipped what did not fit.
    eventually(PATIENCE, Duration::from_millis(200), async || {
        let dropped = app.counter("telemetry_live_events_dropped_total").await;
        (dropped > 0)
            .then_some(())
            .ok_or_else(|| "nothing was skipped yet".to_string())
    })
    .await;

    // The client reads again: what its buffers held, then how many were skipped. The
    // stream works through 24 MB first: on a loaded runner (the suite's second pass, beside
    // a ClickHouse) that once took more than the usual patience.
    let (mut received, mut dropped) = (0u64, 0u64);
    while dropped == 0 {
        let frame = stream.next_within(3 * PATIENCE).await;
        match frame.event.as_str() {
            "dropped" => dropped += frame.json()["dropped"].as_u64().expect("count"),
            "event" => received += 1,
            other => panic!("unexpected frame {other}: {frame:?}"),
        }
    }
    // Every event was either received or counted as skipped, and the stream is still live.
    app.ingest_ok(ACME_KEY, &event("bulk-sentinel", "log", "bulk", None))
        .await;
    loop {
        let frame = stream.next_within(3 * PATIENCE).await;
        match frame.event.as_str() {
            "dropped" => dropped += frame.json()["dropped"].as_u64().expect("count"),
            "event" if frame.event_id() == "bulk-sentinel" => break,
            "event" => received += 1,
            other => panic!("unexpected frame {other}: {frame:?}"),
        }
    }
    assert!(dropped > 0, "nothing was reported skipped");
    assert_eq!(
        received + dropped,
        sent,
        "received {received}, skipped {dropped}"
    );
}

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed_then_goes_on_live() {
    let app = spawn_app().await;
    let mut stream = LiveStream::open(&app, key(ACME_KEY), "?eventType=log").await;
    stream.ready().await;
    app.ingest_ok(
        ACME_KEY,
        &json!([log_event("r-1"), log_event("r-2"), log_event("r-3")]),
    )
    .await;
    let first = stream.next().await;
    assert_eq!(first.event_id(), "r-1");
    drop(stream);

    // Accepted while the client was away.
    app.ingest_ok(ACME_KEY, &log_event("r-4")).await;
    let last_seen = first.id.expect("the event has an id");
    let mut resumed =
        LiveStream::resume(&app, key(ACME_KEY), "?eventType=log", Some(&last_seen)).await;
    assert_eq!(resumed.ready().await.json(), json!({"resuming": true}));
    for expected in ["r-2", "r-3", "r-4"] {
        assert_eq!(resumed.next().await.event_id(), expected);
    }
    app.ingest_ok(ACME_KEY, &log_event("r-5")).await;
    assert_eq!(resumed.next().await.event_id(), "r-5");

    // An id the log does not hold (another deployment's, a restored database's) is not
    // trusted to say what was sent: the client is told it may have missed events, and
    // every new event reaches it.
    let mut unknown =
        LiveStream::resume(&app, key(ACME_KEY), "?eventType=log", Some("999999999-1-0")).await;
    assert_eq!(unknown.ready().await.json(), json!({"resuming": true}));
    assert_eq!(unknown.next().await.event, "reset");
    app.ingest_ok(ACME_KEY, &log_event("r-6")).await;
    assert_eq!(unknown.next().await.event_id(), "r-6");

    // Text that is not an id is refused.
    let response = app
        .client
        .get(app.url("/live/events"))
        .header("X-API-Key", ACME_KEY)
        .header("Last-Event-ID", "not-an-id")
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["error"]["code"], "invalid_header");
}

#[tokio::test]
async fn live_streams_per_tenant_are_capped_and_a_closed_one_frees_its_place() {
    let app = spawn_app_with(|settings| settings.live.max_connections_per_tenant = 2).await;
    let mut open = vec![
        LiveStream::open(&app, key(ACME_KEY), "").await,
        LiveStream::open(&app, key(ACME_KEY), "").await,
    ];
    let refused = app.get_with_key(ACME_KEY, "/live/events").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        body_json(refused).await["error"]["code"],
        "live_limit_reached"
    );
    // Another tenant has its own allowance.
    LiveStream::open(&app, key(GLOBEX_KEY), "")
        .await
        .ready()
        .await;

    open.pop();
    eventually(
        Duration::from_secs(40),
        Duration::from_millis(250),
        async || {
            let response = app.get_with_key(ACME_KEY, "/live/events").await;
            (response.status() == StatusCode::OK)
                .then_some(())
                .ok_or_else(|| format!("still refused: {}", response.status()))
        },
    )
    .await;
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires_and_refuses_bad_requests() {
    let app = spawn_app().await;
    // Refused once past its expiry and the 30 s of leeway every endpoint gives tokens.
    let token = app.token_lasting("acme", "viewer", Duration::from_secs(1));
    let authorization = format!("Bearer {token}");
    let mut stream = LiveStream::open(&app, ("Authorization", &authorization), "").await;
    stream.ready().await;
    let frame = stream.next_within(Duration::from_secs(60)).await;
    assert_eq!(frame.event, "error", "{frame:?}");
    assert_eq!(frame.json()["code"], "token_expired");
    assert!(
        stream.ended().await,
        "the stream went on after the token expired"
    );

    let anonymous = app.get("/live/events").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    for query in ["?eventType=span", "?serviceName=", "?colour=red"] {
        let response = app
            .get_with_key(ACME_KEY, &format!("/live/events{query}"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn open_streams_end_when_the_service_stops_instead_of_holding_it() {
    let app =
        spawn_app_with(|settings| settings.server.shutdown_grace = Duration::from_millis(30_000))
            .await;
    let mut stream = LiveStream::open(&app, key(ACME_KEY), "").await;
    stream.ready().await;
    let stopping = std::time::Instant::now();
    app.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "the stop waited {:?} (the grace period is 30 s)",
        stopping.elapsed()
    );
    assert!(stream.ended().await, "the stream went on after the stop");
}
