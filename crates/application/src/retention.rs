//! Per-tenant retention and quotas: administrators' choices (the `TenantPolicy` aggregate),
//! the effective retention reads are clamped to, the projection the enforcement reads, and
//! the maintenance run that removes what is past retention from the analytics store.
//!
//! Retention is counted in whole UTC days: with `n` days, data from the UTC day `n` days
//! before today onwards is kept (so at least `n` and less than `n + 1` days). Reads and
//! maintenance use the same cutoff, so what a read may show does not depend on when
//! maintenance last ran.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use telemetry_domain::tenant_policy::{
    QuotaChoice, RetainedStore, RetentionChoice, RetentionDays, TenantPolicy, TenantPolicyCommand,
    TenantPolicyEvent,
};
use telemetry_domain::values::{TenantId, Timestamp};

use crate::commands::{command_metadata, AggregateCommands};
use crate::ports::{
    AnalyticsRetention, CatalogStore, EventFilter, PolicyChange, PortError, StoreCutoffs,
    StoreEnforcement, StoredEvent, TenantPolicyStore,
};
use crate::processing::catalog::CatalogProjection;

const DAY: i64 = 86_400;

/// Days kept per store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retention(BTreeMap<RetainedStore, u32>);

impl Retention {
    /// `defaults` with `choice` over it.
    pub fn new(
        defaults: &BTreeMap<RetainedStore, RetentionDays>,
        choice: &RetentionChoice,
    ) -> Self {
        Self(
            RetainedStore::ALL
                .into_iter()
                .map(|store| {
                    let days = choice
                        .get(&store)
                        .or_else(|| defaults.get(&store))
                        .map_or(u32::MAX, |days| days.get());
                    (store, days)
                })
                .collect(),
        )
    }

    pub fn days(&self, store: RetainedStore) -> u32 {
        self.0.get(&store).copied().unwrap_or(u32::MAX)
    }

    /// The first instant (epoch seconds, a UTC midnight) `store` keeps as of `now`.
    pub fn cutoff(&self, store: RetainedStore, now: DateTime<Utc>) -> i64 {
        cutoff(self.days(store), now)
    }

    /// [`Retention::cutoff`] as the first storable instant a read of `store` starts at (no
    /// earlier than 1970, where storage begins).
    pub fn since(&self, store: RetainedStore, now: DateTime<Utc>) -> Result<Timestamp, PortError> {
        Timestamp::from_micros(self.cutoff(store, now).max(0).saturating_mul(1_000_000))
            .map_err(PortError::failed)
    }
}

fn cutoff(days: u32, now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(DAY) * DAY - i64::from(days) * DAY
}

/// What one tenant's policy is: its own choices and what applies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyView {
    pub tenant_id: TenantId,
    pub chosen: RetentionChoice,
    pub effective: Retention,
    pub quota: QuotaChoice,
    /// The daily quota that applies (the choice, or the configured default).
    pub daily_quota: Option<u64>,
}

/// How long a tenant's data is kept, for reads.
#[async_trait]
pub trait RetentionLookup: Send + Sync {
    async fn retention(&self, tenant: &TenantId) -> Result<Retention, PortError>;
}

/// Administrators' retention and quota choices, and the retention reads apply.
pub struct PolicyService {
    policies: Arc<dyn AggregateCommands<TenantPolicy>>,
    defaults: BTreeMap<RetainedStore, RetentionDays>,
    default_quotas: BTreeMap<TenantId, u64>,
    /// Effective retention per tenant for reads, for a second: a change shows within it.
    recent: Mutex<HashMap<TenantId, (Instant, Retention)>>,
}

/// How long reads keep using a tenant's retention before loading it again.
const RETENTION_FRESHNESS: Duration = Duration::from_secs(1);
/// Tenants remembered at most (then the memory starts again).
const REMEMBERED_TENANTS: usize = 10_000;

impl PolicyService {
    pub fn new(
        policies: Arc<dyn AggregateCommands<TenantPolicy>>,
        defaults: BTreeMap<RetainedStore, RetentionDays>,
        default_quotas: BTreeMap<TenantId, u64>,
    ) -> Self {
        Self {
            policies,
            defaults,
            default_quotas,
            recent: Mutex::new(HashMap::new()),
        }
    }

    pub fn defaults(&self) -> &BTreeMap<RetainedStore, RetentionDays> {
        &self.defaults
    }

    /// `tenant`'s policy as recorded now (read from the event store, never stale).
    pub async fn policy(&self, tenant: &TenantId) -> Result<PolicyView, PortError> {
        let policy = self.policies.load(tenant.as_str()).await?;
        Ok(self.view(tenant, &policy))
    }

    fn view(&self, tenant: &TenantId, policy: &TenantPolicy) -> PolicyView {
        let daily_quota = match policy.quota() {
            QuotaChoice::Default => self.default_quotas.get(tenant).copied(),
            QuotaChoice::Unlimited => None,
            QuotaChoice::Daily(events) => Some(events),
        };
        PolicyView {
            tenant_id: tenant.clone(),
            chosen: policy.retention().clone(),
            effective: Retention::new(&self.defaults, policy.retention()),
            quota: policy.quota(),
            daily_quota,
        }
    }

    /// Replaces `tenant`'s retention choices (stores not named follow the defaults).
    pub async fn set_retention(
        &self,
        tenant: &TenantId,
        retention: RetentionChoice,
        actor: &str,
    ) -> Result<PolicyView, PortError> {
        let command = TenantPolicyCommand::SetRetention {
            tenant_id: tenant.clone(),
            retention,
            set_at: Timestamp::now(),
        };
        self.execute(tenant, command, actor).await
    }

    pub async fn set_quota(
        &self,
        tenant: &TenantId,
        quota: QuotaChoice,
        actor: &str,
    ) -> Result<PolicyView, PortError> {
        let command = TenantPolicyCommand::SetQuota {
            tenant_id: tenant.clone(),
            quota,
            set_at: Timestamp::now(),
        };
        self.execute(tenant, command, actor).await
    }

    async fn execute(
        &self,
        tenant: &TenantId,
        command: TenantPolicyCommand,
        actor: &str,
    ) -> Result<PolicyView, PortError> {
        self.policies
            .execute(tenant.as_str(), command, command_metadata(tenant, actor))
            .await?;
        self.forget(tenant);
        self.policy(tenant).await
    }

    fn forget(&self, tenant: &TenantId) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.remove(tenant);
        }
    }
}

#[async_trait]
impl RetentionLookup for PolicyService {
    async fn retention(&self, tenant: &TenantId) -> Result<Retention, PortError> {
        if let Ok(recent) = self.recent.lock() {
            if let Some((loaded, retention)) = recent.get(tenant) {
                if loaded.elapsed() < RETENTION_FRESHNESS {
                    return Ok(retention.clone());
                }
            }
        }
        let retention = self.policy(tenant).await?.effective;
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= REMEMBERED_TENANTS {
                recent.clear();
            }
            recent.insert(tenant.clone(), (Instant::now(), retention.clone()));
        }
        Ok(retention)
    }
}

/// Projects the `TenantPolicy` events into the [`TenantPolicyStore`]: the retention choices
/// maintenance enforces and the quotas the usage trigger applies.
pub type TenantPolicyProcessor = CatalogProjection<PolicyChange>;

impl CatalogProjection<PolicyChange> {
    pub const NAME: &'static str = "tenant_policies";

    pub fn tenant_policies(store: Arc<dyn CatalogStore<PolicyChange>>) -> Self {
        let filters = vec![EventFilter {
            aggregate_type: <TenantPolicy as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        }];
        Self::new(Self::NAME, filters, store, policy_change)
    }
}

fn policy_change(event: &StoredEvent) -> Result<PolicyChange, PortError> {
    Ok(
        match event
            .decode::<TenantPolicyEvent>()
            .map_err(PortError::failed)?
        {
            TenantPolicyEvent::RetentionSet {
                tenant_id,
                retention,
                ..
            } => PolicyChange::Retention(tenant_id, retention),
            TenantPolicyEvent::QuotaSet {
                tenant_id, quota, ..
            } => PolicyChange::Quota(tenant_id, quota),
        },
    )
}

/// Removes what is past every tenant's retention from the analytics store.
pub struct RetentionMaintenance {
    policies: Arc<dyn TenantPolicyStore>,
    analytics: Arc<dyn AnalyticsRetention>,
    defaults: BTreeMap<RetainedStore, RetentionDays>,
}

impl RetentionMaintenance {
    pub fn new(
        policies: Arc<dyn TenantPolicyStore>,
        analytics: Arc<dyn AnalyticsRetention>,
        defaults: BTreeMap<RetainedStore, RetentionDays>,
    ) -> Self {
        Self {
            policies,
            analytics,
            defaults,
        }
    }

    /// The cutoffs of every store as of `at`.
    pub async fn cutoffs(&self, at: DateTime<Utc>) -> Result<Vec<StoreCutoffs>, PortError> {
        let choices = self.policies.retention_choices().await?;
        let defaults = Retention::new(&self.defaults, &RetentionChoice::new());
        Ok(RetainedStore::ALL
            .into_iter()
            .map(|store| {
                let default_cutoff = defaults.cutoff(store, at);
                let tenants = choices
                    .iter()
                    .map(|(tenant, choice)| {
                        let retention = Retention::new(&self.defaults, choice);
                        (tenant.clone(), retention.cutoff(store, at))
                    })
                    .filter(|(_, cutoff)| *cutoff != default_cutoff)
                    .collect();
                StoreCutoffs {
                    store,
                    default_cutoff,
                    tenants,
                }
            })
            .collect())
    }

    /// One run as of `at`: every store in turn; a store that fails does not stop the others
    /// (its error is returned after them).
    pub async fn run(&self, at: DateTime<Utc>) -> Result<Vec<StoreEnforcement>, PortError> {
        let mut done = Vec::new();
        let mut failure = None;
        for cutoffs in self.cutoffs(at).await? {
            match self.analytics.enforce(&cutoffs).await {
                Ok(enforcement) => done.push(enforcement),
                Err(error) => {
                    tracing::warn!(store = cutoffs.store.as_str(), %error, "retention not enforced");
                    failure = Some(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(done),
        }
    }
}

/// The part of a range a read covers once retention is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Coverage {
    /// The first instant the answer covers (epoch seconds).
    pub from: i64,
    /// Whether that is the start of the range asked for (nothing was past retention).
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn defaults() -> BTreeMap<RetainedStore, RetentionDays> {
        RetainedStore::ALL
            .into_iter()
            .map(|store| (store, RetentionDays::new(30).unwrap()))
            .collect()
    }

    #[test]
    fn cutoffs_are_utc_midnights_days_before_today() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 15, 30, 0).unwrap();
        let choice =
            RetentionChoice::from([(RetainedStore::MinuteRollups, RetentionDays::new(2).unwrap())]);
        let retention = Retention::new(&defaults(), &choice);
        let midnight = |day| {
            Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0)
                .unwrap()
                .timestamp()
        };
        assert_eq!(
            retention.cutoff(RetainedStore::MinuteRollups, now),
            midnight(5)
        );
        assert_eq!(
            retention.cutoff(RetainedStore::Events, now),
            Utc.with_ymd_and_hms(2026, 11, 7, 0, 0, 0)
                .unwrap()
                .timestamp()
        );
        assert_eq!(retention.days(RetainedStore::AuditLog), 30);
    }
}
