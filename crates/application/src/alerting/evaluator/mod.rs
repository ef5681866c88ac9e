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
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use telemetry_domain::alert::{alert_id, Alert, AlertCommand, AlertEvent, AlertStatus, Notice};
use telemetry_domain::alert_rule::{Condition, Seconds};
use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent, MetricSample, TelemetryEvent};
use telemetry_domain::metric::{MetricShape, RunState, Temporality};
use telemetry_domain::values::{TenantId, Timestamp};
use tokio::sync::Mutex;
use tracing::{info, warn};

use sha2::{Digest, Sha256};

use crate::commands::{command_metadata, AggregateCommands, TENANT_METADATA_KEY};
use crate::metrics::Metrics;
use crate::ports::{
    AlertRuleStore, AlertStateStore, EventFilter, LogPosition, PortError, RuleRecord, StoredEvent,
};
use crate::processing::{metadata_field, EventProcessor};
use telemetry_domain::alert::window::{slice_width, RunPoint, SeriesWindow};

/// The series of rules without a service dimension (absence rules across services).
pub const ALL_SERVICES: &str = "*";
const ACTOR: &str = "system:alerts";

#[derive(Debug, Clone, Copy)]
pub struct EvaluatorSettings {
    /// How often every series is re-evaluated.
    pub tick: Duration,
    /// How often the rule catalog is re-read.
    pub rules_refresh: Duration,
    /// Events recorded longer ago than this are backlog: their samples go into the windows,
    /// but judging waits for the tick, which runs once the evaluator has caught up. (Judged
    /// against the clock, a window that still misses the rest of the backlog would show a
    /// breach that is over, or silence that is not there.)
    pub max_lag: Duration,
    /// Series one rule may track. Samples that would open a further series are ignored
    /// (and counted), so one tenant's high-cardinality service names cannot exhaust the
    /// evaluator's memory; series with an active alert are always kept.
    pub max_series_per_rule: usize,
}

impl Default for EvaluatorSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(5),
            rules_refresh: Duration::from_secs(1),
            max_lag: Duration::from_secs(10),
            max_series_per_rule: 1000,
        }
    }
}

type SeriesKey = (String, String);

#[derive(Default)]
struct Inner {
    rules: HashMap<String, RuleRecord>,
    /// tenant -> metric -> rule ids, for matching samples.
    by_metric: HashMap<TenantId, HashMap<String, Arc<[String]>>>,
    rules_loaded: Option<Instant>,
    windows: HashMap<SeriesKey, SeriesWindow>,
    /// How many windows each rule has.
    series_per_rule: HashMap<String, usize>,
    /// Rules that have refused a series since they were last below their limit.
    over_limit: HashSet<String>,
    /// Windows changed since they were last saved (saved with the next round or tick).
    dirty: HashSet<SeriesKey>,
    /// Known alert states; loaded from the aggregate on first use.
    statuses: HashMap<SeriesKey, AlertStatus>,
    /// The log position the saved windows correspond to.
    position: LogPosition,
    last_tick: Option<Instant>,
    /// Rules that started watching afresh since the previous catalog read with the same
    /// selection (disabled and enabled again between two reads): their series stop as a
    /// disabled rule's do, and start over.
    rewatched: HashSet<String>,
}

impl Inner {
    fn insert_window(&mut self, key: SeriesKey, window: SeriesWindow) {
        let rule_id = key.0.clone();
        if self.windows.insert(key, window).is_none() {
            *self.series_per_rule.entry(rule_id).or_default() += 1;
        }
    }

    fn drop_window(&mut self, key: &SeriesKey) {
        if self.windows.remove(key).is_some() {
            if let Some(count) = self.series_per_rule.get_mut(&key.0) {
                *count -= 1;
                if *count == 0 {
                    self.series_per_rule.remove(&key.0);
                }
            }
            self.over_limit.remove(&key.0);
            self.dirty.insert(key.clone());
        }
    }

    fn series_of_rule(&self, rule_id: &str) -> usize {
        self.series_per_rule.get(rule_id).copied().unwrap_or(0)
    }

    /// The windows to save: the dirty ones, `None` for those dropped.
    fn take_dirty(&mut self) -> Vec<(String, String, Option<SeriesWindow>)> {
        self.dirty
            .drain()
            .map(|key| {
                let window = self.windows.get(&key).cloned();
                (key.0, key.1, window)
            })
            .collect()
    }
}

pub struct AlertEvaluator {
    rules: Arc<dyn AlertRuleStore>,
    state: Arc<dyn AlertStateStore>,
    alerts: Arc<dyn AggregateCommands<Alert>>,
    settings: EvaluatorSettings,
    metrics: Arc<Metrics>,
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
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            rules,
            state,
            alerts,
            settings,
            metrics,
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
        // Taken before the read: every rule stored before this instant is in what it returns,
        // so a rule older than `rules_refresh` is always known, however slow the read.
        let loaded_at = Instant::now();
        let rules = self.rules.enabled().await?;
        let mut by_metric: HashMap<TenantId, HashMap<String, Vec<String>>> = HashMap::new();
        for rule in &rules {
            by_metric
                .entry(rule.tenant_id.clone())
                .or_default()
                .entry(rule.definition.metric.to_string())
                .or_default()
                .push(rule.rule_id.clone());
        }
        inner.by_metric = by_metric
            .into_iter()
            .map(|(tenant, metrics)| {
                let metrics = metrics
                    .into_iter()
                    .map(|(metric, ids)| (metric, Arc::from(ids)))
                    .collect();
                (tenant, metrics)
            })
            .collect();
        let previous = std::mem::take(&mut inner.rules);
        inner.rules = rules
            .into_iter()
            .map(|rule| (rule.rule_id.clone(), rule))
            .collect();
        inner.rules_loaded = Some(loaded_at);
        // A rule disabled and enabled again between two reads is in both, selecting the same
        // samples: only its `watching_since` tells. (A changed selection is handled below.)
        let rewatched: Vec<String> = inner
            .rules
            .values()
            .filter(|rule| {
                previous.get(&rule.rule_id).is_some_and(|before| {
                    rule.watching_since > before.watching_since && basis(rule) == basis(before)
                })
            })
            .map(|rule| rule.rule_id.clone())
            .collect();
        if !rewatched.is_empty() {
            // At once, before samples of the new watch go into the old windows.
            inner.rewatched.extend(rewatched);
            self.stop_orphans(inner, Timestamp::now()).await?;
        }
        // Samples selected for an earlier version of a rule (another metric, filter or
        // window) do not count for the current one.
        let bases: HashMap<&str, String> = inner
            .rules
            .values()
            .map(|rule| (rule.rule_id.as_str(), basis(rule)))
            .collect();
        let stale: Vec<SeriesKey> = inner
            .windows
            .iter()
            .filter(|(key, window)| {
                bases
                    .get(key.0.as_str())
                    .is_some_and(|basis| window.basis() != basis)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &stale {
            match self.status(inner, key).await? {
                // A pending or firing alert keeps a window, started afresh for the rule as
                // it is now: the tick judges it (and resolves it if nothing breaches any
                // more), and an evaluator restarted before that finds it again. Dropping
                // the window would leave the alert firing with nothing left to judge it.
                AlertStatus::Pending | AlertStatus::Firing => {
                    if let Some(rule) = inner.rules.get(&key.0) {
                        let window = new_window(rule);
                        inner.insert_window(key.clone(), window);
                        inner.dirty.insert(key.clone());
                    }
                }
                AlertStatus::Ok | AlertStatus::Resolved => inner.drop_window(key),
            }
        }
        Ok(())
    }

    /// The status of the alert of `key`, loading it on first use.
    async fn status(&self, inner: &mut Inner, key: &SeriesKey) -> Result<AlertStatus, PortError> {
        if let Some(status) = inner.statuses.get(key) {
            return Ok(*status);
        }
        let alert = self
            .alerts
            .load(&alert_id(&key.0, &key.1))
            .await
            .map_err(PortError::from)?;
        inner.statuses.insert(key.clone(), alert.status());
        Ok(alert.status())
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
        let (breached, value) = match inner.windows.get(key) {
            Some(window) => assess(&rule, window, now),
            // No samples: an empty window (its basis and slices do not matter).
            None => assess(&rule, &SeriesWindow::new(String::new(), 1), now),
        };
        let status = self.status(inner, key).await?;
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
        let status = self.command(&rule.tenant_id, key, command, status).await?;
        inner.statuses.insert(key.clone(), status);
        if matches!(status, AlertStatus::Pending | AlertStatus::Firing)
            && !inner.windows.contains_key(key)
        {
            // A saved window marks the series as active, so that after a restart the
            // evaluator finds the alert again (to re-evaluate it, or to stop it).
            inner.insert_window(key.clone(), new_window(&rule));
            inner.dirty.insert(key.clone());
        }
        Ok(())
    }

    /// Runs a command on the alert of `key` (whose status is `status`); returns its status
    /// afterwards.
    async fn command(
        &self,
        tenant: &TenantId,
        key: &SeriesKey,
        command: AlertCommand,
        status: AlertStatus,
    ) -> Result<AlertStatus, PortError> {
        let id = alert_id(&key.0, &key.1);
        let committed = self
            .alerts
            .execute(&id, command, command_metadata(tenant, ACTOR))
            .await
            .map_err(PortError::from)?;
        Ok(committed.iter().fold(status, |_, envelope| {
            info!(
                rule_id = key.0,
                series = key.1,
                transition = envelope.payload.transition().kind,
                "alert transition"
            );
            status_after(&envelope.payload)
        }))
    }

    /// Stops the alerts of series that no longer belong to an enabled rule (the rule was
    /// disabled, deleted, or now selects other series): a firing one resolves, a pending
    /// one clears. Their windows go.
    async fn stop_orphans(&self, inner: &mut Inner, now: Timestamp) -> Result<(), PortError> {
        let orphaned = |inner: &Inner, key: &SeriesKey| {
            inner.rewatched.contains(&key.0)
                || inner
                    .rules
                    .get(&key.0)
                    .is_none_or(|rule| !series_fits(rule, &key.1))
        };
        let candidates: HashSet<SeriesKey> = inner
            .windows
            .keys()
            .chain(inner.statuses.keys())
            .filter(|key| orphaned(inner, key))
            .cloned()
            .collect();
        for key in candidates {
            let alert = self
                .alerts
                .load(&alert_id(&key.0, &key.1))
                .await
                .map_err(PortError::from)?;
            if let (AlertStatus::Pending | AlertStatus::Firing, Some(tenant)) =
                (alert.status(), alert.tenant_id().cloned())
            {
                let command = AlertCommand::Stop {
                    reason: "the rule was disabled, deleted or changed".into(),
                    at: now,
                };
                self.command(&tenant, &key, command, alert.status()).await?;
            }
            inner.statuses.remove(&key);
            inner.drop_window(&key);
        }
        inner.rewatched.clear();
        Ok(())
    }

    /// Ignores a sample that would open one series more than the rule may have.
    fn refuse_series(&self, inner: &mut Inner, tenant: &TenantId, rule_id: &str) {
        self.metrics
            .alert_samples_over_series_limit
            .fetch_add(1, Ordering::Relaxed);
        if inner.over_limit.insert(rule_id.to_string()) {
            warn!(
                tenant = tenant.as_str(),
                rule_id,
                limit = self.settings.max_series_per_rule,
                "alert rule reached its series limit; samples of further series are ignored"
            );
        }
    }

    /// Drops windows that hold nothing and mark no active alert.
    async fn drop_idle_windows(&self, inner: &mut Inner) -> Result<(), PortError> {
        let empty: Vec<SeriesKey> = inner
            .windows
            .iter()
            .filter(|(_, window)| window.is_empty())
            .map(|(key, _)| key.clone())
            .collect();
        self.drop_unless_active(inner, empty).await
    }

    /// Makes room for a new series of a rule at its limit (outside the tick, which does
    /// this for every rule but waits while the evaluator works through a backlog): drops
    /// the rule's windows that hold nothing within its window and mark no active alert.
    async fn reclaim_series(
        &self,
        inner: &mut Inner,
        rule_id: &str,
        now: Timestamp,
    ) -> Result<(), PortError> {
        let Some(retention) = inner.rules.get(rule_id).map(retention_us) else {
            return Ok(());
        };
        let mut empty = Vec::new();
        for (key, window) in inner.windows.iter_mut().filter(|(key, _)| key.0 == rule_id) {
            if window.evict(now.as_micros() - retention) {
                inner.dirty.insert(key.clone());
            }
            if window.is_empty() {
                empty.push(key.clone());
            }
        }
        self.drop_unless_active(inner, empty).await
    }

    async fn drop_unless_active(
        &self,
        inner: &mut Inner,
        keys: Vec<SeriesKey>,
    ) -> Result<(), PortError> {
        for key in keys {
            if !matches!(
                self.status(inner, &key).await?,
                AlertStatus::Pending | AlertStatus::Firing
            ) {
                inner.drop_window(&key);
                // Loaded again from the aggregate if the series comes back, so series that
                // come and go (per-deployment service names) do not accumulate here.
                inner.statuses.remove(&key);
            }
        }
        Ok(())
    }
}

/// The status an `Alert` has after `event`.
fn status_after(event: &AlertEvent) -> AlertStatus {
    match event {
        AlertEvent::AlertPending { .. } => AlertStatus::Pending,
        AlertEvent::AlertPendingCleared { .. } => AlertStatus::Ok,
        AlertEvent::AlertTriggered { .. } => AlertStatus::Firing,
        AlertEvent::AlertResolved { .. } => AlertStatus::Resolved,
    }
}

/// What a rule's samples are selected by and kept for: a window built for another basis is
/// stale. The service filter is not part of it: a series holds one service's samples (or,
/// for an absence rule without a filter, all services'), so a new filter changes which
/// series exist (the others are stopped as orphans), not what a remaining series holds.
pub fn basis(rule: &RuleRecord) -> String {
    let definition = &rule.definition;
    let selection = serde_json::json!([
        definition.metric.as_str(),
        definition.attributes,
        slice_width(definition.condition.window()),
    ]);
    let digest = Sha256::digest(selection.to_string().as_bytes());
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn new_window(rule: &RuleRecord) -> SeriesWindow {
    SeriesWindow::new(basis(rule), slice_width(rule.definition.condition.window()))
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
            let watched_long_enough =
                now_us - rule.watching_since.as_micros() >= length.as_micros();
            let seen = window.count(from, now_us) > 0;
            (watched_long_enough && !seen, None)
        }
    }
}

/// A counter's or histogram's point as the windows take it; `None` for gauges (samples).
fn run_point(telemetry: &TelemetryEvent, sample: &MetricSample) -> Option<RunPoint> {
    let shape = MetricShape::from_payload(telemetry.payload.as_str()).ok()?;
    if !shape.kind.has_runs() {
        return None;
    }
    let run = (shape.temporality == Some(Temporality::Cumulative)).then(|| {
        let start_us = shape.start.map_or(0, |start| start.as_micros());
        let mut digest = Sha256::new();
        digest.update(telemetry.service_name.as_str().as_bytes());
        digest.update([0]);
        digest.update(sample.series_key().as_bytes());
        digest.update(start_us.to_le_bytes());
        let key: String = digest.finalize()[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        (key, start_us)
    });
    let (state, min, max) = match shape.histogram {
        Some(histogram) => (
            RunState {
                value: histogram.count as f64,
                sum: histogram.sum.unwrap_or(0.0),
                layout: Some(histogram.layout),
                buckets: histogram.buckets,
            },
            histogram.min,
            histogram.max,
        ),
        None => (
            RunState {
                value: sample.value,
                sum: 0.0,
                layout: None,
                buckets: Vec::new(),
            },
            None,
            None,
        ),
    };
    Some(RunPoint {
        kind: shape.kind,
        run,
        state,
        min,
        max,
    })
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

/// Whether `series` is one that `rule` produces.
fn series_fits(rule: &RuleRecord, series: &str) -> bool {
    match (&rule.definition.condition, &rule.definition.service_name) {
        (Condition::Absence { .. }, _) => watched_series(rule).as_deref() == Some(series),
        (Condition::Threshold { .. }, Some(service)) => service.as_str() == series,
        (Condition::Threshold { .. }, None) => series != ALL_SERVICES,
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
            let (aggregation, comparator) = (aggregation.as_str(), comparator.as_str());
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

/// How long a series keeps samples: its rule's window and one slice.
fn retention_us(rule: &RuleRecord) -> i64 {
    let window = rule.definition.condition.window();
    window.as_micros() + slice_width(window)
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
        let position = position.unwrap_or(LogPosition::START);
        let mut inner = self.inner.lock().await;
        *inner = Inner::default();
        inner.position = position;
        for (rule_id, series, window) in windows {
            inner.insert_window((rule_id, series), window);
        }
        self.refresh_rules(&mut inner, true).await?;
        Ok(position)
    }

    async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        self.refresh_rules(inner, false).await?;
        let mut touched: HashSet<SeriesKey> = HashSet::new();
        // Rules that made room for new series this round (at most once each).
        let mut reclaimed: HashSet<String> = HashSet::new();
        // Caught up, the round is judged against the clock. Working through a backlog (after
        // a restart, or while behind), the windows still miss what was recorded later, so
        // the clock would see silence that is not there or miss a breach that has since
        // ended: the round is judged as of when its last event was recorded instead, which
        // is what the evaluator would have seen had it kept up.
        let now = Timestamp::now();
        let behind = (now.to_datetime() - last.recorded_at)
            .to_std()
            .is_ok_and(|lag| lag > self.settings.max_lag);
        let at = if behind {
            Timestamp::from_datetime(last.recorded_at).unwrap_or(now)
        } else {
            now
        };
        for event in events {
            let Some(tenant) =
                metadata_field(event, TENANT_METADATA_KEY).and_then(|t| TenantId::parse(t).ok())
            else {
                continue;
            };
            if !inner.by_metric.contains_key(&tenant) {
                continue;
            }
            let section = match event.decode::<IngestBatchEvent>() {
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
                    .get(&tenant)
                    .and_then(|metrics| metrics.get(sample.name.as_str()))
                    .cloned()
                else {
                    continue;
                };
                let point = run_point(telemetry, &sample);
                for rule_id in rule_ids.iter() {
                    let Some(rule) = inner.rules.get(rule_id.as_str()) else {
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
                    if !inner.windows.contains_key(&key) {
                        let limit = self.settings.max_series_per_rule;
                        if inner.series_of_rule(rule_id) >= limit
                            && reclaimed.insert(rule_id.clone())
                        {
                            self.reclaim_series(inner, rule_id, at).await?;
                        }
                        if inner.series_of_rule(rule_id) >= limit {
                            self.refuse_series(inner, &tenant, rule_id);
                            continue;
                        }
                        let Some(rule) = inner.rules.get(rule_id.as_str()) else {
                            continue;
                        };
                        let window = new_window(rule);
                        inner.insert_window(key.clone(), window);
                    }
                    if let Some(window) = inner.windows.get_mut(&key) {
                        // Ingest accepts timestamps up to an hour ahead; for alerting such a
                        // sample counts as arriving when it is judged, so a window never
                        // holds more than its own length of slices.
                        let at_us = telemetry.timestamp.as_micros().min(at.as_micros());
                        match &point {
                            Some(point) => window.add_point(at_us, point.clone()),
                            None => window.add(at_us, sample.value),
                        }
                    }
                    touched.insert(key);
                }
            }
        }
        for key in &touched {
            let retention = inner.rules.get(&key.0).map(retention_us);
            if let (Some(retention), Some(window)) = (retention, inner.windows.get_mut(key)) {
                window.evict(at.as_micros() - retention);
            }
            self.evaluate(inner, key, at).await?;
        }
        inner.dirty.extend(touched);
        let changed = inner.take_dirty();
        self.state.save(Self::NAME, last.position, &changed).await?;
        inner.position = last.position;
        Ok(())
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
        let at = Timestamp::now();
        self.stop_orphans(&mut inner, at).await?;
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
            let Some(retention) = inner.rules.get(&key.0).map(retention_us) else {
                continue;
            };
            if let Some(window) = inner.windows.get_mut(key) {
                if window.evict(at.as_micros() - retention) {
                    inner.dirty.insert(key.clone());
                }
            }
            self.evaluate(&mut inner, key, at).await?;
        }
        self.drop_idle_windows(&mut inner).await?;
        let changed = inner.take_dirty();
        if changed.is_empty() {
            return Ok(());
        }
        let position = inner.position;
        self.state.save(Self::NAME, position, &changed).await
    }
}

#[cfg(test)]
mod tests;
