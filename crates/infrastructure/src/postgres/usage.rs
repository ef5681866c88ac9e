//! Tenant usage and quotas in Postgres (`migrations/0012_tenant_usage.sql`): counted by a
//! trigger in the transaction that records each batch.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::PgPool;
use telemetry_application::ports::{DailyUsage, PortError, RefusalCount, TenantTotals, UsageStore};
use telemetry_domain::values::TenantId;

use super::port_error;
use crate::share;

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

type DailyRow = (NaiveDate, i64, i64, i64, i64, i64, i64, i64);

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
                    sum(logs)::bigint, sum(metrics)::bigint, sum(traces)::bigint, \
                    sum(otlp)::bigint \
             FROM tenant_usage_daily WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 \
             GROUP BY day ORDER BY day",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        let refusals: Vec<(NaiveDate, String, i64)> = sqlx::query_as(
            "SELECT day, reason, requests FROM tenant_refusals_daily \
             WHERE tenant_id = $1 AND day BETWEEN $2 AND $3",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        let mut days: BTreeMap<NaiveDate, DailyUsage> = rows
            .into_iter()
            .map(
                |(day, batches, accepted, duplicates, logs, metrics, traces, otlp)| {
                    let usage = DailyUsage {
                        day,
                        batches: count(batches),
                        accepted: count(accepted),
                        duplicates: count(duplicates),
                        logs: count(logs),
                        metrics: count(metrics),
                        traces: count(traces),
                        otlp: count(otlp),
                        refused: BTreeMap::new(),
                    };
                    (day, usage)
                },
            )
            .collect();
        for (day, reason, requests) in refusals {
            let usage = days.entry(day).or_insert_with(|| DailyUsage {
                day,
                ..DailyUsage::default()
            });
            usage.refused.insert(reason, count(requests));
        }
        Ok(days.into_values().collect())
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

    async fn tenant_totals(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TenantTotals>, PortError> {
        type TotalsRow = (String, i64, i64, i64, i64, i64, Option<i64>);
        let rows: Vec<TotalsRow> = sqlx::query_as(
            "WITH used AS ( \
                 SELECT tenant_id, sum(batches) AS batches, sum(accepted) AS accepted, \
                        sum(duplicates) AS duplicates, sum(otlp) AS otlp \
                 FROM tenant_usage_daily WHERE day BETWEEN $1 AND $2 GROUP BY tenant_id), \
             refused AS ( \
                 SELECT tenant_id, sum(requests) AS requests FROM tenant_refusals_daily \
                 WHERE day BETWEEN $1 AND $2 GROUP BY tenant_id), \
             tenants AS ( \
                 SELECT tenant_id FROM used UNION SELECT tenant_id FROM refused \
                 UNION SELECT tenant_id FROM tenant_quotas WHERE daily_events IS NOT NULL) \
             SELECT t.tenant_id, coalesce(u.batches, 0)::bigint, coalesce(u.accepted, 0)::bigint, \
                    coalesce(u.duplicates, 0)::bigint, coalesce(u.otlp, 0)::bigint, \
                    coalesce(r.requests, 0)::bigint, q.daily_events \
             FROM tenants t LEFT JOIN used u USING (tenant_id) \
             LEFT JOIN refused r USING (tenant_id) LEFT JOIN tenant_quotas q USING (tenant_id) \
             ORDER BY 3 DESC, 1",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        rows.into_iter()
            .map(
                |(tenant, batches, accepted, duplicates, otlp, refused, quota)| {
                    Ok(TenantTotals {
                        tenant: TenantId::parse(tenant).map_err(PortError::failed)?,
                        batches: count(batches),
                        accepted: count(accepted),
                        duplicates: count(duplicates),
                        otlp: count(otlp),
                        refused: count(refused),
                        daily_quota: quota.map(count),
                    })
                },
            )
            .collect()
    }

    async fn event_store_bytes(&self, tenant: &TenantId) -> Result<u64, PortError> {
        // The day partitions' names say which days the store still holds.
        let (bytes, tenant_events, all_events): (i64, i64, i64) = sqlx::query_as(
            "WITH held AS ( \
                 SELECT pg_total_relation_size(c.oid) AS bytes, \
                        to_date(substring(c.relname FROM 'events_telemetry_([0-9]{8})$'), \
                                'YYYYMMDD') AS day \
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = 'events_telemetry'::regclass), \
             since AS (SELECT coalesce(min(day), current_date) AS day FROM held) \
             SELECT (SELECT coalesce(sum(bytes), 0)::bigint FROM held), \
                    coalesce(sum(accepted) FILTER (WHERE tenant_id = $1), 0)::bigint, \
                    coalesce(sum(accepted), 0)::bigint \
             FROM tenant_usage_daily WHERE day >= (SELECT day FROM since)",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(share(count(bytes), count(tenant_events), count(all_events)))
    }

    async fn add_refusals(&self, counts: &[RefusalCount]) -> Result<(), PortError> {
        let tenants: Vec<&str> = counts.iter().map(|c| c.tenant.as_str()).collect();
        let days: Vec<NaiveDate> = counts.iter().map(|c| c.day).collect();
        let reasons: Vec<&str> = counts.iter().map(|c| c.reason).collect();
        let requests: Vec<i64> = counts
            .iter()
            .map(|c| i64::try_from(c.requests).unwrap_or(i64::MAX))
            .collect();
        sqlx::query(
            "INSERT INTO tenant_refusals_daily AS r (tenant_id, day, reason, requests) \
             SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[]) \
             ON CONFLICT (tenant_id, day, reason) \
             DO UPDATE SET requests = r.requests + EXCLUDED.requests",
        )
        .bind(&tenants)
        .bind(&days)
        .bind(&reasons)
        .bind(&requests)
        .execute(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(())
    }
}
