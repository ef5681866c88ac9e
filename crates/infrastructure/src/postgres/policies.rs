//! Tenant policies in Postgres (`migrations/0013_tenant_policies.sql`): the retention choices
//! and the chosen quotas, written by the `tenant_policies` processor with its checkpoint.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::PgPool;
use telemetry_application::ports::{
    CatalogStore, LogPosition, PolicyChange, PortError, TenantPolicyStore,
};
use telemetry_domain::tenant_policy::{QuotaChoice, RetainedStore, RetentionChoice, RetentionDays};
use telemetry_domain::values::TenantId;

use super::checkpoints::{read_checkpoint, save_checkpoint};
use super::port_error;

pub struct PostgresTenantPolicies {
    pool: PgPool,
    /// The configured quotas (`TENANT_DAILY_QUOTAS`), which a quota set back to the default
    /// returns to.
    configured_quotas: BTreeMap<TenantId, u64>,
}

impl PostgresTenantPolicies {
    pub fn new(pool: PgPool, configured_quotas: BTreeMap<TenantId, u64>) -> Self {
        Self {
            pool,
            configured_quotas,
        }
    }
}

#[async_trait]
impl CatalogStore<PolicyChange> for PostgresTenantPolicies {
    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError> {
        read_checkpoint(&self.pool, name).await
    }

    async fn apply(
        &self,
        name: &str,
        changes: &[PolicyChange],
        position: LogPosition,
    ) -> Result<(), PortError> {
        let mut transaction = self.pool.begin().await.map_err(port_error)?;
        for change in changes {
            match change {
                PolicyChange::Retention(tenant, choice) => {
                    let stores: Vec<&str> = choice.keys().map(|store| store.as_str()).collect();
                    let days: Vec<i32> = choice
                        .values()
                        .map(|days| i32::try_from(days.get()).unwrap_or(i32::MAX))
                        .collect();
                    sqlx::query("DELETE FROM tenant_retention WHERE tenant_id = $1")
                        .bind(tenant.as_str())
                        .execute(&mut *transaction)
                        .await
                        .map_err(port_error)?;
                    sqlx::query(
                        "INSERT INTO tenant_retention (tenant_id, store, days) \
                         SELECT $1, * FROM unnest($2::text[], $3::integer[])",
                    )
                    .bind(tenant.as_str())
                    .bind(&stores)
                    .bind(&days)
                    .execute(&mut *transaction)
                    .await
                    .map_err(port_error)?;
                }
                PolicyChange::Quota(tenant, choice) => {
                    let (events, chosen) = match choice {
                        QuotaChoice::Daily(events) => (Some(*events), true),
                        QuotaChoice::Unlimited => (None, true),
                        // Back to the configured quota, or none.
                        QuotaChoice::Default => {
                            (self.configured_quotas.get(tenant).copied(), false)
                        }
                    };
                    if !chosen && events.is_none() {
                        sqlx::query("DELETE FROM tenant_quotas WHERE tenant_id = $1")
                            .bind(tenant.as_str())
                            .execute(&mut *transaction)
                            .await
                            .map_err(port_error)?;
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO tenant_quotas (tenant_id, daily_events, chosen) \
                         VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE \
                         SET daily_events = EXCLUDED.daily_events, chosen = EXCLUDED.chosen",
                    )
                    .bind(tenant.as_str())
                    .bind(events.map(|events| i64::try_from(events).unwrap_or(i64::MAX)))
                    .bind(chosen)
                    .execute(&mut *transaction)
                    .await
                    .map_err(port_error)?;
                }
            }
        }
        save_checkpoint(&mut transaction, name, position).await?;
        transaction.commit().await.map_err(port_error)
    }
}

#[async_trait]
impl TenantPolicyStore for PostgresTenantPolicies {
    async fn retention_choices(&self) -> Result<BTreeMap<TenantId, RetentionChoice>, PortError> {
        let rows: Vec<(String, String, i32)> =
            sqlx::query_as("SELECT tenant_id, store, days FROM tenant_retention")
                .fetch_all(&self.pool)
                .await
                .map_err(port_error)?;
        let mut choices = BTreeMap::<TenantId, RetentionChoice>::new();
        for (tenant, store, days) in rows {
            let tenant = TenantId::parse(tenant).map_err(PortError::failed)?;
            let store = RetainedStore::parse(&store)
                .ok_or_else(|| PortError::failed(format!("unknown retained store {store:?}")))?;
            let days = u32::try_from(days)
                .ok()
                .and_then(|days| RetentionDays::new(days).ok())
                .ok_or_else(|| PortError::failed(format!("retention of {days} days")))?;
            choices.entry(tenant).or_default().insert(store, days);
        }
        Ok(choices)
    }
}
