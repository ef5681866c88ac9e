use std::sync::Arc;

use async_trait::async_trait;
use telemetry_domain::values::TenantId;

use super::PortError;

/// A byte cache with a fixed time-to-live (moka in process, Redis shared).
#[async_trait]
pub trait CacheStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Arc<[u8]>>, PortError>;
    async fn put(&self, key: &str, value: Arc<[u8]>) -> Result<(), PortError>;
}

/// Per-tenant generation numbers, shared by every instance; a new generation makes every
/// cached answer of the tenant unreachable.
#[async_trait]
pub trait GenerationStore: Send + Sync {
    async fn current(&self, tenant: &TenantId) -> Result<u64, PortError>;
    async fn bump(&self, tenants: &[TenantId]) -> Result<(), PortError>;
}
