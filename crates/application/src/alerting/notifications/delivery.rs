//! Delivery workers: claim due deliveries, send them, retry with backoff, give up into dead letters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::ports::{Delivery, DeliveryQueue, PortError, WebhookOutcome, WebhookSender};

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

pub(super) fn random_unit() -> f64 {
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
