use std::fmt;
use std::net::IpAddr;
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

/// Whose budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSubject<'a> {
    /// Every request of an authenticated tenant.
    Tenant(&'a TenantId),
    /// Requests from one client address whose credentials were missing or unknown.
    FailedAuth(IpAddr),
}

impl fmt::Display for RateSubject<'_> {
    /// A stable name for the budget (a storage key): distinct for every subject.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tenant(tenant) => write!(f, "{tenant}"),
            // Tenant ids have no ':' or '/', so these names cannot collide with them.
            Self::FailedAuth(address) => write!(f, "failed-auth/{address}"),
        }
    }
}

/// A limiter shared by every instance of the service.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn acquire(
        &self,
        subject: RateSubject<'_>,
        limit: RateLimit,
    ) -> Result<RateDecision, PortError>;
}
