//! The shapes of alert rules and transitions as the OpenAPI document describes them.
//!
//! Rules are parsed by `request::RuleRequest` (field by field, so every problem is answered
//! at once, which serde's derive of these closed shapes cannot do) and answered as
//! `RuleDocument`; these types state the same shapes in JSON Schema, with the constraints
//! the server enforces, for the spec and the clients generated from it. The contract test
//! (`scripts/test-contract.sh`) sends what they describe and checks what comes back.

use std::collections::BTreeMap;

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::ToSchema;

// Patterns: names and metric names without control characters (Unicode `Cc`); windows
// `1m` to `24h` and holds `0s` to `24h` in s, m, h or d (leading zeros and surrounding
// blanks are taken, as the server does); webhooks of visible ASCII.

/// A field that is only ever `null` (or left out) in this kind of rule.
fn null_only() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// A new or replacing alert rule: a threshold rule or an absence rule, with exactly the
/// fields of its kind (`null` counts as left out). Every problem is answered at once, per
/// field, as `invalid_rule` details.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum AlertRuleRequest {
    Threshold(ThresholdRuleRequest),
    Absence(AbsenceRuleRequest),
}

/// Fires when `aggregation` of the metric's samples over the last `window` compares with
/// `threshold`, continuously for `for`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "name": "slow checkout", "metric": "http.request.duration", "serviceName": "checkout",
    "attributes": {"route": "/pay"}, "aggregation": "p95", "window": "5m", "comparator": ">",
    "threshold": 250, "for": "2m", "severity": "critical", "enabled": true,
    "channels": [{"url": "https://hooks.slack.com/services/T000/B000/XXXX", "format": "slack"}]
}))]
pub struct ThresholdRuleRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    metric: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    service_name: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    /// `threshold` (the default).
    #[schema(value_type = Option<ThresholdKind>)]
    kind: Option<String>,
    aggregation: Aggregation,
    #[schema(
        example = "5m",
        pattern = r"^\s*0*((6[0-9]|[7-9][0-9]|[1-9][0-9]{2,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)s|([1-9][0-9]{0,2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m|([1-9]|1[0-9]|2[0-4])h|1d)\s*$"
    )]
    window: String,
    comparator: Comparator,
    threshold: f64,
    #[serde(rename = "for")]
    #[schema(
        example = "2m",
        pattern = r"^\s*0*(([0-9]{1,4}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)s|([0-9]{1,3}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m|([0-9]|1[0-9]|2[0-4])h|[01]d)\s*$"
    )]
    hold_for: Option<String>,
    severity: Option<SeverityDoc>,
    #[schema(min_items = 1, max_items = 10)]
    channels: Vec<ChannelRequest>,
    enabled: Option<bool>,
}

/// Fires when no sample arrived for `window`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "name": "checkout heartbeat", "metric": "heartbeat", "serviceName": "checkout",
    "kind": "absence", "window": "10m", "severity": "warning",
    "channels": [{"url": "https://hooks.example.com/alerts"}]
}))]
pub struct AbsenceRuleRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    metric: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    service_name: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    #[schema(value_type = AbsenceKind)]
    kind: String,
    #[schema(schema_with = null_only)]
    aggregation: Option<()>,
    #[schema(
        example = "10m",
        pattern = r"^\s*0*((6[0-9]|[7-9][0-9]|[1-9][0-9]{2,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)s|([1-9][0-9]{0,2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m|([1-9]|1[0-9]|2[0-4])h|1d)\s*$"
    )]
    window: String,
    #[schema(schema_with = null_only)]
    comparator: Option<()>,
    #[schema(schema_with = null_only)]
    threshold: Option<()>,
    #[serde(rename = "for")]
    #[schema(pattern = r"^\s*0+[smhd]\s*$")]
    hold_for: Option<String>,
    severity: Option<SeverityDoc>,
    #[schema(min_items = 1, max_items = 10)]
    channels: Vec<ChannelRequest>,
    enabled: Option<bool>,
}

/// `threshold`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum ThresholdKind {
    Threshold,
}

/// `absence`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum AbsenceKind {
    Absence,
}

/// A webhook of a new or replacing rule.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    #[schema(
        example = "https://hooks.example.com/alerts",
        max_length = 2048,
        pattern = r#"^https?://[!-"$-.0->A-~]+([/?#][!-~]*)?$"#
    )]
    url: String,
    /// `json` (default) or `slack` (a Slack incoming-webhook message).
    format: Option<ChannelFormat>,
}

/// An alert rule as answered. Threshold rules (`kind` `threshold`, the default) fire when `aggregation`
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
#[serde(rename_all = "lowercase")]
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
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
}

/// How urgent an alert is.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
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
#[serde(rename_all = "lowercase")]
pub enum ChannelFormat {
    Json,
    Slack,
}
