//! Unit tests of the evaluator: how a rule's window is assessed, and (against in-memory
//! stores) what survives a restart and what a changed rule does to the alerts it started.

mod assessment {
    use serde_json::json;
    use telemetry_domain::alert_rule::{Aggregation, Comparator};

    use crate::alerting::evaluator::*;

    fn rule(definition: serde_json::Value, updated_seconds_ago: i64) -> RuleRecord {
        let now = Timestamp::now().as_micros();
        RuleRecord {
            rule_id: "r".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            definition: crate::alerting::fakes::rule_definition(&definition),
            enabled: true,
            version: 1,
            created_at: Timestamp::from_micros(now - updated_seconds_ago * 1_000_000).unwrap(),
            updated_at: Timestamp::from_micros(now - updated_seconds_ago * 1_000_000).unwrap(),
            watching_since: Timestamp::from_micros(now - updated_seconds_ago * 1_000_000).unwrap(),
        }
    }

    #[test]
    fn thresholds_compare_the_window_aggregate() {
        let rule = rule(
            json!({"name": "n", "metric": "m", "aggregation": "avg", "window": "1m",
                   "comparator": ">", "threshold": 100, "channels": [{"url": "http://x/y"}]}),
            0,
        );
        let at = Timestamp::now();
        let mut window = new_window(&rule);
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
        let at = Timestamp::now();
        let empty = new_window(&rule(definition.clone(), 0));
        assert_eq!(
            assess(&rule(definition.clone(), 10), &empty, at),
            (false, None)
        );
        assert_eq!(
            assess(&rule(definition.clone(), 61), &empty, at),
            (true, None)
        );
        let mut recent = new_window(&rule(definition.clone(), 0));
        recent.add(at.as_micros() - 5_000_000, 1.0);
        assert_eq!(
            assess(&rule(definition.clone(), 61), &recent, at),
            (false, None)
        );
        // Changed a second ago, but in a way that kept it watching (a new name): it counts
        // from when it started watching, so a firing alert stays firing.
        let mut renamed = rule(definition, 61);
        renamed.updated_at = at;
        assert_eq!(assess(&renamed, &empty, at), (true, None));
    }

    #[test]
    fn a_rule_produces_only_its_own_series() {
        let by_service = rule(
            json!({"name": "n", "metric": "m", "aggregation": "avg", "window": "1m",
                   "comparator": ">", "threshold": 1, "channels": [{"url": "http://x/y"}]}),
            0,
        );
        assert!(series_fits(&by_service, "checkout"));
        assert!(!series_fits(&by_service, ALL_SERVICES));
        let one_service = rule(
            json!({"name": "n", "metric": "m", "serviceName": "billing", "aggregation": "avg",
                   "window": "1m", "comparator": ">", "threshold": 1,
                   "channels": [{"url": "http://x/y"}]}),
            0,
        );
        assert!(series_fits(&one_service, "billing"));
        assert!(!series_fits(&one_service, "checkout"));
        let absence = rule(
            json!({"name": "n", "metric": "m", "kind": "absence", "window": "1m",
                   "channels": [{"url": "http://x/y"}]}),
            0,
        );
        assert!(series_fits(&absence, ALL_SERVICES));
        assert!(!series_fits(&absence, "checkout"));
    }

    #[test]
    fn the_basis_changes_with_what_a_rule_selects_not_with_its_threshold() {
        let basis_with = |changes: serde_json::Value| {
            let mut definition = json!({"name": "n", "metric": "m", "aggregation": "avg",
                                        "window": "1m", "comparator": ">", "threshold": 1,
                                        "channels": [{"url": "http://x/y"}]});
            for (field, value) in changes.as_object().unwrap() {
                definition[field] = value.clone();
            }
            basis(&rule(definition, 0))
        };
        let original = basis_with(json!({}));
        assert_eq!(original, basis_with(json!({"threshold": 2})));
        assert_eq!(original, basis_with(json!({"serviceName": "billing"})));
        assert_ne!(original, basis_with(json!({"metric": "other"})));
        assert_ne!(original, basis_with(json!({"window": "5m"})));
        assert_ne!(
            original,
            basis_with(json!({"attributes": {"region": "eu"}}))
        );
    }

    #[test]
    fn conditions_read_well() {
        let condition = Condition::Threshold {
            aggregation: Aggregation::P95,
            window: Seconds(300),
            comparator: Comparator::AtLeast,
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

/// The evaluator against in-memory stores: what survives a restart and what a changed rule
/// does to the alerts it started.
mod lifecycle {
    use chrono::Utc;
    use cqrs_es::mem_store::MemStore;
    use serde_json::json;
    use telemetry_domain::ingest::{EventSection, Payload, TelemetryEvent};
    use telemetry_domain::values::{EventId, EventType, ServiceName};
    use tokio::sync::Notify;

    use crate::alerting::evaluator::*;
    use crate::alerting::fakes::{MemoryAlertState as State, MemoryRules as Rules};
    use crate::commands::CommandBus;

    /// Durable state shared by the evaluator instances of one test (one per "process").
    struct World {
        rules: Arc<Rules>,
        state: Arc<State>,
        alerts: Arc<CommandBus<Alert, MemStore<Alert>>>,
    }

    impl World {
        const MAX_SERIES: usize = 3;

        fn new(definition: serde_json::Value) -> Self {
            let world = Self {
                rules: Arc::default(),
                state: Arc::default(),
                alerts: Arc::new(CommandBus::new(
                    MemStore::default(),
                    (),
                    Arc::new(Notify::new()),
                )),
            };
            world.set_rule(definition, true);
            world
        }

        fn set_rule(&self, definition: serde_json::Value, enabled: bool) {
            let mut rules = self.rules.0.lock().unwrap();
            let version = rules.first().map_or(1, |rule| rule.version + 1);
            let at = Timestamp::now();
            let definition = crate::alerting::fakes::rule_definition(&definition);
            // As the rule catalog keeps it: watching goes on through changes that keep what
            // the rule watches, and restarts when it is enabled.
            let watching_since = match rules.first() {
                Some(previous)
                    if previous.definition.watches_like(&definition)
                        && (previous.enabled || !enabled) =>
                {
                    previous.watching_since
                }
                _ => at,
            };
            *rules = vec![RuleRecord {
                rule_id: "r".into(),
                tenant_id: tenant(),
                definition,
                enabled,
                version,
                created_at: at,
                updated_at: at,
                watching_since,
            }];
        }

        /// A freshly started evaluator (checking rules and the tick on every call).
        async fn start(&self) -> AlertEvaluator {
            let evaluator = AlertEvaluator::new(
                self.rules.clone(),
                self.state.clone(),
                self.alerts.clone(),
                EvaluatorSettings {
                    tick: Duration::ZERO,
                    rules_refresh: Duration::ZERO,
                    max_lag: Duration::from_secs(10),
                    max_series_per_rule: Self::MAX_SERIES,
                },
                Arc::new(Metrics::default()),
            );
            evaluator.prepare().await.unwrap();
            evaluator
        }

        async fn status(&self, series: &str) -> AlertStatus {
            self.alerts
                .load(&alert_id("r", series))
                .await
                .unwrap()
                .status()
        }

        fn saved_series(&self) -> Vec<String> {
            let state = self.state.0.lock().unwrap();
            let mut series: Vec<String> = state.1.keys().map(|(_, s)| s.clone()).collect();
            series.sort();
            series
        }
    }

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn latency_above_100(service: Option<&str>) -> serde_json::Value {
        json!({"name": "slow", "metric": "latency", "serviceName": service,
               "aggregation": "max", "window": "1m", "comparator": ">", "threshold": 100,
               "channels": [{"url": "http://receiver/hook"}]})
    }

    /// A committed `MetricIngested` event with one `latency` sample.
    fn latency(
        position: i64,
        service: &str,
        value: f64,
        measured_seconds_ago: i64,
        recorded_seconds_ago: i64,
    ) -> StoredEvent {
        let timestamp =
            Timestamp::from_micros(Timestamp::now().as_micros() - measured_seconds_ago * 1_000_000)
                .unwrap();
        let event = TelemetryEvent {
            event_id: EventId::parse(format!("e{position}")).unwrap(),
            event_type: EventType::Metric,
            service_name: ServiceName::parse(service).unwrap(),
            timestamp,
            user_id: None,
            payload: Payload::from_stored(json!({"name": "latency", "value": value}).to_string()),
        };
        let section = EventSection {
            tenant_id: tenant(),
            event_type: EventType::Metric,
            events: Arc::from(vec![event]),
        };
        StoredEvent {
            position: LogPosition {
                transaction_id: 1,
                position,
            },
            aggregate_type: <IngestBatch as cqrs_es::Aggregate>::TYPE.into(),
            aggregate_id: format!("batch-{position}"),
            sequence: 2,
            event_type: IngestBatchEvent::METRIC_INGESTED.into(),
            event_version: "1".into(),
            payload: crate::ports::EventPayload::Json(
                serde_json::to_string(&IngestBatchEvent::MetricIngested(section)).unwrap(),
            ),
            metadata: json!({ TENANT_METADATA_KEY: "acme" }).to_string(),
            recorded_at: Utc::now() - chrono::Duration::seconds(recorded_seconds_ago),
        }
    }

    /// A rule on every service's `latency` firing for `checkout`, and its evaluator.
    async fn firing_on_checkout() -> (World, AlertEvaluator) {
        let world = World::new(latency_above_100(None));
        let evaluator = world.start().await;
        evaluator
            .process(&[latency(1, "checkout", 150.0, 0, 0)])
            .await
            .unwrap();
        assert_eq!(world.status("checkout").await, AlertStatus::Firing);
        (world, evaluator)
    }

    #[tokio::test]
    async fn a_rule_disabled_while_the_service_was_down_resolves_the_alert_it_fired() {
        let (world, evaluator) = firing_on_checkout().await;

        drop(evaluator);
        world.set_rule(latency_above_100(None), false);
        let restarted = world.start().await;
        restarted.tick().await.unwrap();

        assert_eq!(world.status("checkout").await, AlertStatus::Resolved);
        assert!(world.saved_series().is_empty());
    }

    #[tokio::test]
    async fn a_rule_disabled_and_enabled_again_between_two_catalog_reads_starts_over() {
        let (world, evaluator) = firing_on_checkout().await;

        // Both changes land before the evaluator reads the catalog again: it sees the rule
        // enabled, as before, selecting the same samples, but watching since just now.
        world.set_rule(latency_above_100(None), false);
        std::thread::sleep(Duration::from_millis(2));
        world.set_rule(latency_above_100(None), true);
        evaluator.tick().await.unwrap();

        assert_eq!(world.status("checkout").await, AlertStatus::Resolved);
        assert!(world.saved_series().is_empty(), "the old samples are gone");
        // The rule watches on: a new breach fires a new episode.
        evaluator
            .process(&[latency(2, "checkout", 150.0, 0, 0)])
            .await
            .unwrap();
        assert_eq!(world.status("checkout").await, AlertStatus::Firing);
    }

    #[tokio::test]
    async fn a_rule_narrowed_to_another_service_resolves_the_series_it_dropped() {
        let world = World::new(latency_above_100(None));
        let evaluator = world.start().await;
        evaluator
            .process(&[
                latency(1, "checkout", 150.0, 0, 0),
                latency(2, "billing", 150.0, 0, 0),
            ])
            .await
            .unwrap();
        assert_eq!(world.saved_series(), ["billing", "checkout"]);

        world.set_rule(latency_above_100(Some("billing")), true);
        evaluator.tick().await.unwrap();

        assert_eq!(world.status("checkout").await, AlertStatus::Resolved);
        assert_eq!(world.status("billing").await, AlertStatus::Firing);
        assert_eq!(world.saved_series(), ["billing"]);
    }

    #[tokio::test]
    async fn a_firing_rule_edited_to_another_metric_resolves_even_across_a_crash() {
        let (world, evaluator) = firing_on_checkout().await;

        // The rule now watches another metric: the samples it fired on no longer count.
        let mut edited = latency_above_100(None);
        edited["metric"] = json!("errors");
        world.set_rule(edited, true);
        // A round of unrelated events saves the evaluator's state, then the process dies
        // before any tick.
        evaluator
            .process(&[latency(2, "billing", 1.0, 0, 0)])
            .await
            .unwrap();
        assert_eq!(
            world.saved_series(),
            ["checkout"],
            "the alert keeps a window"
        );
        drop(evaluator);

        let restarted = world.start().await;
        restarted.tick().await.unwrap();
        assert_eq!(world.status("checkout").await, AlertStatus::Resolved);
        assert!(
            world.saved_series().is_empty(),
            "{:?}",
            world.saved_series()
        );
    }

    #[tokio::test]
    async fn a_breach_in_a_backlog_fires_as_of_its_time_and_the_tick_resolves_it() {
        // A breach recorded two minutes ago (a 1m rule), read only now: after a restart,
        // say. Judged against the clock it would already have left the window.
        let world = World::new(latency_above_100(None));
        let evaluator = world.start().await;
        evaluator
            .process(&[latency(1, "checkout", 150.0, 120, 120)])
            .await
            .unwrap();
        assert_eq!(world.status("checkout").await, AlertStatus::Firing);

        evaluator.tick().await.unwrap();
        assert_eq!(world.status("checkout").await, AlertStatus::Resolved);
    }

    #[tokio::test]
    async fn a_hold_in_a_backlog_elapses_by_recorded_time_not_by_reading_time() {
        // `for: 30s`: a breach recorded at -120 s and still breaching at -100 s has not held
        // long enough, though both are read two minutes late; at -80 s it has.
        let mut rule = latency_above_100(None);
        rule["for"] = json!("30s");
        let world = World::new(rule);
        let evaluator = world.start().await;
        for (position, seconds_ago, status) in [
            (1, 120, AlertStatus::Pending),
            (2, 100, AlertStatus::Pending),
            (3, 80, AlertStatus::Firing),
        ] {
            evaluator
                .process(&[latency(
                    position,
                    "checkout",
                    150.0,
                    seconds_ago,
                    seconds_ago,
                )])
                .await
                .unwrap();
            assert_eq!(
                world.status("checkout").await,
                status,
                "at -{seconds_ago} s"
            );
        }
    }

    #[tokio::test]
    async fn a_window_with_nothing_in_it_and_no_active_alert_is_dropped() {
        let world = World::new(latency_above_100(None));
        let evaluator = world.start().await;
        evaluator
            .process(&[
                latency(1, "checkout", 50.0, 0, 0),
                latency(2, "billing", 50.0, 120, 0),
            ])
            .await
            .unwrap();
        evaluator.tick().await.unwrap();

        assert_eq!(world.saved_series(), ["checkout"]);
        assert_eq!(world.status("billing").await, AlertStatus::Ok);
        let position = world.state.0.lock().unwrap().0;
        assert_eq!(position.map(|p| p.position), Some(2));
    }

    #[tokio::test]
    async fn a_rule_tracks_at_most_its_limit_of_series_and_idle_ones_make_room() {
        let world = World::new(latency_above_100(None));
        let evaluator = world.start().await;
        let refused = |evaluator: &AlertEvaluator| {
            evaluator
                .metrics
                .alert_samples_over_series_limit
                .load(Ordering::Relaxed)
        };
        // c's only sample is older than the rule's window: when d needs room, c's window
        // is found empty (and its alert not active) and goes, even before any tick.
        evaluator
            .process(&[
                latency(1, "a", 150.0, 0, 0),
                latency(2, "b", 50.0, 0, 0),
                latency(3, "c", 50.0, 120, 0),
                latency(4, "d", 150.0, 0, 0),
            ])
            .await
            .unwrap();
        assert_eq!(world.saved_series(), ["a", "b", "d"]);
        assert_eq!(world.status("d").await, AlertStatus::Firing);
        assert_eq!(refused(&evaluator), 0);

        // With a, b and d all live, e is ignored and counted.
        evaluator
            .process(&[latency(5, "e", 150.0, 0, 0)])
            .await
            .unwrap();
        assert_eq!(world.status("e").await, AlertStatus::Ok);
        assert_eq!(refused(&evaluator), 1);

        // After a restart the limit still counts the saved series.
        drop(evaluator);
        let restarted = world.start().await;
        restarted
            .process(&[latency(6, "e", 150.0, 0, 0)])
            .await
            .unwrap();
        assert_eq!(world.status("e").await, AlertStatus::Ok);
        assert_eq!(refused(&restarted), 1);
        assert_eq!(world.saved_series(), ["a", "b", "d"]);
    }

    #[tokio::test]
    async fn a_sample_stamped_in_the_future_counts_as_arriving_now() {
        let world = World::new(latency_above_100(None));
        let evaluator = world.start().await;
        evaluator
            .process(&[latency(1, "checkout", 150.0, -1_800, 0)])
            .await
            .unwrap();
        assert_eq!(world.status("checkout").await, AlertStatus::Firing);
    }
}
