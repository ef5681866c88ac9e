//! A processor for Postgres projections written together with their checkpoint: each event
//! becomes one change, and a batch of changes is applied with the position it reaches.
//! The API key list and the tenant policies are such projections.

use std::sync::Arc;

use async_trait::async_trait;

use super::EventProcessor;
use crate::ports::{CatalogStore, EventFilter, LogPosition, PortError, StoredEvent};

/// The change one event makes (an event that cannot be read stops the processor: a catalog
/// must not silently miss a key or a policy).
pub type ChangeOf<C> = fn(&StoredEvent) -> Result<C, PortError>;

pub struct CatalogProjection<C> {
    name: &'static str,
    filters: Vec<EventFilter<'static>>,
    store: Arc<dyn CatalogStore<C>>,
    change_of: ChangeOf<C>,
}

impl<C> CatalogProjection<C> {
    pub fn new(
        name: &'static str,
        filters: Vec<EventFilter<'static>>,
        store: Arc<dyn CatalogStore<C>>,
        change_of: ChangeOf<C>,
    ) -> Self {
        Self {
            name,
            filters,
            store,
            change_of,
        }
    }
}

#[async_trait]
impl<C: Send + Sync + 'static> EventProcessor for CatalogProjection<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn filters(&self) -> &[EventFilter<'static>] {
        &self.filters
    }

    async fn prepare(&self) -> Result<LogPosition, PortError> {
        Ok(self
            .store
            .checkpoint(self.name)
            .await?
            .unwrap_or(LogPosition::START))
    }

    async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let changes = events
            .iter()
            .map(self.change_of)
            .collect::<Result<Vec<_>, _>>()?;
        self.store.apply(self.name, &changes, last.position).await
    }
}
