//! Application layer: command and query handlers, the ports they need, and the event
//! processors that turn committed domain events into read models.
//!
//! Nothing here knows about HTTP, SQL, ClickHouse or Redis; those sit behind [`ports`].
//!
//! - [`alerting`]: alert rules, evaluation, notifications and history.
//! - [`commands`]: running commands against `cqrs-es` aggregates.
//! - [`ingest`]: the ingest command handler (exactly-once recording of telemetry).
//! - [`live`]: accepted events pushed to connected clients as they are committed.
//! - [`api_keys`]: the list of each tenant's API keys.
//! - [`auth`]: API keys and bearer tokens, principals and permissions.
//! - [`rate_limit`]: per-tenant budgets, failing open.
//! - [`readiness`]: dependency checks for `/readyz`.
//! - [`metrics`]: counters exposed at `/metrics`.
//! - [`processing`]: event processors (rollups, audit) and the runner that owns them.
//! - [`read_models`]: rebuild requests for read models.
//! - [`refusals`]: refused ingestion requests per tenant, day and reason, for usage.
//! - [`retention`]: per-tenant retention and quotas, and the maintenance that enforces them.
//! - [`query`]: event queries, summaries and time series, and the two-level cache.

pub mod alerting;
pub mod api_keys;
pub mod auth;
pub mod commands;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod ports;
pub mod processing;
pub mod query;
pub mod rate_limit;
pub mod read_models;
pub mod readiness;
pub mod refusals;
pub mod retention;

/// A setting given at start-up that cannot be used: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct InvalidSetting {
    pub setting: String,
    pub problem: String,
}

impl InvalidSetting {
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}
