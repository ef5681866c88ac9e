use std::time::Duration;

use async_trait::async_trait;
use telemetry_domain::values::TenantId;

use super::PortError;

/// A request budget: at most `max_requests` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_requests: u64,
    pub window: Duration,
}

/// The answer of a rate limiter for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u64,
    /// Requests still allowed right now.
    pub remaining: u64,
    /// Time until the budget is fully replenished.
    pub reset_after: Duration,
    /// When denied: time until the next request would be allowed.
    pub retry_after: Duration,
}

/// A limiter shared by every instance of the service.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn acquire(&self, tenant: &TenantId, limit: RateLimit)
        -> Result<RateDecision, PortError>;
}
