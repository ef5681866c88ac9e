//! Running commands against aggregates.
//!
//! [`CommandBus`] does what `cqrs_es::CqrsFramework::execute_with_metadata` does (load the
//! aggregate from its event store, let it handle the command, commit the resulting events
//! with optimistic concurrency) but returns the committed events to the caller, who needs
//! them for the response (an ingest receipt), and does not run read-model updates inside
//! the request: committed events reach the read models through the event processors, which
//! the bus only wakes (and, when asked to, hands the committed events to in memory: see
//! [`RecentCommits`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventEnvelope, EventStore};
use telemetry_domain::values::TenantId;
use tokio::sync::Notify;

use crate::processing::{EventKey, RecentCommits};

/// Metadata key holding the tenant of a command's events (the deduplication trigger and
/// the processors read it).
pub const TENANT_METADATA_KEY: &str = "tenant_id";
/// Metadata key holding who issued a command (`key:<id>`, `user:<subject>`, `system`), for
/// the audit log.
pub const ACTOR_METADATA_KEY: &str = "actor";

/// The metadata every command carries.
pub fn command_metadata(tenant: &TenantId, actor: &str) -> HashMap<String, String> {
    HashMap::from([
        (TENANT_METADATA_KEY.to_string(), tenant.to_string()),
        (ACTOR_METADATA_KEY.to_string(), actor.to_string()),
    ])
}

/// Commands for aggregates of type `A`.
#[async_trait]
pub trait AggregateCommands<A: Aggregate>: Send + Sync {
    /// Handles `command` on aggregate `aggregate_id` and commits the resulting events,
    /// returning them. An empty list means the command changed nothing.
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>>;

    /// The current state of aggregate `aggregate_id` (the default state if it has no events).
    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>>;
}

/// How much of a [`RecentCommits`] capacity one event takes: an estimate of its size in
/// memory, in bytes.
pub type EventWeight<A> = fn(&<A as Aggregate>::Event) -> u64;

/// [`AggregateCommands`] over any `cqrs-es` event store.
pub struct CommandBus<A: Aggregate, ES: EventStore<A>> {
    store: ES,
    services: A::Services,
    committed: Arc<Notify>,
    recent: Option<(Arc<RecentCommits>, EventWeight<A>)>,
}

impl<A: Aggregate, ES: EventStore<A>> CommandBus<A, ES> {
    /// `committed` is notified after every successful commit (to wake event processors).
    pub fn new(store: ES, services: A::Services, committed: Arc<Notify>) -> Self {
        Self {
            store,
            services,
            committed,
            recent: None,
        }
    }

    /// Also hands every committed event to `recent` (before waking the processors), each
    /// weighing `weight(event)`.
    pub fn remembering(mut self, recent: Arc<RecentCommits>, weight: EventWeight<A>) -> Self {
        self.recent = Some((recent, weight));
        self
    }
}

#[async_trait]
impl<A, ES> AggregateCommands<A> for CommandBus<A, ES>
where
    A: Aggregate + 'static,
    A::Command: Send + 'static,
    ES: EventStore<A> + 'static,
    ES::AC: Send,
{
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let mut context = self.store.load_aggregate(aggregate_id).await?;
        let sink = EventSink::<A>::default();
        context
            .aggregate()
            .handle(command, &self.services, &sink)
            .await
            .map_err(AggregateError::UserError)?;
        let events = sink.collect().await;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let committed = self.store.commit(events, context, metadata).await?;
        if let Some((recent, weight)) = &self.recent {
            for envelope in &committed {
                recent.remember(
                    EventKey {
                        aggregate_type: A::TYPE.to_string(),
                        aggregate_id: envelope.aggregate_id.clone(),
                        sequence: i64::try_from(envelope.sequence).unwrap_or(i64::MAX),
                    },
                    Arc::new(envelope.payload.clone()),
                    weight(&envelope.payload),
                );
            }
        }
        self.committed.notify_waiters();
        Ok(committed)
    }

    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>> {
        let mut context = self.store.load_aggregate(aggregate_id).await?;
        Ok(std::mem::take(context.aggregate()))
    }
}
