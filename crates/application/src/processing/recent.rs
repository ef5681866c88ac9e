//! Events this process has just committed, kept in memory for its own event processors.
//!
//! The processors still learn *which* events to apply, and in which order, from the event
//! store (the log decides; see [`EventLog`](crate::ports::EventLog)). Only the payload of
//! an event committed here moments ago is taken from memory: the store then does not read a
//! large ingest section back, decompress it and print it as JSON, and the processor does
//! not parse it again. An event that is not here (committed by another instance, before a
//! restart, or evicted because a processor fell far behind) is read from the store as
//! before, so this changes how fast, never what, a processor applies.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use crate::metrics::Metrics;

/// Identifies a stored event: the event store's primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
}

struct Remembered {
    event: Arc<dyn Any + Send + Sync>,
    weight: u64,
}

#[derive(Default)]
struct Inner {
    /// Oldest first.
    order: VecDeque<EventKey>,
    events: HashMap<EventKey, Remembered>,
    weight: u64,
}

/// A bounded, in-memory map from event key to committed domain event; the oldest events are
/// forgotten first once the total weight (an estimate of their bytes) passes the capacity.
pub struct RecentCommits {
    capacity: u64,
    inner: Mutex<Inner>,
    /// Counts recalls found and not found (`telemetry_processor_handoff_*`).
    metrics: Option<Arc<Metrics>>,
}

impl RecentCommits {
    /// Keeps events up to a total weight of `capacity` (estimated bytes); 0 keeps nothing.
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
            metrics: None,
        }
    }

    /// Counts every recall in `metrics`: found (a hit) or not (a miss, read back).
    pub fn counting(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a committed event; an event heavier than the whole capacity is not kept.
    pub fn remember(&self, key: EventKey, event: Arc<dyn Any + Send + Sync>, weight: u64) {
        let weight = weight.max(1);
        if weight > self.capacity {
            return;
        }
        // Forgotten events are dropped after the lock is released: the last reference to a
        // large section frees thousands of strings.
        let mut forgotten = Vec::new();
        {
            let mut inner = self.inner();
            if let Some(replaced) = inner.events.remove(&key) {
                // The same key again (not expected: keys are unique in the store).
                inner.weight -= replaced.weight;
                inner.order.retain(|known| known != &key);
                forgotten.push(replaced);
            }
            while inner.weight + weight > self.capacity {
                let Some(oldest) = inner.order.pop_front() else {
                    break;
                };
                if let Some(evicted) = inner.events.remove(&oldest) {
                    inner.weight -= evicted.weight;
                    forgotten.push(evicted);
                }
            }
            inner
                .events
                .insert(key.clone(), Remembered { event, weight });
            inner.order.push_back(key);
            inner.weight += weight;
        }
        drop(forgotten);
    }

    /// The committed event under `key`, if it is still remembered.
    pub fn recall(&self, key: &EventKey) -> Option<Arc<dyn Any + Send + Sync>> {
        let event = self
            .inner()
            .events
            .get(key)
            .map(|remembered| Arc::clone(&remembered.event));
        if let Some(metrics) = &self.metrics {
            let counter = match event {
                Some(_) => &metrics.handoff_hits,
                None => &metrics.handoff_misses,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        event
    }

    /// Total weight remembered.
    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.inner().weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sequence: i64) -> EventKey {
        EventKey {
            aggregate_type: "IngestBatch".into(),
            aggregate_id: "b".into(),
            sequence,
        }
    }

    fn recalled(recent: &RecentCommits, sequence: i64) -> Option<u32> {
        recent
            .recall(&key(sequence))
            .map(|event| *event.downcast_ref::<u32>().unwrap())
    }

    #[test]
    fn the_oldest_events_are_forgotten_first_once_the_capacity_is_reached() {
        let recent = RecentCommits::new(10);
        recent.remember(key(1), Arc::new(1_u32), 4);
        recent.remember(key(2), Arc::new(2_u32), 4);
        assert_eq!(recalled(&recent, 1), Some(1));
        assert_eq!(recent.weight(), 8);

        recent.remember(key(3), Arc::new(3_u32), 4);
        assert_eq!(recalled(&recent, 1), None, "forgotten to make room");
        assert_eq!(recalled(&recent, 2), Some(2));
        assert_eq!(recalled(&recent, 3), Some(3));
        assert_eq!(recent.weight(), 8);
    }

    #[test]
    fn an_event_heavier_than_the_capacity_is_not_kept_and_evicts_nothing() {
        let recent = RecentCommits::new(10);
        recent.remember(key(1), Arc::new(1_u32), 4);
        recent.remember(key(2), Arc::new(2_u32), 11);
        assert_eq!(recalled(&recent, 1), Some(1));
        assert_eq!(recalled(&recent, 2), None);
    }

    #[test]
    fn recalls_are_counted_as_hits_and_misses() {
        let metrics = Arc::new(Metrics::default());
        let recent = RecentCommits::new(10).counting(Arc::clone(&metrics));
        recent.remember(key(1), Arc::new(1_u32), 4);
        recalled(&recent, 1);
        recalled(&recent, 1);
        recalled(&recent, 2);
        let counts = |metrics: &Metrics| {
            (
                metrics.handoff_hits.load(Ordering::Relaxed),
                metrics.handoff_misses.load(Ordering::Relaxed),
            )
        };
        assert_eq!(counts(&metrics), (2, 1));
    }

    #[test]
    fn no_capacity_keeps_nothing() {
        let recent = RecentCommits::new(0);
        recent.remember(key(1), Arc::new(1_u32), 1);
        assert_eq!(recalled(&recent, 1), None);
        assert_eq!(recent.weight(), 0);
    }

    #[test]
    fn remembering_a_key_again_replaces_it() {
        let recent = RecentCommits::new(10);
        recent.remember(key(1), Arc::new(1_u32), 4);
        recent.remember(key(1), Arc::new(5_u32), 6);
        assert_eq!(recalled(&recent, 1), Some(5));
        assert_eq!(recent.weight(), 6);
        recent.remember(key(2), Arc::new(2_u32), 4);
        assert_eq!(recalled(&recent, 1), Some(5), "still fits: 6 + 4");
    }
}
