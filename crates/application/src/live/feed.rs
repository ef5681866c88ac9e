//! The tail of the log and the fan-out to subscriptions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use telemetry_domain::ingest::{EventSection, IngestBatch, IngestBatchEvent, TelemetryEvent};
use telemetry_domain::values::{EventType, TenantId};
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
    fn dispatch(&self, sections: &[Section]) {
        let now = Instant::now();
        let (mut sent, mut dropped) = (0, 0);
        let mut hub = self.hub();
        for Section {
            position,
            tenant,
            section,
        } in sections
        {
            let Some(subscribers) = hub.active.get_mut(tenant) else {
                continue;
            };
            for (index, event) in section.events.iter().enumerate() {
                let id = LiveEventId {
                    position: *position,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                };
                let mut rendered = None;
                for subscriber in subscribers.iter_mut() {
                    match self.offer(
                        subscriber,
                        id,
                        section.event_type,
                        event,
                        &mut rendered,
                        now,
                    ) {
                        Offer::Sent => sent += 1,
                        Offer::Dropped => dropped += 1,
                        Offer::NotWanted => {}
                    }
                }
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

    /// Puts one event in a subscriber's buffer if it wants it and there is room; the event
    /// is rendered once, for the first subscriber that takes it.
    fn offer(
        &self,
        subscriber: &mut Subscriber,
        id: LiveEventId,
        event_type: EventType,
        event: &TelemetryEvent,
        rendered: &mut Option<Arc<str>>,
        now: Instant,
    ) -> Offer {
        if !subscriber.filter.matches(event_type, event) {
            return Offer::NotWanted;
        }
        let per_second = f64::from(self.settings.max_events_per_second);
        let elapsed = now
            .saturating_duration_since(subscriber.refilled_at)
            .as_secs_f64();
        subscriber.allowance = (subscriber.allowance + elapsed * per_second).min(per_second);
        subscriber.refilled_at = now;
        // The allowance first: a stream at its rate skips events without touching its
        // channel (most events, when a tenant ingests far faster than a person reads).
        if subscriber.allowance < 1.0 {
            subscriber.dropped += 1;
            return Offer::Dropped;
        }
        let Ok(room) = subscriber.sender.try_reserve() else {
            subscriber.dropped += 1;
            return Offer::Dropped;
        };
        let json = rendered
            .get_or_insert_with(|| Arc::from((self.render)(event_type, event)))
            .clone();
        let bytes = subscriber.bytes.0.load(Ordering::Relaxed);
        if bytes > 0 && bytes + json.len() > self.settings.buffer_bytes {
            subscriber.dropped += 1;
            return Offer::Dropped;
        }
        subscriber.allowance -= 1.0;
        subscriber.bytes.0.fetch_add(json.len(), Ordering::Relaxed);
        room.send(Buffered::Event {
            id,
            json,
            dropped_before: std::mem::take(&mut subscriber.dropped),
        });
        Offer::Sent
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

enum Offer {
    Sent,
    Dropped,
    NotWanted,
}

/// Sleeps for `duration`; true if the stop signal fired meanwhile.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
