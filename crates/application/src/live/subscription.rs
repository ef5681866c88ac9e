//! One connection's side of live updates: where it starts, what it missed, what it was sent.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use telemetry_domain::ingest::IngestBatchEvent;
use telemetry_domain::values::TenantId;
use tokio::sync::{mpsc, oneshot};

use super::feed::{BufferState, LiveFeed, SECTIONS};
use super::{LiveEventId, LiveFilter};
use crate::commands::TENANT_METADATA_KEY;
use crate::ports::{LogPosition, PortError};
use crate::processing::metadata_field;

/// An event in a connection's buffer, rendered.
#[derive(Debug)]
pub(super) struct Buffered {
    pub(super) id: LiveEventId,
    pub(super) json: Arc<str>,
    /// Matching events skipped (the buffer was full) just before this one.
    pub(super) dropped_before: u64,
}

/// What a connection is sent next.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveMessage {
    /// The connection is in the feed: every event accepted from now on reaches it (first
    /// message; when resuming, the missed events follow it).
    Ready { resuming: bool },
    /// An accepted event, rendered.
    Event { id: LiveEventId, json: Arc<str> },
    /// This many matching events were skipped here: the client read too slowly.
    Dropped(u64),
    /// The events since the resume position could not all be found; what follows is live.
    Reset(String),
}

enum Phase {
    /// Waiting for the feed to say after which position live events start.
    Starting,
    /// Reading what was missed from the log, after `cursor` up to `until`.
    CatchingUp {
        cursor: LogPosition,
        until: LogPosition,
        read: usize,
    },
    Live,
}

/// A live connection of one tenant: the events the feed put in its buffer, preceded, when
/// resuming, by the events it missed. Dropping it closes the connection's place in the feed.
pub struct Subscription {
    feed: Arc<LiveFeed>,
    id: u64,
    tenant: TenantId,
    filter: LiveFilter,
    /// The last event this connection was sent (or saw before it reconnected).
    last_sent: Option<LiveEventId>,
    started: Option<oneshot::Receiver<LogPosition>>,
    phase: Phase,
    receiver: mpsc::Receiver<Buffered>,
    buffer: Arc<BufferState>,
    /// Messages ready to be sent, in order.
    ready: VecDeque<LiveMessage>,
}

impl Subscription {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        feed: Arc<LiveFeed>,
        id: u64,
        tenant: TenantId,
        filter: LiveFilter,
        resume_after: Option<LiveEventId>,
        started: oneshot::Receiver<LogPosition>,
        receiver: mpsc::Receiver<Buffered>,
        buffer: Arc<BufferState>,
    ) -> Self {
        Self {
            feed,
            id,
            tenant,
            filter,
            last_sent: resume_after,
            started: Some(started),
            phase: Phase::Starting,
            receiver,
            buffer,
            ready: VecDeque::new(),
        }
    }

    /// The next message; `None` once live updates stop (the service is shutting down).
    /// An error means the log could not be read while catching up; the caller may end the
    /// connection (the client resumes from the last event it got).
    pub async fn next(&mut self) -> Result<Option<LiveMessage>, PortError> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                if let LiveMessage::Event { id, .. } = &message {
                    self.last_sent = Some(*id);
                }
                return Ok(Some(message));
            }
            match self.phase {
                Phase::Starting => {
                    // Awaited in place (not taken), so that a caller that stops waiting
                    // (a `select!`) can ask again.
                    let Some(started) = self.started.as_mut() else {
                        return Ok(None);
                    };
                    let Ok(start) = started.await else {
                        return Ok(None);
                    };
                    self.started = None;
                    let resuming = self.last_sent.is_some();
                    self.ready.push_back(LiveMessage::Ready { resuming });
                    self.phase = match self.last_sent {
                        Some(resume) if resume.position <= start => Phase::CatchingUp {
                            // The store event of the last one seen is read again, for the
                            // rest of its section.
                            cursor: resume.position.just_before(),
                            until: start,
                            read: 0,
                        },
                        _ => Phase::Live,
                    };
                }
                Phase::CatchingUp {
                    cursor,
                    until,
                    read,
                } => self.catch_up(cursor, until, read).await?,
                Phase::Live => return Ok(self.next_live().await),
            }
        }
    }

    /// Reads one page of what was missed.
    async fn catch_up(
        &mut self,
        cursor: LogPosition,
        until: LogPosition,
        read: usize,
    ) -> Result<(), PortError> {
        let settings = &self.feed.settings;
        if read >= settings.resume_max_store_events {
            self.ready.push_back(LiveMessage::Reset(format!(
                "the events since the last one received are more than {} store events back; \
                 some were missed, and what follows is live",
                settings.resume_max_store_events
            )));
            self.phase = Phase::Live;
            return Ok(());
        }
        let page = self
            .feed
            .log
            .read_after(cursor, &SECTIONS, settings.batch_events)
            .await?;
        let mut skipped = 0;
        let mut reached_until = page.events.len() < settings.batch_events;
        for store_event in &page.events {
            if store_event.position > until {
                reached_until = true;
                break;
            }
            let tenant = metadata_field(store_event, TENANT_METADATA_KEY);
            if tenant.as_deref() != Some(self.tenant.as_str()) {
                continue;
            }
            let event = store_event
                .decode::<IngestBatchEvent>()
                .map_err(PortError::failed)?;
            let Some(section) = event.as_section() else {
                continue;
            };
            for (index, event) in section.events.iter().enumerate() {
                let id = LiveEventId {
                    position: store_event.position,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                };
                if self.last_sent.is_some_and(|last| id <= last)
                    || !self.filter.matches(section.event_type, event)
                {
                    continue;
                }
                if self.ready.len() >= settings.buffer_events {
                    skipped += 1;
                    continue;
                }
                let json = Arc::from((self.feed.render)(section.event_type, event));
                self.ready.push_back(LiveMessage::Event { id, json });
            }
        }
        if skipped > 0 {
            self.ready.push_back(LiveMessage::Dropped(skipped));
        }
        self.phase = if reached_until {
            Phase::Live
        } else {
            Phase::CatchingUp {
                cursor: page.end,
                until,
                read: read + page.events.len(),
            }
        };
        Ok(())
    }

    /// The next event from the buffer, or the count of skipped ones when the buffer ran dry
    /// after skipping some.
    async fn next_live(&mut self) -> Option<LiveMessage> {
        loop {
            let buffered = match self.receiver.try_recv() {
                Ok(buffered) => buffered,
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let dropped = self.buffer.dropped.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        return Some(LiveMessage::Dropped(dropped));
                    }
                    self.receiver.recv().await?
                }
            };
            self.buffer
                .bytes
                .fetch_sub(buffered.json.len(), Ordering::Relaxed);
            // Sent already: the connection resumed from a position this instance had not
            // reached yet.
            if self.last_sent.is_some_and(|last| buffered.id <= last) {
                continue;
            }
            self.last_sent = Some(buffered.id);
            let event = LiveMessage::Event {
                id: buffered.id,
                json: buffered.json,
            };
            if buffered.dropped_before > 0 {
                self.ready.push_back(event);
                return Some(LiveMessage::Dropped(buffered.dropped_before));
            }
            return Some(event);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.unsubscribe(&self.tenant, self.id);
    }
}
