//! Per-tenant request budgets, shared across instances, failing open; and per client
//! address, a budget of requests with missing or unknown credentials (it slows down guessing
//! API keys, and gives those answers rate-limit headers too).
//!
//! The limiter itself lives behind the [`RateLimiter`] port (Redis in production). When it
//! cannot answer, requests are let through: losing rate limiting for a moment is better than
//! refusing telemetry. Every such decision is logged (at most once per second) and counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telemetry_domain::values::TenantId;
use tracing::warn;

use crate::metrics::Metrics;
use crate::ports::{RateDecision, RateLimit, RateLimiter, RateSubject};
use crate::InvalidSetting;

/// The default budget, per-tenant exceptions, and the budget of failed authentications per
/// client address (`None`: not limited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy {
    pub default: RateLimit,
    pub overrides: HashMap<TenantId, RateLimit>,
    pub failed_auth: Option<RateLimit>,
}

impl RateLimitPolicy {
    pub fn limit_for(&self, tenant: &TenantId) -> RateLimit {
        self.overrides.get(tenant).copied().unwrap_or(self.default)
    }

    /// Parses `tenant=max_requests,tenant=max_requests`; overrides share the default window.
    pub fn parse_overrides(
        spec: &str,
        window: Duration,
    ) -> Result<HashMap<TenantId, RateLimit>, InvalidSetting> {
        let invalid = |problem: String| InvalidSetting::new("RATE_LIMIT_OVERRIDES", problem);
        let mut overrides = HashMap::new();
        for entry in spec
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (tenant, max) = entry
                .split_once('=')
                .ok_or_else(|| invalid("each entry must look like tenant=max_requests".into()))?;
            let tenant = TenantId::parse(tenant.trim())
                .map_err(|error| invalid(format!("tenant {error}")))?;
            let max_requests = max
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid(format!("the limit for {tenant} must be a whole number")))?;
            check_budget(
                "RATE_LIMIT_OVERRIDES",
                &format!("the rate limit for {tenant}"),
                max_requests,
                window,
            )?;
            overrides.insert(
                tenant,
                RateLimit {
                    max_requests,
                    window,
                },
            );
        }
        Ok(overrides)
    }
}

/// A budget may allow at most one request per microsecond of its window: the limiter spaces
/// requests by a whole number of microseconds, so a larger budget would be enforced over a
/// longer window than configured (and reported so in `X-RateLimit-Reset`). A million
/// requests a second is no limit in practice.
pub fn check_budget(
    setting: &str,
    name: &str,
    max_requests: u64,
    window: Duration,
) -> Result<(), InvalidSetting> {
    let most = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
    if max_requests > most {
        return Err(InvalidSetting::new(
            setting,
            format!("{name} may be at most {most}: one request per microsecond of the window"),
        ));
    }
    Ok(())
}

pub struct RateLimitService {
    limiter: Arc<dyn RateLimiter>,
    policy: RateLimitPolicy,
    metrics: Arc<Metrics>,
    last_warning: Mutex<Option<Instant>>,
    fail_open_total: AtomicU64,
}

impl RateLimitService {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        policy: RateLimitPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            limiter,
            policy,
            metrics,
            last_warning: Mutex::new(None),
            fail_open_total: AtomicU64::new(0),
        }
    }

    /// Spends one request of `tenant`'s budget.
    pub async fn check(&self, tenant: &TenantId) -> RateDecision {
        let limit = self.policy.limit_for(tenant);
        self.spend(RateSubject::Tenant(tenant), limit).await
    }

    /// Spends one request of the failed-authentication budget of `client`; `None` when that
    /// budget is switched off.
    pub async fn check_failed_auth(&self, client: IpAddr) -> Option<RateDecision> {
        let limit = self.policy.failed_auth?;
        Some(self.spend(RateSubject::FailedAuth(client), limit).await)
    }

    async fn spend(&self, subject: RateSubject<'_>, limit: RateLimit) -> RateDecision {
        match self.limiter.acquire(subject, limit).await {
            Ok(decision) => {
                if !decision.allowed {
                    self.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
                decision
            }
            Err(error) => {
                self.fail_open_total.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .rate_limit_fail_open
                    .fetch_add(1, Ordering::Relaxed);
                self.warn_throttled(&error.to_string());
                RateDecision {
                    allowed: true,
                    limit: limit.max_requests,
                    remaining: limit.max_requests,
                    reset_after: Duration::ZERO,
                    retry_after: Duration::ZERO,
                }
            }
        }
    }

    /// Requests let through because the limiter could not answer.
    pub fn fail_open_total(&self) -> u64 {
        self.fail_open_total.load(Ordering::Relaxed)
    }

    fn warn_throttled(&self, error: &str) {
        let Ok(mut last) = self.last_warning.lock() else {
            return;
        };
        let due = last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            *last = Some(Instant::now());
            warn!(
                error,
                fail_open_total = self.fail_open_total(),
                "rate limiter unavailable, allowing requests"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_and_apply() {
        let window = Duration::from_secs(60);
        let overrides = RateLimitPolicy::parse_overrides("acme=5, globex = 7", window).unwrap();
        let policy = RateLimitPolicy {
            default: RateLimit {
                max_requests: 100,
                window,
            },
            overrides,
            failed_auth: None,
        };
        assert_eq!(
            policy
                .limit_for(&TenantId::parse("acme").unwrap())
                .max_requests,
            5
        );
        assert_eq!(
            policy
                .limit_for(&TenantId::parse("other").unwrap())
                .max_requests,
            100
        );
        assert!(RateLimitPolicy::parse_overrides("acme", window).is_err());
        assert!(RateLimitPolicy::parse_overrides("acme=lots", window).is_err());
        // 0 stops a tenant; more than one request per microsecond of the window is refused.
        assert!(RateLimitPolicy::parse_overrides("acme=0", window).is_ok());
        assert!(RateLimitPolicy::parse_overrides("acme=60000000", window).is_ok());
        let error = RateLimitPolicy::parse_overrides("acme=60000001", window).unwrap_err();
        assert!(
            error.to_string().contains("acme may be at most 60000000"),
            "{error}"
        );
    }
}
