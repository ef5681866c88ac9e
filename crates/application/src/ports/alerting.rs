use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use telemetry_domain::alert_rule::{Channel, RuleDefinition};
use telemetry_domain::values::{TenantId, Timestamp};

use super::{LogPosition, PortError, RowPosition, SourcedRow};
use telemetry_domain::alert::window::SeriesWindow;

/// A rule as listed and evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRecord {
    pub rule_id: String,
    pub tenant_id: TenantId,
    pub definition: RuleDefinition,
    pub enabled: bool,
    pub version: u64,
    pub created_at: Timestamp,
    /// Last change of any kind.
    pub updated_at: Timestamp,
    /// Since when the rule has watched its samples as they are selected now (creation, last
    /// enabling, or last change of metric, attributes, window or kind): an absence rule's
    /// timer starts here, so renaming a firing absence rule does not resolve its alert.
    pub watching_since: Timestamp,
}

/// A change to the rule catalog, from one `AlertRule` event.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleChange {
    Created(RuleRecord),
    Updated {
        rule_id: String,
        definition: RuleDefinition,
        version: u64,
        at: Timestamp,
    },
    Enabled {
        rule_id: String,
        enabled: bool,
        version: u64,
        at: Timestamp,
    },
    Deleted {
        rule_id: String,
    },
}

/// The rule catalog (a Postgres projection of the `AlertRule` events).
#[async_trait]
pub trait AlertRuleStore: Send + Sync {
    /// Where the projection processor named `name` stopped.
    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError>;
    /// Applies `changes` in order and records `position`, in one transaction.
    async fn apply(
        &self,
        name: &str,
        changes: &[RuleChange],
        position: LogPosition,
    ) -> Result<(), PortError>;
    async fn list(&self, tenant: &TenantId) -> Result<Vec<RuleRecord>, PortError>;
    async fn enabled(&self) -> Result<Vec<RuleRecord>, PortError>;
    /// How many rules (not deleted) the tenant has, counted from the event store rather
    /// than the catalog, so a rule created or deleted a moment ago counts already.
    async fn count(&self, tenant: &TenantId) -> Result<u64, PortError>;
}

/// The alert evaluator's durable state: its log position and the windows of every series.
#[async_trait]
pub trait AlertStateStore: Send + Sync {
    async fn load(
        &self,
        name: &str,
    ) -> Result<(Option<LogPosition>, Vec<(String, String, SeriesWindow)>), PortError>;
    /// Saves changed windows (`None` deletes) and `position`, in one transaction. Each
    /// (rule, series) appears at most once in `windows`.
    async fn save(
        &self,
        name: &str,
        position: LogPosition,
        windows: &[(String, String, Option<SeriesWindow>)],
    ) -> Result<(), PortError>;
}

/// A notification to send to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// Stable across retries and redeliveries: `<notification id>:<channel index>`.
    pub id: String,
    /// The idempotency id receivers see; the same for every channel of a notification.
    pub notification_id: String,
    pub tenant_id: TenantId,
    pub channel: Channel,
    /// The request body.
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub notification_id: String,
    pub tenant_id: TenantId,
    pub channel: Channel,
    pub body: String,
    pub status: DeliveryStatus,
    /// Attempts started so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The notification outbox: deliveries waiting, sent, or given up (dead letters).
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError>;
    /// Adds deliveries (ignoring ids already present) and records `position`, in one
    /// transaction.
    async fn enqueue(
        &self,
        name: &str,
        deliveries: &[NewDelivery],
        position: LogPosition,
    ) -> Result<(), PortError>;
    /// Takes up to `limit` due deliveries, counting an attempt and hiding them for `lease`
    /// (so a worker that dies mid-send leaves them to be retried).
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<Delivery>, PortError>;
    /// Records that the claimed `delivery` reached its receiver (unless it was already
    /// settled: delivered, or given up).
    async fn delivered(&self, delivery: &Delivery) -> Result<(), PortError>;
    /// Records a failed attempt of the claimed `delivery`: retry after `retry_in`, or give
    /// up (`None`). Ignored when the delivery has moved on since this claim (settled, or
    /// claimed again after the lease ran out), so a slow worker cannot undo a newer attempt.
    async fn failed(
        &self,
        delivery: &Delivery,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), PortError>;
    /// Given-up deliveries of `tenant`, newest first.
    async fn dead_letters(&self, tenant: &TenantId, limit: u64)
        -> Result<Vec<Delivery>, PortError>;
    /// The given-up delivery `id` of `tenant`, if there is one.
    async fn dead_letter(&self, tenant: &TenantId, id: &str)
        -> Result<Option<Delivery>, PortError>;
    /// Puts a dead delivery of `tenant` back in the queue; false if there is none.
    async fn requeue(&self, tenant: &TenantId, id: &str) -> Result<bool, PortError>;
    /// Deletes deliveries that succeeded more than `keep_delivered` ago and dead letters
    /// given up more than `keep_dead` ago; returns how many.
    async fn purge_settled(
        &self,
        keep_delivered: Duration,
        keep_dead: Duration,
    ) -> Result<u64, PortError>;
}

/// How a webhook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Any 2xx.
    Delivered,
    /// Worth retrying: a 5xx, 429, 408, a timeout or a connection failure.
    Retry(String),
    /// Retrying will not help: another 4xx, or a target refused by policy.
    Reject(String),
}

#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, url: &str, body: &str, headers: &[(String, String)]) -> WebhookOutcome;
}

/// One alert transition in the history read model.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertHistoryRow {
    pub tenant_id: TenantId,
    pub rule_id: String,
    pub rule_name: String,
    pub series: String,
    /// `pending`, `cleared`, `triggered` or `resolved`.
    pub transition: &'static str,
    pub episode: u64,
    pub value: Option<f64>,
    pub severity: String,
    pub reason: String,
    pub occurred_at: Timestamp,
    pub source: RowPosition,
}

impl SourcedRow for AlertHistoryRow {
    fn source(&self) -> RowPosition {
        self.source
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant_id
    }
}

/// Which transitions a history read returns; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryFilter {
    pub rule_id: Option<String>,
    pub series: Option<String>,
    /// `pending`, `cleared`, `triggered` or `resolved`.
    pub transition: Option<&'static str>,
    pub severity: Option<String>,
    /// Inclusive.
    pub from: Option<Timestamp>,
    /// Exclusive.
    pub to: Option<Timestamp>,
}

/// Reads of the alert history read model.
#[async_trait]
pub trait AlertHistoryStore: Send + Sync {
    /// Transitions of `tenant` that match `filter`, newest first, strictly before `before`.
    async fn history(
        &self,
        tenant: &TenantId,
        filter: &HistoryFilter,
        before: Option<(Timestamp, RowPosition)>,
        limit: u64,
    ) -> Result<Vec<AlertHistoryRow>, PortError>;
    /// The series whose latest transition is `triggered`.
    async fn active(&self, tenant: &TenantId) -> Result<Vec<AlertHistoryRow>, PortError>;
}
