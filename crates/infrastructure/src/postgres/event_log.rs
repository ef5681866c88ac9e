//! The event store read as one log, in commit-safe order (see `migrations/0001_event_store.sql`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use telemetry_application::ports::{
    EventFilter, EventLog, EventPayload, LogLag, LogPage, LogPosition, PortError, StoredEvent,
};
use telemetry_application::processing::{EventKey, RecentCommits};
use telemetry_domain::values::TenantId;

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

/// The statement reading up to `$3` events matching `filters` after position `($1, $2)`.
///
/// Everything but the payload (which payloads still need reading is known only once the
/// page is; see [`PAYLOADS`]), and, on every row, the head: the last event of a
/// transaction older than every transaction still running. Page and head are read in one
/// statement, so from the same snapshot and horizon. An empty page is one row of nulls
/// carrying the head (or none at all while the log is empty).
///
/// The page is one branch per aggregate type, merged in log order. Each branch reads the
/// events of its type after the position: through the index on `(aggregate_type,
/// transaction_id, position)` (`migrations/0005_events_by_type.sql`) when the type is rare,
/// so a reader of alert rules or alerts does not walk the telemetry batches in between, or
/// along the log when most events are of that type. Which, Postgres decides from the
/// table's statistics; either way a read costs at most the events after the position. The
/// aggregate and event types are written into the statement as literals (they come from
/// the processors' code, and are quoted): as parameters, Postgres plans for an average
/// type, and walks the whole log for a rare one. Each filter set is one prepared statement.
/// (Public so that tests can check how Postgres plans it.)
pub fn read_after_statement(filters: &[EventFilter<'_>]) -> String {
    statement(filters, false)
}

/// The statement of [`read_after_statement`], `by_tenant`: for the events of the tenants in
/// `$4` only (their metadata's tenant), so other tenants' payloads are never read.
fn statement(filters: &[EventFilter<'_>], by_tenant: bool) -> String {
    // Per aggregate type, the event types wanted; `None` when every one is.
    let mut wanted: BTreeMap<&str, Option<BTreeSet<&str>>> = BTreeMap::new();
    for filter in filters {
        let entry = wanted
            .entry(filter.aggregate_type)
            .or_insert_with(|| Some(BTreeSet::new()));
        match entry {
            Some(event_types) if !filter.event_types.is_empty() => {
                event_types.extend(filter.event_types.iter().copied());
            }
            _ => *entry = None,
        }
    }
    let mut branches: Vec<String> = wanted
        .into_iter()
        .map(|(aggregate_type, event_types)| {
            let event_types = event_types.map_or(String::new(), |event_types| {
                let listed: Vec<String> = event_types.into_iter().map(sql_literal).collect();
                format!("AND event_type IN ({})", listed.join(", "))
            });
            let tenants = if by_tenant {
                "AND metadata ->> 'tenant_id' = ANY($4::text[])"
            } else {
                ""
            };
            format!(
                "(SELECT {PAGE_COLUMNS} FROM events
                  WHERE aggregate_type = {aggregate_type} {event_types} {tenants}
                    AND (transaction_id, position) > ($1::text::xid8, $2)
                    AND transaction_id < horizon.xmin
                  ORDER BY transaction_id, position
                  LIMIT $3)",
                aggregate_type = sql_literal(aggregate_type),
            )
        })
        .collect();
    if branches.is_empty() {
        branches.push(format!("(SELECT {PAGE_COLUMNS} FROM events WHERE false)"));
    }
    format!(
        "SELECT head.txid AS head_txid, head.position AS head_position,
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
             SELECT * FROM ({branches}) AS matching
             ORDER BY txid, position
             LIMIT $3) AS page ON true
         ORDER BY page.txid, page.position",
        branches = branches.join(" UNION ALL "),
    )
}

const PAGE_COLUMNS: &str = "transaction_id::text::bigint AS txid, position, aggregate_type, \
     aggregate_id, sequence, event_type, event_version, metadata::text AS metadata, recorded_at";

/// `value` as an SQL string literal (`standard_conforming_strings` is on since Postgres 9.1).
fn sql_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

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

const HEAD: &str = "
SELECT transaction_id::text::bigint AS txid, position FROM events
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, position DESC LIMIT 1";

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

/// An event of a [`read_after_statement`] row, its payload still to be filled in.
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

impl PostgresEventLog {
    /// A page after `after`; of `tenants` only when given.
    async fn page(
        &self,
        after: LogPosition,
        filters: &[EventFilter<'_>],
        tenants: Option<&[TenantId]>,
        limit: usize,
    ) -> Result<LogPage, PortError> {
        let statement = statement(filters, tenants.is_some());
        let mut query = sqlx::query(&statement)
            .bind(after.transaction_id.to_string())
            .bind(after.position)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        if let Some(tenants) = tenants {
            query = query.bind(tenants.iter().map(TenantId::as_str).collect::<Vec<_>>());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(port_error)?;
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
}

#[async_trait]
impl EventLog for PostgresEventLog {
    async fn read_after(
        &self,
        after: LogPosition,
        filters: &[EventFilter<'_>],
        limit: usize,
    ) -> Result<LogPage, PortError> {
        self.page(after, filters, None, limit).await
    }

    async fn read_tenants_after(
        &self,
        after: LogPosition,
        filters: &[EventFilter<'_>],
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<LogPage, PortError> {
        self.page(after, filters, Some(tenants), limit).await
    }

    async fn recorded_at(&self, position: LogPosition) -> Result<Option<DateTime<Utc>>, PortError> {
        sqlx::query_scalar(
            "SELECT recorded_at FROM events \
             WHERE transaction_id = $1::text::xid8 AND position = $2",
        )
        .bind(position.transaction_id.to_string())
        .bind(position.position)
        .fetch_optional(&self.pool)
        .await
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

    async fn head(&self) -> Result<LogPosition, PortError> {
        let row = sqlx::query(HEAD)
            .fetch_optional(&self.pool)
            .await
            .map_err(port_error)?;
        match row {
            Some(row) => Ok(log_position(&row, "txid", "position")
                .map_err(port_error)?
                .unwrap_or(LogPosition::START)),
            None => Ok(LogPosition::START),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branches(statement: &str) -> Vec<&str> {
        statement
            .split("(SELECT transaction_id::text::bigint")
            .skip(1)
            .collect()
    }

    #[test]
    fn one_branch_per_aggregate_type_with_its_event_types() {
        let statement = read_after_statement(&[
            EventFilter {
                aggregate_type: "IngestBatch",
                event_types: &["MetricIngested"],
            },
            EventFilter {
                aggregate_type: "AlertRule",
                event_types: &[],
            },
            EventFilter {
                aggregate_type: "IngestBatch",
                event_types: &["LogIngested"],
            },
        ]);
        let branches = branches(&statement);
        assert_eq!(branches.len(), 2);
        assert!(branches[0].contains("aggregate_type = 'AlertRule'"));
        assert!(!branches[0].contains("event_type IN"));
        assert!(branches[1].contains("aggregate_type = 'IngestBatch'"));
        assert!(branches[1].contains("event_type IN ('LogIngested', 'MetricIngested')"));
    }

    #[test]
    fn a_filter_without_event_types_takes_every_event_of_its_type() {
        for filters in [
            [
                EventFilter {
                    aggregate_type: "Alert",
                    event_types: &["AlertTriggered"],
                },
                EventFilter {
                    aggregate_type: "Alert",
                    event_types: &[],
                },
            ],
            [
                EventFilter {
                    aggregate_type: "Alert",
                    event_types: &[],
                },
                EventFilter {
                    aggregate_type: "Alert",
                    event_types: &["AlertTriggered"],
                },
            ],
        ] {
            let statement = read_after_statement(&filters);
            assert_eq!(branches(&statement).len(), 1);
            assert!(!statement.contains("event_type IN"));
        }
    }

    #[test]
    fn a_read_for_tenants_filters_every_branch_by_the_bound_tenants() {
        let filters = [
            EventFilter {
                aggregate_type: "IngestBatch",
                event_types: &["LogIngested"],
            },
            EventFilter {
                aggregate_type: "AlertRule",
                event_types: &[],
            },
        ];
        let by_tenant = statement(&filters, true);
        for branch in branches(&by_tenant) {
            assert!(branch.contains("metadata ->> 'tenant_id' = ANY($4::text[])"));
        }
        assert!(!read_after_statement(&filters).contains("$4"));
    }

    #[test]
    fn types_are_quoted_and_no_filter_matches_nothing() {
        let statement = read_after_statement(&[EventFilter {
            aggregate_type: "it's",
            event_types: &["a'b"],
        }]);
        assert!(statement.contains("aggregate_type = 'it''s'"));
        assert!(statement.contains("event_type IN ('a''b')"));
        assert!(read_after_statement(&[]).contains("FROM events WHERE false"));
    }
}
