//! Tenant usage and quotas in Postgres (`migrations/0012_tenant_usage.sql`): counted by a
//! trigger in the transaction that records each batch.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::PgPool;
use telemetry_application::ports::{DailyUsage, PortError, UsageStore};
use telemetry_domain::values::TenantId;

use super::port_error;

/// The SQLSTATE the usage trigger raises for a batch over its tenant's quota.
pub const QUOTA_EXCEEDED: &str = "TQ001";

pub struct PostgresUsage {
    pool: PgPool,
}

impl PostgresUsage {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

type DailyRow = (NaiveDate, i64, i64, i64, i64, i64, i64);

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

#[async_trait]
impl UsageStore for PostgresUsage {
    async fn daily(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyUsage>, PortError> {
        let rows: Vec<DailyRow> = sqlx::query_as(
            "SELECT day, sum(batches)::bigint, sum(accepted)::bigint, sum(duplicates)::bigint, \
                    sum(logs)::bigint, sum(metrics)::bigint, sum(traces)::bigint \
             FROM tenant_usage_daily WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 \
             GROUP BY day ORDER BY day",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(rows
            .into_iter()
            .map(
                |(day, batches, accepted, duplicates, logs, metrics, traces)| DailyUsage {
                    day,
                    batches: count(batches),
                    accepted: count(accepted),
                    duplicates: count(duplicates),
                    logs: count(logs),
                    metrics: count(metrics),
                    traces: count(traces),
                },
            )
            .collect())
    }

    async fn quota(&self, tenant: &TenantId) -> Result<Option<u64>, PortError> {
        let quota: Option<Option<i64>> =
            sqlx::query_scalar("SELECT daily_events FROM tenant_quotas WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(port_error)?;
        Ok(quota.flatten().map(count))
    }

    async fn set_quotas(&self, quotas: &BTreeMap<TenantId, u64>) -> Result<(), PortError> {
        let tenants: Vec<&str> = quotas.keys().map(TenantId::as_str).collect();
        let limits: Vec<i64> = quotas
            .values()
            .map(|limit| i64::try_from(*limit).unwrap_or(i64::MAX))
            .collect();
        let mut transaction = self.pool.begin().await.map_err(port_error)?;
        // Quotas administrators chose (`PUT /admin/tenants/{tenant}/quota`) outrank these.
        sqlx::query("DELETE FROM tenant_quotas WHERE NOT chosen AND NOT (tenant_id = ANY($1))")
            .bind(&tenants)
            .execute(&mut *transaction)
            .await
            .map_err(port_error)?;
        sqlx::query(
            "INSERT INTO tenant_quotas (tenant_id, daily_events) \
             SELECT * FROM unnest($1::text[], $2::bigint[]) \
             ON CONFLICT (tenant_id) DO UPDATE SET daily_events = EXCLUDED.daily_events \
             WHERE NOT tenant_quotas.chosen",
        )
        .bind(&tenants)
        .bind(&limits)
        .execute(&mut *transaction)
        .await
        .map_err(port_error)?;
        transaction.commit().await.map_err(port_error)
    }
}
