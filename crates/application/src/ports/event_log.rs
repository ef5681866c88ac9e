use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use telemetry_domain::values::TenantId;

use super::PortError;

/// A place in the event store's global commit order: `(transaction_id, position)`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogPosition {
    pub transaction_id: u64,
    pub position: i64,
}

impl LogPosition {
    /// Before every event.
    pub const START: LogPosition = LogPosition {
        transaction_id: 0,
        position: 0,
    };

    /// A position just before this one: reading after it returns this event again.
    pub fn just_before(self) -> LogPosition {
        LogPosition {
            transaction_id: self.transaction_id,
            position: self.position - 1,
        }
    }
}

/// One committed domain event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub position: LogPosition,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The domain event; read it with [`StoredEvent::decode`].
    pub payload: EventPayload,
    /// The command metadata (JSON object text).
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The domain event as a value of `E` (the event type of the aggregate type).
    pub fn decode<E>(&self) -> Result<E, serde_json::Error>
    where
        E: DeserializeOwned + Clone + 'static,
    {
        match &self.payload {
            EventPayload::Json(json) => serde_json::from_str(json),
            EventPayload::InMemory(event) => event.downcast_ref::<E>().cloned().ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "the {} event in memory is not a {}",
                    self.aggregate_type,
                    std::any::type_name::<E>()
                ))
            }),
        }
    }
}

/// A stored event's domain event: as the store holds it, or, when this process committed it
/// moments ago, the committed value itself (see
/// [`RecentCommits`](crate::processing::RecentCommits)), which spares the store reading the
/// payload back and the processor parsing it.
#[derive(Clone)]
pub enum EventPayload {
    /// JSON text, as stored.
    Json(String),
    /// The committed domain event (of the aggregate type's event type).
    InMemory(Arc<dyn Any + Send + Sync>),
}

impl From<&str> for EventPayload {
    fn from(json: &str) -> Self {
        Self::Json(json.to_string())
    }
}

impl fmt::Debug for EventPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(json) => f.debug_tuple("Json").field(json).finish(),
            Self::InMemory(_) => f.write_str("InMemory(..)"),
        }
    }
}

impl PartialEq for EventPayload {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Json(a), Self::Json(b)) => a == b,
            (Self::InMemory(a), Self::InMemory(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Which events a reader wants.
#[derive(Debug, Clone, Copy)]
pub struct EventFilter<'a> {
    pub aggregate_type: &'a str,
    /// Empty means every event type of the aggregate type.
    pub event_types: &'a [&'a str],
}

/// How far a reader at some position is behind the head of the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogLag {
    /// Events committed after the position (of every type).
    pub events: u64,
    /// When the oldest of those was recorded.
    pub oldest_recorded_at: Option<DateTime<Utc>>,
}

impl LogLag {
    /// How long the oldest unprocessed event has waited (0 when there is none).
    pub fn seconds(&self) -> f64 {
        self.oldest_recorded_at.map_or(0.0, |oldest| {
            (Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0
        })
    }
}

/// What one read of the log found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogPage {
    /// The matching events, in log order.
    pub events: Vec<StoredEvent>,
    /// Where the next read starts: past the last event returned, and, when the page was
    /// not full, past every event (of any type) already final when it was read, so a reader
    /// of rare events does not scan the same stretch of the log again on every read.
    pub end: LogPosition,
}

/// The event store read as one ordered log.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events matching one of `filters`, committed after `after`, in log order.
    ///
    /// Only events of transactions older than every transaction still running are
    /// returned, so nothing can later appear before the last event returned.
    async fn read_after(
        &self,
        after: LogPosition,
        filters: &[EventFilter<'_>],
        limit: usize,
    ) -> Result<LogPage, PortError>;

    /// How far `after` is behind the head of the log.
    async fn lag(&self, after: LogPosition) -> Result<LogLag, PortError>;

    /// The position of the last event that is final (its transaction is older than every
    /// transaction still running); [`LogPosition::START`] while the log is empty. Reading
    /// after it returns only events committed later.
    async fn head(&self) -> Result<LogPosition, PortError>;

    /// Like [`EventLog::read_after`], for the events of `tenants` only (the tenant their
    /// command's metadata names): the others are neither returned nor their payloads read.
    /// The page's end still moves past every event seen, of any tenant.
    async fn read_tenants_after(
        &self,
        after: LogPosition,
        filters: &[EventFilter<'_>],
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<LogPage, PortError> {
        let mut page = self.read_after(after, filters, limit).await?;
        page.events.retain(|event| {
            crate::processing::metadata_field(event, crate::commands::TENANT_METADATA_KEY)
                .is_some_and(|tenant| tenants.iter().any(|wanted| wanted.as_str() == tenant))
        });
        Ok(page)
    }

    /// When the event at `position` was recorded, if the log holds one there.
    async fn recorded_at(&self, position: LogPosition) -> Result<Option<DateTime<Utc>>, PortError>;
}
