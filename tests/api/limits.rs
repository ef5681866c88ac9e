//! The Redis rate limiter directly, against a real Redis: the budget it reports is the
//! budget it enforces, whatever the ratio of window to limit, and a shortened window takes
//! effect at once.

use std::time::Duration;

use telemetry_application::ports::{RateLimit, RateLimiter, RateSubject};
use telemetry_domain::values::TenantId;
use telemetry_infrastructure::redis::{Redis, RedisRateLimiter};

use crate::helpers::redis_url;

fn limiter() -> RedisRateLimiter {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4());
    let redis = Redis::connect_lazily(&redis_url(), &prefix, Duration::from_secs(5)).unwrap();
    RedisRateLimiter::new(redis)
}

#[tokio::test]
async fn every_request_of_a_budget_is_allowed_and_counted_down_exactly() {
    let limiter = limiter();
    // Limits that do not divide a day into whole microseconds, and one that does. (A day, so
    // that no request's worth of budget comes back while the test runs.)
    let window = Duration::from_secs(86_400);
    for max_requests in [7, 11, 59, 63, 101, 1000] {
        let tenant = TenantId::parse(format!("tenant-{max_requests}")).unwrap();
        let limit = RateLimit {
            max_requests,
            window,
        };
        for used in 1..=max_requests {
            let decision = limiter
                .acquire(RateSubject::Tenant(&tenant), limit)
                .await
                .unwrap();
            assert!(decision.allowed, "request {used} of {max_requests} refused");
            assert_eq!(
                decision.remaining,
                max_requests - used,
                "after request {used} of {max_requests}"
            );
            assert!(decision.reset_after <= window + Duration::from_millis(1));
        }
        let refused = limiter
            .acquire(RateSubject::Tenant(&tenant), limit)
            .await
            .unwrap();
        assert!(!refused.allowed, "request {} allowed", max_requests + 1);
        assert_eq!(refused.remaining, 0);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= window / max_requests as u32 + Duration::from_micros(1));
    }
}

#[tokio::test]
async fn a_shortened_window_takes_effect_at_once() {
    let limiter = limiter();
    let tenant = TenantId::parse("shortened").unwrap();
    let hourly = RateLimit {
        max_requests: 2,
        window: Duration::from_secs(3_600),
    };
    for _ in 0..2 {
        assert!(
            limiter
                .acquire(RateSubject::Tenant(&tenant), hourly)
                .await
                .unwrap()
                .allowed
        );
    }
    assert!(
        !limiter
            .acquire(RateSubject::Tenant(&tenant), hourly)
            .await
            .unwrap()
            .allowed
    );

    // The configuration now says two per second: the budget spent under the old window
    // waits one new window at most, not the rest of the hour.
    let per_second = RateLimit {
        max_requests: 2,
        window: Duration::from_secs(1),
    };
    let refused = limiter
        .acquire(RateSubject::Tenant(&tenant), per_second)
        .await
        .unwrap();
    assert!(!refused.allowed);
    assert!(
        refused.retry_after <= Duration::from_millis(500),
        "{refused:?}"
    );
    assert!(refused.reset_after <= Duration::from_secs(1), "{refused:?}");
    // And the Retry-After holds: once it has passed, a request is allowed.
    tokio::time::sleep(refused.retry_after + Duration::from_millis(20)).await;
    let allowed = limiter
        .acquire(RateSubject::Tenant(&tenant), per_second)
        .await
        .unwrap();
    assert!(allowed.allowed, "{allowed:?}");
}

#[tokio::test]
async fn the_largest_budget_one_request_per_microsecond_is_counted_too() {
    let limiter = limiter();
    let tenant = TenantId::parse("lifted").unwrap();
    // What a benchmark sets to lift the limit: the most a minute allows.
    let limit = RateLimit {
        max_requests: 60_000_000,
        window: Duration::from_secs(60),
    };
    for _ in 0..3 {
        let decision = limiter
            .acquire(RateSubject::Tenant(&tenant), limit)
            .await
            .unwrap();
        assert!(decision.allowed);
        assert!(
            (59_999_997..=59_999_999).contains(&decision.remaining),
            "{decision:?}"
        );
        assert!(decision.reset_after <= Duration::from_secs(60));
    }
}
