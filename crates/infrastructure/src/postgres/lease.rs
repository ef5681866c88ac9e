//! Leases on named work (event processors) through Postgres session advisory locks.
//!
//! A lock lives as long as the session that took it: if the holding instance dies or loses
//! its connection, Postgres releases the lock and another instance takes over. All the
//! leases of one instance share one session (one connection kept out of the pool), so an
//! instance running every processor costs Postgres one connection for them, not one each.
//! Losing that session loses every lease taken on it; each notices at its next check.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Connection, PgConnection, PgPool};
use telemetry_application::ports::{Lease, LeaseProvider, PortError};
use tokio::sync::Mutex;

use super::port_error;

/// Advisory-lock class for processor leases (first key of the two-key form).
const LEASE_CLASS: i32 = 0x7e1e;

/// How long waiting for the session, or a query on it, may take. A query that takes longer
/// closes the session (Postgres may not answer at all when the network silently drops
/// traffic), which gives up every lease on it rather than stalling every processor.
const SESSION_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Session {
    connection: Option<PgConnection>,
    /// Raised whenever a new connection replaces the last: leases taken on an earlier
    /// one are gone (Postgres released their locks with it).
    generation: u64,
}

impl Session {
    /// The session's connection, opened (as a new generation) if there is none.
    async fn open(&mut self, pool: &PgPool) -> Result<&mut PgConnection, PortError> {
        if self.connection.is_none() {
            let mut connection = pool.acquire().await.map_err(port_error)?.detach();
            // Postgres releases the locks only once it notices the session is gone. An
            // instance that dies with its host or behind a broken network sends no FIN, and
            // the system's keepalive default would keep its locks for about two hours: these
            // make the server probe an idle session after 5 s and give up after three
            // unanswered probes 2 s apart (ignored on Unix sockets, where the kernel knows).
            // The holder pings every second and gives its leases up after 5 s without an
            // answer, before the server can release them to another instance.
            sqlx::query(
                "SELECT set_config('tcp_keepalives_idle', '5', false),
                        set_config('tcp_keepalives_interval', '2', false),
                        set_config('tcp_keepalives_count', '3', false)",
            )
            .execute(&mut connection)
            .await
            .map_err(port_error)?;
            self.generation += 1;
            self.connection = Some(connection);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| PortError::failed("lease session not open"))
    }

    /// Closes the connection: every lock of this generation is released.
    fn lose(&mut self) {
        if let Some(connection) = self.connection.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = connection.close().await;
                });
            }
        }
    }
}

pub struct AdvisoryLeases {
    pool: PgPool,
    session: Arc<Mutex<Session>>,
}

impl AdvisoryLeases {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            session: Arc::default(),
        }
    }
}

/// Within one instance a name is leased by one runner at a time (the processor runner has
/// one task per processor): a session's advisory locks are reentrant, so a second
/// `try_acquire` of a name this instance holds would succeed.
#[async_trait]
impl LeaseProvider for AdvisoryLeases {
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn Lease>>, PortError> {
        let mut session = tokio::time::timeout(SESSION_TIMEOUT, self.session.lock())
            .await
            .map_err(|_| PortError::unavailable("the lease session is busy"))?;
        let connection = session.open(&self.pool).await?;
        let acquired = tokio::time::timeout(
            SESSION_TIMEOUT,
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(LEASE_CLASS)
                .bind(name)
                .fetch_one(connection),
        )
        .await;
        match acquired {
            Ok(Ok(true)) => Ok(Some(Box::new(AdvisoryLease {
                session: Arc::clone(&self.session),
                name: name.to_string(),
                generation: session.generation,
            }))),
            Ok(Ok(false)) => Ok(None),
            Ok(Err(error)) => {
                session.lose();
                Err(port_error(error))
            }
            Err(_) => {
                // Whether the lock was taken is unknown: closing the session settles it.
                session.lose();
                Err(PortError::unavailable("taking a lease timed out"))
            }
        }
    }
}

struct AdvisoryLease {
    session: Arc<Mutex<Session>>,
    name: String,
    generation: u64,
}

#[async_trait]
impl Lease for AdvisoryLease {
    async fn is_held(&mut self) -> bool {
        let Ok(mut session) = tokio::time::timeout(SESSION_TIMEOUT, self.session.lock()).await
        else {
            return false;
        };
        if session.generation != self.generation {
            return false;
        }
        let Some(connection) = session.connection.as_mut() else {
            return false;
        };
        let alive = tokio::time::timeout(SESSION_TIMEOUT, connection.ping())
            .await
            .is_ok_and(|result| result.is_ok());
        if !alive {
            session.lose();
        }
        alive
    }
}

impl Drop for AdvisoryLease {
    /// Releases the lock, if the session that holds it is still the current one.
    fn drop(&mut self) {
        let generation = self.generation;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to unlock with (the process is shutting down): closing the session
            // releases the lock, and every other one, which are going anyway.
            if let Ok(mut session) = self.session.try_lock() {
                if session.generation == generation {
                    session.connection = None;
                }
            }
            return;
        };
        let session = Arc::clone(&self.session);
        let name = std::mem::take(&mut self.name);
        runtime.spawn(async move {
            let mut session = session.lock().await;
            if session.generation != generation {
                return;
            }
            let Some(connection) = session.connection.as_mut() else {
                return;
            };
            let released = tokio::time::timeout(
                SESSION_TIMEOUT,
                sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1, hashtext($2))")
                    .bind(LEASE_CLASS)
                    .bind(&name)
                    .fetch_one(connection),
            )
            .await;
            if !matches!(released, Ok(Ok(_))) {
                // Closing the session releases the lock as well (and every other one).
                session.lose();
            }
        });
    }
}
