//! Leases on named work (event processors) through Postgres session advisory locks.
//!
//! The lock lives as long as the connection that took it: if the holding instance dies or
//! loses its connection, Postgres releases the lock and another instance takes over.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgPool, Postgres};
use telemetry_application::ports::{Lease, LeaseProvider, PortError};

use super::port_error;

/// Advisory-lock class for processor leases (first key of the two-key form).
const LEASE_CLASS: i32 = 0x7e1e;

pub struct AdvisoryLeases {
    pool: PgPool,
}

impl AdvisoryLeases {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl LeaseProvider for AdvisoryLeases {
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn Lease>>, PortError> {
        let mut connection: PoolConnection<Postgres> =
            self.pool.acquire().await.map_err(port_error)?;
        let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LEASE_CLASS)
            .bind(name)
            .fetch_one(&mut *connection)
            .await
            .map_err(port_error)?;
        if !acquired {
            return Ok(None);
        }
        // The lock belongs to this session: keep the connection out of the pool for as long
        // as the lease lives, and close it (releasing the lock) when the lease is dropped.
        Ok(Some(Box::new(AdvisoryLease {
            connection: Some(connection.detach()),
        })))
    }
}

struct AdvisoryLease {
    connection: Option<sqlx::PgConnection>,
}

#[async_trait]
impl Lease for AdvisoryLease {
    async fn is_held(&mut self) -> bool {
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        let alive = tokio::time::timeout(std::time::Duration::from_secs(5), connection.ping())
            .await
            .is_ok_and(|result| result.is_ok());
        if !alive {
            self.connection = None;
        }
        alive
    }
}

impl Drop for AdvisoryLease {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            tokio::spawn(async move {
                let _ = connection.close().await;
            });
        }
    }
}
