//! The `Alert` aggregate: the state machine of one rule and series.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::{AlertCommand, Notice};
use super::events::AlertEvent;
use super::AlertError;
use crate::values::{TenantId, Timestamp};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    Ok,
    Pending,
    Firing,
    Resolved,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    identity: Option<(String, TenantId, String)>,
    status: AlertStatus,
    /// Episodes fired so far.
    episode: u64,
    pending_since: Option<Timestamp>,
    notice: Option<Notice>,
}

impl Alert {
    pub fn status(&self) -> AlertStatus {
        self.status
    }

    pub fn episode(&self) -> u64 {
        self.episode
    }

    /// The tenant, once the alert has had a transition.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        self.identity.as_ref().map(|(_, tenant, _)| tenant)
    }
}

/// The aggregate type `Alert` events are stored under (usable in `match` patterns).
pub const ALERT: &str = "Alert";

impl Aggregate for Alert {
    const TYPE: &'static str = ALERT;
    type Command = AlertCommand;
    type Event = AlertEvent;
    type Error = AlertError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            AlertCommand::Observe {
                rule_id,
                tenant_id,
                series,
                breached,
                value,
                hold_for,
                notice,
                at,
            } => {
                // JSON has no infinity or NaN (an aggregate that overflowed): such a value
                // is recorded as none, so the event reads back as it was decided.
                let value = value.filter(|value| value.is_finite());
                // Whether a breach now fires: at once without a hold, or once it has held
                // since the alert went pending.
                let held = match self.status {
                    AlertStatus::Pending => {
                        let since = self.pending_since.unwrap_or(at);
                        at.as_micros() - since.as_micros() >= hold_for.as_micros()
                    }
                    _ => hold_for.0 == 0,
                };
                match (self.status, breached) {
                    (AlertStatus::Ok | AlertStatus::Resolved | AlertStatus::Pending, true)
                        if held =>
                    {
                        Some(AlertEvent::AlertTriggered {
                            rule_id,
                            tenant_id,
                            series,
                            episode: self.episode + 1,
                            value,
                            notice,
                            at,
                        })
                    }
                    (AlertStatus::Ok | AlertStatus::Resolved, true) => {
                        Some(AlertEvent::AlertPending {
                            rule_id,
                            tenant_id,
                            series,
                            value,
                            notice: Some(notice),
                            at,
                        })
                    }
                    (AlertStatus::Pending, true) => None,
                    (AlertStatus::Pending, false) => Some(AlertEvent::AlertPendingCleared {
                        rule_id,
                        tenant_id,
                        series,
                        value,
                        notice: Some(notice),
                        at,
                    }),
                    (AlertStatus::Firing, false) => Some(AlertEvent::AlertResolved {
                        rule_id,
                        tenant_id,
                        series,
                        episode: self.episode,
                        value,
                        reason: "the condition no longer holds".into(),
                        notice,
                        at,
                    }),
                    (AlertStatus::Ok | AlertStatus::Resolved, false)
                    | (AlertStatus::Firing, true) => None,
                }
            }
            AlertCommand::Stop { reason, at } => {
                let Some((rule_id, tenant_id, series)) = self.identity.clone() else {
                    return Ok(());
                };
                match self.status {
                    AlertStatus::Firing => Some(AlertEvent::AlertResolved {
                        rule_id,
                        tenant_id,
                        series,
                        episode: self.episode,
                        value: None,
                        reason,
                        notice: self.notice.clone().unwrap_or_else(unreachable_notice),
                        at,
                    }),
                    AlertStatus::Pending => Some(AlertEvent::AlertPendingCleared {
                        rule_id,
                        tenant_id,
                        series,
                        value: None,
                        notice: self.notice.clone(),
                        at,
                    }),
                    AlertStatus::Ok | AlertStatus::Resolved => None,
                }
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AlertEvent::AlertPending {
                rule_id,
                tenant_id,
                series,
                notice,
                at,
                ..
            } => {
                self.identity = Some((rule_id, tenant_id, series));
                self.status = AlertStatus::Pending;
                self.pending_since = Some(at);
                if notice.is_some() {
                    self.notice = notice;
                }
            }
            AlertEvent::AlertPendingCleared { .. } => {
                self.status = AlertStatus::Ok;
                self.pending_since = None;
            }
            AlertEvent::AlertTriggered {
                rule_id,
                tenant_id,
                series,
                episode,
                notice,
                ..
            } => {
                self.identity = Some((rule_id, tenant_id, series));
                self.status = AlertStatus::Firing;
                self.episode = episode;
                self.pending_since = None;
                self.notice = Some(notice);
            }
            AlertEvent::AlertResolved { .. } => {
                self.status = AlertStatus::Resolved;
            }
        }
    }
}

/// A firing alert always has its notice (set by `AlertTriggered`); this is only reached for
/// a corrupt history and keeps the resolution going out.
fn unreachable_notice() -> Notice {
    Notice {
        rule_name: String::new(),
        metric: String::new(),
        severity: crate::alert_rule::Severity::Warning,
        condition: String::new(),
        channels: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::alert_rule::{Seconds, Severity};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000).unwrap()
    }

    fn notice() -> Notice {
        Notice {
            rule_name: "slow".into(),
            metric: "latency".into(),
            severity: Severity::Critical,
            condition: "avg over 1m > 100".into(),
            channels: vec![],
        }
    }

    fn observe(breached: bool, hold_for: u32, second: i64) -> AlertCommand {
        AlertCommand::Observe {
            rule_id: "r1".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            series: "checkout".into(),
            breached,
            value: Some(150.0),
            hold_for: Seconds(hold_for),
            notice: notice(),
            at: at(second),
        }
    }

    fn pending(second: i64) -> AlertEvent {
        AlertEvent::AlertPending {
            rule_id: "r1".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            series: "checkout".into(),
            value: Some(150.0),
            notice: Some(notice()),
            at: at(second),
        }
    }

    fn triggered(episode: u64, second: i64) -> AlertEvent {
        AlertEvent::AlertTriggered {
            rule_id: "r1".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            series: "checkout".into(),
            episode,
            value: Some(150.0),
            notice: notice(),
            at: at(second),
        }
    }

    #[test]
    fn without_for_a_breach_fires_at_once() {
        TestFramework::<Alert>::with(())
            .given_no_previous_events()
            .when(observe(true, 0, 10))
            .then_expect_events(vec![triggered(1, 10)]);
    }

    #[test]
    fn a_firing_alert_does_not_fire_again() {
        TestFramework::<Alert>::with(())
            .given(vec![triggered(1, 10)])
            .when(observe(true, 0, 20))
            .then_expect_events(vec![]);
    }

    #[test]
    fn for_delays_firing_until_the_breach_has_lasted() {
        TestFramework::<Alert>::with(())
            .given_no_previous_events()
            .when(observe(true, 30, 10))
            .then_expect_events(vec![pending(10)]);
        TestFramework::<Alert>::with(())
            .given(vec![pending(10)])
            .when(observe(true, 30, 39))
            .then_expect_events(vec![]);
        TestFramework::<Alert>::with(())
            .given(vec![pending(10)])
            .when(observe(true, 30, 40))
            .then_expect_events(vec![triggered(1, 40)]);
    }

    #[test]
    fn a_value_json_cannot_hold_is_recorded_as_none() {
        let mut overflowed = observe(true, 0, 10);
        if let AlertCommand::Observe { value, .. } = &mut overflowed {
            *value = Some(f64::INFINITY);
        }
        let mut expected = triggered(1, 10);
        if let AlertEvent::AlertTriggered { value, .. } = &mut expected {
            *value = None;
        }
        TestFramework::<Alert>::with(())
            .given_no_previous_events()
            .when(overflowed)
            .then_expect_events(vec![expected]);
    }

    #[test]
    fn recovery_resolves_and_the_next_breach_is_a_new_episode() {
        let resolved = AlertEvent::AlertResolved {
            rule_id: "r1".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            series: "checkout".into(),
            episode: 1,
            value: Some(150.0),
            reason: "the condition no longer holds".into(),
            notice: notice(),
            at: at(20),
        };
        TestFramework::<Alert>::with(())
            .given(vec![triggered(1, 10)])
            .when(observe(false, 0, 20))
            .then_expect_events(vec![resolved.clone()]);
        TestFramework::<Alert>::with(())
            .given(vec![triggered(1, 10), resolved])
            .when(observe(true, 0, 30))
            .then_expect_events(vec![triggered(2, 30)]);
    }

    #[test]
    fn a_pending_alert_clears_when_the_breach_ends_early() {
        TestFramework::<Alert>::with(())
            .given(vec![pending(10)])
            .when(observe(false, 30, 15))
            .then_expect_events(vec![AlertEvent::AlertPendingCleared {
                rule_id: "r1".into(),
                tenant_id: TenantId::parse("acme").unwrap(),
                series: "checkout".into(),
                value: Some(150.0),
                notice: Some(notice()),
                at: at(15),
            }]);
    }

    #[test]
    fn a_stopped_pending_alert_clears_with_the_notice_it_started_with() {
        TestFramework::<Alert>::with(())
            .given(vec![pending(10)])
            .when(AlertCommand::Stop {
                reason: "the rule was deleted".into(),
                at: at(12),
            })
            .then_expect_events(vec![AlertEvent::AlertPendingCleared {
                rule_id: "r1".into(),
                tenant_id: TenantId::parse("acme").unwrap(),
                series: "checkout".into(),
                value: None,
                notice: Some(notice()),
                at: at(12),
            }]);
    }

    #[test]
    fn pending_events_stored_without_a_notice_still_read() {
        let stored = r#"{"AlertPending":{"rule_id":"r1","tenant_id":"acme","series":"checkout",
                         "value":150.0,"at":10000000}}"#;
        let event: AlertEvent = serde_json::from_str(stored).unwrap();
        assert_eq!(
            event,
            AlertEvent::AlertPending {
                rule_id: "r1".into(),
                tenant_id: TenantId::parse("acme").unwrap(),
                series: "checkout".into(),
                value: Some(150.0),
                notice: None,
                at: at(10),
            }
        );
    }
}
