//! Notifications: at-least-once webhook delivery of alert transitions.
//!
//! The `notifications` processor turns every `AlertTriggered` and `AlertResolved` event into
//! one delivery per channel, written to the outbox together with its log position (so each
//! transition is queued exactly once). Delivery workers on every instance claim due
//! deliveries, POST them with a timeout, and retry failures with exponential backoff and
//! jitter; after the last attempt a delivery becomes a dead letter, which can be listed and
//! sent again. Every request carries a notification id that stays the same across retries,
//! redeliveries and channels, so receivers can drop repeats.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_es::AggregateError;
use serde_json::json;
use sha2::{Digest, Sha256};
use telemetry_domain::alert::{Alert, AlertEvent, Notice, Transition};
use telemetry_domain::alert_rule::ChannelFormat;
use telemetry_domain::dead_letter::{DeadLetter, DeadLetterCommand, DeadLetterError};
use telemetry_domain::values::{TenantId, Timestamp};
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::commands::{command_metadata, AggregateCommands};
use crate::metrics::Metrics;
use crate::ports::{
    Delivery, DeliveryQueue, EventFilter, LogPosition, NewDelivery, PortError, StoredEvent,
    WebhookOutcome, WebhookSender,
};
use crate::processing::EventProcessor;
use crate::processing::ProjectionError;

/// Queues deliveries for alert transitions.
pub struct NotificationProcessor {
    queue: Arc<dyn DeliveryQueue>,
    filters: Vec<EventFilter<'static>>,
    queued: Arc<Notify>,
}

impl NotificationProcessor {
    pub const NAME: &'static str = "notifications";

    /// `queued` is notified after deliveries are queued (to wake this instance's worker).
    pub fn new(queue: Arc<dyn DeliveryQueue>, queued: Arc<Notify>) -> Self {
        Self {
            queue,
            queued,
            filters: vec![EventFilter {
                aggregate_type: <Alert as cqrs_es::Aggregate>::TYPE,
                event_types: &["AlertTriggered", "AlertResolved"],
            }],
        }
    }
}

#[async_trait]
impl EventProcessor for NotificationProcessor {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn filters(&self) -> &[EventFilter<'static>] {
        &self.filters
    }

    async fn prepare(&self) -> Result<LogPosition, PortError> {
        Ok(self
            .queue
            .checkpoint(Self::NAME)
            .await?
            .unwrap_or(LogPosition::START))
    }

    async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut deliveries = Vec::new();
        for event in events {
            match deliveries_for(event) {
                Ok(mut new) => deliveries.append(&mut new),
                Err(failure) => warn!(
                    reason = crate::processing::error_chain(&failure),
                    aggregate_id = event.aggregate_id,
                    "alert event without notification"
                ),
            }
        }
        self.queue
            .enqueue(Self::NAME, &deliveries, last.position)
            .await?;
        if !deliveries.is_empty() {
            self.queued.notify_one();
        }
        Ok(())
    }
}

/// The id receivers see: the same for a given alert, episode and kind, whatever happens.
pub fn notification_id(alert_id: &str, episode: u64, kind: &str) -> String {
    let digest = Sha256::new()
        .chain_update(alert_id)
        .chain_update([0x1f])
        .chain_update(episode.to_be_bytes())
        .chain_update(kind)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// One delivery per channel of the rule, for a triggered or resolved alert.
pub fn deliveries_for(event: &StoredEvent) -> Result<Vec<NewDelivery>, ProjectionError> {
    let alert_event: AlertEvent = event
        .decode()
        .map_err(ProjectionError::undecodable(event))?;
    let transition = alert_event.transition();
    // Only the start and the end of an episode are notified, not `pending` or `cleared`.
    if !matches!(
        alert_event,
        AlertEvent::AlertTriggered { .. } | AlertEvent::AlertResolved { .. }
    ) {
        return Ok(Vec::new());
    }
    let Some(notice) = transition.notice else {
        return Ok(Vec::new());
    };
    let id = notification_id(&event.aggregate_id, transition.episode, transition.kind);
    Ok(notice
        .channels
        .iter()
        .enumerate()
        .map(|(index, channel)| NewDelivery {
            id: format!("{id}:{index}"),
            notification_id: id.clone(),
            tenant_id: transition.tenant_id.clone(),
            channel: channel.clone(),
            body: match channel.format {
                ChannelFormat::Json => json_body(&id, &transition, notice),
                ChannelFormat::Slack => slack_body(&transition, notice),
            },
        })
        .collect())
}

fn json_body(id: &str, transition: &Transition<'_>, notice: &Notice) -> String {
    let mut body = json!({
        "notificationId": id,
        "kind": transition.kind,
        "tenantId": transition.tenant_id,
        "ruleId": transition.rule_id,
        "ruleName": notice.rule_name,
        "metric": notice.metric,
        "severity": notice.severity,
        "condition": notice.condition,
        "series": transition.series,
        "episode": transition.episode,
        "value": transition.value,
        "at": transition.at.to_rfc3339(),
    });
    if let Some(reason) = transition.reason {
        body["reason"] = json!(reason);
    }
    body.to_string()
}

fn slack_body(transition: &Transition<'_>, notice: &Notice) -> String {
    let severity = notice.severity.as_str().to_uppercase();
    let value = transition
        .value
        .map(|value| format!(" (value {value})"))
        .unwrap_or_default();
    let text = match transition.kind {
        "triggered" => format!(
            ":rotating_light: *[{severity}] {}* fired for `{}`: {}{value}",
            notice.rule_name, transition.series, notice.condition
        ),
        _ => format!(
            ":white_check_mark: *[{severity}] {}* resolved for `{}`{value}",
            notice.rule_name, transition.series
        ),
    };
    json!({ "text": text }).to_string()
}

/// Retry policy and pacing of the delivery workers.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles with every further one.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a claimed delivery stays hidden from other workers.
    pub lease: Duration,
    /// Pause when nothing is due.
    pub idle_poll: Duration,
    pub batch: usize,
    /// How long deliveries that succeeded are kept.
    pub keep_delivered: Duration,
    /// How long dead letters wait to be redelivered before they are deleted.
    pub keep_dead: Duration,
    /// How often older delivered rows are deleted.
    pub purge_every: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(500),
            batch: 16,
            keep_delivered: Duration::from_secs(7 * 24 * 3600),
            keep_dead: Duration::from_secs(30 * 24 * 3600),
            purge_every: Duration::from_secs(3600),
        }
    }
}

/// The wait before attempt `attempts + 1`: exponential, capped, with "equal jitter" (between
/// half and all of the exponential value) so that receivers are not hit in waves.
pub fn backoff(settings: &DeliverySettings, attempts: u32, random: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(30);
    let full = settings
        .retry_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(settings.retry_max);
    full.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
}

fn random_unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

pub struct DeliveryWorker {
    queue: Arc<dyn DeliveryQueue>,
    sender: Arc<dyn WebhookSender>,
    settings: DeliverySettings,
    queued: Arc<Notify>,
    metrics: Arc<Metrics>,
}

impl DeliveryWorker {
    /// `queued` wakes the worker as soon as this instance queues deliveries; deliveries
    /// queued by other instances (and retries) are found by the idle poll.
    pub fn new(
        queue: Arc<dyn DeliveryQueue>,
        sender: Arc<dyn WebhookSender>,
        settings: DeliverySettings,
        queued: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            queue,
            sender,
            settings,
            queued,
            metrics,
        }
    }

    /// Delivers until stopped, up to `batch` sends at a time. A freed slot is filled at once:
    /// one receiver that takes its whole timeout to answer (or deliveries retried to it) holds
    /// up one slot, not every other tenant's notifications. (Waiting for a whole claimed batch
    /// before claiming more, a slow channel delayed an unrelated notification by seconds.)
    /// On stop, the sends in flight finish first.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let mut purged: Option<Instant> = None;
        let mut in_flight = FuturesUnordered::new();
        loop {
            if purged.is_none_or(|at| at.elapsed() >= self.settings.purge_every) {
                purged = Some(Instant::now());
                self.purge().await;
            }
            let woken = self.queued.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let free = self.settings.batch.saturating_sub(in_flight.len());
            let mut claimed = 0;
            if free > 0 {
                match self.queue.claim(free, self.settings.lease).await {
                    Ok(due) => {
                        claimed = due.len();
                        for delivery in due {
                            in_flight.push(async move { self.deliver(&delivery).await });
                        }
                    }
                    Err(error) => warn!(error = %error, "claiming notifications failed"),
                }
            }
            if claimed == free && free > 0 {
                // There may be more due: claim again once a slot frees, or at once.
                if let Some(result) = in_flight.next().await {
                    self.settled(result);
                }
                continue;
            }
            tokio::select! {
                Some(result) = in_flight.next(), if !in_flight.is_empty() => self.settled(result),
                _ = woken => {}
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
                _ = stop.changed() => {
                    while let Some(result) = in_flight.next().await {
                        self.settled(result);
                    }
                    return;
                }
            }
        }
    }

    async fn purge(&self) {
        match self
            .queue
            .purge_settled(self.settings.keep_delivered, self.settings.keep_dead)
            .await
        {
            Ok(0) => {}
            Ok(count) => info!(count, "old delivered and dead notifications deleted"),
            Err(error) => warn!(error = %error, "cannot delete old settled notifications"),
        }
    }

    /// A send's outcome could not be recorded: the delivery's lease runs out and it is sent
    /// again (receivers deduplicate by `Idempotency-Key`).
    fn settled(&self, result: Result<(), PortError>) {
        if let Err(error) = result {
            warn!(error = %error, "recording a notification's outcome failed");
        }
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<(), PortError> {
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            (
                "idempotency-key".to_string(),
                delivery.notification_id.clone(),
            ),
            (
                "x-telemetry-notification-id".to_string(),
                delivery.notification_id.clone(),
            ),
            (
                "x-telemetry-delivery-attempt".to_string(),
                delivery.attempts.to_string(),
            ),
        ];
        match self
            .sender
            .send(&delivery.channel.url, &delivery.body, &headers)
            .await
        {
            WebhookOutcome::Delivered => {
                info!(
                    delivery_id = delivery.id,
                    attempt = delivery.attempts,
                    "notification delivered"
                );
                self.metrics
                    .notifications_delivered
                    .fetch_add(1, Ordering::Relaxed);
                self.queue.delivered(delivery).await
            }
            WebhookOutcome::Retry(error) if delivery.attempts < self.settings.max_attempts => {
                let wait = backoff(&self.settings, delivery.attempts, random_unit());
                warn!(
                    delivery_id = delivery.id,
                    attempt = delivery.attempts,
                    error,
                    retry_in_ms = wait.as_millis() as u64,
                    "notification failed; will retry"
                );
                self.metrics
                    .notification_attempts_failed
                    .fetch_add(1, Ordering::Relaxed);
                self.queue.failed(delivery, &error, Some(wait)).await
            }
            WebhookOutcome::Retry(error) | WebhookOutcome::Reject(error) => {
                warn!(
                    delivery_id = delivery.id,
                    attempt = delivery.attempts,
                    error,
                    "notification given up: dead letter"
                );
                self.metrics
                    .notification_attempts_failed
                    .fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .notifications_dead
                    .fetch_add(1, Ordering::Relaxed);
                self.queue.failed(delivery, &error, None).await
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeadLetterFailure {
    #[error("no such dead letter")]
    NotFound,
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Listing and redelivering dead letters.
pub struct DeadLetters {
    queue: Arc<dyn DeliveryQueue>,
    records: Arc<dyn AggregateCommands<DeadLetter>>,
}

impl DeadLetters {
    pub fn new(
        queue: Arc<dyn DeliveryQueue>,
        records: Arc<dyn AggregateCommands<DeadLetter>>,
    ) -> Self {
        Self { queue, records }
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        limit: u64,
    ) -> Result<Vec<Delivery>, DeadLetterFailure> {
        self.queue
            .dead_letters(tenant, limit)
            .await
            .map_err(|error| DeadLetterFailure::Unavailable(error.to_string()))
    }

    /// Queues a dead letter of `tenant` again (attempts start over) and records who did it.
    pub async fn redeliver(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
    ) -> Result<(), DeadLetterFailure> {
        let dead = self
            .queue
            .dead_letter(tenant, id)
            .await
            .map_err(|error| DeadLetterFailure::Unavailable(error.to_string()))?;
        if dead.is_none() {
            return Err(DeadLetterFailure::NotFound);
        }
        let at = Timestamp::now();
        let command = DeadLetterCommand::Redeliver {
            delivery_id: id.to_string(),
            tenant_id: tenant.clone(),
            at,
        };
        self.records
            .execute(id, command, command_metadata(tenant, actor))
            .await
            .map_err(|error| match error {
                AggregateError::UserError(DeadLetterError::OtherTenant) => {
                    DeadLetterFailure::NotFound
                }
                other => DeadLetterFailure::Unavailable(other.to_string()),
            })?;
        match self.queue.requeue(tenant, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DeadLetterFailure::NotFound),
            Err(error) => Err(DeadLetterFailure::Unavailable(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use telemetry_domain::alert_rule::{Channel, Severity};

    use super::*;

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
        async fn enqueue(
            &self,
            _: &str,
            _: &[NewDelivery],
            _: LogPosition,
        ) -> Result<(), PortError> {
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
        async fn failed(
            &self,
            _: &Delivery,
            _: &str,
            _: Option<Duration>,
        ) -> Result<(), PortError> {
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
}
