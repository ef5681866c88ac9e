//! Postgres projections written together with their checkpoint (the API key list, tenant
//! policies), as `processing::catalog` writes them.

use async_trait::async_trait;

use super::{LogPosition, PortError};

/// Where a catalog projection keeps its rows and its checkpoint.
#[async_trait]
pub trait CatalogStore<C>: Send + Sync {
    /// Where processor `name` stopped.
    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError>;

    /// Applies `changes` in order and records `position` as processor `name`'s checkpoint,
    /// in one transaction.
    async fn apply(
        &self,
        name: &str,
        changes: &[C],
        position: LogPosition,
    ) -> Result<(), PortError>;
}
