//! The Postgres adapters of alerting and leases, directly: work done by an instance (or
//! worker) that lost its lease cannot overwrite the work of the one that took over; leases
//! share one session per instance; dead-letter lookup; alert snapshots; the event log's
//! payloads from memory and from the store, its pages across aggregate types and its reads
//! of rare types through their index.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use telemetry_application::commands::{command_metadata, AggregateCommands, CommandBus};
use telemetry_application::ports::{
    AlertStateStore, DeliveryQueue, DeliveryStatus, EventFilter, EventLog, EventPayload,
    LeaseProvider, LogPage, LogPosition, NewDelivery, StoredEvent,
};
use telemetry_application::processing::{rollups, RecentCommits};
use telemetry_domain::alert::window::SeriesWindow;
use telemetry_domain::alert::{Alert, AlertCommand, AlertStatus, Notice};
use telemetry_domain::alert_rule::{Channel, ChannelFormat, Seconds, Severity};
use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent, IngestEvents};
use telemetry_domain::values::{ApiKeyId, TenantId, Timestamp};
use telemetry_infrastructure::postgres::{
    event_store, migrate, read_after_statement, snapshot_store, AdvisoryLeases, PgPool,
    PostgresAlerting, PostgresEventLog,
};
use tokio::sync::Notify;

use crate::helpers::{eventually, test_settings};

/// A migrated, fresh database.
async fn pool() -> PgPool {
    let settings = test_settings().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(settings.database.url.expose())
        .await
        .unwrap();
    migrate(&pool).await.unwrap();
    pool
}

async fn store() -> PostgresAlerting {
    PostgresAlerting::new(pool().await)
}

/// Another connection pool to the same database (another instance).
async fn pool_like(pool: &PgPool) -> PgPool {
    let options = pool.connect_options();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*options).clone())
        .await
        .unwrap()
}

#[tokio::test]
async fn leases_of_one_instance_share_a_session_and_go_with_it() {
    let pool = pool().await;
    let first = AdvisoryLeases::new(pool.clone());
    let second = AdvisoryLeases::new(pool_like(&pool).await);

    let mut aggregation = first
        .try_acquire("processor:aggregation")
        .await
        .unwrap()
        .unwrap();
    let mut audit = first.try_acquire("processor:audit").await.unwrap().unwrap();
    assert!(second
        .try_acquire("processor:aggregation")
        .await
        .unwrap()
        .is_none());
    assert!(second
        .try_acquire("processor:audit")
        .await
        .unwrap()
        .is_none());
    let holders: Vec<i32> = sqlx::query_scalar(
        "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(holders.len(), 1, "both leases on one session");

    // A released lease is free for the other instance; the rest stay held.
    drop(aggregation);
    let taken = crate::helpers::eventually(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || {
            second
                .try_acquire("processor:aggregation")
                .await
                .unwrap()
                .ok_or_else(|| "still held".to_string())
        },
    )
    .await;
    assert!(audit.is_held().await);
    assert!(second
        .try_acquire("processor:audit")
        .await
        .unwrap()
        .is_none());

    // The session dies (a network cut, a restarted Postgres): every lease on it is lost and
    // the other instance can take them.
    // Waits (up to 5 s) until the backend has exited and released its locks.
    sqlx::query("SELECT pg_terminate_backend($1, 5000)")
        .bind(holders[0])
        .execute(&pool)
        .await
        .unwrap();
    assert!(!audit.is_held().await);
    assert!(second
        .try_acquire("processor:audit")
        .await
        .unwrap()
        .is_some());
    // The first instance starts a new session and waits its turn like anyone else.
    aggregation = first
        .try_acquire("processor:metrics")
        .await
        .unwrap()
        .unwrap();
    assert!(aggregation.is_held().await);
    drop(taken);
}

#[tokio::test]
async fn a_processor_checkpoint_never_moves_back() {
    let store = store().await;
    let at = |position| LogPosition {
        transaction_id: 7,
        position,
    };
    let window = |basis: &str| SeriesWindow::new(basis.into(), 1_000_000);

    // The current owner saves at 10, then again at 10 (a tick saves at its position).
    let saved = [(
        "rule".to_string(),
        "checkout".to_string(),
        Some(window("a")),
    )];
    store.save("alerts", at(10), &saved).await.unwrap();
    store.save("alerts", at(10), &[]).await.unwrap();

    // A former owner still finishing a batch that ends at 9 is refused, and none of its
    // window changes land.
    let stale = [
        ("rule".to_string(), "checkout".to_string(), None),
        ("rule".to_string(), "billing".to_string(), Some(window("b"))),
    ];
    let refused = store.save("alerts", at(9), &stale).await;
    assert!(
        refused.is_err(),
        "a write behind the checkpoint was accepted"
    );

    let (position, windows) = store.load("alerts").await.unwrap();
    assert_eq!(position, Some(at(10)));
    assert_eq!(
        windows,
        vec![("rule".to_string(), "checkout".to_string(), window("a"))]
    );

    // Moving forward still works.
    store.save("alerts", at(11), &stale).await.unwrap();
    let (position, windows) = store.load("alerts").await.unwrap();
    assert_eq!(position, Some(at(11)));
    assert_eq!(
        windows,
        vec![("rule".to_string(), "billing".to_string(), window("b"))]
    );
}

#[tokio::test]
async fn one_save_inserts_replaces_and_deletes_many_windows() {
    let store = store().await;
    let at = |position| LogPosition {
        transaction_id: 1,
        position,
    };
    let window = |basis: &str| SeriesWindow::new(basis.into(), 1_000_000);
    let series = |n: usize| format!("service-{n}");
    let first: Vec<_> = (0..500)
        .map(|n| ("rule".to_string(), series(n), Some(window("a"))))
        .collect();
    store.save("alerts", at(1), &first).await.unwrap();

    // Every even series is replaced, every odd one deleted, and one more is added.
    let mut second: Vec<_> = (0..500)
        .map(|n| {
            let state = (n % 2 == 0).then(|| window("b"));
            ("rule".to_string(), series(n), state)
        })
        .collect();
    second.push(("other".to_string(), series(0), Some(window("c"))));
    store.save("alerts", at(2), &second).await.unwrap();

    let (position, mut windows) = store.load("alerts").await.unwrap();
    windows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut expected: Vec<_> = (0..500)
        .step_by(2)
        .map(|n| ("rule".to_string(), series(n), window("b")))
        .collect();
    expected.push(("other".to_string(), series(0), window("c")));
    expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(position, Some(at(2)));
    assert_eq!(windows, expected);
}

/// Delivery `channel` of notification `id` of `tenant` (delivery id `<id>:<channel>`).
fn new_delivery(id: &str, channel: usize, tenant: &TenantId) -> NewDelivery {
    NewDelivery {
        id: format!("{id}:{channel}"),
        notification_id: id.into(),
        tenant_id: tenant.clone(),
        channel: Channel {
            url: format!("http://127.0.0.1:9/hook/{channel}"),
            format: ChannelFormat::Json,
        },
        body: format!("{{\"channel\": {channel}}}"),
    }
}

/// Queues notification `id` of `tenant` for one channel (delivery id `<id>:0`).
async fn queue_one(store: &PostgresAlerting, id: &str, tenant: &TenantId) {
    let at = LogPosition {
        transaction_id: 1,
        position: 1,
    };
    store
        .enqueue("notifications", &[new_delivery(id, 0, tenant)], at)
        .await
        .unwrap();
}

#[tokio::test]
async fn queueing_the_same_deliveries_again_adds_nothing() {
    let store = store().await;
    let tenant = TenantId::parse("acme").unwrap();
    let at = |position| LogPosition {
        transaction_id: 1,
        position,
    };
    let deliveries: Vec<_> = (0..3).map(|c| new_delivery("n9", c, &tenant)).collect();
    store
        .enqueue("notifications", &deliveries, at(1))
        .await
        .unwrap();
    // Replayed after a crash between the enqueue and the processor's next round, together
    // with a new one.
    let mut again = deliveries.clone();
    again.push(new_delivery("n10", 0, &tenant));
    store.enqueue("notifications", &again, at(2)).await.unwrap();

    let mut claimed = store.claim(10, Duration::from_secs(60)).await.unwrap();
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = claimed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["n10:0", "n9:0", "n9:1", "n9:2"]);
    assert_eq!(claimed[2].channel.url, "http://127.0.0.1:9/hook/1");
    assert_eq!(claimed[2].body, r#"{"channel": 1}"#);
    assert_eq!(claimed[2].tenant_id, tenant);
    assert_eq!(
        store.checkpoint("notifications").await.unwrap(),
        Some(at(2))
    );
}

#[tokio::test]
async fn a_delivery_claimed_again_is_settled_by_the_newer_claim_only() {
    let store = store().await;
    let tenant = TenantId::parse("acme").unwrap();
    queue_one(&store, "n1", &tenant).await;

    // A zero lease: the first claim "expires" at once and a second worker claims again.
    let first = store.claim(10, Duration::ZERO).await.unwrap().remove(0);
    let second = store.claim(10, Duration::ZERO).await.unwrap().remove(0);
    assert_eq!((first.attempts, second.attempts), (1, 2));

    // The slow first worker gives up: ignored, the second claim still owns the delivery.
    store.failed(&first, "timed out", None).await.unwrap();
    assert!(store.dead_letter(&tenant, "n1:0").await.unwrap().is_none());

    store.delivered(&second).await.unwrap();
    // A late retry request of the first claim does not bring it back either.
    store
        .failed(&first, "timed out", Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(store.claim(10, Duration::ZERO).await.unwrap().is_empty());

    let hour = Duration::from_secs(3600);
    assert_eq!(store.purge_settled(hour, hour).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let moment = Duration::from_millis(10);
    assert_eq!(store.purge_settled(moment, hour).await.unwrap(), 1);
}

#[tokio::test]
async fn dead_letters_are_kept_for_their_own_period() {
    let store = store().await;
    let tenant = TenantId::parse("acme").unwrap();
    queue_one(&store, "n4", &tenant).await;
    let claimed = store.claim(10, Duration::from_secs(60)).await.unwrap();
    store.failed(&claimed[0], "HTTP 410", None).await.unwrap();
    queue_one(&store, "n5", &tenant).await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let (moment, hour) = (Duration::from_millis(10), Duration::from_secs(3600));
    // Delivered rows may go at once, dead letters not yet: nothing to delete (n5 is pending).
    assert_eq!(store.purge_settled(moment, hour).await.unwrap(), 0);
    assert!(store.dead_letter(&tenant, "n4:0").await.unwrap().is_some());
    assert_eq!(store.purge_settled(hour, moment).await.unwrap(), 1);
    assert!(store.dead_letter(&tenant, "n4:0").await.unwrap().is_none());
    // The pending delivery is never purged.
    assert_eq!(
        store
            .claim(10, Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_dead_letter_is_found_by_tenant_and_id() {
    let store = store().await;
    let acme = TenantId::parse("acme").unwrap();
    let globex = TenantId::parse("globex").unwrap();
    queue_one(&store, "n2", &acme).await;
    let claimed = store
        .claim(10, Duration::from_secs(60))
        .await
        .unwrap()
        .remove(0);
    store.failed(&claimed, "HTTP 404", None).await.unwrap();

    let dead = store.dead_letter(&acme, "n2:0").await.unwrap().unwrap();
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("HTTP 404"));
    assert!(store.dead_letter(&globex, "n2:0").await.unwrap().is_none());
    assert!(store.dead_letter(&acme, "n3:0").await.unwrap().is_none());
}

#[tokio::test]
async fn an_alert_loaded_from_its_snapshot_equals_the_alert_replayed_from_its_events() {
    let pool = pool().await;
    let committed = Arc::new(Notify::new());
    let snapshotted = CommandBus::new(
        snapshot_store::<Alert>(pool.clone(), 4),
        (),
        committed.clone(),
    );
    let replayed = CommandBus::new(event_store::<Alert>(pool.clone()), (), committed);
    let tenant = TenantId::parse("acme").unwrap();
    let notice = Notice {
        rule_name: "slow".into(),
        metric: "latency".into(),
        severity: Severity::Critical,
        condition: "max over 1m > 100".into(),
        channels: vec![],
    };
    // Eleven transitions: triggered and resolved in turn, six episodes.
    for step in 0..11_i64 {
        let command = AlertCommand::Observe {
            rule_id: "r1".into(),
            tenant_id: tenant.clone(),
            series: "checkout".into(),
            breached: step % 2 == 0,
            value: Some(150.0),
            hold_for: Seconds(0),
            notice: notice.clone(),
            at: Timestamp::from_micros(1_700_000_000_000_000 + step * 1_000_000).unwrap(),
        };
        let events = snapshotted
            .execute("r1/checkout", command, HashMap::new())
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
    }

    let snapshot: Option<i64> = sqlx::query_scalar(
        "SELECT last_sequence FROM snapshots WHERE aggregate_type = 'Alert' AND aggregate_id = 'r1/checkout'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(snapshot, Some(8));
    let alert = snapshotted.load("r1/checkout").await.unwrap();
    assert_eq!(alert, replayed.load("r1/checkout").await.unwrap());
    assert_eq!((alert.status(), alert.episode()), (AlertStatus::Firing, 6));
}

/// The processors of the instance that committed a batch take its sections from memory; the
/// sections it no longer holds, and every section for another instance, are read back. Both
/// ways give the same events, in the same order.
#[tokio::test]
async fn the_log_takes_recent_payloads_from_memory_and_reads_the_others_back() {
    let pool = pool().await;
    // Room for two telemetry events: the metric section (committed last) pushes out the
    // receipt and the log section (two events) before it.
    let recent = Arc::new(RecentCommits::new(2));
    let batches = CommandBus::new(
        event_store::<IngestBatch>(pool.clone()),
        (),
        Arc::new(Notify::new()),
    )
    .remembering(Arc::clone(&recent), |event| {
        event
            .as_section()
            .map_or(1, |section| section.events.len() as u64)
    });
    let committed = ingest_one_batch(&batches).await;

    let sections = rollups::filters();
    let here = PostgresEventLog::new(pool.clone()).with_recent(Arc::clone(&recent));
    let elsewhere = PostgresEventLog::new(pool.clone());
    let mine = read_once_visible(&here, &sections, 10, 2).await.events;
    let theirs = elsewhere
        .read_after(LogPosition::START, &sections, 10)
        .await
        .unwrap()
        .events;

    let kinds = |events: &[StoredEvent]| {
        events
            .iter()
            .map(|event| {
                let from_memory = matches!(event.payload, EventPayload::InMemory(_));
                (event.event_type.clone(), from_memory)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&mine),
        [
            ("LogIngested".into(), false),
            ("MetricIngested".into(), true)
        ]
    );
    assert_eq!(
        kinds(&theirs),
        [
            ("LogIngested".into(), false),
            ("MetricIngested".into(), false)
        ]
    );
    let decoded = |events: &[StoredEvent]| {
        events
            .iter()
            .map(|event| event.decode::<IngestBatchEvent>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(decoded(&mine), decoded(&theirs));
    let sections_committed: Vec<_> = committed
        .iter()
        .filter(|envelope| envelope.payload.as_section().is_some())
        .map(|envelope| envelope.payload.clone())
        .collect();
    assert_eq!(decoded(&mine), sections_committed);
    for (mine, theirs) in mine.iter().zip(&theirs) {
        assert_eq!(
            (
                mine.position,
                &mine.aggregate_id,
                mine.sequence,
                &mine.metadata
            ),
            (
                theirs.position,
                &theirs.aggregate_id,
                theirs.sequence,
                &theirs.metadata
            )
        );
    }
}

/// Reads the log from the start once `count` events are visible: the horizon is the oldest
/// transaction running on the whole server, and other tests write to their own databases
/// on it meanwhile.
async fn read_once_visible(
    log: &PostgresEventLog,
    filters: &[EventFilter<'_>],
    limit: usize,
    count: usize,
) -> LogPage {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        async || {
            let page = log
                .read_after(LogPosition::START, filters, limit)
                .await
                .map_err(|error| error.to_string())?;
            if page.events.len() >= count {
                Ok(page)
            } else {
                Err(format!("{} of {count} events visible", page.events.len()))
            }
        },
    )
    .await
}

/// Records batch `batch-1` (two logs and a metric) for tenant `acme`.
async fn ingest_one_batch(
    batches: &dyn AggregateCommands<IngestBatch>,
) -> Vec<cqrs_es::EventEnvelope<IngestBatch>> {
    let tenant = TenantId::parse("acme").unwrap();
    let submission = |id: &str, kind: &str, payload: &str| {
        telemetry_presentation::routes::submissions::event(&format!(
            r#"{{"eventId":"{id}","eventType":"{kind}","serviceName":"api","timestamp":"2026-01-21T12:00:00Z","payload":{payload}}}"#
        ))
        .unwrap()
    };
    let command = IngestEvents {
        batch_id: "batch-1".into(),
        tenant_id: tenant.clone(),
        key_id: ApiKeyId::parse("00112233aabbccdd").unwrap(),
        received_at: Timestamp::now(),
        request_fingerprint: "f".into(),
        submissions: Arc::new(vec![
            submission("e1", "log", r#"{"message":"one"}"#),
            submission("e2", "metric", r#"{"name":"cpu","value":0.5}"#),
            submission("e3", "log", r#"{"message":"three"}"#),
        ]),
        known_duplicates: BTreeSet::new(),
        otlp: false,
    };
    batches
        .execute("batch-1", command, command_metadata(&tenant, "key:k1"))
        .await
        .unwrap()
}

/// A reader that finds nothing for it in the log goes on from the head, not from where it
/// started; a full page goes on from its last event.
#[tokio::test]
async fn the_next_read_starts_past_what_a_read_has_seen() {
    let pool = pool().await;
    let batches = CommandBus::new(
        event_store::<IngestBatch>(pool.clone()),
        (),
        Arc::new(Notify::new()),
    );
    ingest_one_batch(&batches).await;
    let log = PostgresEventLog::new(pool.clone());
    let everything = [EventFilter {
        aggregate_type: "IngestBatch",
        event_types: &[],
    }];
    let all = read_once_visible(&log, &everything, 10, 3).await;
    assert_eq!(all.events.len(), 3, "the receipt and two sections");
    let head = all.events[2].position;
    assert_eq!(all.end, head);

    let rules = [EventFilter {
        aggregate_type: "AlertRule",
        event_types: &[],
    }];
    let none = log
        .read_after(LogPosition::START, &rules, 10)
        .await
        .unwrap();
    assert_eq!((none.events.len(), none.end), (0, head));

    let full = log
        .read_after(LogPosition::START, &everything, 2)
        .await
        .unwrap();
    assert_eq!(full.end, full.events[1].position);
    let rest = log.read_after(full.end, &everything, 2).await.unwrap();
    assert_eq!(rest.events, all.events[2..]);
    assert_eq!(rest.end, head);
}

/// Records one event of `aggregate_type` directly, in a transaction of its own.
async fn record(pool: &PgPool, aggregate_type: &str, aggregate_id: &str, event_type: &str) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ($1, $2, 1, $3, '1', '{}', '{}')",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(event_type)
    .execute(pool)
    .await
    .unwrap();
}

fn ids(page: &LogPage) -> Vec<&str> {
    page.events
        .iter()
        .map(|event| event.aggregate_id.as_str())
        .collect()
}

/// A reader of several aggregate types gets their events merged in log order, each type
/// with its own event types, and a page limit counts across the types.
#[tokio::test]
async fn a_read_merges_its_aggregate_types_in_log_order() {
    let pool = pool().await;
    for (aggregate_type, id, event_type) in [
        ("Rule", "r1", "Created"),
        ("Batch", "b1", "Skipped"),
        ("Rule", "r2", "Changed"),
        ("Batch", "b2", "Wanted"),
        ("Other", "o1", "Unread"),
    ] {
        record(&pool, aggregate_type, id, event_type).await;
    }
    let log = PostgresEventLog::new(pool.clone());
    let filters = [
        EventFilter {
            aggregate_type: "Rule",
            event_types: &[],
        },
        EventFilter {
            aggregate_type: "Batch",
            event_types: &["Wanted"],
        },
    ];
    // Transaction ids are shared by every database of the cluster, so a test running beside
    // this one can hold the visible head back for a moment. Once the last event recorded is
    // visible, every earlier one is too, and the head no longer moves.
    let other = [EventFilter {
        aggregate_type: "Other",
        event_types: &[],
    }];
    let head = read_once_visible(&log, &other, 10, 1).await.events[0].position;
    let all = read_once_visible(&log, &filters, 10, 3).await;
    assert_eq!(ids(&all), ["r1", "r2", "b2"]);
    assert_eq!(all.end, head);

    let first = log
        .read_after(LogPosition::START, &filters, 2)
        .await
        .unwrap();
    assert_eq!(ids(&first), ["r1", "r2"]);
    assert_eq!(first.end, first.events[1].position);
    let rest = log.read_after(first.end, &filters, 2).await.unwrap();
    assert_eq!(ids(&rest), ["b2"]);
    assert_eq!(rest.end, head);
}

/// However many events of other types the log holds, a read of a rare type is a range scan
/// of the index by type and position: it never walks the log.
#[tokio::test]
async fn a_read_of_a_rare_type_does_not_walk_the_log() {
    let pool = pool().await;
    record(&pool, "Rule", "r1", "Created").await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT 'Batch', 'b' || n, 1, 'Accepted', '1', '{}', '{}'
         FROM generate_series(1, 50000) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    record(&pool, "Rule", "r2", "Changed").await;
    let statement = read_after_statement(&[EventFilter {
        aggregate_type: "Rule",
        event_types: &[],
    }]);
    // Before the table's first analysis (a new database) and after it.
    for analyze in [false, true] {
        if analyze {
            sqlx::query("ANALYZE events").execute(&pool).await.unwrap();
        }
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {statement}"))
            .bind("1")
            .bind(1_i64)
            .bind(1000_i64)
            .fetch_all(&pool)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("events_kept_by_type"),
            "analyzed: {analyze}\n{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "analyzed: {analyze}\n{plan}");
    }
}

/// The name of the deduplication partition of the day `offset` days from today.
async fn dedup_partition(pool: &PgPool, offset: i32) -> String {
    sqlx::query_scalar("SELECT format('ingest_dedup_%s', to_char(current_date + $1, 'YYYYMMDD'))")
        .bind(offset)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn dedup_maintenance_adopts_late_claims_and_keeps_storage_to_the_window() {
    let pool = pool().await;
    let maintain = || sqlx::query("SELECT ingest_dedup_maintain(7)").execute(&pool);
    maintain().await.unwrap();

    // The day after tomorrow lost its partition (maintenance had not run yet, or kept
    // failing): a claim for that day goes to the default partition.
    let ahead = dedup_partition(&pool, 2).await;
    sqlx::query(&format!("DROP TABLE {ahead}"))
        .execute(&pool)
        .await
        .unwrap();
    let claim = "INSERT INTO ingest_dedup (event_key, event_day)
                 VALUES (ingest_dedup_key('acme', 'late-claim'), current_date + 2)";
    sqlx::query(claim).execute(&pool).await.unwrap();
    // A day partition from before the window, and a late claim received before it.
    let old = dedup_partition(&pool, -30).await;
    sqlx::query(&format!(
        "CREATE TABLE {old} PARTITION OF ingest_dedup
         FOR VALUES FROM (current_date - 30) TO (current_date - 29)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ingest_dedup (event_key, event_day, received_on)
         VALUES (ingest_dedup_key('acme', 'ancient'), current_date - 40, current_date - 10)",
    )
    .execute(&pool)
    .await
    .unwrap();

    maintain().await.unwrap();

    let in_partition: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {ahead}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        in_partition, 1,
        "the late claim moved into its day's partition"
    );
    let late: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest_dedup_late")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(late, 0, "nothing left in the default partition");
    let old_exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(&old)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        old_exists, None,
        "day partitions before the window are dropped"
    );
    // The moved claim still counts: the same key again is a duplicate.
    let repeated = sqlx::query(claim).execute(&pool).await.unwrap_err();
    assert_eq!(
        repeated
            .as_database_error()
            .and_then(|error| error.code())
            .as_deref(),
        Some("23505"),
        "{repeated}"
    );
}

#[tokio::test]
async fn dedup_days_are_utc_days_whatever_the_session_time_zone() {
    let utc_partitions = "SELECT format('ingest_dedup_%s', to_char(day, 'YYYYMMDD'))
         FROM generate_series((now() AT TIME ZONE 'UTC')::date - 7,
                              (now() AT TIME ZONE 'UTC')::date + 2, interval '1 day') AS day
         ORDER BY 1";
    let attached = "SELECT child.relname::text FROM pg_inherits
         JOIN pg_class child ON child.oid = pg_inherits.inhrelid
         WHERE pg_inherits.inhparent = 'ingest_dedup'::regclass
           AND child.relname ~ '^ingest_dedup_[0-9]{8}$'
         ORDER BY 1";
    // Between them, these two zones disagree with UTC about the date at every hour of the day.
    for zone in ["Pacific/Kiritimati", "Etc/GMT+12"] {
        let pool = pool().await;
        sqlx::query("SELECT ingest_dedup_maintain(7)")
            .execute(&pool)
            .await
            .unwrap();
        // A partition one day older than the window, left over from yesterday.
        sqlx::query(
            "DO $$ DECLARE day date := (now() AT TIME ZONE 'UTC')::date - 8; BEGIN
             EXECUTE format('CREATE TABLE %I PARTITION OF ingest_dedup FOR VALUES FROM (%L) TO (%L)',
                 format('ingest_dedup_%s', to_char(day, 'YYYYMMDD')), day, day + 1);
             END $$",
        )
        .execute(&pool)
        .await
        .unwrap();

        let mut connection = pool.acquire().await.unwrap();
        sqlx::query(&format!("SET TIME ZONE '{zone}'"))
            .execute(&mut *connection)
            .await
            .unwrap();
        sqlx::query("SELECT ingest_dedup_maintain(7)")
            .execute(&mut *connection)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO ingest_dedup (event_key, event_day)
             VALUES (ingest_dedup_key('acme', 'zoned'), (now() AT TIME ZONE 'UTC')::date)",
        )
        .execute(&mut *connection)
        .await
        .unwrap();

        let expected: Vec<String> = sqlx::query_scalar(utc_partitions)
            .fetch_all(&pool)
            .await
            .unwrap();
        let actual: Vec<String> = sqlx::query_scalar(attached).fetch_all(&pool).await.unwrap();
        assert_eq!(actual, expected, "partitions kept with TimeZone {zone}");
        let received_today: bool = sqlx::query_scalar(
            "SELECT received_on = (now() AT TIME ZONE 'UTC')::date FROM ingest_dedup
             WHERE event_key = ingest_dedup_key('acme', 'zoned')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(
            received_today,
            "received_on is the UTC date with TimeZone {zone}"
        );
    }
}

#[tokio::test]
async fn dedup_maintenance_and_a_claim_in_flight_do_not_deadlock() {
    let pool = pool().await;
    sqlx::query("SELECT ingest_dedup_maintain(7)")
        .execute(&pool)
        .await
        .unwrap();
    // The day after tomorrow lost its partition: the next run creates it, and a claim for
    // that day meanwhile goes to the default partition.
    let ahead = dedup_partition(&pool, 2).await;
    sqlx::query(&format!("DROP TABLE {ahead}"))
        .execute(&pool)
        .await
        .unwrap();

    // A batch's claims, in flight: one for today (the parent is locked), ...
    let mut claim = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO ingest_dedup (event_key, event_day)
         VALUES (ingest_dedup_key('acme', 'today'), current_date)",
    )
    .execute(&mut *claim)
    .await
    .unwrap();
    // ... while maintenance starts (and waits for the batch), ...
    let maintenance = {
        let pool = pool.clone();
        tokio::spawn(async move {
            sqlx::query("SELECT ingest_dedup_maintain(7)")
                .execute(&pool)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... then one for the day without a partition, in the default partition.
    sqlx::query(
        "INSERT INTO ingest_dedup (event_key, event_day)
         VALUES (ingest_dedup_key('acme', 'ahead'), current_date + 2)",
    )
    .execute(&mut *claim)
    .await
    .expect("the claim is not aborted as a deadlock victim");
    claim.commit().await.unwrap();
    maintenance
        .await
        .unwrap()
        .expect("maintenance is not aborted as a deadlock victim");

    let adopted: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {ahead}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(adopted, 1, "the day's partition adopted the claim");
}
