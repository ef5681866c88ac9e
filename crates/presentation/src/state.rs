//! What every handler can reach: the application services and the HTTP limits.

use std::sync::Arc;
use std::time::Duration;

use telemetry_application::alerting::history::AlertQueries;
use telemetry_application::alerting::notifications::DeadLetters;
use telemetry_application::alerting::rules::AlertRuleService;
use telemetry_application::auth::AuthService;
use telemetry_application::ingest::IngestService;
use telemetry_application::live::LiveFeed;
use telemetry_application::metrics::Metrics;
use telemetry_application::ports::{AnalyticsRetention, EventLog, EventStoreHorizon, UsageStore};
use telemetry_application::processing::ProcessorMonitor;
use telemetry_application::query::QueryService;
use telemetry_application::rate_limit::RateLimitService;
use telemetry_application::read_models::ReadModelAdmin;
use telemetry_application::readiness::ReadinessService;
use telemetry_application::refusals::RefusalTally;
use telemetry_application::retention::PolicyService;
use telemetry_domain::values::TenantId;
use tokio::sync::Semaphore;

/// Request-size and time limits.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_batch_events: usize,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

/// Shared handler state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub ingest: Arc<IngestService>,
    pub auth: Arc<AuthService>,
    pub rate_limits: Arc<RateLimitService>,
    pub readiness: Arc<ReadinessService>,
    pub metrics: Arc<Metrics>,
    pub limits: HttpLimits,
    pub queries: Arc<QueryService>,
    pub read_models: Arc<ReadModelAdmin>,
    pub processors: Arc<ProcessorMonitor>,
    /// For processor lag in `/readyz`.
    pub event_log: Arc<dyn EventLog>,
    /// The event store's replay horizon, for `/readyz`.
    pub horizon: Arc<dyn EventStoreHorizon>,
    /// Tenant usage per day and quotas.
    pub usage: Arc<dyn UsageStore>,
    /// Tenants' retention and quota choices.
    pub policies: Arc<PolicyService>,
    /// Refused ingestion requests per tenant and reason, for usage.
    pub refusals: Arc<RefusalTally>,
    /// The analytics store's side of retention (and its bytes per tenant, for usage).
    pub analytics_storage: Arc<dyn AnalyticsRetention>,
    /// The tenant whose admins operate the platform (read-model rebuilds); none disables
    /// rebuilds over HTTP.
    pub operator_tenant: Option<TenantId>,
    pub alert_rules: Arc<AlertRuleService>,
    pub alert_queries: Arc<AlertQueries>,
    pub dead_letters: Arc<DeadLetters>,
    /// Accepted events pushed to live streams (`/live/events`).
    pub live: Arc<LiveFeed>,
    /// Bounds the CPU-bound request work (decoding and converting OTLP exports) running at
    /// once, to the cores: more at once is not faster, and each holds a decoded export in
    /// memory on a thread of its own.
    pub conversions: Arc<Semaphore>,
}
