//! The tail of the log and the fan-out to subscriptions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use telemetry_domain::ingest::{EventSection, IngestBatch, IngestBatchEvent};
use telemetry_domain::values::TenantId;
use tokio::sync::{mpsc, oneshot, watch, Notify, Semaphore};
use tracing::warn;

use super::subscription::Subscription;
use super::{LiveEventId, LiveFilter, LiveSettings, RenderEvent};
use crate::commands::TENANT_METADATA_KEY;
use crate::metrics::Metrics;
use crate::ports::{EventFilter, EventLog, LogPosition, StoredEvent};
use crate::processing::metadata_field;

/// The store events that carry telemetry: the sections of ingest batches.
pub(super) const SECTIONS: [EventFilter<'static>; 1] = [EventFilter {
    aggregate_type: <IngestBatch as cqrs_es::Aggregate>::TYPE,
    event_types: &[
        IngestBatchEvent::LOG_INGESTED,
        IngestBatchEvent::METRIC_INGESTED,
        IngestBatchEvent::TRACE_INGESTED,
    ],
}];

/// How long the tail waits after the log could not be read.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The shortest time between two reads that found the end of the log: under heavy
/// ingestion every commit wakes the tail, and one read per commit would cost Postgres a
/// query each; events then reach streams up to this much later.
const MIN_READ_INTERVAL: Duration = Duration::from_millis(50);

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("the tenant has {0} live connections open on this instance, the most it may have")]
    TooManyConnections(usize),
    #[error("live updates are stopping")]
    Stopped,
}

/// What goes through a connection's buffer, in order.
#[derive(Debug)]
pub(super) enum Buffered {
    /// An event, rendered; `dropped_before` matching events were skipped just before it.
    Event {
        id: LiveEventId,
        json: Arc<str>,
        dropped_before: u64,
    },
    /// This many matching events were skipped (sent when no event came to carry the count).
    Dropped(u64),
}

/// The bytes of rendered events in a connection's buffer, shared by the feed (which adds)
/// and the subscription (which takes away).
#[derive(Debug, Default)]
pub(super) struct BufferBytes(pub(super) AtomicUsize);

/// A connection as the feed sees it.
struct Subscriber {
    id: u64,
    filter: LiveFilter,
    sender: mpsc::Sender<Buffered>,
    bytes: Arc<BufferBytes>,
    /// Matching events skipped since the last count was put in the buffer.
    dropped: u64,
    /// Sends allowed now (refilled at `max_events_per_second`, up to one second's worth).
    allowance: f64,
    refilled_at: Instant,
}

/// A connection waiting for the tail to tell it where live updates start for it.
struct Waiting {
    subscriber: Subscriber,
    tenant: TenantId,
    start: oneshot::Sender<LogPosition>,
}

#[derive(Default)]
struct Hub {
    next_id: u64,
    active: HashMap<TenantId, Vec<Subscriber>>,
    waiting: Vec<Waiting>,
    /// Open connections per tenant (waiting or active).
    open: HashMap<TenantId, usize>,
    stopped: bool,
}

/// A section of a watched tenant's batch, decoded.
pub(super) struct Section {
    pub(super) position: LogPosition,
    pub(super) tenant: TenantId,
    pub(super) section: EventSection,
}

/// Follows the log from its head while anyone listens, and hands each new event to the
/// subscriptions of its tenant whose filter it matches.
pub struct LiveFeed {
    pub(super) log: Arc<dyn EventLog>,
    pub(super) render: RenderEvent,
    pub(super) settings: LiveSettings,
    pub(super) metrics: Arc<Metrics>,
    /// Turns for reconnecting clients to replay what they missed from the log.
    pub(super) resumes: Arc<Semaphore>,
    hub: Mutex<Hub>,
    /// Wakes the tail when a connection arrives.
    arrived: Notify,
    /// Commits of this instance.
    committed: Arc<Notify>,
}

impl LiveFeed {
    pub fn new(
        log: Arc<dyn EventLog>,
        committed: Arc<Notify>,
        render: RenderEvent,
        settings: LiveSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            log,
            render,
            settings,
            metrics,
            resumes: Arc::new(Semaphore::new(settings.concurrent_resumes.max(1))),
            hub: Mutex::new(Hub::default()),
            arrived: Notify::new(),
            committed,
        }
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a connection for `tenant`. With `resume_after`, the subscription first replays
    /// the matching events after that one that are still in reach.
    pub fn subscribe(
        self: &Arc<Self>,
        tenant: TenantId,
        filter: LiveFilter,
        resume_after: Option<LiveEventId>,
    ) -> Result<Subscription, SubscribeError> {
        let (sender, receiver) = mpsc::channel(self.settings.buffer_events.max(1));
        let (start, started) = oneshot::channel();
        let bytes = Arc::new(BufferBytes::default());
        let id = {
            let mut hub = self.hub();
            if hub.stopped {
                return Err(SubscribeError::Stopped);
            }
            let open = hub.open.entry(tenant.clone()).or_default();
            if *open >= self.settings.max_connections_per_tenant {
                return Err(SubscribeError::TooManyConnections(*open));
            }
            *open += 1;
            hub.next_id += 1;
            let id = hub.next_id;
            hub.waiting.push(Waiting {
                subscriber: Subscriber {
                    id,
                    filter: filter.clone(),
                    sender,
                    bytes: Arc::clone(&bytes),
                    dropped: 0,
                    allowance: f64::from(self.settings.max_events_per_second),
                    refilled_at: Instant::now(),
                },
                tenant: tenant.clone(),
                start,
            });
            id
        };
        self.metrics
            .live_connections_opened
            .fetch_add(1, Ordering::Relaxed);
        self.arrived.notify_one();
        Ok(Subscription::new(
            Arc::clone(self),
            id,
            tenant,
            filter,
            resume_after,
            started,
            receiver,
            bytes,
        ))
    }

    /// Forgets a connection (its subscription was dropped).
    pub(super) fn unsubscribe(&self, tenant: &TenantId, id: u64) {
        let mut hub = self.hub();
        hub.waiting
            .retain(|waiting| !(waiting.subscriber.id == id && &waiting.tenant == tenant));
        if let Some(subscribers) = hub.active.get_mut(tenant) {
            subscribers.retain(|subscriber| subscriber.id != id);
            if subscribers.is_empty() {
                hub.active.remove(tenant);
            }
        }
        if let Some(open) = hub.open.get_mut(tenant) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                hub.open.remove(tenant);
            }
        }
        drop(hub);
        self.metrics
            .live_connections_closed
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Ends every connection and refuses new ones: the service is stopping. Streams finish
    /// once their buffers are read, so open connections do not hold a graceful shutdown.
    pub fn close(&self) {
        self.hub().stopped = true;
        self.end_streams();
    }

    /// Ends the streams of every connection (their clients resume with `Last-Event-ID`).
    fn end_streams(&self) {
        let mut hub = self.hub();
        hub.active.clear();
        hub.waiting.clear();
    }

    /// The tenants of the connections in the feed, once those waiting are admitted.
    fn watched_tenants(&self) -> Vec<TenantId> {
        let hub = self.hub();
        let mut tenants: Vec<TenantId> = hub
            .active
            .keys()
            .chain(hub.waiting.iter().map(|waiting| &waiting.tenant))
            .cloned()
            .collect();
        tenants.sort();
        tenants.dedup();
        tenants
    }

    /// Every connection that arrived starts receiving events after `position`: those up to
    /// it were handed out before (a resuming connection reads them from the log itself).
    fn admit_waiting(&self, position: LogPosition) {
        let mut hub = self.hub();
        for waiting in std::mem::take(&mut hub.waiting) {
            if waiting.start.send(position).is_ok() {
                hub.active
                    .entry(waiting.tenant)
                    .or_default()
                    .push(waiting.subscriber);
            }
        }
    }

    /// Tails the log while anyone listens, until `stop` turns true. Should it end any
    /// other way (a panic), every stream is ended, so its client resumes where it was
    /// instead of silently missing what this run did not hand out.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        struct EndStreams<'a>(&'a LiveFeed);
        impl Drop for EndStreams<'_> {
            fn drop(&mut self) {
                self.0.end_streams();
            }
        }
        let _end_streams = EndStreams(&self);
        let mut position: Option<LogPosition> = None;
        while !*stop.borrow() {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.watched_tenants().is_empty() {
                // Nobody listens: nothing is read, and the next listener starts at the
                // head of the log as it is then.
                position = None;
                tokio::select! {
                    _ = arrived => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let current = match position {
                Some(current) => current,
                None => match self.log.head().await {
                    Ok(head) => head,
                    Err(error) => {
                        warn!(error = %error, "live updates cannot find the head of the log; retrying");
                        if sleep_or_stop(&mut stop, RETRY_DELAY).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            position = Some(current);
            self.admit_waiting(current);
            let tenants = self.watched_tenants();
            // Registered before reading, so a commit between the read and the wait still
            // wakes the tail.
            let committed = self.committed.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            let page = match self
                .log
                .read_tenants_after(current, &SECTIONS, &tenants, self.settings.batch_events)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    warn!(error = %error, "live updates cannot read the log; retrying");
                    if sleep_or_stop(&mut stop, RETRY_DELAY).await {
                        break;
                    }
                    continue;
                }
            };
            let read_at = tokio::time::Instant::now();
            let full = page.events.len() >= self.settings.batch_events;
            let sections = decode(&page.events);
            self.dispatch(&sections);
            position = Some(page.end.max(current));
            if !full {
                tokio::select! {
                    _ = committed => {}
                    _ = arrived => {}
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = stop.changed() => {}
                }
                tokio::time::sleep_until(read_at + MIN_READ_INTERVAL).await;
            }
        }
        self.close();
    }

    /// Hands the events of `sections` to the matching subscribers of their tenants, then
    /// tells each subscriber that skipped events and has room how many.
    ///
    /// Subscriber by subscriber, so one that reached its rate counts the rest of a section
    /// at once instead of being offered its events one by one: what live streams cost stays
    /// bounded by what they are sent, however fast the tenant ingests.
    fn dispatch(&self, sections: &[Section]) {
        let now = Instant::now();
        let per_second = f64::from(self.settings.max_events_per_second);
        let (mut sent, mut dropped) = (0, 0);
        let mut hub = self.hub();
        for subscriber in hub.active.values_mut().flatten() {
            subscriber.refill(now, per_second);
        }
        for Section {
            position,
            tenant,
            section,
        } in sections
        {
            let Some(subscribers) = hub.active.get_mut(tenant) else {
                continue;
            };
            // Each event is rendered once, for the first subscriber that takes it.
            let mut rendered: Vec<Option<Arc<str>>> = Vec::new();
            for subscriber in subscribers.iter_mut() {
                let counts = self.hand_out(subscriber, *position, section, &mut rendered);
                sent += counts.0;
                dropped += counts.1;
            }
        }
        for subscriber in hub.active.values_mut().flatten() {
            if subscriber.dropped > 0 {
                if let Ok(room) = subscriber.sender.try_reserve() {
                    room.send(Buffered::Dropped(std::mem::take(&mut subscriber.dropped)));
                }
            }
        }
        drop(hub);
        self.metrics
            .live_events_sent
            .fetch_add(sent, Ordering::Relaxed);
        self.metrics
            .live_events_dropped
            .fetch_add(dropped, Ordering::Relaxed);
    }

    /// Puts the events of one section that `subscriber` wants in its buffer while there is
    /// room and allowance, and counts the others it wants as skipped: `(sent, skipped)`.
    fn hand_out(
        &self,
        subscriber: &mut Subscriber,
        position: LogPosition,
        section: &EventSection,
        rendered: &mut Vec<Option<Arc<str>>>,
    ) -> (u64, u64) {
        let filter = &subscriber.filter;
        if filter
            .event_type
            .is_some_and(|wanted| wanted != section.event_type)
        {
            return (0, 0);
        }
        let every_event = filter.service_name.is_none() && filter.user_id.is_none();
        let (mut sent, mut skipped) = (0, 0);
        // Counted where they happen: the next event sent carries the skips before it.
        let mut skip = |subscriber: &mut Subscriber, count: u64| {
            subscriber.dropped += count;
            skipped += count;
        };
        for (index, event) in section.events.iter().enumerate() {
            if !every_event && !subscriber.filter.matches(section.event_type, event) {
                continue;
            }
            if subscriber.allowance < 1.0 {
                if every_event {
                    // Out of allowance for this round: the rest of the section is skipped.
                    skip(subscriber, (section.events.len() - index) as u64);
                    break;
                }
                skip(subscriber, 1);
                continue;
            }
            let Ok(room) = subscriber.sender.try_reserve() else {
                if every_event {
                    // The buffer is full (the client is not reading): so is it for the rest.
                    skip(subscriber, (section.events.len() - index) as u64);
                    break;
                }
                skip(subscriber, 1);
                continue;
            };
            if rendered.len() < section.events.len() {
                rendered.resize(section.events.len(), None);
            }
            let json = rendered[index]
                .get_or_insert_with(|| Arc::from((self.render)(section.event_type, event)))
                .clone();
            let bytes = subscriber.bytes.0.load(Ordering::Relaxed);
            if bytes > 0 && bytes + json.len() > self.settings.buffer_bytes {
                drop(room);
                skip(subscriber, 1);
                continue;
            }
            subscriber.allowance -= 1.0;
            subscriber.bytes.0.fetch_add(json.len(), Ordering::Relaxed);
            room.send(Buffered::Event {
                id: LiveEventId {
                    position,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                },
                json,
                dropped_before: std::mem::take(&mut subscriber.dropped),
            });
            sent += 1;
        }
        (sent, skipped)
    }
}

impl Subscriber {
    /// Adds the allowance earned since the last refill, up to one second's worth.
    fn refill(&mut self, now: Instant, per_second: f64) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.allowance = (self.allowance + elapsed * per_second).min(per_second);
        self.refilled_at = now;
    }
}

/// The sections among `stored`; one that cannot be read is skipped (and logged).
pub(super) fn decode(stored: &[StoredEvent]) -> Vec<Section> {
    stored
        .iter()
        .filter_map(|store_event| {
            let tenant = metadata_field(store_event, TENANT_METADATA_KEY)
                .and_then(|tenant| TenantId::parse(tenant).ok())?;
            let event = match store_event.decode::<IngestBatchEvent>() {
                Ok(event) => event,
                Err(error) => {
                    warn!(error = %error, "live updates skip an event they cannot read");
                    return None;
                }
            };
            let section = event.as_section()?.clone();
            Some(Section {
                position: store_event.position,
                tenant,
                section,
            })
        })
        .collect()
}

/// Sleeps for `duration`; true if the stop signal fired meanwhile.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use telemetry_domain::ingest::{Payload, TelemetryEvent};
    use telemetry_domain::values::{EventId, EventType, ServiceName, Timestamp};

    use super::*;
    use crate::live::LiveMessage;
    use crate::ports::{LogLag, LogPage, PortError};

    /// The feed's tests hand it sections directly; the log is never read.
    struct Unread;

    #[async_trait]
    impl EventLog for Unread {
        async fn read_after(
            &self,
            _after: LogPosition,
            _filters: &[EventFilter<'_>],
            _limit: usize,
        ) -> Result<LogPage, PortError> {
            Err(PortError::failed("not read in these tests"))
        }
        async fn lag(&self, _after: LogPosition) -> Result<LogLag, PortError> {
            Ok(LogLag::default())
        }
        async fn head(&self) -> Result<LogPosition, PortError> {
            Ok(LogPosition::START)
        }
        async fn recorded_at(
            &self,
            _position: LogPosition,
        ) -> Result<Option<DateTime<Utc>>, PortError> {
            Ok(None)
        }
    }

    fn feed(settings: LiveSettings) -> Arc<LiveFeed> {
        Arc::new(LiveFeed::new(
            Arc::new(Unread),
            Arc::new(Notify::new()),
            Arc::new(|_, event: &TelemetryEvent| event.event_id.as_str().to_string()),
            settings,
            Arc::new(Metrics::default()),
        ))
    }

    fn section(tenant: &str, position: i64, services: &[&str]) -> Section {
        let events: Vec<TelemetryEvent> = services
            .iter()
            .enumerate()
            .map(|(index, service)| TelemetryEvent {
                event_id: EventId::parse(format!("{position}-{index}")).unwrap(),
                event_type: EventType::Log,
                service_name: ServiceName::parse(*service).unwrap(),
                timestamp: Timestamp::from_micros(1_700_000_000_000_000).unwrap(),
                user_id: None,
                payload: Payload::from_stored("{}".into()),
            })
            .collect();
        Section {
            position: LogPosition {
                transaction_id: 10,
                position,
            },
            tenant: TenantId::parse(tenant).unwrap(),
            section: EventSection {
                tenant_id: TenantId::parse(tenant).unwrap(),
                event_type: EventType::Log,
                events: events.into(),
            },
        }
    }

    /// Every message the subscription has ready, as (event ids, skipped counts).
    async fn drain(subscription: &mut Subscription) -> (Vec<String>, Vec<u64>) {
        let (mut events, mut dropped) = (Vec::new(), Vec::new());
        loop {
            let next =
                tokio::time::timeout(std::time::Duration::from_millis(50), subscription.next())
                    .await;
            match next {
                Ok(Ok(Some(LiveMessage::Event { json, .. }))) => events.push(json.to_string()),
                Ok(Ok(Some(LiveMessage::Dropped(count)))) => dropped.push(count),
                Ok(Ok(Some(LiveMessage::Ready { .. }))) => {}
                Ok(other) => panic!("unexpected {other:?}"),
                Err(_) => return (events, dropped),
            }
        }
    }

    #[tokio::test]
    async fn a_stream_at_its_rate_is_sent_its_allowance_and_told_the_exact_rest() {
        let feed = feed(LiveSettings {
            max_events_per_second: 3,
            ..LiveSettings::default()
        });
        let acme = TenantId::parse("acme").unwrap();
        let mut everything = feed
            .subscribe(acme.clone(), LiveFilter::default(), None)
            .unwrap();
        let mut api_only = feed
            .subscribe(
                acme,
                LiveFilter {
                    service_name: Some("api".into()),
                    ..LiveFilter::default()
                },
                None,
            )
            .unwrap();
        feed.admit_waiting(LogPosition::START);
        feed.dispatch(&[
            section("acme", 1, &["api", "web", "api", "web"]),
            section("acme", 2, &["api", "api", "web"]),
            section("globex", 3, &["api"]),
        ]);

        let (events, dropped) = drain(&mut everything).await;
        assert_eq!(events, ["1-0", "1-1", "1-2"]);
        // The rest of the first section and the whole second one.
        assert_eq!(dropped.iter().sum::<u64>(), 4);
        let (events, dropped) = drain(&mut api_only).await;
        assert_eq!(events, ["1-0", "1-2", "2-0"]);
        assert_eq!(dropped, [1]);
    }

    #[tokio::test]
    async fn skipped_events_are_reported_before_the_next_one_sent() {
        let feed = feed(LiveSettings {
            buffer_events: 2,
            ..LiveSettings::default()
        });
        let mut stalled = feed
            .subscribe(
                TenantId::parse("acme").unwrap(),
                LiveFilter::default(),
                None,
            )
            .unwrap();
        feed.admit_waiting(LogPosition::START);
        feed.dispatch(&[section("acme", 1, &["api", "api", "api", "api", "api"])]);
        // The client reads again: the two events that fit; the next round of the feed
        // (with or without new events) tells it how many did not.
        let (events, dropped) = drain(&mut stalled).await;
        assert_eq!(events, ["1-0", "1-1"]);
        assert!(dropped.is_empty());
        feed.dispatch(&[]);
        let (events, dropped) = drain(&mut stalled).await;
        assert!(events.is_empty());
        assert_eq!(dropped, [3]);

        // Skipped events ahead of one that fits travel with it, in order.
        feed.dispatch(&[section("acme", 2, &["api", "api", "api"])]);
        let (events, dropped) = drain(&mut stalled).await;
        assert_eq!(events, ["2-0", "2-1"]);
        feed.dispatch(&[section("acme", 3, &["api"])]);
        let (events, more_dropped) = drain(&mut stalled).await;
        assert_eq!(events, ["3-0"]);
        assert_eq!((dropped, more_dropped), (vec![], vec![1]));
    }
}
