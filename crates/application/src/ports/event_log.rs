use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// One committed domain event as stored, payload still serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub position: LogPosition,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The serialized domain event (JSON text).
    pub payload: String,
    /// The command metadata (JSON object text).
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
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
    ) -> Result<Vec<StoredEvent>, PortError>;

    /// How far `after` is behind the head of the log.
    async fn lag(&self, after: LogPosition) -> Result<LogLag, PortError>;
}
