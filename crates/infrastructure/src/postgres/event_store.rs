//! The `postgres-es` event stores of each aggregate.

use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;
use telemetry_application::ports::QuotaExceeded;
use telemetry_domain::api_key::ApiKey;
use telemetry_domain::ingest::IngestBatch;

pub type IngestBatchStore = PersistedEventStore<EventRepository, IngestBatch>;
pub type ApiKeyStore = PersistedEventStore<EventRepository, ApiKey>;

/// An event-sourced store (no snapshots) over the shared `events` table.
pub fn event_store<A: Aggregate>(pool: PgPool) -> PersistedEventStore<EventRepository, A> {
    PersistedEventStore::new_event_store(EventRepository::new(pool))
}

/// An event-sourced store that also keeps a snapshot of each aggregate, refreshed every
/// `every` events: loading a long-lived aggregate reads its snapshot and the events after
/// it, not its whole history. (A snapshot that no longer deserializes, after the aggregate's
/// shape changed, is ignored and the events are replayed.)
pub fn snapshot_store<A: Aggregate>(
    pool: PgPool,
    every: usize,
) -> PersistedEventStore<EventRepository, A> {
    PersistedEventStore::new_snapshot_store(EventRepository::new(pool), every)
}

/// `postgres-es`' repository, with one correction to how its errors are classified.
///
/// `postgres-es` reports only a unique violation (SQLSTATE 23505) as an optimistic-lock
/// conflict; every other database error becomes an unknown error, which callers answer with
/// 503. Two more mean the same thing as a conflict: the transaction lost a race with a
/// concurrent one and would succeed if the command were decided again. A deadlock (40P01)
/// happens when two ingest batches claim the same event ids in different orders (the
/// deduplication trigger claims a batch's keys section by section); a serialization failure
/// (40001) cannot happen at the default isolation level but means the same. Reporting them as
/// conflicts sends them through the callers' conflict handling (for a batch: look up which
/// events are now recorded and commit the rest) instead of failing the request.
pub struct EventRepository(PostgresEventRepository);

impl EventRepository {
    pub fn new(pool: PgPool) -> Self {
        Self(PostgresEventRepository::new(pool))
    }
}

/// SQLSTATEs after which the same command, decided again, can succeed.
const LOST_RACE: [&str; 2] = ["40P01", "40001"];

/// Also: a batch refused by the usage trigger (over its tenant's daily quota) becomes the
/// application's [`QuotaExceeded`], which callers can tell from an outage.
fn classify(error: PersistenceError) -> PersistenceError {
    match error {
        PersistenceError::UnknownError(cause) => match sqlstate(cause.as_ref()).as_deref() {
            Some(code) if LOST_RACE.contains(&code) => PersistenceError::OptimisticLockError,
            Some(super::usage::QUOTA_EXCEEDED) => {
                PersistenceError::UnknownError(Box::new(QuotaExceeded))
            }
            _ => PersistenceError::UnknownError(cause),
        },
        other => other,
    }
}

fn sqlstate(cause: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<String> {
    match cause.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(database)) => database.code().map(|code| code.into_owned()),
        _ => None,
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.0.get_events::<A>(aggregate_id).await.map_err(classify)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.0
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
            .map_err(classify)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.0
            .get_snapshot::<A>(aggregate_id)
            .await
            .map_err(classify)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        self.0
            .persist::<A>(events, snapshot_update)
            .await
            .map_err(classify)
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.0
            .stream_events::<A>(aggregate_id)
            .await
            .map_err(classify)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.0.stream_all_events::<A>().await.map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::sqlstate::Sqlstate;

    /// What `postgres-es` makes of a database error other than a unique violation.
    fn unknown(code: &'static str) -> PersistenceError {
        PersistenceError::UnknownError(Box::new(sqlx::Error::Database(Box::new(Sqlstate(code)))))
    }

    #[test]
    fn a_deadlock_or_serialization_failure_is_a_conflict() {
        for code in ["40P01", "40001"] {
            assert!(
                matches!(
                    classify(unknown(code)),
                    PersistenceError::OptimisticLockError
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn other_errors_stay_what_they_were() {
        // A check violation (a claim outside every partition's range) is no race to retry.
        assert!(matches!(
            classify(unknown("23514")),
            PersistenceError::UnknownError(_)
        ));
        let timeout = PersistenceError::UnknownError(Box::new(sqlx::Error::PoolTimedOut));
        assert!(matches!(
            classify(timeout),
            PersistenceError::UnknownError(_)
        ));
        let other = PersistenceError::UnknownError("not a database error".into());
        assert!(matches!(classify(other), PersistenceError::UnknownError(_)));
        assert!(matches!(
            classify(PersistenceError::ConnectionError("gone".into())),
            PersistenceError::ConnectionError(_)
        ));
    }
}
