//! The event store read as one log, in commit-safe order (see `migrations/0001_event_store.sql`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use telemetry_application::ports::{
    EventFilter, EventLog, LogLag, LogPosition, PortError, StoredEvent,
};

use super::port_error;

pub struct PostgresEventLog {
    pool: PgPool,
}

impl PostgresEventLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// `$3`: aggregate types whose every event matches; `$4`: `Aggregate.Event` pairs.
///
/// The inner query picks the page by the small key columns only; the payloads (large, and
/// converted to text) are read for the rows of the page alone, whatever plan Postgres picks
/// for the inner query.
const READ_AFTER: &str = "
SELECT e.transaction_id::text::bigint AS txid, e.position, e.aggregate_type, e.aggregate_id,
       e.sequence, e.event_type, e.event_version, e.payload::text AS payload,
       e.metadata::text AS metadata, e.recorded_at
FROM (SELECT aggregate_type, aggregate_id, sequence
      FROM events
      WHERE (transaction_id, position) > ($1::text::xid8, $2)
        AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        AND (aggregate_type = ANY($3) OR (aggregate_type || '.' || event_type) = ANY($4))
      ORDER BY transaction_id, position
      LIMIT $5) AS page
JOIN events e USING (aggregate_type, aggregate_id, sequence)
ORDER BY e.transaction_id, e.position";

/// Counts at most this many events when measuring lag.
const LAG_COUNT_CAP: i64 = 100_000;

const LAG: &str = "
SELECT count(*) AS behind,
       (SELECT recorded_at FROM events
        WHERE (transaction_id, position) > ($1::text::xid8, $2)
        ORDER BY transaction_id, position LIMIT 1) AS oldest
FROM (SELECT 1 FROM events
      WHERE (transaction_id, position) > ($1::text::xid8, $2)
      LIMIT $3) AS pending";

#[async_trait]
impl EventLog for PostgresEventLog {
    async fn read_after(
        &self,
        after: LogPosition,
        filters: &[EventFilter<'_>],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PortError> {
        let mut whole_types = Vec::new();
        let mut pairs = Vec::new();
        for filter in filters {
            if filter.event_types.is_empty() {
                whole_types.push(filter.aggregate_type.to_string());
            }
            for event_type in filter.event_types {
                pairs.push(format!("{}.{}", filter.aggregate_type, event_type));
            }
        }
        let rows = sqlx::query(READ_AFTER)
            .bind(after.transaction_id.to_string())
            .bind(after.position)
            .bind(&whole_types)
            .bind(&pairs)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(port_error)?;
        rows.iter()
            .map(|row| {
                let transaction_id: i64 = row.try_get("txid")?;
                Ok(StoredEvent {
                    position: LogPosition {
                        transaction_id: u64::try_from(transaction_id).unwrap_or_default(),
                        position: row.try_get("position")?,
                    },
                    aggregate_type: row.try_get("aggregate_type")?,
                    aggregate_id: row.try_get("aggregate_id")?,
                    sequence: row.try_get("sequence")?,
                    event_type: row.try_get("event_type")?,
                    event_version: row.try_get("event_version")?,
                    payload: row.try_get("payload")?,
                    metadata: row.try_get("metadata")?,
                    recorded_at: row.try_get("recorded_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(port_error)
    }

    async fn lag(&self, after: LogPosition) -> Result<LogLag, PortError> {
        let row = sqlx::query(LAG)
            .bind(after.transaction_id.to_string())
            .bind(after.position)
            .bind(LAG_COUNT_CAP)
            .fetch_one(&self.pool)
            .await
            .map_err(port_error)?;
        let behind: i64 = row.try_get("behind").map_err(port_error)?;
        let oldest: Option<DateTime<Utc>> = row.try_get("oldest").map_err(port_error)?;
        Ok(LogLag {
            events: u64::try_from(behind).unwrap_or_default(),
            oldest_recorded_at: oldest,
        })
    }
}
