//! Alerting: rules, their evaluation on incoming metrics, notifications and history.
//!
//! - [`rules`]: rule commands and the rule catalog (a Postgres projection); [`document`]:
//!   a rule in the API's JSON form, as answered and audited.
//! - [`evaluator`]: the `alerts` processor, which reads `MetricIngested` events, keeps a
//!   window per rule and series (`telemetry_domain::alert::window`, with quantiles from
//!   `telemetry_domain::alert::sketch`: pure policy, so it lives in the domain) and reports
//!   to the `Alert` aggregates, which own the transitions.
//! - [`notifications`]: the outbox processor, delivery workers, dead letters.
//! - [`history`]: the alert history read model and its queries.

pub mod document;
pub mod evaluator;
#[cfg(test)]
mod fakes;
pub mod history;
pub mod notifications;
pub mod rules;
