//! Redis: one shared, self-reconnecting connection, the rate limiter and readiness.
//!
//! Redis is optional for correctness: callers treat every failure here as "degrade"
//! (rate limiting fails open, caches fall back), so every call is bounded by a short deadline.

mod cache;
mod rate_limiter;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use telemetry_application::ports::{DependencyCheck, PortError};
use tracing::warn;

pub use cache::{RedisCache, RedisGenerations};
pub use rate_limiter::RedisRateLimiter;

/// Commands in a row that may go unanswered within the deadline before the connection is
/// replaced.
const SILENT_COMMANDS_BEFORE_RECONNECT: u32 = 3;

/// A lazily connected Redis handle with a key prefix (one prefix per deployment or test).
#[derive(Clone)]
pub struct Redis {
    connection: Arc<Connection>,
    prefix: String,
    deadline: Duration,
}

/// The shared connection, and what it takes to open another.
///
/// The connection manager reconnects when the connection is dropped or refused, but not
/// when it goes silent: a Redis host that vanished without resetting its connections (a
/// lost node, a moved address) would time out every command until the kernel gives up
/// retransmitting, a quarter of an hour, with rate limiting failing open and every request
/// waiting out the deadline meanwhile. After a few commands in a row unanswered, the handle
/// opens a new connection instead.
struct Connection {
    client: redis::Client,
    config: ConnectionManagerConfig,
    manager: RwLock<ConnectionManager>,
    silent: AtomicU32,
}

impl Connection {
    fn manager(&self) -> ConnectionManager {
        match self.manager.read() {
            Ok(manager) => manager.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Counts an unanswered command; replaces the connection after a few in a row.
    fn went_silent(&self) {
        let silent = self.silent.fetch_add(1, Ordering::Relaxed) + 1;
        if silent < SILENT_COMMANDS_BEFORE_RECONNECT {
            return;
        }
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => {
                if let Ok(mut manager) = self.manager.write() {
                    *manager = fresh;
                }
                self.silent.store(0, Ordering::Relaxed);
                warn!(
                    commands = silent,
                    "redis did not answer several commands in a row; opening a new connection"
                );
            }
            Err(error) => warn!(error = %error, "cannot open a new redis connection"),
        }
    }
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
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(PortError::failed)?;
        Ok(Self {
            connection: Arc::new(Connection {
                client,
                config,
                manager: RwLock::new(manager),
                silent: AtomicU32::new(0),
            }),
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
        let outcome = tokio::time::timeout(self.deadline, command(self.connection.manager())).await;
        let silent = match &outcome {
            Err(_) => true,
            Ok(Err(error)) => error.is_timeout(),
            Ok(Ok(_)) => false,
        };
        if silent {
            self.connection.went_silent();
        } else {
            self.connection.silent.store(0, Ordering::Relaxed);
        }
        match outcome {
            Ok(result) => result.map_err(redis_error),
            Err(_) => Err(PortError::unavailable(format!(
                "{what} did not answer within {} ms",
                self.deadline.as_millis()
            ))),
        }
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
