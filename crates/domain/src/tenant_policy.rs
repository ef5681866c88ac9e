//! The `TenantPolicy` aggregate: how long a tenant's data is kept and how many events it may
//! have accepted per UTC day. One instance per tenant, identified by the tenant id.
//!
//! The policy holds only what an administrator chose; what is not chosen follows the
//! configured defaults (the application combines both). Its events are not telemetry: the
//! event store keeps them for ever, so no retention or horizon ever loses a policy.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::values::{TenantId, Timestamp};

/// The aggregate type `TenantPolicy` events are stored under.
pub const TENANT_POLICY: &str = "TenantPolicy";

/// Longest retention a tenant may choose: 100 years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// The stores data is kept in, each with its own retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RetainedStore {
    /// Raw events (`/query`).
    Events,
    /// Minute rollups (summaries and series at minute steps).
    MinuteRollups,
    /// Hour rollups.
    HourRollups,
    /// Day rollups.
    DayRollups,
    /// The audit log.
    AuditLog,
    /// Alert transitions.
    AlertHistory,
}

impl RetainedStore {
    pub const ALL: [Self; 6] = [
        Self::Events,
        Self::MinuteRollups,
        Self::HourRollups,
        Self::DayRollups,
        Self::AuditLog,
        Self::AlertHistory,
    ];

    /// The name on the wire and in the configuration (`events`, `minuteRollups`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::MinuteRollups => "minuteRollups",
            Self::HourRollups => "hourRollups",
            Self::DayRollups => "dayRollups",
            Self::AuditLog => "auditLog",
            Self::AlertHistory => "alertHistory",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|store| store.as_str() == name)
    }
}

/// A number of days data is kept: 1 to [`MAX_RETENTION_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct RetentionDays(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a retention is 1 to {MAX_RETENTION_DAYS} days")]
pub struct RetentionOutOfRange;

impl RetentionDays {
    pub fn new(days: u32) -> Result<Self, RetentionOutOfRange> {
        (1..=MAX_RETENTION_DAYS)
            .contains(&days)
            .then_some(Self(days))
            .ok_or(RetentionOutOfRange)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for RetentionDays {
    type Error = RetentionOutOfRange;
    fn try_from(days: u32) -> Result<Self, Self::Error> {
        Self::new(days)
    }
}

impl From<RetentionDays> for u32 {
    fn from(days: RetentionDays) -> Self {
        days.0
    }
}

/// The retention an administrator chose per store; a store not named follows the default.
pub type RetentionChoice = std::collections::BTreeMap<RetainedStore, RetentionDays>;

/// The tenant's daily event quota as an administrator chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum QuotaChoice {
    /// Whatever the configuration says (`TENANT_DAILY_QUOTAS`).
    #[default]
    Default,
    /// No quota, whatever the configuration says.
    Unlimited,
    /// At most this many accepted events per UTC day.
    Daily(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TenantPolicyCommand {
    /// Replace the retention choices (stores not named go back to the default).
    SetRetention {
        tenant_id: TenantId,
        retention: RetentionChoice,
        set_at: Timestamp,
    },
    SetQuota {
        tenant_id: TenantId,
        quota: QuotaChoice,
        set_at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantPolicyEvent {
    RetentionSet {
        tenant_id: TenantId,
        retention: RetentionChoice,
        set_at: Timestamp,
    },
    QuotaSet {
        tenant_id: TenantId,
        quota: QuotaChoice,
        set_at: Timestamp,
    },
}

impl DomainEvent for TenantPolicyEvent {
    fn event_type(&self) -> String {
        match self {
            Self::RetentionSet { .. } => "RetentionSet",
            Self::QuotaSet { .. } => "QuotaSet",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantPolicyError {
    /// The aggregate of one tenant was asked to hold another tenant's policy.
    #[error("this policy belongs to tenant {0}")]
    OtherTenant(String),
}

/// What administrators chose for one tenant.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantPolicy {
    tenant_id: Option<TenantId>,
    retention: RetentionChoice,
    quota: QuotaChoice,
}

impl TenantPolicy {
    pub fn retention(&self) -> &RetentionChoice {
        &self.retention
    }

    pub fn quota(&self) -> QuotaChoice {
        self.quota
    }

    fn check_tenant(&self, tenant_id: &TenantId) -> Result<(), TenantPolicyError> {
        match &self.tenant_id {
            Some(owner) if owner != tenant_id => {
                Err(TenantPolicyError::OtherTenant(owner.to_string()))
            }
            _ => Ok(()),
        }
    }
}

impl Aggregate for TenantPolicy {
    const TYPE: &'static str = TENANT_POLICY;
    type Command = TenantPolicyCommand;
    type Event = TenantPolicyEvent;
    type Error = TenantPolicyError;
    type Services = ();

    /// Setting what is already set records nothing (the audit log shows changes only).
    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            TenantPolicyCommand::SetRetention {
                tenant_id,
                retention,
                set_at,
            } => {
                self.check_tenant(&tenant_id)?;
                (self.retention != retention).then_some(TenantPolicyEvent::RetentionSet {
                    tenant_id,
                    retention,
                    set_at,
                })
            }
            TenantPolicyCommand::SetQuota {
                tenant_id,
                quota,
                set_at,
            } => {
                self.check_tenant(&tenant_id)?;
                (self.quota != quota).then_some(TenantPolicyEvent::QuotaSet {
                    tenant_id,
                    quota,
                    set_at,
                })
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            TenantPolicyEvent::RetentionSet {
                tenant_id,
                retention,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.retention = retention;
            }
            TenantPolicyEvent::QuotaSet {
                tenant_id, quota, ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.quota = quota;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn at() -> Timestamp {
        Timestamp::from_micros(1_000).unwrap()
    }

    fn raw_days(days: u32) -> RetentionChoice {
        RetentionChoice::from([(RetainedStore::Events, RetentionDays::new(days).unwrap())])
    }

    #[test]
    fn a_retention_choice_is_recorded_once() {
        let set = TenantPolicyEvent::RetentionSet {
            tenant_id: acme(),
            retention: raw_days(3),
            set_at: at(),
        };
        let command = TenantPolicyCommand::SetRetention {
            tenant_id: acme(),
            retention: raw_days(3),
            set_at: at(),
        };
        TestFramework::<TenantPolicy>::with(())
            .given_no_previous_events()
            .when(command.clone())
            .then_expect_events(vec![set.clone()]);
        TestFramework::<TenantPolicy>::with(())
            .given(vec![set])
            .when(command)
            .then_expect_events(vec![]);
    }

    #[test]
    fn quotas_change_between_default_unlimited_and_a_number() {
        let quota = |quota| TenantPolicyEvent::QuotaSet {
            tenant_id: acme(),
            quota,
            set_at: at(),
        };
        TestFramework::<TenantPolicy>::with(())
            .given(vec![quota(QuotaChoice::Daily(10))])
            .when(TenantPolicyCommand::SetQuota {
                tenant_id: acme(),
                quota: QuotaChoice::Unlimited,
                set_at: at(),
            })
            .then_expect_events(vec![quota(QuotaChoice::Unlimited)]);
        TestFramework::<TenantPolicy>::with(())
            .given_no_previous_events()
            .when(TenantPolicyCommand::SetQuota {
                tenant_id: acme(),
                quota: QuotaChoice::Default,
                set_at: at(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_policy_belongs_to_one_tenant() {
        TestFramework::<TenantPolicy>::with(())
            .given(vec![TenantPolicyEvent::QuotaSet {
                tenant_id: acme(),
                quota: QuotaChoice::Daily(1),
                set_at: at(),
            }])
            .when(TenantPolicyCommand::SetRetention {
                tenant_id: TenantId::parse("globex").unwrap(),
                retention: raw_days(1),
                set_at: at(),
            })
            .then_expect_error(TenantPolicyError::OtherTenant("acme".into()));
    }

    #[test]
    fn retention_is_one_day_to_a_hundred_years_and_named_on_the_wire() {
        assert!(RetentionDays::new(0).is_err());
        assert!(RetentionDays::new(MAX_RETENTION_DAYS + 1).is_err());
        assert_eq!(RetentionDays::new(7).unwrap().get(), 7);
        let encoded = serde_json::to_string(&raw_days(2)).unwrap();
        assert_eq!(encoded, r#"{"events":2}"#);
        assert!(serde_json::from_str::<RetentionChoice>(r#"{"events":0}"#).is_err());
        for store in RetainedStore::ALL {
            assert_eq!(RetainedStore::parse(store.as_str()), Some(store));
        }
    }
}
