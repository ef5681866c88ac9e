//! The event store read as one log, in commit-safe order (see `migrations/0001_event_store.sql`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use telemetry_application::ports::{
    EventFilter, EventLog, EventPayload, LogLag, LogPage, LogPosition, PortError, StoredEvent,
};
use telemetry_application::processing::{EventKey, RecentCommits};

use super::port_error;

pub struct PostgresEventLog {
    pool: PgPool,
    recent: Option<Arc<RecentCommits>>,
}

impl PostgresEventLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool, recent: None }
    }

    /// Takes the payloads of events still in `recent` (committed by this process) from
    /// there instead of reading them back.
    pub fn with_recent(mut self, recent: Arc<RecentCommits>) -> Self {
        self.recent = Some(recent);
        self
    }
}

/// `$3`: aggregate types whose every event matches; `$4`: `Aggregate.Event` pairs.
///
/// Everything but the payload (which payloads still need reading is known only once the
/// page is; see [`PAYLOADS`]), and, on every row, the head: the last event of a
/// transaction older than every transaction still running. Page and head are read in one
/// statement, so from the same snapshot and horizon. An empty page is one row of nulls
/// carrying the head (or none at all while the log is empty).
const READ_AFTER: &str = "
SELECT head.txid AS head_txid, head.position AS head_position,
       page.txid, page.position, page.aggregate_type, page.aggregate_id, page.sequence,
       page.event_type, page.event_version, page.metadata, page.recorded_at
FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS horizon
JOIN LATERAL (
    SELECT transaction_id::text::bigint AS txid, position
    FROM events
    WHERE transaction_id < horizon.xmin
    ORDER BY transaction_id DESC, position DESC
    LIMIT 1) AS head ON true
LEFT JOIN LATERAL (
    SELECT transaction_id::text::bigint AS txid, position, aggregate_type, aggregate_id,
           sequence, event_type, event_version, metadata::text AS metadata, recorded_at
    FROM events
    WHERE (transaction_id, position) > ($1::text::xid8, $2)
      AND transaction_id < horizon.xmin
      AND (aggregate_type = ANY($3) OR (aggregate_type || '.' || event_type) = ANY($4))
    ORDER BY transaction_id, position
    LIMIT $5) AS page ON true
ORDER BY page.txid, page.position";

/// The payloads (large, decompressed and converted to text) of the events whose keys are
/// given, by primary key.
const PAYLOADS: &str = "
SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.payload::text AS payload
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(aggregate_type, aggregate_id, sequence)
JOIN events e USING (aggregate_type, aggregate_id, sequence)";

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

/// The position in columns `txid` and `position` of `row`, if they are not null.
fn log_position(
    row: &PgRow,
    txid: &str,
    position: &str,
) -> Result<Option<LogPosition>, sqlx::Error> {
    let transaction_id: Option<i64> = row.try_get(txid)?;
    let position: Option<i64> = row.try_get(position)?;
    Ok(transaction_id
        .zip(position)
        .map(|(transaction_id, position)| LogPosition {
            transaction_id: u64::try_from(transaction_id).unwrap_or_default(),
            position,
        }))
}

/// An event of a `READ_AFTER` row, its payload still to be filled in.
fn stored_event(row: &PgRow, position: LogPosition) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        position,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: EventPayload::Json(String::new()),
        metadata: row.try_get("metadata")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

impl PostgresEventLog {
    /// Sets every event's payload: from memory where this process still has it, the others
    /// with one read.
    async fn fill_payloads(&self, events: &mut [StoredEvent]) -> Result<(), PortError> {
        let mut missing: HashMap<EventKey, usize> = HashMap::new();
        for (index, event) in events.iter_mut().enumerate() {
            let key = EventKey {
                aggregate_type: event.aggregate_type.clone(),
                aggregate_id: event.aggregate_id.clone(),
                sequence: event.sequence,
            };
            match self.recent.as_ref().and_then(|recent| recent.recall(&key)) {
                Some(committed) => event.payload = EventPayload::InMemory(committed),
                None => {
                    missing.insert(key, index);
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let (mut types, mut ids, mut sequences) = (Vec::new(), Vec::new(), Vec::new());
        for key in missing.keys() {
            types.push(key.aggregate_type.as_str());
            ids.push(key.aggregate_id.as_str());
            sequences.push(key.sequence);
        }
        let rows = sqlx::query(PAYLOADS)
            .bind(&types)
            .bind(&ids)
            .bind(&sequences)
            .fetch_all(&self.pool)
            .await
            .map_err(port_error)?;
        for row in rows {
            let key = EventKey {
                aggregate_type: row.try_get("aggregate_type").map_err(port_error)?,
                aggregate_id: row.try_get("aggregate_id").map_err(port_error)?,
                sequence: row.try_get("sequence").map_err(port_error)?,
            };
            if let Some(index) = missing.remove(&key) {
                events[index].payload =
                    EventPayload::Json(row.try_get("payload").map_err(port_error)?);
            }
        }
        match missing.into_keys().next() {
            // Committed events are never deleted: a missing one is a broken store.
            Some(key) => Err(PortError::failed(format!(
                "event {}/{}/{} vanished from the event store",
                key.aggregate_type, key.aggregate_id, key.sequence
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl EventLog for PostgresEventLog {
    async fn read_after(
        &self,
        after: LogPosition,
        filters: &[EventFilter<'_>],
        limit: usize,
    ) -> Result<LogPage, PortError> {
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
        // Every row carries the same head; an empty page is one row without an event.
        let head = match rows.first() {
            Some(row) => log_position(row, "head_txid", "head_position").map_err(port_error)?,
            None => None,
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(at) = log_position(row, "txid", "position").map_err(port_error)? {
                events.push(stored_event(row, at).map_err(port_error)?);
            }
        }
        self.fill_payloads(&mut events).await?;
        let last = events.last().map_or(after, |event| event.position);
        let end = match head {
            // Not full: every matching event up to the head was returned.
            Some(head) if events.len() < limit => head.max(last),
            _ => last,
        };
        Ok(LogPage { events, end })
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
