use async_trait::async_trait;

use super::PortError;

/// One dependency the service talks to, checked by `/readyz`.
#[async_trait]
pub trait DependencyCheck: Send + Sync {
    /// Stable name used in the readiness report (`postgres`, `clickhouse`, `redis`).
    fn name(&self) -> &'static str;
    /// Succeeds when the dependency answers a trivial request.
    async fn check(&self) -> Result<(), PortError>;
}
