//! The event store's replay horizon (`migrations/0011_event_store_partitions.sql`):
//! telemetry in one partition per UTC day, dropped past the horizon once every processor
//! that reads telemetry is past it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use telemetry_application::ports::{EventStoreHorizon, HorizonReport, LogPosition, PortError};

use super::port_error;

pub struct PostgresEventStoreHorizon {
    pool: PgPool,
}

impl PostgresEventStoreHorizon {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const COLUMNS: &str = "ran_at, horizon_start, dropped_before, held_partition, held_back_by";

fn report(row: &PgRow) -> Result<HorizonReport, sqlx::Error> {
    Ok(HorizonReport {
        ran_at: row.try_get("ran_at")?,
        horizon_start: row.try_get("horizon_start")?,
        dropped_before: row.try_get("dropped_before")?,
        held_partition: row.try_get("held_partition")?,
        held_back_by: row.try_get("held_back_by")?,
    })
}

#[async_trait]
impl EventStoreHorizon for PostgresEventStoreHorizon {
    async fn register_readers(&self, names: &[&str]) -> Result<(), PortError> {
        sqlx::query(
            "INSERT INTO processor_progress (name, transaction_id, position) \
             SELECT name, '0'::xid8, 0 FROM unnest($1::text[]) AS name \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(names)
        .execute(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(())
    }

    async fn maintain(
        &self,
        at: DateTime<Utc>,
        horizon: Option<Duration>,
    ) -> Result<HorizonReport, PortError> {
        // Whole seconds, as an interval; the horizon is set in days.
        let seconds = horizon.map(|horizon| horizon.as_secs() as f64);
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events_maintain($1, make_interval(secs => $2))"
        ))
        .bind(at)
        .bind(seconds)
        .fetch_one(&self.pool)
        .await
        .map_err(port_error)?;
        report(&row).map_err(port_error)
    }

    async fn last_run(&self) -> Result<Option<HorizonReport>, PortError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM event_store_horizon"))
            .fetch_optional(&self.pool)
            .await
            .map_err(port_error)?;
        row.as_ref().map(report).transpose().map_err(port_error)
    }

    async fn restart_progress(&self, name: &str, position: LogPosition) -> Result<(), PortError> {
        self.set_progress(name, position, "").await
    }

    async fn record_progress(&self, name: &str, position: LogPosition) -> Result<(), PortError> {
        self.set_progress(name, position, FORWARD_ONLY).await
    }
}

/// Keeps a recorded progress from moving backward.
const FORWARD_ONLY: &str =
    "WHERE (p.transaction_id, p.position) < (EXCLUDED.transaction_id, EXCLUDED.position)";

impl PostgresEventStoreHorizon {
    /// Upserts processor `name`'s progress; `condition` limits when a recorded one changes.
    async fn set_progress(
        &self,
        name: &str,
        position: LogPosition,
        condition: &str,
    ) -> Result<(), PortError> {
        sqlx::query(&format!(
            "INSERT INTO processor_progress AS p (name, transaction_id, position) \
             VALUES ($1, $2::text::xid8, $3) \
             ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, \
                 position = EXCLUDED.position, updated_at = now() {condition}"
        ))
        .bind(name)
        .bind(position.transaction_id.to_string())
        .bind(position.position)
        .execute(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(())
    }
}
