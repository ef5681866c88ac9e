//! Projections into read models that are their own checkpoint.
//!
//! Every row carries the log position of the event it came from and its index within that
//! event. On start (and after any failure) the processor asks the store for the last row it
//! holds and resumes just before that event, dropping the rows it already has. Because a
//! write that is cut short keeps a prefix of its rows, this never skips and never repeats a
//! row: exactly-once effect without a separate checkpoint that could disagree with the data.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use telemetry_domain::read_model::ReadModelName;
use tracing::error;

use super::{error_chain, EventProcessor, ProjectionError};
use crate::ports::{
    EventFilter, LogPosition, PortError, ReadModelStore, RowPosition, SourcedRow, StoredEvent,
};
use crate::read_models::ReadModelAdmin;

/// Turns one stored event into rows (empty when the event does not concern the read model).
/// An error means the event can never be projected; it is logged and skipped.
pub type Project<R> = fn(&StoredEvent) -> Result<Vec<R>, ProjectionError>;

/// Called with every batch of rows written (for cache invalidation and the like).
pub type AfterWrite<R> = Arc<dyn Fn(&[R]) + Send + Sync>;

/// The most rows one write holds. A batch of the log is up to `PROCESSOR_BATCH_EVENTS`
/// sections of up to `INGEST_MAX_BATCH_EVENTS` events each, so its rows, projected all at
/// once, could take hundreds of megabytes (a histogram's row carries its payload and its
/// bucket arrays); it is written in slices of this many instead, each as soon as it is
/// full. Each slice is a prefix of what is left, so a cut write stays prefix-safe.
pub const MAX_ROWS_PER_WRITE: usize = 16_384;

#[derive(Default)]
struct Progress {
    generation: u64,
    written_up_to: Option<RowPosition>,
}

pub struct ProjectionProcessor<R: SourcedRow> {
    read_model: ReadModelName,
    filters: Vec<EventFilter<'static>>,
    project: Project<R>,
    store: Arc<dyn ReadModelStore<R>>,
    admin: Arc<ReadModelAdmin>,
    after_write: Option<AfterWrite<R>>,
    max_rows_per_write: usize,
    progress: Mutex<Progress>,
}

impl<R: SourcedRow> ProjectionProcessor<R> {
    pub fn new(
        read_model: ReadModelName,
        filters: Vec<EventFilter<'static>>,
        project: Project<R>,
        store: Arc<dyn ReadModelStore<R>>,
        admin: Arc<ReadModelAdmin>,
    ) -> Self {
        Self {
            read_model,
            filters,
            project,
            store,
            admin,
            after_write: None,
            max_rows_per_write: MAX_ROWS_PER_WRITE,
            progress: Mutex::new(Progress::default()),
        }
    }

    /// Writes at most `rows` rows at a time (tests).
    pub fn max_rows_per_write(mut self, rows: usize) -> Self {
        self.max_rows_per_write = rows.max(1);
        self
    }

    /// Writes `rows`, records how far the store now holds, and empties `rows`.
    async fn write(&self, rows: &mut Vec<R>) -> Result<(), PortError> {
        let Some(last) = rows.last().map(SourcedRow::source) else {
            return Ok(());
        };
        self.store.write(rows).await?;
        self.progress().written_up_to = Some(last);
        if let Some(hook) = &self.after_write {
            hook(rows);
        }
        rows.clear();
        Ok(())
    }

    pub fn after_write(mut self, hook: AfterWrite<R>) -> Self {
        self.after_write = Some(hook);
        self
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl<R: SourcedRow + 'static> EventProcessor for ProjectionProcessor<R> {
    fn name(&self) -> &'static str {
        self.read_model.as_str()
    }

    fn lease_key(&self) -> &'static str {
        self.read_model.storage_key()
    }

    fn filters(&self) -> &[EventFilter<'static>] {
        &self.filters
    }

    async fn prepare(&self) -> Result<LogPosition, PortError> {
        let requested = self.admin.requested_generation(self.read_model).await?;
        let mut generation = self.store.generation().await?;
        if requested > generation {
            tracing::info!(read_model = %self.read_model, generation = requested, "rebuilding read model");
            self.store.reset(requested).await?;
            generation = requested;
        }
        let last = self.store.last_written().await?;
        let mut progress = self.progress();
        progress.generation = generation;
        progress.written_up_to = last;
        Ok(last.map_or(LogPosition::START, |row| row.event.just_before()))
    }

    async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
        let floor = self.progress().written_up_to;
        let mut rows = Vec::new();
        for event in events {
            match (self.project)(event) {
                Ok(projected) => {
                    let fresh = projected
                        .into_iter()
                        .filter(|row| floor.is_none_or(|floor| row.source() > floor));
                    for row in fresh {
                        rows.push(row);
                        if rows.len() >= self.max_rows_per_write {
                            self.write(&mut rows).await?;
                        }
                    }
                }
                Err(failure) => error!(
                    read_model = %self.read_model,
                    aggregate_type = event.aggregate_type,
                    aggregate_id = event.aggregate_id,
                    sequence = event.sequence,
                    reason = error_chain(&failure),
                    "event cannot be projected; skipped"
                ),
            }
        }
        self.write(&mut rows).await
    }

    async fn needs_restart(&self) -> Result<bool, PortError> {
        let requested = self.admin.requested_generation(self.read_model).await?;
        Ok(requested > self.progress().generation)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use cqrs_es::mem_store::MemStore;
    use telemetry_domain::read_model::ReadModel;
    use telemetry_domain::values::TenantId;
    use tokio::sync::Notify;

    use super::*;
    use crate::commands::CommandBus;

    #[derive(Debug, Clone, PartialEq)]
    struct Row {
        tenant: TenantId,
        source: RowPosition,
    }

    impl SourcedRow for Row {
        fn source(&self) -> RowPosition {
            self.source
        }
        fn tenant(&self) -> &TenantId {
            &self.tenant
        }
    }

    /// Keeps rows in memory; can be told to keep only a prefix of the next write and fail,
    /// as ClickHouse does when an INSERT is cut short.
    #[derive(Default)]
    struct PrefixKeepingStore {
        rows: Mutex<Vec<Row>>,
        keep_only: Mutex<Option<usize>>,
        generation: Mutex<u64>,
    }

    #[async_trait]
    impl ReadModelStore<Row> for PrefixKeepingStore {
        async fn last_written(&self) -> Result<Option<RowPosition>, PortError> {
            Ok(self.rows.lock().unwrap().iter().map(|row| row.source).max())
        }
        async fn write(&self, rows: &[Row]) -> Result<(), PortError> {
            let keep = self.keep_only.lock().unwrap().take();
            let kept = keep.unwrap_or(rows.len()).min(rows.len());
            self.rows.lock().unwrap().extend_from_slice(&rows[..kept]);
            match keep {
                Some(_) => Err(PortError::unavailable("connection cut mid-insert")),
                None => Ok(()),
            }
        }
        async fn generation(&self) -> Result<u64, PortError> {
            Ok(*self.generation.lock().unwrap())
        }
        async fn reset(&self, generation: u64) -> Result<(), PortError> {
            self.rows.lock().unwrap().clear();
            *self.generation.lock().unwrap() = generation;
            Ok(())
        }
    }

    const ROWS_PER_EVENT: u32 = 5;

    fn stored(position: i64) -> StoredEvent {
        StoredEvent {
            position: LogPosition {
                transaction_id: 100,
                position,
            },
            aggregate_type: "Test".into(),
            aggregate_id: format!("a{position}"),
            sequence: 1,
            event_type: "Happened".into(),
            event_version: "1".into(),
            payload: "{}".into(),
            metadata: "{}".into(),
            recorded_at: chrono::Utc::now(),
        }
    }

    fn project(event: &StoredEvent) -> Result<Vec<Row>, ProjectionError> {
        Ok((0..ROWS_PER_EVENT)
            .map(|index| Row {
                tenant: TenantId::parse("acme").unwrap(),
                source: RowPosition {
                    event: event.position,
                    index,
                },
            })
            .collect())
    }

    fn processor(
        store: Arc<PrefixKeepingStore>,
    ) -> (ProjectionProcessor<Row>, Arc<ReadModelAdmin>) {
        let bus = CommandBus::new(
            MemStore::<ReadModel>::default(),
            (),
            Arc::new(Notify::new()),
        );
        let admin = Arc::new(ReadModelAdmin::new(Arc::new(bus)));
        let processor = ProjectionProcessor::new(
            ReadModelName::Rollups,
            Vec::new(),
            project,
            store as Arc<dyn ReadModelStore<Row>>,
            Arc::clone(&admin),
        );
        (processor, admin)
    }

    #[tokio::test]
    async fn a_write_cut_short_is_continued_not_repeated() {
        let store = Arc::new(PrefixKeepingStore::default());
        let (processor, _) = processor(Arc::clone(&store));
        let events: Vec<StoredEvent> = (1..=4).map(stored).collect();

        assert_eq!(processor.prepare().await.unwrap(), LogPosition::START);
        processor.process(&events[..1]).await.unwrap();
        // The next write keeps 7 of its 15 rows: event 2 whole, event 3 rows 0 and 1.
        *store.keep_only.lock().unwrap() = Some(7);
        assert!(processor.process(&events[1..4]).await.is_err());

        // The runner prepares again and reads after the returned position.
        let resume = processor.prepare().await.unwrap();
        assert_eq!(resume, events[2].position.just_before());
        let again: Vec<StoredEvent> = events
            .iter()
            .filter(|event| event.position > resume)
            .cloned()
            .collect();
        processor.process(&again).await.unwrap();

        let rows = store.rows.lock().unwrap().clone();
        let sources: Vec<RowPosition> = rows.iter().map(|row| row.source).collect();
        let expected: Vec<RowPosition> = events
            .iter()
            .flat_map(|event| {
                (0..ROWS_PER_EVENT).map(move |index| RowPosition {
                    event: event.position,
                    index,
                })
            })
            .collect();
        assert_eq!(sources, expected, "every row once, in order");
    }

    #[tokio::test]
    async fn large_batches_are_written_in_slices_and_a_cut_slice_is_continued() {
        let store = Arc::new(PrefixKeepingStore::default());
        let (processor, _) = processor(Arc::clone(&store));
        let processor = processor.max_rows_per_write(4);
        let events: Vec<StoredEvent> = (1..=3).map(stored).collect();
        assert_eq!(processor.prepare().await.unwrap(), LogPosition::START);
        // The first event's 5 rows go as slices of 4 and 1; the next batch's first slice
        // is cut after 1 of its 4 rows.
        processor.process(&events[..1]).await.unwrap();
        assert_eq!(store.rows.lock().unwrap().len(), 5);
        *store.keep_only.lock().unwrap() = Some(1);
        assert!(processor.process(&events[1..]).await.is_err());
        assert_eq!(store.rows.lock().unwrap().len(), 6);

        let resume = processor.prepare().await.unwrap();
        let again: Vec<StoredEvent> = events
            .iter()
            .filter(|event| event.position > resume)
            .cloned()
            .collect();
        processor.process(&again).await.unwrap();
        let sources: Vec<RowPosition> = store
            .rows
            .lock()
            .unwrap()
            .iter()
            .map(|row| row.source)
            .collect();
        let expected: Vec<RowPosition> = events
            .iter()
            .flat_map(|event| {
                (0..ROWS_PER_EVENT).map(move |index| RowPosition {
                    event: event.position,
                    index,
                })
            })
            .collect();
        assert_eq!(sources, expected, "every row once, in order");
    }

    #[tokio::test]
    async fn a_rebuild_request_resets_the_store_and_starts_over() {
        let store = Arc::new(PrefixKeepingStore::default());
        let (processor, admin) = processor(Arc::clone(&store));
        processor.prepare().await.unwrap();
        processor.process(&[stored(1), stored(2)]).await.unwrap();
        assert!(!processor.needs_restart().await.unwrap());

        let tenant = TenantId::parse("ops").unwrap();
        let generation = admin
            .request_rebuild(ReadModelName::Rollups, &tenant, "user:op")
            .await
            .unwrap();
        assert_eq!(generation, 1);
        assert!(processor.needs_restart().await.unwrap());
        assert_eq!(processor.prepare().await.unwrap(), LogPosition::START);
        assert!(store.rows.lock().unwrap().is_empty());
        assert_eq!(*store.generation.lock().unwrap(), 1);
        assert!(!processor.needs_restart().await.unwrap());
    }
}
