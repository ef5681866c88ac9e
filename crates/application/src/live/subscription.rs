//! One connection's side of live updates: where it starts, what it missed, what it was sent.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use telemetry_domain::values::TenantId;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use super::feed::{decode, BufferBytes, Buffered, LiveFeed, Section, SECTIONS};
use super::{LiveEventId, LiveFilter};
use crate::ports::{LogPosition, PortError};

/// Store events read per page while replaying: few, so what a replay holds in memory is
/// small (each is a section of up to a whole batch).
const REPLAY_PAGE: usize = 16;

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
    /// The events since the resume position could not all be replayed; what follows is live.
    Reset(String),
}

enum Phase {
    /// Waiting for the feed to say after which position live events start.
    Starting,
    /// In the feed, live events after `start`; deciding whether to replay first.
    Started {
        start: LogPosition,
    },
    /// Replaying what was missed from the log, after `cursor` up to `until`, with the turn
    /// it took (`permit`) and the sections of the last page still to hand out.
    Replaying {
        cursor: LogPosition,
        until: LogPosition,
        replayed: usize,
        sections: VecDeque<(Section, usize)>,
        permit: Option<OwnedSemaphorePermit>,
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
    bytes: Arc<BufferBytes>,
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
        bytes: Arc<BufferBytes>,
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
            bytes,
            ready: VecDeque::new(),
        }
    }

    /// The next message; `None` once the feed ended the stream (the service is stopping).
    /// An error means the log could not be read while replaying; the caller may end the
    /// connection (the client resumes from the last event it got).
    ///
    /// Safe to call again after a caller stopped waiting for it (`select!`): every await
    /// leaves the state as it was until it completes.
    pub async fn next(&mut self) -> Result<Option<LiveMessage>, PortError> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                if let LiveMessage::Event { id, .. } = &message {
                    self.last_sent = Some(*id);
                }
                return Ok(Some(message));
            }
            match &mut self.phase {
                Phase::Starting => {
                    let Some(started) = self.started.as_mut() else {
                        return Ok(None);
                    };
                    let Ok(start) = started.await else {
                        return Ok(None);
                    };
                    self.started = None;
                    self.phase = Phase::Started { start };
                }
                Phase::Started { start } => {
                    let start = *start;
                    self.phase = self.resume(start).await?;
                }
                Phase::Replaying { .. } => self.replay().await?,
                Phase::Live => return Ok(self.next_live().await),
            }
        }
    }

    /// What follows the start at `start`: a replay when the connection resumes from an
    /// event the log holds, recorded within the resume window.
    async fn resume(&mut self, start: LogPosition) -> Result<Phase, PortError> {
        let Some(resume) = self.last_sent else {
            self.ready.push_back(LiveMessage::Ready { resuming: false });
            return Ok(Phase::Live);
        };
        let window = self.feed.settings.resume_window;
        let recorded_at = self.feed.log.recorded_at(resume.position).await?;
        self.ready.push_back(LiveMessage::Ready { resuming: true });
        let within_window = recorded_at.is_some_and(|at| {
            chrono::Utc::now()
                .signed_duration_since(at)
                .to_std()
                .map_or(true, |age| age <= window)
        });
        if !within_window {
            // Not in the log (another deployment's id, a restored database) or too old:
            // nothing is skipped as "already sent".
            self.last_sent = None;
            self.ready.push_back(LiveMessage::Reset(format!(
                "the last event received is not among those recorded in the last {} s; \
                 events since may have been missed, and what follows is live",
                window.as_secs()
            )));
            return Ok(Phase::Live);
        }
        if resume.position > start {
            // This instance is behind the one the client left: what it hands out up to
            // the resume position was sent already, and is skipped by its id.
            return Ok(Phase::Live);
        }
        Ok(Phase::Replaying {
            // The store event of the last one seen is read again, for the rest of its
            // section.
            cursor: resume.position.just_before(),
            until: start,
            replayed: 0,
            sections: VecDeque::new(),
            permit: None,
        })
    }

    /// Hands out the next missed event: from the sections of the page read last, or from
    /// a new page of the tenant's sections; goes live once the start is reached or the
    /// replay would exceed its bound.
    async fn replay(&mut self) -> Result<(), PortError> {
        let max_events = self.feed.settings.resume_max_events;
        let Phase::Replaying {
            cursor,
            until,
            replayed,
            sections,
            permit,
        } = &mut self.phase
        else {
            return Ok(());
        };
        let mut over_bound = false;
        while let Some((section, next_index)) = sections.front_mut() {
            let events = &section.section.events;
            let Some(event) = events.get(*next_index) else {
                sections.pop_front();
                continue;
            };
            let id = LiveEventId {
                position: section.position,
                index: u32::try_from(*next_index).unwrap_or(u32::MAX),
            };
            *next_index += 1;
            let event_type = section.section.event_type;
            if self.last_sent.is_some_and(|last| id <= last)
                || !self.filter.matches(event_type, event)
            {
                continue;
            }
            if *replayed >= max_events {
                over_bound = true;
                break;
            }
            *replayed += 1;
            let json = Arc::from((self.feed.render)(event_type, event));
            self.ready.push_back(LiveMessage::Event { id, json });
            return Ok(());
        }
        if over_bound {
            self.ready.push_back(LiveMessage::Reset(format!(
                "more than {max_events} events were missed; what follows is live"
            )));
            self.phase = Phase::Live;
            return Ok(());
        }
        if *cursor >= *until {
            self.phase = Phase::Live;
            return Ok(());
        }
        if permit.is_none() {
            // Replays read the event store: a few at a time per instance.
            let turn = Arc::clone(&self.feed.resumes).acquire_owned().await;
            *permit = Some(turn.map_err(|_| PortError::failed("live updates are stopping"))?);
        }
        let page = self
            .feed
            .log
            .read_tenants_after(
                *cursor,
                &SECTIONS,
                std::slice::from_ref(&self.tenant),
                REPLAY_PAGE,
            )
            .await?;
        let missed: Vec<_> = page
            .events
            .into_iter()
            .filter(|store_event| store_event.position <= *until)
            .collect();
        // A page that came back short read everything up to the start.
        *cursor = match missed.last() {
            Some(last) if missed.len() == REPLAY_PAGE => last.position,
            _ => *until,
        };
        sections.extend(decode(&missed).into_iter().map(|section| (section, 0)));
        Ok(())
    }

    /// The next message from the buffer.
    async fn next_live(&mut self) -> Option<LiveMessage> {
        loop {
            match self.receiver.recv().await? {
                Buffered::Dropped(count) => return Some(LiveMessage::Dropped(count)),
                Buffered::Event {
                    id,
                    json,
                    dropped_before,
                } => {
                    self.bytes.0.fetch_sub(json.len(), Ordering::Relaxed);
                    // Sent already: the connection resumed from a position this instance
                    // had not reached yet. Skipped, it still counts what was dropped.
                    if self.last_sent.is_some_and(|last| id <= last) {
                        if dropped_before > 0 {
                            return Some(LiveMessage::Dropped(dropped_before));
                        }
                        continue;
                    }
                    self.last_sent = Some(id);
                    let event = LiveMessage::Event { id, json };
                    if dropped_before > 0 {
                        self.ready.push_back(event);
                        return Some(LiveMessage::Dropped(dropped_before));
                    }
                    return Some(event);
                }
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.unsubscribe(&self.tenant, self.id);
    }
}
