//! A GCRA (generic cell rate algorithm) limiter in one Lua script: one key per budget (a
//! tenant's, or a client address's budget of failed authentications), atomic across every
//! instance, using Redis's clock so instances need not agree on time.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use telemetry_application::ports::{PortError, RateDecision, RateLimit, RateLimiter, RateSubject};

use super::Redis;

/// Returns {allowed, remaining, reset_after_us, retry_after_us}.
const GCRA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, math.floor((window - (new_tat - now)) / interval), math.ceil(new_tat - now), 0}
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
        let window_us = limit.window.as_micros() as f64;
        let interval_us = window_us / limit.max_requests as f64;
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
