//! Postgres: the pool, migrations (`migrations/`), and the adapters that use them.

mod alerting;
mod api_keys;
mod checkpoints;
mod dedup;
mod event_log;
mod event_store;
mod horizon;
mod lease;
mod policies;
mod usage;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use telemetry_application::ports::{DependencyCheck, PortError};

pub use sqlx::PgPool;

pub use alerting::PostgresAlerting;
pub use api_keys::PostgresApiKeyCatalog;
pub use dedup::PostgresDuplicateIndex;
pub use event_log::{read_after_statement, PostgresEventLog};
pub use event_store::{event_store, snapshot_store, ApiKeyStore, IngestBatchStore};
pub use horizon::PostgresEventStoreHorizon;
pub use lease::AdvisoryLeases;
pub use policies::PostgresTenantPolicies;
pub use usage::PostgresUsage;

/// How to reach Postgres.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before the store counts as unavailable.
    pub acquire_timeout: Duration,
    /// How long a released connection has to answer a ping before it is closed (see
    /// [`pool`]): the request timeout, the longest a request's statement is expected to run.
    pub release_timeout: Duration,
}

/// A pool that connects on first use. Start-up itself waits for Postgres (the migrations
/// run before the listener binds, for up to `DATABASE_STARTUP_TIMEOUT_MS`); later, requests
/// find the store unavailable (503) while Postgres is away and recover when it is back.
///
/// A released connection must answer a ping within the release timeout or it is closed.
/// sqlx pings every released connection itself, but without a deadline: a connection that
/// went silent (its host gone without resetting it, as in a failover to another address)
/// then held its pool slot until the kernel gave up on it, about a quarter of an hour, and
/// once every slot was held so, every request was refused although Postgres was back. The
/// deadline is long, not short: a connection released in the middle of a statement (its
/// request timed out, or its client went away) answers the ping only once the statement has
/// finished, and closing it sooner would leave that statement running on a backend the pool
/// no longer counts, as the pool opened more connections under the very load that caused
/// the timeouts.
pub fn pool(settings: &PostgresSettings) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(&settings.url)?.application_name("telemetry-server");
    let deadline = settings.release_timeout;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(300)))
        .test_before_acquire(false)
        .after_release(move |connection, _| {
            Box::pin(async move {
                match tokio::time::timeout(deadline, sqlx::Connection::ping(connection)).await {
                    Ok(answer) => answer.map(|()| true),
                    Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "a released connection did not answer a ping",
                    ))),
                }
            })
        })
        .connect_lazy_with(options))
}

/// Applies `migrations/` (embedded at build time). Safe to run from several instances at
/// once: sqlx serializes migrators with an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}

/// [`migrate`], retrying while Postgres does not accept connections, for up to `patience`.
pub async fn migrate_when_available(
    pool: &PgPool,
    patience: Duration,
) -> Result<(), sqlx::migrate::MigrateError> {
    let started = std::time::Instant::now();
    loop {
        match migrate(pool).await {
            Err(sqlx::migrate::MigrateError::Execute(error))
                if started.elapsed() < patience && is_unavailable(&error) =>
            {
                tracing::warn!(error = %error, "postgres not answering yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            result => return result,
        }
    }
}

/// Runs `work` while holding a session advisory lock named `name`, so only one instance at
/// a time does it.
pub async fn exclusively<T, F, Fut>(pool: &PgPool, name: &str, work: F) -> Result<T, PortError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut connection = pool.acquire().await.map_err(port_error)?;
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(name)
        .execute(&mut *connection)
        .await
        .map_err(port_error)?;
    let result = work().await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(name)
        .execute(&mut *connection)
        .await
        .map_err(port_error)?;
    Ok(result)
}

/// Creates and drops the partitions of the deduplication index for a window of
/// `window_days` days (see `migrations/0002_ingest_dedup.sql`).
pub async fn maintain_dedup_partitions(pool: &PgPool, window_days: u32) -> Result<(), PortError> {
    let window = i32::try_from(window_days).unwrap_or(i32::MAX);
    sqlx::query("SELECT ingest_dedup_maintain($1)")
        .bind(window)
        .execute(pool)
        .await
        .map_err(port_error)?;
    Ok(())
}

/// Classifies a sqlx error: connection trouble is "unavailable", the rest "failed".
pub(crate) fn port_error(error: sqlx::Error) -> PortError {
    if is_unavailable(&error) {
        PortError::unavailable(error)
    } else {
        PortError::failed(error)
    }
}

/// Whether the same statement can succeed later: connection trouble, and the SQLSTATEs of
/// a server that is overloaded or changing state rather than refusing the statement itself:
/// class 08 (connection exceptions), 53 (insufficient resources: disk full, out of memory,
/// too many connections), 57 (operator intervention: a cancelled or timed-out statement, a
/// shutdown, a restart or crash recovery), 58 (system errors: I/O), a read-only transaction
/// (25006: a standby after a failover), a lock not available (55P03), and a deadlock or
/// serialization failure (40P01, 40001).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            ["08", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
                || ["25006", "55P03", "40P01", "40001"].contains(&code.as_ref())
        }),
        _ => false,
    }
}

/// `/readyz` check: `SELECT 1`.
pub struct PostgresCheck {
    pool: PgPool,
}

impl PostgresCheck {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl DependencyCheck for PostgresCheck {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn check(&self) -> Result<(), PortError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(port_error)?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod sqlstate {
    use std::borrow::Cow;
    use std::error::Error as StdError;

    /// A database error carrying only a SQLSTATE, as Postgres reports one.
    #[derive(Debug)]
    pub struct Sqlstate(pub &'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl StdError for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sqlstate::Sqlstate;
    use super::*;

    fn database(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Sqlstate(code)))
    }

    #[test]
    fn a_server_in_trouble_is_unavailable() {
        for code in [
            "08006", "53100", "53200", "53300", "57014", "57P01", "57P02", "57P03", "58030",
            "25006", "55P03", "40P01", "40001",
        ] {
            assert!(port_error(database(code)).is_unavailable(), "{code}");
        }
        assert!(port_error(sqlx::Error::PoolTimedOut).is_unavailable());
    }

    #[test]
    fn a_refused_statement_is_a_failure() {
        // Unique and check violations, a syntax error, an undefined table, a bad value.
        for code in ["23505", "23514", "42601", "42P01", "22P02"] {
            assert!(!port_error(database(code)).is_unavailable(), "{code}");
        }
        assert!(!port_error(sqlx::Error::RowNotFound).is_unavailable());
    }
}
