//! The outbox, backoff and delivery against fakes of the queue and the webhook sender.

use telemetry_domain::alert_rule::{Channel, Severity};

use super::delivery::random_unit;
use super::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use telemetry_domain::alert::{AlertEvent, Notice};
use telemetry_domain::alert_rule::ChannelFormat;
use telemetry_domain::values::{TenantId, Timestamp};
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;
use crate::ports::{
    Delivery, DeliveryQueue, NewDelivery, PortError, WebhookOutcome, WebhookSender,
};
use crate::ports::{LogPosition, StoredEvent};

fn stored(event: &AlertEvent) -> StoredEvent {
    StoredEvent {
        position: LogPosition {
            transaction_id: 7,
            position: 42,
        },
        aggregate_type: "Alert".into(),
        aggregate_id: "rule-1/checkout".into(),
        sequence: 2,
        event_type: cqrs_es::DomainEvent::event_type(event),
        event_version: "1".into(),
        payload: crate::ports::EventPayload::Json(serde_json::to_string(event).unwrap()),
        metadata: "{}".into(),
        recorded_at: chrono::Utc::now(),
    }
}

fn notice() -> Notice {
    Notice {
        rule_name: "slow checkout".into(),
        metric: "latency".into(),
        severity: Severity::Critical,
        condition: "avg over 1m > 100".into(),
        channels: vec![
            Channel {
                url: "https://hooks.example.com/a".into(),
                format: ChannelFormat::Json,
            },
            Channel {
                url: "https://hooks.slack.com/services/x".into(),
                format: ChannelFormat::Slack,
            },
        ],
    }
}

#[test]
fn a_trigger_is_one_delivery_per_channel_with_one_notification_id() {
    let tenant = TenantId::parse("acme").unwrap();
    let at = Timestamp::from_micros(1_700_000_000_000_000).unwrap();
    let triggered = AlertEvent::AlertTriggered {
        rule_id: "rule-1".into(),
        tenant_id: tenant.clone(),
        series: "checkout".into(),
        episode: 3,
        value: Some(150.0),
        notice: notice(),
        at,
    };
    let deliveries = deliveries_for(&stored(&triggered)).unwrap();
    assert_eq!(deliveries.len(), 2);
    let id = notification_id("rule-1/checkout", 3, "triggered");
    assert_eq!(deliveries[0].id, format!("{id}:0"));
    assert_eq!(deliveries[1].id, format!("{id}:1"));
    assert!(deliveries.iter().all(|d| d.notification_id == id));

    let body: serde_json::Value = serde_json::from_str(&deliveries[0].body).unwrap();
    assert_eq!(body["notificationId"], id.as_str());
    assert_eq!(body["kind"], "triggered");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["episode"], 3);
    assert_eq!(body["value"], 150.0);
    assert!(body.get("reason").is_none());
    let slack: serde_json::Value = serde_json::from_str(&deliveries[1].body).unwrap();
    assert_eq!(
        slack["text"],
        ":rotating_light: *[CRITICAL] slow checkout* fired for `checkout`: avg over 1m > 100 (value 150)"
    );

    let resolved = AlertEvent::AlertResolved {
        rule_id: "rule-1".into(),
        tenant_id: tenant.clone(),
        series: "checkout".into(),
        episode: 3,
        value: Some(20.0),
        reason: "the condition no longer holds".into(),
        notice: notice(),
        at,
    };
    let deliveries = deliveries_for(&stored(&resolved)).unwrap();
    let body: serde_json::Value = serde_json::from_str(&deliveries[0].body).unwrap();
    assert_eq!(body["kind"], "resolved");
    assert_eq!(body["reason"], "the condition no longer holds");
    assert_ne!(body["notificationId"], id.as_str());

    let pending = AlertEvent::AlertPending {
        rule_id: "rule-1".into(),
        tenant_id: tenant,
        series: "checkout".into(),
        value: Some(150.0),
        notice: Some(notice()),
        at,
    };
    assert!(deliveries_for(&stored(&pending)).unwrap().is_empty());
}

#[test]
fn notification_ids_are_stable_and_distinct() {
    assert_eq!(
        notification_id("r/s", 1, "triggered"),
        notification_id("r/s", 1, "triggered")
    );
    assert_ne!(
        notification_id("r/s", 1, "triggered"),
        notification_id("r/s", 1, "resolved")
    );
    assert_ne!(
        notification_id("r/s", 1, "triggered"),
        notification_id("r/s", 2, "triggered")
    );
}

#[test]
fn backoff_doubles_caps_and_jitters() {
    let settings = DeliverySettings {
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(10),
        ..DeliverySettings::default()
    };
    assert_eq!(backoff(&settings, 1, 1.0), Duration::from_secs(1));
    assert_eq!(backoff(&settings, 3, 1.0), Duration::from_secs(4));
    assert_eq!(backoff(&settings, 3, 0.0), Duration::from_secs(2));
    assert_eq!(backoff(&settings, 20, 1.0), Duration::from_secs(10));
    let random = random_unit();
    assert!((0.0..1.0).contains(&random));
}

/// An outbox whose deliveries are pushed by the test; records when each was delivered.
#[derive(Default)]
struct MemoryOutbox {
    pending: std::sync::Mutex<Vec<Delivery>>,
    delivered: std::sync::Mutex<Vec<(String, Instant)>>,
}

impl MemoryOutbox {
    fn push(&self, id: &str, url: &str) {
        let now = chrono::Utc::now();
        self.pending.lock().unwrap().push(Delivery {
            id: id.into(),
            notification_id: id.into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            channel: Channel {
                url: url.into(),
                format: ChannelFormat::Json,
            },
            body: "{}".into(),
            status: crate::ports::DeliveryStatus::Pending,
            attempts: 1,
            last_error: None,
            created_at: now,
            updated_at: now,
        });
    }

    fn delivered_at(&self, id: &str) -> Option<Instant> {
        let delivered = self.delivered.lock().unwrap();
        delivered
            .iter()
            .find(|(done, _)| done == id)
            .map(|(_, at)| *at)
    }
}

#[async_trait]
impl DeliveryQueue for MemoryOutbox {
    async fn checkpoint(&self, _: &str) -> Result<Option<LogPosition>, PortError> {
        Ok(None)
    }
    async fn enqueue(&self, _: &str, _: &[NewDelivery], _: LogPosition) -> Result<(), PortError> {
        Ok(())
    }
    async fn claim(&self, limit: usize, _: Duration) -> Result<Vec<Delivery>, PortError> {
        let mut pending = self.pending.lock().unwrap();
        let take = limit.min(pending.len());
        Ok(pending.drain(..take).collect())
    }
    async fn delivered(&self, delivery: &Delivery) -> Result<(), PortError> {
        let mut delivered = self.delivered.lock().unwrap();
        delivered.push((delivery.id.clone(), Instant::now()));
        Ok(())
    }
    async fn failed(&self, _: &Delivery, _: &str, _: Option<Duration>) -> Result<(), PortError> {
        Ok(())
    }
    async fn dead_letters(&self, _: &TenantId, _: u64) -> Result<Vec<Delivery>, PortError> {
        Ok(Vec::new())
    }
    async fn dead_letter(&self, _: &TenantId, _: &str) -> Result<Option<Delivery>, PortError> {
        Ok(None)
    }
    async fn requeue(&self, _: &TenantId, _: &str) -> Result<bool, PortError> {
        Ok(false)
    }
    async fn purge_settled(&self, _: Duration, _: Duration) -> Result<u64, PortError> {
        Ok(0)
    }
}

/// Answers `http://slow/` after a second and a half, anything else at once.
struct Receivers;

#[async_trait]
impl WebhookSender for Receivers {
    async fn send(&self, url: &str, _: &str, _: &[(String, String)]) -> WebhookOutcome {
        if url.starts_with("http://slow/") {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
        WebhookOutcome::Delivered
    }
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_other_notifications() {
    let outbox = Arc::new(MemoryOutbox::default());
    let queued = Arc::new(Notify::new());
    let worker = DeliveryWorker::new(
        Arc::clone(&outbox) as Arc<dyn DeliveryQueue>,
        Arc::new(Receivers),
        DeliverySettings::default(),
        Arc::clone(&queued),
        Arc::new(Metrics::default()),
    );
    let (stop, stopped) = watch::channel(false);
    outbox.push("slow-one", "http://slow/hook");
    let run = tokio::spawn(async move { worker.run(stopped).await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Another tenant's notification, queued while the slow send is in flight.
    let queued_at = Instant::now();
    outbox.push("fast-one", "http://fast/hook");
    queued.notify_one();
    for _ in 0..50 {
        if outbox.delivered_at("fast-one").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fast = outbox
        .delivered_at("fast-one")
        .expect("the fast notification was sent");
    assert!(
        outbox.delivered_at("slow-one").is_none(),
        "sent while the slow one was still in flight"
    );
    assert!(fast.duration_since(queued_at) < Duration::from_millis(1_000));

    // Stopping waits for the send in flight.
    stop.send(true).unwrap();
    run.await.unwrap();
    assert!(outbox.delivered_at("slow-one").is_some());
}
