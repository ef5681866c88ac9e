//! Per-tenant usage per UTC day and daily event quotas, counted with the batches that
//! recorded the events (so exactly once).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::Serialize;
use telemetry_domain::values::TenantId;

use super::PortError;
use crate::InvalidSetting;

/// What one tenant's ingestion came to on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DailyUsage {
    pub day: NaiveDate,
    /// Batches recorded (retries answered from an earlier batch are not recorded again).
    pub batches: u64,
    /// Events recorded.
    pub accepted: u64,
    /// Events sent again (the same id within the deduplication window): not recorded.
    pub duplicates: u64,
    pub logs: u64,
    pub metrics: u64,
    pub traces: u64,
    /// Events recorded from OpenTelemetry exports (of `accepted`).
    pub otlp: u64,
    /// Ingestion requests refused, by error code (`rate_limited`, `invalid_events`, ...).
    pub refused: BTreeMap<String, u64>,
}

/// One tenant's ingestion over a range of days, for the operator's list of tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantTotals {
    pub tenant: TenantId,
    pub batches: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub otlp: u64,
    /// Ingestion requests refused, all reasons.
    pub refused: u64,
    /// The daily quota in force now.
    pub daily_quota: Option<u64>,
}

/// Requests of one tenant refused for one reason on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalCount {
    pub tenant: TenantId,
    pub day: NaiveDate,
    pub reason: &'static str,
    pub requests: u64,
}

/// A batch was refused because it would take its tenant's day past the quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant's daily event quota is used up")]
pub struct QuotaExceeded;

/// Parses `TENANT_DAILY_QUOTAS`: `tenant=events,tenant=events` (empty: no quotas).
pub fn parse_quotas(spec: &str) -> Result<BTreeMap<TenantId, u64>, InvalidSetting> {
    let invalid = |problem: String| InvalidSetting::new("TENANT_DAILY_QUOTAS", problem);
    let mut quotas = BTreeMap::new();
    for entry in spec
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (tenant, events) = entry
            .split_once('=')
            .ok_or_else(|| invalid(format!("{entry:?} must look like tenant=events")))?;
        let tenant =
            TenantId::parse(tenant.trim()).map_err(|error| invalid(format!("tenant {error}")))?;
        let events = events.trim().parse::<u64>().map_err(|_| {
            invalid(format!(
                "the quota of {tenant} must be a whole number of events"
            ))
        })?;
        if quotas.insert(tenant.clone(), events).is_some() {
            return Err(invalid(format!("{tenant} is given twice")));
        }
    }
    Ok(quotas)
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// `tenant`'s usage on the UTC days from `from` to `to` (inclusive), days without any
    /// left out.
    async fn daily(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyUsage>, PortError>;

    /// `tenant`'s daily event quota, if it has one.
    async fn quota(&self, tenant: &TenantId) -> Result<Option<u64>, PortError>;

    /// Makes `quotas` the quotas: tenants not listed have none.
    async fn set_quotas(&self, quotas: &BTreeMap<TenantId, u64>) -> Result<(), PortError>;

    /// Every tenant with ingestion, refusals or a quota on the UTC days from `from` to `to`,
    /// most events accepted first.
    async fn tenant_totals(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TenantTotals>, PortError>;

    /// Adds refused requests to the days' counts.
    async fn add_refusals(&self, counts: &[RefusalCount]) -> Result<(), PortError>;

    /// The bytes on disk of `tenant`'s telemetry in the event store: the telemetry
    /// partitions' size times the tenant's share of the events recorded on the days they hold.
    async fn event_store_bytes(&self, tenant: &TenantId) -> Result<u64, PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_tenant_event_pairs() {
        let quotas = parse_quotas(" acme=1000, globex = 0 ,").unwrap();
        assert_eq!(quotas[&TenantId::parse("acme").unwrap()], 1000);
        assert_eq!(quotas[&TenantId::parse("globex").unwrap()], 0);
        assert!(parse_quotas("").unwrap().is_empty());
        for bad in ["acme", "acme=lots", "a b=1", "acme=1,acme=2", "acme=-1"] {
            assert!(parse_quotas(bad).is_err(), "{bad}");
        }
    }
}
