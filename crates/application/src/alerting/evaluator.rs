//! The alert evaluator: an event processor that feeds `MetricIngested` samples into the
//! windows of the rules they match and reports what it sees to the `Alert` aggregates, which
//! decide the transitions.
//!
//! Windows and the evaluator's log position are saved together in one transaction after
//! every round, so after a crash the evaluator resumes with exactly the windows that match
//! its position. Transitions are commands on the `Alert` aggregates, issued before that save:
//! a round replayed after a crash observes the same things again, and the aggregates, already
//! transitioned, emit nothing twice. A periodic tick re-evaluates every series, which makes
//! `for` durations and absence rules fire and lets windows slide.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_es::AggregateError;
use telemetry_domain::alert::{alert_id, Alert, AlertCommand, AlertStatus, Notice};
use telemetry_domain::alert_rule::{Aggregation, Condition, Seconds};
use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent};
use telemetry_domain::values::{TenantId, Timestamp};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::window::SeriesWindow;
use crate::commands::{command_metadata, AggregateCommands, TENANT_METADATA_KEY};
use crate::ports::{
    AlertRuleStore, AlertStateStore, EventFilter, LogPosition, PortError, RuleRecord, StoredEvent,
};
use crate::processing::{metadata_field, EventProcessor};

/// The series of rules without a service dimension (absence rules across services).
pub const ALL_SERVICES: &str = "*";
const ACTOR: &str = "system:alerts";

#[derive(Debug, Clone, Copy)]
pub struct EvaluatorSettings {
    /// How often every series is re-evaluated.
    pub tick: Duration,
    /// How often the rule catalog is re-read.
    pub rules_refresh: Duration,
}

impl Default for EvaluatorSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(5),
            rules_refresh: Duration::from_secs(1),
        }
    }
}

type SeriesKey = (String, String);

#[derive(Default)]
struct Inner {
    rules: HashMap<String, RuleRecord>,
    /// (tenant, metric) -> rule ids, for matching samples.
    by_metric: HashMap<(TenantId, String), Vec<String>>,
    rules_loaded: Option<Instant>,
    windows: HashMap<SeriesKey, SeriesWindow>,
    /// Known alert states; loaded from the aggregate on first use.
    statuses: HashMap<SeriesKey, AlertStatus>,
    last_tick: Option<Instant>,
}

pub struct AlertEvaluator {
    rules: Arc<dyn AlertRuleStore>,
    state: Arc<dyn AlertStateStore>,
    alerts: Arc<dyn AggregateCommands<Alert>>,
    settings: EvaluatorSettings,
    filters: Vec<EventFilter<'static>>,
    inner: Mutex<Inner>,
}

impl AlertEvaluator {
    pub const NAME: &'static str = "alerts";

    pub fn new(
        rules: Arc<dyn AlertRuleStore>,
        state: Arc<dyn AlertStateStore>,
        alerts: Arc<dyn AggregateCommands<Alert>>,
        settings: EvaluatorSettings,
    ) -> Self {
        Self {
            rules,
            state,
            alerts,
            settings,
            filters: vec![EventFilter {
                aggregate_type: <IngestBatch as cqrs_es::Aggregate>::TYPE,
                event_types: &[IngestBatchEvent::METRIC_INGESTED],
            }],
            inner: Mutex::new(Inner::default()),
        }
    }

    async fn refresh_rules(&self, inner: &mut Inner, force: bool) -> Result<(), PortError> {
        let fresh = inner
            .rules_loaded
            .is_some_and(|at| at.elapsed() < self.settings.rules_refresh);
        if fresh && !force {
            return Ok(());
        }
        let rules = self.rules.enabled().await?;
        inner.by_metric.clear();
        for rule in &rules {
            inner
                .by_metric
                .entry((rule.tenant_id.clone(), rule.definition.metric.to_string()))
                .or_default()
                .push(rule.rule_id.clone());
        }
        inner.rules = rules
            .into_iter()
            .map(|rule| (rule.rule_id.clone(), rule))
            .collect();
        inner.rules_loaded = Some(Instant::now());
        Ok(())
    }

    /// Evaluates one series now and reports a change to its alert.
    async fn evaluate(
        &self,
        inner: &mut Inner,
        key: &SeriesKey,
        now: Timestamp,
    ) -> Result<(), PortError> {
        let Some(rule) = inner.rules.get(&key.0).cloned() else {
            return Ok(());
        };
        let empty = SeriesWindow::default();
        let window = inner.windows.get(key).unwrap_or(&empty);
        let (breached, value) = assess(&rule, window, now);
        let status = match inner.statuses.get(key) {
            Some(status) => *status,
            None => {
                let alert = self
                    .alerts
                    .load(&alert_id(&key.0, &key.1))
                    .await
                    .map_err(aggregate_error)?;
                inner.statuses.insert(key.clone(), alert.status());
                alert.status()
            }
        };
        let worth_reporting = matches!(
            (status, breached),
            (AlertStatus::Ok | AlertStatus::Resolved, true)
                | (AlertStatus::Pending, _)
                | (AlertStatus::Firing, false)
        );
        if !worth_reporting {
            return Ok(());
        }
        let command = AlertCommand::Observe {
            rule_id: rule.rule_id.clone(),
            tenant_id: rule.tenant_id.clone(),
            series: key.1.clone(),
            breached,
            value,
            hold_for: rule.definition.hold_for,
            notice: notice(&rule),
            at: now,
        };
        let status = self.command(&rule.tenant_id, key, command).await?;
        inner.statuses.insert(key.clone(), status);
        Ok(())
    }

    /// Runs a command on the alert of `key`; returns its status afterwards.
    async fn command(
        &self,
        tenant: &TenantId,
        key: &SeriesKey,
        command: AlertCommand,
    ) -> Result<AlertStatus, PortError> {
        let id = alert_id(&key.0, &key.1);
        let committed = self
            .alerts
            .execute(&id, command, command_metadata(tenant, ACTOR))
            .await
            .map_err(aggregate_error)?;
        for envelope in &committed {
            info!(
                rule_id = key.0,
                series = key.1,
                transition = envelope.payload.transition().kind,
                "alert transition"
            );
        }
        let alert = self.alerts.load(&id).await.map_err(aggregate_error)?;
        Ok(alert.status())
    }

    /// Resolves (or clears) the alerts of rules that are no longer enabled.
    async fn stop_orphans(&self, inner: &mut Inner, now: Timestamp) -> Result<(), PortError> {
        let orphans: Vec<SeriesKey> = inner
            .statuses
            .iter()
            .filter(|(key, status)| {
                !inner.rules.contains_key(&key.0)
                    && matches!(status, AlertStatus::Pending | AlertStatus::Firing)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in orphans {
            let alert = self
                .alerts
                .load(&alert_id(&key.0, &key.1))
                .await
                .map_err(aggregate_error)?;
            let tenant = match alert.status() {
                AlertStatus::Pending | AlertStatus::Firing => alert.tenant_id().cloned(),
                _ => None,
            };
            if let Some(tenant) = tenant {
                let command = AlertCommand::Stop {
                    reason: "the rule was disabled or deleted".into(),
                    at: now,
                };
                let status = self.command(&tenant, &key, command).await?;
                inner.statuses.insert(key.clone(), status);
            } else {
                inner.statuses.insert(key.clone(), alert.status());
            }
            inner.windows.remove(&key);
        }
        inner
            .windows
            .retain(|key, _| inner.rules.contains_key(&key.0));
        Ok(())
    }
}

fn aggregate_error<E: std::error::Error>(error: AggregateError<E>) -> PortError {
    match error {
        AggregateError::DatabaseConnectionError(cause) | AggregateError::UnexpectedError(cause) => {
            PortError::unavailable(cause)
        }
        other => PortError::failed(other),
    }
}

/// Whether the rule's condition holds for `window` at `now`, and the value it looked at.
pub fn assess(rule: &RuleRecord, window: &SeriesWindow, now: Timestamp) -> (bool, Option<f64>) {
    let now_us = now.as_micros();
    match rule.definition.condition {
        Condition::Threshold {
            aggregation,
            window: length,
            comparator,
            threshold,
        } => {
            let from = now_us - length.as_micros() + 1;
            let value = window.aggregate(aggregation, from, now_us);
            let breached = value.is_some_and(|value| comparator.holds(value, threshold));
            (breached, value)
        }
        Condition::Absence { window: length } => {
            let from = now_us - length.as_micros() + 1;
            let watched_long_enough = now_us - rule.updated_at.as_micros() >= length.as_micros();
            let seen = window.count(from, now_us) > 0;
            (watched_long_enough && !seen, None)
        }
    }
}

/// The series a sample from `service` belongs to, for `rule`.
fn series_of(rule: &RuleRecord, service: &str) -> String {
    match rule.definition.condition {
        Condition::Absence { .. } if rule.definition.service_name.is_none() => {
            ALL_SERVICES.to_string()
        }
        _ => service.to_string(),
    }
}

/// The series evaluated even without samples: absence rules watch theirs from the start.
fn watched_series(rule: &RuleRecord) -> Option<String> {
    match rule.definition.condition {
        Condition::Absence { .. } => Some(
            rule.definition
                .service_name
                .as_ref()
                .map_or_else(|| ALL_SERVICES.to_string(), ToString::to_string),
        ),
        Condition::Threshold { .. } => None,
    }
}

fn describe(condition: &Condition, hold_for: Seconds) -> String {
    match condition {
        Condition::Threshold {
            aggregation,
            window,
            comparator,
            threshold,
        } => {
            let aggregation = match aggregation {
                Aggregation::Count => "count",
                Aggregation::Sum => "sum",
                Aggregation::Min => "min",
                Aggregation::Max => "max",
                Aggregation::Avg => "avg",
                Aggregation::P95 => "p95",
                Aggregation::P99 => "p99",
            };
            let comparator = serde_json::to_value(comparator)
                .ok()
                .and_then(|value| value.as_str().map(str::to_string))
                .unwrap_or_default();
            let held = if hold_for.0 > 0 {
                format!(" for {hold_for}")
            } else {
                String::new()
            };
            format!("{aggregation} over {window} {comparator} {threshold}{held}")
        }
        Condition::Absence { window } => format!("no data for {window}"),
    }
}

fn notice(rule: &RuleRecord) -> Notice {
    Notice {
        rule_name: rule.definition.name.clone(),
        metric: rule.definition.metric.to_string(),
        severity: rule.definition.severity,
        condition: describe(&rule.definition.condition, rule.definition.hold_for),
        channels: rule.definition.channels.clone(),
    }
}

fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
        .unwrap_or_else(|_| unreachable!("the system clock is between 1970 and 2105"))
}

/// How long a series keeps samples: its rule's window and a minute of slack.
fn retention_us(rule: &RuleRecord) -> i64 {
    rule.definition.condition.window().as_micros() + 60_000_000
}

#[async_trait]
impl EventProcessor for AlertEvaluator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn filters(&self) -> &[EventFilter<'static>] {
        &self.filters
    }

    async fn prepare(&self) -> Result<LogPosition, PortError> {
        let (position, windows) = self.state.load(Self::NAME).await?;
        let mut inner = self.inner.lock().await;
        *inner = Inner::default();
        inner.windows = windows
            .into_iter()
            .map(|(rule_id, series, window)| ((rule_id, series), window))
            .collect();
        self.refresh_rules(&mut inner, true).await?;
        Ok(position.unwrap_or(LogPosition::START))
    }

    async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut inner = self.inner.lock().await;
        self.refresh_rules(&mut inner, false).await?;
        let mut touched: HashSet<SeriesKey> = HashSet::new();
        for event in events {
            let Some(tenant) =
                metadata_field(event, TENANT_METADATA_KEY).and_then(|t| TenantId::parse(t).ok())
            else {
                continue;
            };
            let has_rules = inner
                .by_metric
                .keys()
                .any(|(rule_tenant, _)| *rule_tenant == tenant);
            if !has_rules {
                continue;
            }
            let section = match serde_json::from_str::<IngestBatchEvent>(&event.payload) {
                Ok(IngestBatchEvent::MetricIngested(section)) => section,
                Ok(_) => continue,
                Err(error) => {
                    warn!(error = %error, aggregate_id = event.aggregate_id, "metric section skipped");
                    continue;
                }
            };
            for (telemetry, sample) in section.metric_samples() {
                let Ok(sample) = sample else { continue };
                let Some(rule_ids) = inner
                    .by_metric
                    .get(&(tenant.clone(), sample.name.to_string()))
                    .cloned()
                else {
                    continue;
                };
                for rule_id in rule_ids {
                    let Some(rule) = inner.rules.get(&rule_id) else {
                        continue;
                    };
                    if !rule
                        .definition
                        .matches(telemetry.service_name.as_str(), &sample.attributes)
                    {
                        continue;
                    }
                    let key = (
                        rule_id.clone(),
                        series_of(rule, telemetry.service_name.as_str()),
                    );
                    inner
                        .windows
                        .entry(key.clone())
                        .or_default()
                        .add(telemetry.timestamp.as_micros(), sample.value);
                    touched.insert(key);
                }
            }
        }
        let at = now();
        for key in &touched {
            if let Some(rule) = inner.rules.get(&key.0).cloned() {
                if let Some(window) = inner.windows.get_mut(key) {
                    window.evict(at.as_micros() - retention_us(&rule));
                }
            }
            self.evaluate(&mut inner, key, at).await?;
        }
        let changed: Vec<(String, String, Option<SeriesWindow>)> = touched
            .iter()
            .map(|key| {
                (
                    key.0.clone(),
                    key.1.clone(),
                    inner.windows.get(key).cloned(),
                )
            })
            .collect();
        self.state.save(Self::NAME, last.position, &changed).await
    }

    async fn needs_restart(&self) -> Result<bool, PortError> {
        Ok(false)
    }

    async fn tick(&self) -> Result<(), PortError> {
        let mut inner = self.inner.lock().await;
        if inner
            .last_tick
            .is_some_and(|at| at.elapsed() < self.settings.tick)
        {
            return Ok(());
        }
        inner.last_tick = Some(Instant::now());
        self.refresh_rules(&mut inner, false).await?;
        let at = now();
        let mut keys: HashSet<SeriesKey> = inner.windows.keys().cloned().collect();
        keys.extend(
            inner
                .statuses
                .iter()
                .filter(|(_, status)| matches!(status, AlertStatus::Pending | AlertStatus::Firing))
                .map(|(key, _)| key.clone()),
        );
        for rule in inner.rules.values() {
            if let Some(series) = watched_series(rule) {
                keys.insert((rule.rule_id.clone(), series));
            }
        }
        for key in &keys {
            if let Some(rule) = inner.rules.get(&key.0).cloned() {
                if let Some(window) = inner.windows.get_mut(key) {
                    window.evict(at.as_micros() - retention_us(&rule));
                }
                self.evaluate(&mut inner, key, at).await?;
            }
        }
        self.stop_orphans(&mut inner, at).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use telemetry_domain::alert_rule::RuleDefinition;

    use super::*;

    fn rule(definition: serde_json::Value, updated_seconds_ago: i64) -> RuleRecord {
        let now = now().as_micros();
        RuleRecord {
            rule_id: "r".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            definition: RuleDefinition::from_json(definition.as_object().unwrap()).unwrap(),
            enabled: true,
            version: 1,
            created_at: Timestamp::from_micros(now - updated_seconds_ago * 1_000_000).unwrap(),
            updated_at: Timestamp::from_micros(now - updated_seconds_ago * 1_000_000).unwrap(),
        }
    }

    #[test]
    fn thresholds_compare_the_window_aggregate() {
        let rule = rule(
            json!({"name": "n", "metric": "m", "aggregation": "avg", "window": "1m",
                   "comparator": ">", "threshold": 100, "channels": [{"url": "http://x/y"}]}),
            0,
        );
        let at = now();
        let mut window = SeriesWindow::default();
        assert_eq!(assess(&rule, &window, at), (false, None));
        window.add(at.as_micros(), 150.0);
        assert_eq!(assess(&rule, &window, at), (true, Some(150.0)));
        for _ in 0..10 {
            window.add(at.as_micros(), 10.0);
        }
        let (breached, value) = assess(&rule, &window, at);
        assert!(!breached);
        assert!((value.unwrap() - 250.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn absence_waits_one_window_after_the_rule_changed() {
        let definition = json!({"name": "n", "metric": "m", "kind": "absence", "window": "1m",
                                "channels": [{"url": "http://x/y"}]});
        let at = now();
        let empty = SeriesWindow::default();
        assert_eq!(
            assess(&rule(definition.clone(), 10), &empty, at),
            (false, None)
        );
        assert_eq!(
            assess(&rule(definition.clone(), 61), &empty, at),
            (true, None)
        );
        let mut recent = SeriesWindow::default();
        recent.add(at.as_micros() - 5_000_000, 1.0);
        assert_eq!(assess(&rule(definition, 61), &recent, at), (false, None));
    }

    #[test]
    fn conditions_read_well() {
        let condition = Condition::Threshold {
            aggregation: Aggregation::P95,
            window: Seconds(300),
            comparator: telemetry_domain::alert_rule::Comparator::AtLeast,
            threshold: 250.0,
        };
        assert_eq!(
            describe(&condition, Seconds(120)),
            "p95 over 5m >= 250 for 2m"
        );
        assert_eq!(
            describe(
                &Condition::Absence {
                    window: Seconds(600)
                },
                Seconds(0)
            ),
            "no data for 10m"
        );
    }
}
