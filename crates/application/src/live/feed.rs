//! The tail of the log and the fan-out to subscriptions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent, TelemetryEvent};
use telemetry_domain::values::{EventType, TenantId};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tracing::warn;

use super::subscription::{Buffered, Subscription};
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

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("the tenant has {0} live connections open on this instance, the most it may have")]
    TooManyConnections(usize),
    #[error("live updates are stopping")]
    Stopped,
}

/// What a connection's buffer and the feed share: the bytes it holds and the events skipped
/// since the client was last told.
#[derive(Debug, Default)]
pub(super) struct BufferState {
    pub(super) bytes: AtomicUsize,
    pub(super) dropped: AtomicU64,
}

/// A connection as the feed sees it.
struct Subscriber {
    id: u64,
    filter: LiveFilter,
    sender: mpsc::Sender<Buffered>,
    buffer: Arc<BufferState>,
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

/// Follows the log from its head while anyone listens, and hands each new event to the
/// subscriptions of its tenant whose filter it matches.
pub struct LiveFeed {
    pub(super) log: Arc<dyn EventLog>,
    pub(super) render: RenderEvent,
    pub(super) settings: LiveSettings,
    pub(super) metrics: Arc<Metrics>,
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
        let buffer = Arc::new(BufferState::default());
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
                    buffer: Arc::clone(&buffer),
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
            buffer,
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

    fn has_subscribers(&self) -> bool {
        let hub = self.hub();
        !hub.active.is_empty() || !hub.waiting.is_empty()
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

    /// Ends every connection (their streams finish once their buffers are read).
    fn close_all(&self) {
        let mut hub = self.hub();
        hub.stopped = true;
        hub.active.clear();
        hub.waiting.clear();
    }

    /// Tails the log while anyone listens, until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut position: Option<LogPosition> = None;
        while !*stop.borrow() {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if !self.has_subscribers() {
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
            // Registered before reading, so a commit between the read and the wait still
            // wakes the tail.
            let committed = self.committed.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            let page = match self
                .log
                .read_after(current, &SECTIONS, self.settings.batch_events)
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
            let full = page.events.len() >= self.settings.batch_events;
            self.dispatch(&page.events);
            position = Some(page.end.max(current));
            if !full {
                tokio::select! {
                    _ = committed => {}
                    _ = arrived => {}
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        self.close_all();
    }

    /// Hands the events of `stored` to the matching subscribers of their tenants.
    fn dispatch(&self, stored: &[StoredEvent]) {
        let now = Instant::now();
        let (mut sent, mut dropped) = (0, 0);
        let mut hub = self.hub();
        for store_event in stored {
            // The tenant is in the (small) metadata: events of tenants nobody watches are
            // not decoded.
            let Some(tenant) = metadata_field(store_event, TENANT_METADATA_KEY)
                .and_then(|tenant| TenantId::parse(tenant).ok())
            else {
                continue;
            };
            let Some(subscribers) = hub.active.get_mut(&tenant) else {
                continue;
            };
            let section = match store_event.decode::<IngestBatchEvent>() {
                Ok(event) => event,
                Err(error) => {
                    warn!(error = %error, "live updates skip an event they cannot read");
                    continue;
                }
            };
            let Some(section) = section.as_section() else {
                continue;
            };
            for (index, event) in section.events.iter().enumerate() {
                let id = LiveEventId {
                    position: store_event.position,
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
        let room = match subscriber.sender.try_reserve() {
            Ok(room) if subscriber.allowance >= 1.0 => room,
            _ => {
                subscriber.buffer.dropped.fetch_add(1, Ordering::Relaxed);
                return Offer::Dropped;
            }
        };
        let json = rendered
            .get_or_insert_with(|| Arc::from((self.render)(event_type, event)))
            .clone();
        let bytes = subscriber.buffer.bytes.load(Ordering::Relaxed);
        if bytes + json.len() > self.settings.buffer_bytes && bytes > 0 {
            subscriber.buffer.dropped.fetch_add(1, Ordering::Relaxed);
            return Offer::Dropped;
        }
        subscriber.allowance -= 1.0;
        subscriber
            .buffer
            .bytes
            .fetch_add(json.len(), Ordering::Relaxed);
        let dropped_before = subscriber.buffer.dropped.swap(0, Ordering::Relaxed);
        room.send(Buffered {
            id,
            json,
            dropped_before,
        });
        Offer::Sent
    }
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
