//! Redis: one shared, self-reconnecting connection, the rate limiter and readiness.
//!
//! Redis is optional for correctness: callers treat every failure here as "degrade"
//! (rate limiting fails open, caches fall back), so every call is bounded by a short deadline.

mod cache;
mod rate_limiter;

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use telemetry_application::ports::{DependencyCheck, PortError};

pub use cache::{RedisCache, RedisGenerations};
pub use rate_limiter::RedisRateLimiter;

use crate::with_deadline;

/// A lazily connected Redis handle with a key prefix (one prefix per deployment or test).
#[derive(Clone)]
pub struct Redis {
    manager: ConnectionManager,
    prefix: String,
    deadline: Duration,
}

impl Redis {
    /// Creates the handle without connecting; the first command connects.
    pub fn connect_lazily(url: &str, prefix: &str, deadline: Duration) -> Result<Self, PortError> {
        let client = redis::Client::open(url).map_err(PortError::failed)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(deadline))
            .set_response_timeout(Some(deadline))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        let manager =
            ConnectionManager::new_lazy_with_config(client, config).map_err(PortError::failed)?;
        Ok(Self {
            manager,
            prefix: prefix.to_string(),
            deadline,
        })
    }

    /// `prefix` + `key`.
    pub fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Runs one command (or script invocation) with the deadline applied.
    pub async fn run<T, F, Fut>(&self, what: &str, command: F) -> Result<T, PortError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.manager.clone();
        with_deadline(self.deadline, what, async move {
            command(connection).await.map_err(redis_error)
        })
        .await
    }
}

fn redis_error(error: redis::RedisError) -> PortError {
    if error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
    {
        PortError::unavailable(error)
    } else {
        PortError::failed(error)
    }
}

/// `/readyz` check: `PING`.
pub struct RedisCheck {
    redis: Redis,
}

impl RedisCheck {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl DependencyCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), PortError> {
        self.redis
            .run("redis ping", |mut connection| async move {
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
            })
            .await
            .map(|_| ())
    }
}
