//! A GCRA (generic cell rate algorithm) limiter in one Lua script: one key per budget (a
//! tenant's, or a client address's budget of failed authentications), atomic across every
//! instance, using Redis's clock so instances need not agree on time.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use telemetry_application::ports::{PortError, RateDecision, RateLimit, RateLimiter, RateSubject};

use super::Redis;

/// Returns {allowed, remaining, reset_after_us, retry_after_us}.
///
/// Every value is a whole number of microseconds (ARGV[1] the emission interval, ARGV[2] the
/// window, a whole number of intervals), so Lua's doubles hold them exactly: with a
/// fractional interval (60 s over 11 requests) the rounding of a time near 1.8e15 µs made
/// the first answer report one request fewer than the budget allowed. A stored time more
/// than a window ahead (the window was shortened since) is brought back to one window, and
/// stored so: kept only in the answer, the old time went on refusing requests after the
/// `Retry-After` it gave had passed.
const GCRA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat > now + window then
  tat = now + window
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil(window / 1000))
end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((window - (new_tat - now)) / interval), new_tat - now, 0}
";

pub struct RedisRateLimiter {
    redis: Redis,
    script: Script,
}

impl RedisRateLimiter {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            script: Script::new(GCRA),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(
        &self,
        subject: RateSubject<'_>,
        limit: RateLimit,
    ) -> Result<RateDecision, PortError> {
        if limit.max_requests == 0 {
            return Ok(RateDecision {
                allowed: false,
                limit: 0,
                remaining: 0,
                reset_after: limit.window,
                retry_after: limit.window,
            });
        }
        // The interval is rounded up to a whole microsecond and the window is taken as that
        // many intervals: longer than configured by less than a microsecond per request, or,
        // for a budget of more than one request per microsecond, one microsecond per request.
        let window_us = u64::try_from(limit.window.as_micros()).unwrap_or(u64::MAX);
        let interval_us = window_us.div_ceil(limit.max_requests).max(1);
        let window_us = interval_us.saturating_mul(limit.max_requests);
        let key = self.redis.key(&format!("ratelimit:{subject}"));
        let script = &self.script;
        let (allowed, remaining, reset_us, retry_us): (i64, i64, i64, i64) = self
            .redis
            .run("redis rate limiter", |mut connection| async move {
                script
                    .key(key)
                    .arg(interval_us)
                    .arg(window_us)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or_default());
        Ok(RateDecision {
            allowed: allowed == 1,
            limit: limit.max_requests,
            remaining: u64::try_from(remaining).unwrap_or_default(),
            reset_after: micros(reset_us),
            retry_after: micros(retry_us),
        })
    }
}
