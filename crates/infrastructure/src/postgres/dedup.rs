//! Lookups in the deduplication index (`ingest_dedup`).

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::PgPool;
use telemetry_application::ports::{DuplicateIndex, PortError};
use telemetry_domain::values::{EventId, TenantId, Timestamp};

use super::port_error;

pub struct PostgresDuplicateIndex {
    pool: PgPool,
}

impl PostgresDuplicateIndex {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const RECORDED: &str = "
SELECT (k.n - 1)::bigint
FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS k(event_id, micros, n)
WHERE EXISTS (
    SELECT 1 FROM ingest_dedup d
    WHERE d.event_key = ingest_dedup_key($1, k.event_id)
      AND d.event_day = date '1970-01-01' + (k.micros / 86400000000)::int)";

#[async_trait]
impl DuplicateIndex for PostgresDuplicateIndex {
    async fn recorded(
        &self,
        tenant: &TenantId,
        events: &[(&EventId, Timestamp)],
    ) -> Result<HashSet<usize>, PortError> {
        let ids: Vec<&str> = events.iter().map(|(id, _)| id.as_str()).collect();
        let micros: Vec<i64> = events.iter().map(|(_, ts)| ts.as_micros()).collect();
        let rows: Vec<i64> = sqlx::query_scalar(RECORDED)
            .bind(tenant.as_str())
            .bind(&ids)
            .bind(&micros)
            .fetch_all(&self.pool)
            .await
            .map_err(port_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|index| usize::try_from(index).ok())
            .collect())
    }
}
