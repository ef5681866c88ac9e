//! The `notifications` processor: one outbox delivery per channel for each alert transition.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sha2::{Digest, Sha256};
use telemetry_domain::alert::{Alert, AlertEvent, Notice, Transition};
use telemetry_domain::alert_rule::ChannelFormat;
use tokio::sync::Notify;
use tracing::warn;

use crate::ports::{DeliveryQueue, EventFilter, LogPosition, NewDelivery, PortError, StoredEvent};
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
