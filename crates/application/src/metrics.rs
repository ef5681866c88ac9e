//! Process-wide counters, rendered in the Prometheus text format at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the application increments; cheap enough for every request.
#[derive(Debug, Default)]
pub struct Metrics {
    pub ingest_requests: AtomicU64,
    pub ingest_events_accepted: AtomicU64,
    pub ingest_events_duplicate: AtomicU64,
    pub ingest_rejected: AtomicU64,
    pub otlp_records_rejected: AtomicU64,
    pub rate_limited: AtomicU64,
    pub rate_limit_fail_open: AtomicU64,
    pub cache_l1_hits: AtomicU64,
    pub cache_l1_misses: AtomicU64,
    pub cache_l2_hits: AtomicU64,
    pub cache_l2_misses: AtomicU64,
    pub cache_l2_errors: AtomicU64,
    pub alert_samples_over_series_limit: AtomicU64,
    pub notifications_delivered: AtomicU64,
    pub notification_attempts_failed: AtomicU64,
    pub notifications_dead: AtomicU64,
    pub handoff_hits: AtomicU64,
    pub handoff_misses: AtomicU64,
    pub live_connections_opened: AtomicU64,
    pub live_connections_closed: AtomicU64,
    pub live_events_sent: AtomicU64,
    pub live_events_dropped: AtomicU64,
}

impl Metrics {
    /// Every counter as `(name, help, value)`.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        vec![
            (
                "telemetry_ingest_requests_total",
                "Ingest requests that reached the ingest service.",
                read(&self.ingest_requests),
            ),
            (
                "telemetry_ingest_events_accepted_total",
                "Events recorded.",
                read(&self.ingest_events_accepted),
            ),
            (
                "telemetry_ingest_events_duplicate_total",
                "Events skipped as duplicates.",
                read(&self.ingest_events_duplicate),
            ),
            (
                "telemetry_ingest_rejected_total",
                "Ingest requests refused (4xx or 5xx).",
                read(&self.ingest_rejected),
            ),
            (
                "telemetry_otlp_records_rejected_total",
                "OTLP log records, data points and spans rejected as a partial success.",
                read(&self.otlp_records_rejected),
            ),
            (
                "telemetry_rate_limited_total",
                "Requests refused by the rate limiter.",
                read(&self.rate_limited),
            ),
            (
                "telemetry_rate_limit_fail_open_total",
                "Requests allowed because the rate limiter was unavailable.",
                read(&self.rate_limit_fail_open),
            ),
            (
                "telemetry_cache_l1_hits_total",
                "In-process cache hits.",
                read(&self.cache_l1_hits),
            ),
            (
                "telemetry_cache_l1_misses_total",
                "In-process cache misses.",
                read(&self.cache_l1_misses),
            ),
            (
                "telemetry_cache_l2_hits_total",
                "Shared (Redis) cache hits.",
                read(&self.cache_l2_hits),
            ),
            (
                "telemetry_cache_l2_misses_total",
                "Shared (Redis) cache misses.",
                read(&self.cache_l2_misses),
            ),
            (
                "telemetry_cache_l2_errors_total",
                "Shared (Redis) cache operations that failed.",
                read(&self.cache_l2_errors),
            ),
            (
                "telemetry_alert_samples_over_series_limit_total",
                "Metric samples ignored because their alert rule tracks its maximum of series.",
                read(&self.alert_samples_over_series_limit),
            ),
            (
                "telemetry_notifications_delivered_total",
                "Webhook notifications the receiver accepted.",
                read(&self.notifications_delivered),
            ),
            (
                "telemetry_notification_attempts_failed_total",
                "Webhook delivery attempts that failed (each retry counts).",
                read(&self.notification_attempts_failed),
            ),
            (
                "telemetry_notifications_dead_total",
                "Webhook notifications that became dead letters.",
                read(&self.notifications_dead),
            ),
            (
                "telemetry_processor_handoff_hits_total",
                "Events whose payload a reader of the log (a processor, live updates) took from this instance's memory.",
                read(&self.handoff_hits),
            ),
            (
                "telemetry_processor_handoff_misses_total",
                "Events whose payload a reader of the log (a processor, live updates) read back from the event store.",
                read(&self.handoff_misses),
            ),
            (
                "telemetry_live_connections_opened_total",
                "Live event streams opened (the difference to closed is how many are open).",
                read(&self.live_connections_opened),
            ),
            (
                "telemetry_live_connections_closed_total",
                "Live event streams closed.",
                read(&self.live_connections_closed),
            ),
            (
                "telemetry_live_events_sent_total",
                "Events handed to live event streams.",
                read(&self.live_events_sent),
            ),
            (
                "telemetry_live_events_dropped_total",
                "Matching events a live stream skipped: its client read too slowly, or the stream reached LIVE_MAX_EVENTS_PER_SECOND.",
                read(&self.live_events_dropped),
            ),
        ]
    }

    /// The Prometheus text exposition of every counter.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in self.snapshot() {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out
    }
}
