//! Alerts: one `Alert` aggregate per (rule, series) holding its state, OK, Pending, Firing or
//! Resolved. The evaluator reports what it observes; the aggregate decides the transitions,
//! so a re-delivered observation (after a crash) never triggers an episode twice.

mod aggregate;
mod commands;
mod events;
pub mod sketch;
pub mod window;

pub use aggregate::{Alert, AlertStatus, ALERT};
pub use commands::{AlertCommand, Notice};
pub use events::{AlertEvent, Transition};

/// The aggregate id of the alert of `rule_id` for `series`.
pub fn alert_id(rule_id: &str, series: &str) -> String {
    format!("{rule_id}/{series}")
}

/// Why an `Alert` refused a command (it never does: observations are always accepted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alert command refused")]
pub struct AlertError;
