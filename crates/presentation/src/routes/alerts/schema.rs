//! The shapes of alert rules and transitions as the OpenAPI document describes them.
//!
//! Rules are parsed from JSON by the domain (`RuleDefinition::from_json`, which lists every
//! problem per field) and written back with `RuleDefinition::to_json`; these types only
//! document that shape, field by field, for the spec and the clients generated from it.

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// An alert rule. Threshold rules (`kind` `threshold`, the default) fire when `aggregation`
/// of the metric's samples over the last `window` compares with `threshold`, continuously
/// for `for`; absence rules (`kind` `absence`) fire when no sample arrived for `window`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({
    "name": "slow checkout", "metric": "http.request.duration", "serviceName": "checkout",
    "attributes": {"route": "/pay"}, "aggregation": "p95", "window": "5m", "comparator": ">",
    "threshold": 250, "for": "2m", "severity": "critical", "enabled": true,
    "channels": [{"url": "https://hooks.slack.com/services/T000/B000/XXXX", "format": "slack"}]
}))]
pub struct AlertRuleBody {
    /// 1-200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// The metric name (`payload.name` of metric events).
    #[schema(min_length = 1, max_length = 256)]
    metric: String,
    /// Only samples of this service; without it each service is its own series.
    #[schema(rename = "serviceName", min_length = 1, max_length = 128)]
    service_name: Option<String>,
    /// Only samples carrying all these attributes.
    attributes: Option<BTreeMap<String, String>>,
    /// `threshold` (default) or `absence`.
    kind: Option<RuleKind>,
    /// Threshold rules: the statistic compared (quantiles within 1 %).
    aggregation: Option<Aggregation>,
    /// `1m` to `24h` (units s, m, h, d).
    #[schema(example = "5m", pattern = "^[0-9]+[smhd]$")]
    window: String,
    /// Threshold rules: how the statistic compares with `threshold`.
    comparator: Option<Comparator>,
    /// Threshold rules: a finite number.
    threshold: Option<f64>,
    /// Threshold rules: how long the condition must hold before firing (`0s` to `24h`).
    #[schema(rename = "for", example = "2m", pattern = "^[0-9]+[smhd]$")]
    hold_for: Option<String>,
    /// `warning` by default.
    severity: Option<SeverityDoc>,
    /// 1-10 webhooks.
    #[schema(min_items = 1, max_items = 10)]
    channels: Vec<ChannelBody>,
    /// Default true.
    enabled: Option<bool>,
}

/// What a rule watches for.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum RuleKind {
    Threshold,
    Absence,
}

/// The statistic of the window a threshold rule compares. For a gauge, of its sampled
/// values; for a histogram, of the observations in its buckets (percentiles estimated from
/// them); for a counter, `increase` over the window and `rate` (per second).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum Aggregation {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    P50,
    P90,
    P95,
    P99,
    Rate,
    Increase,
}

/// How a threshold rule's statistic compares with its threshold.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum Comparator {
    #[schema(rename = ">")]
    Above,
    #[schema(rename = ">=")]
    AtLeast,
    #[schema(rename = "<")]
    Below,
    #[schema(rename = "<=")]
    AtMost,
}

/// How urgent an alert is.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum SeverityDoc {
    Info,
    Warning,
    Critical,
}

/// A webhook.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ChannelBody {
    /// `http://` or `https://`.
    #[schema(example = "https://hooks.example.com/alerts")]
    url: String,
    /// `json` (default) or `slack` (a Slack incoming-webhook message).
    format: Option<ChannelFormat>,
}

/// An alert's step: `pending` (the condition holds, waiting for `for`), `cleared` (it
/// stopped holding before firing), `triggered` (fired: notified) or `resolved` (over:
/// notified).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum TransitionKind {
    Pending,
    Cleared,
    Triggered,
    Resolved,
}

/// A webhook's body format.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum ChannelFormat {
    Json,
    Slack,
}
