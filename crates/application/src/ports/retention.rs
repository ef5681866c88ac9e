//! Per-tenant retention: the choices administrators made (projected from the `TenantPolicy`
//! events) and the analytics store that enforces them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;
use telemetry_domain::tenant_policy::{QuotaChoice, RetainedStore, RetentionChoice};
use telemetry_domain::values::TenantId;

use super::PortError;

/// One projected change of a tenant's policy.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyChange {
    Retention(TenantId, RetentionChoice),
    Quota(TenantId, QuotaChoice),
}

/// The projection of the `TenantPolicy` events: the retention choices maintenance enforces
/// and the quotas the usage trigger applies.
#[async_trait]
pub trait TenantPolicyStore: super::CatalogStore<PolicyChange> {
    /// Every tenant with a retention choice of its own.
    async fn retention_choices(&self) -> Result<BTreeMap<TenantId, RetentionChoice>, PortError>;
}

/// What one store must drop: rows older than a cutoff (epoch seconds, a UTC midnight), per
/// tenant where a tenant's choice differs from the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCutoffs {
    pub store: RetainedStore,
    /// For every tenant not in `tenants`.
    pub default_cutoff: i64,
    pub tenants: BTreeMap<TenantId, i64>,
}

impl StoreCutoffs {
    /// The earliest cutoff of all: whole partitions before it belong to nobody's retention.
    pub fn earliest(&self) -> i64 {
        self.tenants
            .values()
            .copied()
            .fold(self.default_cutoff, i64::min)
    }
}

/// What one maintenance run removed from one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreEnforcement {
    pub store: RetainedStore,
    /// Whole monthly partitions dropped (`YYYYMM`), across its tables.
    pub dropped_partitions: Vec<String>,
    /// Row deletes issued (one per table holding rows past some tenant's cutoff).
    pub deletes: u64,
    /// Rows past a cutoff found by the deletes' pre-check (raw and audit tables count
    /// events and entries; rollup tables count buckets).
    pub rows_past_cutoff: u64,
}

/// The analytics store's side of retention.
#[async_trait]
pub trait AnalyticsRetention: Send + Sync {
    /// Removes what `cutoffs` puts past retention from the store's tables: whole partitions
    /// that lie before every cutoff are dropped, the rest is deleted per tenant. Returns when
    /// the deletes have finished.
    async fn enforce(&self, cutoffs: &StoreCutoffs) -> Result<StoreEnforcement, PortError>;

    /// The bytes on disk of `tenant`'s raw events and of its rollups: each table's bytes
    /// times the tenant's share of its rows (tables are shared by every tenant).
    async fn stored_bytes(&self, tenant: &TenantId) -> Result<AnalyticsBytes, PortError>;
}

/// A tenant's share of the analytics store's bytes on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AnalyticsBytes {
    pub raw_events: u64,
    pub rollups: u64,
}
