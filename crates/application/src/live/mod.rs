//! Live updates: accepted telemetry events pushed to connected clients (the console's live
//! tail) as they are committed.
//!
//! Every instance tails the event store, which is the log, from its head ([`LiveFeed`]), like
//! a processor without a checkpoint or a lease: an event accepted by any instance reaches the
//! clients of every instance. Each connection is a [`Subscription`] of one tenant with a
//! filter and a bounded buffer: the feed never waits for a client. When a client reads too
//! slowly (or not at all) the events that do not fit are skipped and counted, and the client
//! is told how many, in order, through its buffer; ingestion never notices. A reconnecting
//! client names the last event it saw, and the subscription first replays what it missed
//! from the log (within a bounded stretch of it), then goes on live.
//!
//! - [`feed`]: the tail of the log and the fan-out to subscriptions.
//! - [`subscription`]: one connection's side: start, catch-up, buffer.

mod feed;
mod subscription;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use telemetry_domain::ingest::TelemetryEvent;
use telemetry_domain::values::EventType;

pub use feed::{LiveFeed, SubscribeError};
pub use subscription::{LiveMessage, Subscription};

use crate::ports::LogPosition;

/// Bounds and pace of live updates.
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// Events a connection's buffer holds before further ones are skipped.
    pub buffer_events: usize,
    /// Bytes (of rendered events) a connection's buffer holds before further ones are skipped.
    pub buffer_bytes: usize,
    /// Open connections per tenant on one instance; more are refused.
    pub max_connections_per_tenant: usize,
    /// Events per second one connection is sent at most (a burst of one second's worth);
    /// beyond it they are skipped and counted: a person reads far fewer, and this bounds
    /// what live streams can cost the instance however fast a tenant ingests.
    pub max_events_per_second: u32,
    /// Store events read per round.
    pub batch_events: usize,
    /// Longest wait for events committed by other instances.
    pub poll_interval: Duration,
    /// How far back a reconnecting client may resume: its last event must have been
    /// recorded at most this long ago, or it is told it missed events and goes on live.
    pub resume_window: Duration,
    /// Missed events replayed to a reconnecting client at most; beyond, it is told it missed
    /// events and goes on live.
    pub resume_max_events: usize,
    /// Reconnecting clients replaying from the log at once on one instance (the others wait
    /// their turn): replays read the event store, which ingestion needs.
    pub concurrent_resumes: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            buffer_events: 1_000,
            buffer_bytes: 1 << 20,
            max_connections_per_tenant: 25,
            max_events_per_second: 100,
            batch_events: 128,
            poll_interval: Duration::from_millis(250),
            resume_window: Duration::from_secs(300),
            resume_max_events: 10_000,
            concurrent_resumes: 2,
        }
    }
}

/// Which events a connection wants (every condition given must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveFilter {
    pub event_type: Option<EventType>,
    pub service_name: Option<String>,
    pub user_id: Option<String>,
}

impl LiveFilter {
    fn matches(&self, event_type: EventType, event: &TelemetryEvent) -> bool {
        self.event_type.is_none_or(|wanted| wanted == event_type)
            && self
                .service_name
                .as_deref()
                .is_none_or(|wanted| wanted == event.service_name.as_str())
            && self.user_id.as_deref().is_none_or(|wanted| {
                event
                    .user_id
                    .as_ref()
                    .is_some_and(|user| user.as_str() == wanted)
            })
    }
}

/// Where an event sits in the log: the position of the store event (a section of a batch)
/// that carries it, and its index in that section. Written `<transaction>-<position>-<index>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LiveEventId {
    pub position: LogPosition,
    pub index: u32,
}

impl LiveEventId {
    /// Reads an id written by `Display`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '-');
        let transaction_id = parts.next()?.parse().ok()?;
        let position = parts.next()?.parse().ok()?;
        let index = parts.next()?.parse().ok()?;
        Some(Self {
            position: LogPosition {
                transaction_id,
                position,
            },
            index,
        })
    }
}

impl fmt::Display for LiveEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            self.position.transaction_id, self.position.position, self.index
        )
    }
}

/// Renders an event as the client receives it (the presentation layer decides the shape).
pub type RenderEvent = Arc<dyn Fn(EventType, &TelemetryEvent) -> String + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_what_they_write_and_refuse_anything_else() {
        let id = LiveEventId {
            position: LogPosition {
                transaction_id: 881,
                position: 40_211,
            },
            index: 7,
        };
        assert_eq!(id.to_string(), "881-40211-7");
        assert_eq!(LiveEventId::parse("881-40211-7"), Some(id));
        for bad in ["", "881-40211", "a-b-c", "1-2-3-4", "-1-2-3", "1--2-3"] {
            assert_eq!(LiveEventId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_order_by_log_position_then_index() {
        let at = |transaction_id, position, index| LiveEventId {
            position: LogPosition {
                transaction_id,
                position,
            },
            index,
        };
        assert!(at(1, 9, 5) < at(2, 1, 0));
        assert!(at(2, 1, 0) < at(2, 1, 1));
        assert!(at(2, 1, 9) < at(2, 2, 0));
    }
}
