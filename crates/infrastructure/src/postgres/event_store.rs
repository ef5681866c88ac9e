//! The `postgres-es` event stores of each aggregate.

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use telemetry_domain::api_key::ApiKey;
use telemetry_domain::ingest::IngestBatch;

pub type IngestBatchStore = PersistedEventStore<PostgresEventRepository, IngestBatch>;
pub type ApiKeyStore = PersistedEventStore<PostgresEventRepository, ApiKey>;

/// An event-sourced store (no snapshots) over the shared `events` table.
pub fn event_store<A: Aggregate>(pool: PgPool) -> PersistedEventStore<PostgresEventRepository, A> {
    PersistedEventStore::new_event_store(PostgresEventRepository::new(pool))
}

/// An event-sourced store that also keeps a snapshot of each aggregate, refreshed every
/// `every` events: loading a long-lived aggregate reads its snapshot and the events after
/// it, not its whole history. (A snapshot that no longer deserializes, after the aggregate's
/// shape changed, is ignored and the events are replayed.)
pub fn snapshot_store<A: Aggregate>(
    pool: PgPool,
    every: usize,
) -> PersistedEventStore<PostgresEventRepository, A> {
    PersistedEventStore::new_snapshot_store(PostgresEventRepository::new(pool), every)
}
