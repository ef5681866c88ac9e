//! Runs event processors: one task per processor, each owning its work through a lease.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

use super::EventProcessor;
use crate::ports::{EventLog, EventStoreHorizon, LeaseProvider, LogPosition, PortError};

/// What a panic said, for the log and `/readyz`.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let said = panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    format!("the processor panicked: {said}")
}

/// Tuning of the processor loop.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// Store events read per round.
    pub batch_events: usize,
    /// Longest wait for new events when nothing wakes the processor (other instances write).
    pub poll_interval: Duration,
    /// After a round that was not full (the processor is caught up), wait this long before
    /// reading again, so writes to the read model come in a few larger blocks rather than one
    /// per ingest commit. Bounds the extra staleness this adds.
    pub coalesce: Duration,
    /// How often an instance without the lease tries to take it.
    pub lease_retry: Duration,
    /// How often the lease and rebuild requests are checked while running.
    pub check_interval: Duration,
    /// First and longest wait after a failure.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How often a processor that is behind logs its lag.
    pub lag_log_interval: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_events: 128,
            poll_interval: Duration::from_millis(250),
            coalesce: Duration::from_millis(200),
            lease_retry: Duration::from_secs(2),
            check_interval: Duration::from_secs(1),
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
            lag_log_interval: Duration::from_secs(10),
        }
    }
}

/// What a processor is doing on this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessorStatus {
    Starting,
    /// This instance holds the lease and applies events.
    Running,
    /// Another instance holds the lease.
    Standby,
    /// The last round failed; it is tried again.
    Retrying,
}

impl ProcessorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Standby => "standby",
            Self::Retrying => "retrying",
        }
    }
}

/// What one processor is doing, as this instance sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProcessorState {
    pub status: ProcessorStatus,
    pub position: Option<LogPosition>,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A processor's state plus its lag behind the event log.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProcessorReport {
    pub status: ProcessorStatus,
    pub position: Option<LogPosition>,
    /// Store events committed after the processor's position (capped count).
    pub lag_events: Option<u64>,
    /// Age of the oldest of those events.
    pub lag_seconds: Option<f64>,
    pub last_error: Option<String>,
}

/// Shared view of every processor of this instance.
#[derive(Default)]
pub struct ProcessorMonitor {
    states: Mutex<BTreeMap<&'static str, ProcessorState>>,
}

impl ProcessorMonitor {
    fn set(
        &self,
        name: &'static str,
        status: ProcessorStatus,
        position: Option<LogPosition>,
        error: Option<String>,
    ) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(
                name,
                ProcessorState {
                    status,
                    position,
                    last_error: error,
                    updated_at: Utc::now(),
                },
            );
        }
    }

    /// Marks a processor as failing, keeping the last position it reached: its lag keeps
    /// growing in `/readyz` while it retries, instead of disappearing when it matters most.
    fn set_retrying(&self, name: &'static str, error: String) -> Option<LogPosition> {
        let mut states = self.states.lock().ok()?;
        let position = states.get(name).and_then(|state| state.position);
        states.insert(
            name,
            ProcessorState {
                status: ProcessorStatus::Retrying,
                position,
                last_error: Some(error),
                updated_at: Utc::now(),
            },
        );
        position
    }

    pub fn states(&self) -> BTreeMap<&'static str, ProcessorState> {
        self.states
            .lock()
            .map(|states| states.clone())
            .unwrap_or_default()
    }

    /// States with lag computed against `log` (for processors this instance runs); the lag
    /// queries run concurrently, so `/readyz` costs one round trip, not one per processor.
    pub async fn report(&self, log: &dyn EventLog) -> BTreeMap<&'static str, ProcessorReport> {
        let reports = self.states().into_iter().map(|(name, state)| async move {
            let lag = match (state.status, state.position) {
                (ProcessorStatus::Running | ProcessorStatus::Retrying, Some(position)) => {
                    log.lag(position).await.ok()
                }
                _ => None,
            };
            let report = ProcessorReport {
                status: state.status,
                position: state.position,
                lag_events: lag.map(|lag| lag.events),
                lag_seconds: lag.map(|lag| lag.seconds()),
                last_error: state.last_error,
            };
            (name, report)
        });
        futures_util::future::join_all(reports)
            .await
            .into_iter()
            .collect()
    }
}

/// Runs processors until the stop signal turns true.
pub struct ProcessorRunner {
    log: Arc<dyn EventLog>,
    leases: Arc<dyn LeaseProvider>,
    wake: Arc<Notify>,
    monitor: Arc<ProcessorMonitor>,
    settings: RunnerSettings,
    horizon: Option<Arc<dyn EventStoreHorizon>>,
}

/// The aggregate type of telemetry batches: what the event store's horizon drops.
pub const TELEMETRY: &str = telemetry_domain::ingest::INGEST_BATCH;

/// Whether `processor` reads telemetry, and so holds back the event store's horizon until
/// it has passed what would be dropped.
pub fn reads_telemetry(processor: &dyn EventProcessor) -> bool {
    processor
        .filters()
        .iter()
        .any(|filter| filter.aggregate_type == TELEMETRY)
}

impl ProcessorRunner {
    pub fn new(
        log: Arc<dyn EventLog>,
        leases: Arc<dyn LeaseProvider>,
        wake: Arc<Notify>,
        monitor: Arc<ProcessorMonitor>,
        settings: RunnerSettings,
    ) -> Self {
        Self {
            log,
            leases,
            wake,
            monitor,
            settings,
            horizon: None,
        }
    }

    /// Records how far each processor that reads telemetry has got (about once every
    /// `check_interval` while it advances), for the event store's horizon.
    pub fn recording_progress(mut self, horizon: Arc<dyn EventStoreHorizon>) -> Self {
        self.horizon = Some(horizon);
        self
    }

    /// Records `position` as `processor`'s progress when it moved and the last record is
    /// older than `check_interval`. A failure is logged: the record is only ever behind,
    /// which holds the horizon back, never forward.
    async fn record_progress(
        &self,
        processor: &dyn EventProcessor,
        position: LogPosition,
        recorded: &mut (Option<LogPosition>, Option<Instant>),
    ) {
        let Some(horizon) = &self.horizon else {
            return;
        };
        if recorded.0 >= Some(position)
            || recorded
                .1
                .is_some_and(|at| at.elapsed() < self.settings.check_interval)
            || !reads_telemetry(processor)
        {
            return;
        }
        match horizon.record_progress(processor.name(), position).await {
            Ok(()) => *recorded = (Some(position), Some(Instant::now())),
            Err(error) => {
                warn!(processor = processor.name(), error = %error, "cannot record processor progress")
            }
        }
    }

    /// Runs one processor: take the lease, resume from where its read model says, apply
    /// events in log order, and start over after a failure or a rebuild request.
    pub async fn run(&self, processor: Arc<dyn EventProcessor>, mut stop: watch::Receiver<bool>) {
        let name = processor.name();
        self.monitor
            .set(name, ProcessorStatus::Starting, None, None);
        let mut retry = self.settings.retry_min;
        while !*stop.borrow() {
            let lease = match self
                .leases
                .try_acquire(&format!("processor:{}", processor.lease_key()))
                .await
            {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    self.monitor.set(name, ProcessorStatus::Standby, None, None);
                    if wait(&mut stop, self.settings.lease_retry).await {
                        return;
                    }
                    continue;
                }
                Err(error) => {
                    self.monitor.set_retrying(name, error.to_string());
                    warn!(processor = name, error = %error, "cannot take the processor lease");
                    if wait(&mut stop, retry).await {
                        return;
                    }
                    retry = (retry * 2).min(self.settings.retry_max);
                    continue;
                }
            };
            info!(processor = name, "processor lease taken");
            // A panic (a bug, or an event no code expected) ends this run, not the task: the
            // lease goes with the unwinding, and the processor starts over from its read
            // model like after any failure, visibly (`/readyz`, the log) instead of
            // stopping for good behind a `running` status.
            let run = AssertUnwindSafe(self.drive(processor.as_ref(), lease, &mut stop))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(PortError::failed(panic_message(&panic))));
            match run {
                Ok(()) => retry = self.settings.retry_min,
                Err(error) => {
                    let position = self.monitor.set_retrying(name, error.to_string());
                    // The lag, when the log still answers: how far behind the failure leaves
                    // this processor.
                    let lag = match position {
                        Some(position) => self.log.lag(position).await.ok(),
                        None => None,
                    };
                    error!(
                        processor = name,
                        error = %error,
                        lag_events = lag.map(|lag| lag.events),
                        lag_seconds = lag.map(|lag| lag.seconds()),
                        "processor failed; resuming from its read model"
                    );
                    if wait(&mut stop, retry).await {
                        return;
                    }
                    retry = (retry * 2).min(self.settings.retry_max);
                }
            }
        }
    }

    /// Holds the lease until stopped, the lease is lost, a restart is needed, or a failure.
    async fn drive(
        &self,
        processor: &dyn EventProcessor,
        mut lease: Box<dyn crate::ports::Lease>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), PortError> {
        let name = processor.name();
        let mut position = processor.prepare().await?;
        info!(processor = name, ?position, "processor resuming");
        // Where it resumes is all it has durably handled now (less than recorded when its
        // read model was rebuilt): the horizon must not drop what it will read again.
        if let (Some(horizon), true) = (&self.horizon, reads_telemetry(processor)) {
            horizon.restart_progress(name, position).await?;
        }
        self.monitor
            .set(name, ProcessorStatus::Running, Some(position), None);
        let mut last_check = Instant::now();
        let mut last_lag_log = Instant::now();
        // The progress last recorded for the horizon, and when.
        let mut recorded = (None, None);
        // Whether the last read found the end of the log: time-driven work waits for it, so
        // it never judges state that misses events still to be applied (after a restart,
        // say, the saved state is older than the log).
        let mut caught_up = false;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if last_check.elapsed() >= self.settings.check_interval {
                last_check = Instant::now();
                if !lease.is_held().await {
                    warn!(processor = name, "processor lease lost");
                    return Ok(());
                }
                if processor.needs_restart().await? {
                    info!(processor = name, "processor restarting (rebuild requested)");
                    return Ok(());
                }
            }
            if caught_up {
                processor.tick().await?;
            }
            // Registered before reading, so a commit between the read and the wait still
            // wakes this processor.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let page = self
                .log
                .read_after(position, processor.filters(), self.settings.batch_events)
                .await?;
            let events = page.events;
            caught_up = events.len() < self.settings.batch_events;
            if events.is_empty() {
                // Nothing for this processor up to the end of the page: the next read starts
                // there (in memory; after a restart the processor resumes from its own
                // position and scans the stretch once more).
                if page.end > position {
                    position = page.end;
                    self.monitor
                        .set(name, ProcessorStatus::Running, Some(position), None);
                }
                self.record_progress(processor, position, &mut recorded)
                    .await;
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = stop.changed() => return Ok(()),
                }
                continue;
            }
            // The lease is checked before every write, not only every `check_interval`: when
            // Postgres ends the lease session (a restart, a failover, a terminated backend),
            // another instance takes the lease at once and reads how far the read model got;
            // a write of this one after that would be applied twice.
            if !lease.is_held().await {
                warn!(processor = name, "processor lease lost");
                return Ok(());
            }
            processor.process(&events).await?;
            position = page.end;
            self.monitor
                .set(name, ProcessorStatus::Running, Some(position), None);
            self.record_progress(processor, position, &mut recorded)
                .await;
            if caught_up {
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.coalesce) => {}
                    _ = stop.changed() => return Ok(()),
                }
            }
            if last_lag_log.elapsed() >= self.settings.lag_log_interval {
                last_lag_log = Instant::now();
                if let Ok(lag) = self.log.lag(position).await {
                    if lag.events > 0 {
                        info!(
                            processor = name,
                            lag_events = lag.events,
                            lag_seconds = lag.seconds(),
                            "processor behind"
                        );
                    }
                }
            }
        }
    }
}

/// Sleeps for `duration`; true if the stop signal fired meanwhile.
async fn wait(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::ports::{EventFilter, Lease, LogLag, LogPage, StoredEvent};

    /// Five events in memory.
    struct MemoryLog;

    fn event(position: i64) -> StoredEvent {
        StoredEvent {
            position: LogPosition {
                transaction_id: 1,
                position,
            },
            aggregate_type: "Test".into(),
            aggregate_id: "a".into(),
            sequence: position,
            event_type: "Happened".into(),
            event_version: "1".into(),
            payload: "{}".into(),
            metadata: "{}".into(),
            recorded_at: Utc::now(),
        }
    }

    #[async_trait]
    impl EventLog for MemoryLog {
        async fn read_after(
            &self,
            after: LogPosition,
            _filters: &[EventFilter<'_>],
            limit: usize,
        ) -> Result<LogPage, PortError> {
            let events: Vec<_> = (after.position + 1..=5).take(limit).map(event).collect();
            let end = events.last().map_or(after, |last| last.position);
            Ok(LogPage { events, end })
        }

        async fn lag(&self, after: LogPosition) -> Result<LogLag, PortError> {
            Ok(LogLag {
                events: (5 - after.position).max(0) as u64,
                oldest_recorded_at: None,
            })
        }

        async fn head(&self) -> Result<LogPosition, PortError> {
            Ok(event(5).position)
        }

        async fn recorded_at(
            &self,
            _position: LogPosition,
        ) -> Result<Option<DateTime<Utc>>, PortError> {
            Ok(None)
        }
    }

    struct AlwaysHeld;

    #[async_trait]
    impl Lease for AlwaysHeld {
        async fn is_held(&mut self) -> bool {
            true
        }
    }

    #[async_trait]
    impl LeaseProvider for AlwaysHeld {
        async fn try_acquire(&self, _name: &str) -> Result<Option<Box<dyn Lease>>, PortError> {
            Ok(Some(Box::new(AlwaysHeld)))
        }
    }

    /// Records what the runner asks of it.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl EventProcessor for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }

        fn filters(&self) -> &[EventFilter<'static>] {
            &[]
        }

        async fn prepare(&self) -> Result<LogPosition, PortError> {
            Ok(LogPosition::START)
        }

        async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("process {}", events.len()));
            Ok(())
        }

        async fn tick(&self) -> Result<(), PortError> {
            self.calls.lock().unwrap().push("tick".into());
            Ok(())
        }
    }

    /// Runs `processor` on `runner` in a task of its own, until told to stop.
    fn start(
        runner: &Arc<ProcessorRunner>,
        processor: Arc<dyn EventProcessor>,
    ) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let (stop, stopped) = watch::channel(false);
        let runner = Arc::clone(runner);
        let task = tokio::spawn(async move { runner.run(processor, stopped).await });
        (stop, task)
    }

    /// Waits (a few seconds at most) until `done`, instead of for a fixed time that a
    /// loaded machine may not give the runner.
    async fn until(done: impl Fn() -> bool) {
        for _ in 0..2_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A runner over the five events of `MemoryLog`, reading two at a time at test speed
    /// (what `settings` says otherwise).
    fn memory_runner(settings: RunnerSettings) -> ProcessorRunner {
        ProcessorRunner::new(
            Arc::new(MemoryLog),
            Arc::new(AlwaysHeld),
            Arc::new(Notify::new()),
            Arc::new(ProcessorMonitor::default()),
            RunnerSettings {
                batch_events: 2,
                poll_interval: Duration::from_millis(5),
                coalesce: Duration::from_millis(1),
                ..settings
            },
        )
    }

    #[tokio::test]
    async fn time_driven_work_waits_until_the_log_is_caught_up() {
        let runner = Arc::new(memory_runner(RunnerSettings::default()));
        let recorder = Arc::new(Recorder::default());
        let (stop, task) = start(&runner, Arc::clone(&recorder) as Arc<dyn EventProcessor>);
        until(|| recorder.calls.lock().unwrap().len() > 4).await;
        stop.send(true).unwrap();
        task.await.unwrap();

        let calls = recorder.calls.lock().unwrap().clone();
        assert_eq!(
            calls[..3],
            ["process 2", "process 2", "process 1"],
            "{calls:?}"
        );
        assert!(calls[3..].iter().all(|call| call == "tick"), "{calls:?}");
        assert!(calls.len() > 3, "ticks once caught up: {calls:?}");
    }

    /// Keeps the progress the runner records.
    #[derive(Default)]
    struct Progress(Mutex<Vec<(String, i64)>>);

    #[async_trait]
    impl EventStoreHorizon for Progress {
        async fn register_readers(&self, _names: &[&str]) -> Result<(), PortError> {
            Ok(())
        }

        async fn maintain(
            &self,
            _at: DateTime<Utc>,
            _horizon: Option<Duration>,
        ) -> Result<crate::ports::HorizonReport, PortError> {
            Err(PortError::failed("not used"))
        }

        async fn last_run(&self) -> Result<Option<crate::ports::HorizonReport>, PortError> {
            Ok(None)
        }

        async fn restart_progress(
            &self,
            name: &str,
            position: LogPosition,
        ) -> Result<(), PortError> {
            self.record_progress(name, position).await
        }

        async fn record_progress(
            &self,
            name: &str,
            position: LogPosition,
        ) -> Result<(), PortError> {
            self.0
                .lock()
                .unwrap()
                .push((name.to_string(), position.position));
            Ok(())
        }
    }

    /// `Recorder`, reading telemetry.
    struct TelemetryReader(Recorder);

    const TELEMETRY_FILTERS: [EventFilter<'static>; 1] = [EventFilter {
        aggregate_type: TELEMETRY,
        event_types: &[],
    }];

    #[async_trait]
    impl EventProcessor for TelemetryReader {
        fn name(&self) -> &'static str {
            "telemetry reader"
        }

        fn filters(&self) -> &[EventFilter<'static>] {
            &TELEMETRY_FILTERS
        }

        async fn prepare(&self) -> Result<LogPosition, PortError> {
            self.0.prepare().await
        }

        async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
            self.0.process(events).await
        }
    }

    #[tokio::test]
    async fn readers_of_telemetry_record_their_progress_for_the_horizon() {
        let progress = Arc::new(Progress::default());
        let runner = Arc::new(
            memory_runner(RunnerSettings {
                check_interval: Duration::from_millis(1),
                ..RunnerSettings::default()
            })
            .recording_progress(Arc::clone(&progress) as Arc<dyn EventStoreHorizon>),
        );
        let reader = Arc::new(TelemetryReader(Recorder::default()));
        let other = Arc::new(Recorder::default());
        let (stop_reader, reader_task) = start(&runner, reader as Arc<dyn EventProcessor>);
        let (stop_other, other_task) =
            start(&runner, Arc::clone(&other) as Arc<dyn EventProcessor>);
        until(|| {
            progress
                .0
                .lock()
                .unwrap()
                .last()
                .is_some_and(|(_, position)| *position == 5)
        })
        .await;
        until(|| other.calls.lock().unwrap().len() > 3).await;
        stop_reader.send(true).unwrap();
        stop_other.send(true).unwrap();
        reader_task.await.unwrap();
        other_task.await.unwrap();

        let recorded = progress.0.lock().unwrap().clone();
        assert!(
            recorded.iter().all(|(name, _)| name == "telemetry reader"),
            "only readers of telemetry hold the horizon: {recorded:?}"
        );
        let positions: Vec<i64> = recorded.iter().map(|(_, position)| *position).collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "{positions:?}"
        );
        assert_eq!(positions.last(), Some(&5));
    }

    /// A lease that ends when `held` is cleared; taken again only while it is set.
    #[derive(Clone, Default)]
    struct Revocable {
        held: Arc<std::sync::atomic::AtomicBool>,
        acquisitions: Arc<std::sync::atomic::AtomicUsize>,
    }

    #[async_trait]
    impl Lease for Revocable {
        async fn is_held(&mut self) -> bool {
            self.held.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl LeaseProvider for Revocable {
        async fn try_acquire(&self, _name: &str) -> Result<Option<Box<dyn Lease>>, PortError> {
            self.acquisitions
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let held = self.held.load(std::sync::atomic::Ordering::SeqCst);
            Ok(held.then(|| Box::new(self.clone()) as Box<dyn Lease>))
        }
    }

    /// Records what it is given, after running `before` on every batch.
    struct Hooked {
        before: Box<dyn Fn() + Send + Sync>,
        recorder: Recorder,
    }

    impl Hooked {
        fn new(before: impl Fn() + Send + Sync + 'static) -> Self {
            Self {
                before: Box::new(before),
                recorder: Recorder::default(),
            }
        }
    }

    #[async_trait]
    impl EventProcessor for Hooked {
        fn name(&self) -> &'static str {
            "hooked"
        }

        fn filters(&self) -> &[EventFilter<'static>] {
            &[]
        }

        async fn prepare(&self) -> Result<LogPosition, PortError> {
            Ok(LogPosition::START)
        }

        async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
            (self.before)();
            self.recorder.process(events).await
        }
    }

    #[tokio::test]
    async fn no_batch_is_written_once_the_lease_is_gone() {
        let lease = Revocable::default();
        lease.held.store(true, std::sync::atomic::Ordering::SeqCst);
        let runner = Arc::new(ProcessorRunner::new(
            Arc::new(MemoryLog),
            Arc::new(lease.clone()),
            Arc::new(Notify::new()),
            Arc::new(ProcessorMonitor::default()),
            RunnerSettings {
                batch_events: 2,
                poll_interval: Duration::from_millis(5),
                lease_retry: Duration::from_millis(5),
                // Far longer than the test: only the check before each write can see it.
                check_interval: Duration::from_secs(3_600),
                ..RunnerSettings::default()
            },
        ));
        // The lease ends while the first batch is written (Postgres closed the session).
        let held = Arc::clone(&lease.held);
        let processor = Arc::new(Hooked::new(move || {
            held.store(false, std::sync::atomic::Ordering::SeqCst)
        }));
        let (stop, task) = start(&runner, Arc::clone(&processor) as Arc<dyn EventProcessor>);
        until(|| lease.acquisitions.load(std::sync::atomic::Ordering::SeqCst) >= 3).await;
        stop.send(true).unwrap();
        task.await.unwrap();
        let calls = processor.recorder.calls.lock().unwrap().clone();
        assert_eq!(calls, ["process 2"]);
    }

    #[tokio::test]
    async fn a_panicking_processor_starts_over_instead_of_stopping() {
        let monitor = Arc::new(ProcessorMonitor::default());
        let runner = Arc::new(ProcessorRunner::new(
            Arc::new(MemoryLog),
            Arc::new(AlwaysHeld),
            Arc::new(Notify::new()),
            Arc::clone(&monitor),
            RunnerSettings {
                batch_events: 5,
                poll_interval: Duration::from_millis(5),
                retry_min: Duration::from_millis(5),
                ..RunnerSettings::default()
            },
        ));
        // Panics on its first batch, then records.
        let panicked = std::sync::atomic::AtomicBool::new(false);
        let processor = Arc::new(Hooked::new(move || {
            if !panicked.swap(true, std::sync::atomic::Ordering::SeqCst) {
                panic!("an event nobody expected");
            }
        }));
        let (stop, task) = start(&runner, Arc::clone(&processor) as Arc<dyn EventProcessor>);
        until(|| !processor.recorder.calls.lock().unwrap().is_empty()).await;
        stop.send(true).unwrap();
        task.await.expect("the runner's task survives the panic");
        assert_eq!(processor.recorder.calls.lock().unwrap()[0], "process 5");
    }

    /// Applies two events, then fails on every later batch (a read model that went away).
    #[derive(Default)]
    struct FailsAfterTwo {
        applied: Mutex<usize>,
    }

    #[async_trait]
    impl EventProcessor for FailsAfterTwo {
        fn name(&self) -> &'static str {
            "fails-after-two"
        }

        fn filters(&self) -> &[EventFilter<'static>] {
            &[]
        }

        async fn prepare(&self) -> Result<LogPosition, PortError> {
            let applied = *self.applied.lock().unwrap();
            Ok(LogPosition {
                transaction_id: 1,
                position: applied as i64,
            })
        }

        async fn process(&self, events: &[StoredEvent]) -> Result<(), PortError> {
            let mut applied = self.applied.lock().unwrap();
            if *applied >= 2 {
                return Err(PortError::unavailable("read model unreachable"));
            }
            *applied += events.len();
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failing_processor_keeps_reporting_its_lag() {
        let monitor = Arc::new(ProcessorMonitor::default());
        let runner = ProcessorRunner::new(
            Arc::new(MemoryLog),
            Arc::new(AlwaysHeld),
            Arc::new(Notify::new()),
            Arc::clone(&monitor),
            RunnerSettings {
                batch_events: 2,
                retry_min: Duration::from_millis(5),
                retry_max: Duration::from_millis(5),
                ..RunnerSettings::default()
            },
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            runner
                .run(Arc::new(FailsAfterTwo::default()), stopped)
                .await;
        });
        until(|| {
            monitor
                .states()
                .get("fails-after-two")
                .is_some_and(|state| state.status == ProcessorStatus::Retrying)
        })
        .await;
        let reports = monitor.report(&MemoryLog).await;
        stop.send(true).unwrap();
        task.await.unwrap();

        let report = &reports["fails-after-two"];
        assert_eq!(report.status, ProcessorStatus::Retrying);
        assert_eq!(report.position.map(|at| at.position), Some(2));
        assert_eq!(report.lag_events, Some(3), "{report:?}");
        assert_eq!(
            report.last_error.as_deref(),
            Some("unavailable: read model unreachable"),
            "{report:?}"
        );
    }

    /// Nothing for the processor, while the log has moved on to position 10.
    #[derive(Default)]
    struct QuietLog {
        asked_after: Mutex<Vec<i64>>,
    }

    #[async_trait]
    impl EventLog for QuietLog {
        async fn read_after(
            &self,
            after: LogPosition,
            _filters: &[EventFilter<'_>],
            _limit: usize,
        ) -> Result<LogPage, PortError> {
            self.asked_after.lock().unwrap().push(after.position);
            Ok(LogPage {
                events: Vec::new(),
                end: LogPosition {
                    transaction_id: 1,
                    position: 10,
                },
            })
        }

        async fn lag(&self, _after: LogPosition) -> Result<LogLag, PortError> {
            Ok(LogLag::default())
        }

        async fn head(&self) -> Result<LogPosition, PortError> {
            Ok(LogPosition {
                transaction_id: 1,
                position: 10,
            })
        }

        async fn recorded_at(
            &self,
            _position: LogPosition,
        ) -> Result<Option<DateTime<Utc>>, PortError> {
            Ok(None)
        }
    }

    #[tokio::test]
    async fn a_processor_with_nothing_to_read_goes_on_from_the_end_of_the_page() {
        let log = Arc::new(QuietLog::default());
        let monitor = Arc::new(ProcessorMonitor::default());
        let runner = ProcessorRunner::new(
            Arc::clone(&log) as Arc<dyn EventLog>,
            Arc::new(AlwaysHeld),
            Arc::new(Notify::new()),
            Arc::clone(&monitor),
            RunnerSettings {
                poll_interval: Duration::from_millis(5),
                ..RunnerSettings::default()
            },
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            runner.run(Arc::new(Recorder::default()), stopped).await;
        });
        until(|| log.asked_after.lock().unwrap().len() > 2).await;
        stop.send(true).unwrap();
        task.await.unwrap();

        let asked = log.asked_after.lock().unwrap().clone();
        assert!(asked.len() > 2, "{asked:?}");
        assert_eq!(asked[0], 0);
        assert!(asked[1..].iter().all(|after| *after == 10), "{asked:?}");
        assert_eq!(
            monitor.states()["recorder"].position.map(|at| at.position),
            Some(10)
        );
    }
}
