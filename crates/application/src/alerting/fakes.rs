//! In-memory stand-ins for the alerting ports, for unit tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use cqrs_es::{Aggregate, AggregateError, EventEnvelope};
use telemetry_domain::values::TenantId;

use crate::commands::AggregateCommands;
use crate::ports::{
    AlertRuleStore, AlertStateStore, LogPosition, PortError, RuleChange, RuleRecord,
};
use telemetry_domain::alert::window::SeriesWindow;

/// A rule catalog holding the rules the test puts in it.
#[derive(Default)]
pub struct MemoryRules(pub Mutex<Vec<RuleRecord>>);

#[async_trait]
impl AlertRuleStore for MemoryRules {
    async fn checkpoint(&self, _name: &str) -> Result<Option<LogPosition>, PortError> {
        Ok(None)
    }

    async fn apply(
        &self,
        _name: &str,
        _changes: &[RuleChange],
        _position: LogPosition,
    ) -> Result<(), PortError> {
        Ok(())
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<RuleRecord>, PortError> {
        let rules = self.0.lock().unwrap();
        Ok(rules
            .iter()
            .filter(|rule| rule.tenant_id == *tenant)
            .cloned()
            .collect())
    }

    async fn enabled(&self) -> Result<Vec<RuleRecord>, PortError> {
        let rules = self.0.lock().unwrap();
        Ok(rules.iter().filter(|rule| rule.enabled).cloned().collect())
    }

    async fn count(&self, tenant: &TenantId) -> Result<u64, PortError> {
        Ok(self.list(tenant).await?.len() as u64)
    }
}

/// Commands that lose the optimistic-concurrency race `conflicts` times (as if another
/// request committed to the same aggregate first), then reach `inner`.
pub struct Contended<C> {
    pub inner: C,
    pub conflicts: AtomicU32,
}

#[async_trait]
impl<A, C> AggregateCommands<A> for Contended<C>
where
    A: Aggregate + 'static,
    A::Command: Send + 'static,
    C: AggregateCommands<A>,
{
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let lost = self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if lost {
            return Err(AggregateError::AggregateConflict);
        }
        self.inner.execute(aggregate_id, command, metadata).await
    }

    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>> {
        self.inner.load(aggregate_id).await
    }
}

/// The evaluator's saved windows and position, in memory.
#[derive(Default)]
pub struct MemoryAlertState(pub SavedAlertState);

/// The position and windows last saved.
pub type SavedAlertState = Mutex<(Option<LogPosition>, HashMap<(String, String), SeriesWindow>)>;

#[async_trait]
impl AlertStateStore for MemoryAlertState {
    async fn load(
        &self,
        _name: &str,
    ) -> Result<(Option<LogPosition>, Vec<(String, String, SeriesWindow)>), PortError> {
        let state = self.0.lock().unwrap();
        let windows = state
            .1
            .iter()
            .map(|((r, s), w)| (r.clone(), s.clone(), w.clone()));
        Ok((state.0, windows.collect()))
    }
    async fn save(
        &self,
        _name: &str,
        position: LogPosition,
        windows: &[(String, String, Option<SeriesWindow>)],
    ) -> Result<(), PortError> {
        let mut state = self.0.lock().unwrap();
        state.0 = Some(position);
        for (rule_id, series, window) in windows {
            let key = (rule_id.clone(), series.clone());
            match window {
                Some(window) => state.1.insert(key, window.clone()),
                None => state.1.remove(&key),
            };
        }
        Ok(())
    }
}

/// A rule written in the API's JSON form, for tests. It must be valid: the parser that
/// reports every problem per field is the presentation layer's.
pub fn rule_definition(value: &serde_json::Value) -> telemetry_domain::alert_rule::RuleDefinition {
    use serde_json::{from_value, Value};
    use telemetry_domain::alert_rule::{
        rule_name, Channel, ChannelFormat, Condition, RuleDefinition, Seconds, Severity,
    };
    use telemetry_domain::values::{MetricName, ServiceName};

    let text = |field: &str| value.get(field).and_then(Value::as_str);
    let window = Seconds::window(text("window").expect("a window")).unwrap();
    let condition = match text("kind") {
        Some("absence") => Condition::Absence { window },
        _ => Condition::Threshold {
            aggregation: from_value(value["aggregation"].clone()).unwrap(),
            window,
            comparator: from_value(value["comparator"].clone()).unwrap(),
            threshold: value["threshold"].as_f64().expect("a threshold"),
        },
    };
    let channels = value["channels"].as_array().expect("channels");
    RuleDefinition {
        name: rule_name(text("name").expect("a name")).unwrap(),
        metric: MetricName::parse(text("metric").expect("a metric")).unwrap(),
        service_name: text("serviceName").map(|service| ServiceName::parse(service).unwrap()),
        attributes: value
            .get("attributes")
            .map(|attributes| from_value(attributes.clone()).unwrap())
            .unwrap_or_default(),
        condition,
        hold_for: text("for").map_or(Seconds(0), |hold| Seconds::hold(hold).unwrap()),
        severity: value.get("severity").map_or(Severity::Warning, |severity| {
            from_value(severity.clone()).unwrap()
        }),
        channels: channels
            .iter()
            .enumerate()
            .map(|(index, channel)| {
                let format = channel.get("format").map_or(ChannelFormat::Json, |format| {
                    from_value(format.clone()).unwrap()
                });
                Channel::new(index, channel["url"].as_str().expect("a url"), format).unwrap()
            })
            .collect(),
    }
    .check()
    .unwrap()
}
