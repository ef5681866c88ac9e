//! Notifications: at-least-once webhook delivery of alert transitions.
//!
//! The `notifications` processor turns every `AlertTriggered` and `AlertResolved` event into
//! one delivery per channel, written to the outbox together with its log position (so each
//! transition is queued exactly once). Delivery workers on every instance claim due
//! deliveries, POST them with a timeout, and retry failures with exponential backoff and
//! jitter; after the last attempt a delivery becomes a dead letter, which can be listed and
//! sent again. Every request carries a notification id that stays the same across retries,
//! redeliveries and channels, so receivers can drop repeats.

mod dead_letters;
mod delivery;
mod outbox;
#[cfg(test)]
mod tests;

pub use self::dead_letters::{DeadLetterFailure, DeadLetters};
pub use self::delivery::{backoff, DeliverySettings, DeliveryWorker};
pub use self::outbox::{deliveries_for, notification_id, NotificationProcessor};
