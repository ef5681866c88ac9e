//! What an alert rule watches and when it fires, parsed from its JSON form.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::values::{MetricName, ServiceName};

/// A duration in whole seconds, written `30s`, `5m`, `2h` or `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub u32);

impl Seconds {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u32 = number.parse().ok()?;
        let factor = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return None,
        };
        number.checked_mul(factor).map(Self)
    }

    pub fn as_micros(self) -> i64 {
        i64::from(self.0) * 1_000_000
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0;
        if seconds != 0 && seconds.is_multiple_of(86_400) {
            write!(f, "{}d", seconds / 86_400)
        } else if seconds != 0 && seconds.is_multiple_of(3_600) {
            write!(f, "{}h", seconds / 3_600)
        } else if seconds != 0 && seconds.is_multiple_of(60) {
            write!(f, "{}m", seconds / 60)
        } else {
            write!(f, "{seconds}s")
        }
    }
}

/// How the window is reduced to one value. Gauges: of the sampled values. Histograms: of
/// the observations the window's buckets hold (`count`, `sum`, `avg`, `min`, `max` where
/// reported, percentiles estimated from the buckets). Counters: `increase` over the window
/// and `rate` (that increase per second); the other aggregations read a counter's points as
/// samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl Aggregation {
    /// Every aggregation with its name in rules (as serialized).
    const NAMES: [(Self, &'static str); 11] = [
        (Self::Count, "count"),
        (Self::Sum, "sum"),
        (Self::Min, "min"),
        (Self::Max, "max"),
        (Self::Avg, "avg"),
        (Self::P50, "p50"),
        (Self::P90, "p90"),
        (Self::P95, "p95"),
        (Self::P99, "p99"),
        (Self::Rate, "rate"),
        (Self::Increase, "increase"),
    ];

    /// The quantile a percentile aggregation asks for.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Self::P50 => Some(0.5),
            Self::P90 => Some(0.9),
            Self::P95 => Some(0.95),
            Self::P99 => Some(0.99),
            _ => None,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::NAMES
            .into_iter()
            .find_map(|(aggregation, name)| (name == text).then_some(aggregation))
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .into_iter()
            .find_map(|(aggregation, name)| (aggregation == self).then_some(name))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl Comparator {
    /// Every comparator with its symbol in rules (as serialized).
    const SYMBOLS: [(Self, &'static str); 4] = [
        (Self::Above, ">"),
        (Self::AtLeast, ">="),
        (Self::Below, "<"),
        (Self::AtMost, "<="),
    ];

    fn parse(text: &str) -> Option<Self> {
        Self::SYMBOLS
            .into_iter()
            .find_map(|(comparator, symbol)| (symbol == text).then_some(comparator))
    }

    pub fn as_str(self) -> &'static str {
        Self::SYMBOLS
            .into_iter()
            .find_map(|(comparator, symbol)| (comparator == self).then_some(symbol))
            .unwrap_or_default()
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::AtLeast => value >= threshold,
            Self::Below => value < threshold,
            Self::AtMost => value <= threshold,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Self::Info, Self::Warning, Self::Critical];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|severity| severity.as_str() == name)
    }

    /// The name in rules, history and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// When a rule's condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Condition {
    /// `aggregation` of the samples of the last `window` compared with `threshold`.
    Threshold {
        aggregation: Aggregation,
        window: Seconds,
        comparator: Comparator,
        threshold: f64,
    },
    /// No sample at all during the last `window`.
    Absence { window: Seconds },
}

impl Condition {
    pub fn window(&self) -> Seconds {
        match self {
            Self::Threshold { window, .. } | Self::Absence { window } => *window,
        }
    }
}

impl RuleDefinition {
    /// Whether `other` watches the same samples the same way: the same metric, attribute
    /// filter, window length and kind of condition. A change of anything else (name,
    /// threshold, comparator, aggregation, `for`, severity, channels, service filter) keeps
    /// what the rule has seen and how long it has been watching.
    pub fn watches_like(&self, other: &RuleDefinition) -> bool {
        self.metric == other.metric
            && self.attributes == other.attributes
            && self.condition.window() == other.condition.window()
            && std::mem::discriminant(&self.condition) == std::mem::discriminant(&other.condition)
    }
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Channel {
    /// An `http://` or `https://` webhook URL.
    pub url: String,
    pub format: ChannelFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelFormat {
    /// The notification as JSON.
    Json,
    /// A Slack-compatible incoming-webhook message (`{"text": ...}`).
    Slack,
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDefinition {
    pub name: String,
    pub metric: MetricName,
    pub service_name: Option<ServiceName>,
    /// Samples must carry every one of these attributes with these values.
    pub attributes: BTreeMap<String, String>,
    pub condition: Condition,
    /// How long the condition must hold before the rule fires.
    pub hold_for: Seconds,
    pub severity: Severity,
    pub channels: Vec<Channel>,
}

/// One problem with one field of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleViolation {
    pub field: String,
    pub code: String,
    pub message: String,
}

pub const MIN_WINDOW: Seconds = Seconds(60);
pub const MAX_WINDOW: Seconds = Seconds(86_400);
pub const MAX_CHANNELS: usize = 10;
const FIELDS: [&str; 12] = [
    "name",
    "metric",
    "serviceName",
    "attributes",
    "kind",
    "aggregation",
    "window",
    "comparator",
    "threshold",
    "for",
    "severity",
    "channels",
];

struct Fields<'a> {
    object: &'a Map<String, Value>,
    violations: Vec<RuleViolation>,
}

impl<'a> Fields<'a> {
    fn report(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.violations.push(RuleViolation {
            field: field.to_string(),
            code: code.to_string(),
            message: message.into(),
        });
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|value| !value.is_null())
    }

    fn text(&mut self, field: &str, required: bool) -> Option<&'a str> {
        match self.get(field) {
            None if required => {
                self.report(field, "required", format!("{field} is required"));
                None
            }
            None => None,
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => {
                self.report(field, "invalid_type", format!("{field} must be a string"));
                None
            }
        }
    }

    fn choice<T>(
        &mut self,
        field: &str,
        required: bool,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let text = self.text(field, required)?;
        let parsed = parse(text);
        if parsed.is_none() {
            self.report(
                field,
                "unknown_value",
                format!("{field} must be one of: {expected}"),
            );
        }
        parsed
    }

    fn duration(
        &mut self,
        field: &str,
        required: bool,
        min: Seconds,
        max: Seconds,
    ) -> Option<Seconds> {
        let text = self.text(field, required)?;
        let Some(duration) = Seconds::parse(text) else {
            self.report(
                field,
                "invalid_duration",
                format!("{field} must look like 30s, 5m, 2h or 1d"),
            );
            return None;
        };
        if duration < min || duration > max {
            self.report(
                field,
                "out_of_range",
                format!("{field} must be between {min} and {max}"),
            );
            return None;
        }
        Some(duration)
    }
}

impl RuleDefinition {
    /// Validates a rule given as a JSON object, reporting every problem with its field.
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, Vec<RuleViolation>> {
        let mut fields = Fields {
            object,
            violations: Vec::new(),
        };
        for key in object.keys() {
            if !FIELDS.contains(&key.as_str()) {
                fields.report(key, "unknown_field", format!("{key} is not a known field"));
            }
        }
        let name = fields.text("name", true).map(str::trim).and_then(|name| {
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                fields.report(
                    "name",
                    "invalid_value",
                    "name must be 1-200 characters without control characters",
                );
                None
            } else {
                Some(name.to_string())
            }
        });
        let metric = fields
            .text("metric", true)
            .and_then(|text| match MetricName::parse(text) {
                Ok(metric) => Some(metric),
                Err(error) => {
                    fields.report("metric", error.code(), format!("metric {error}"));
                    None
                }
            });
        let service_name =
            fields
                .text("serviceName", false)
                .and_then(|text| match ServiceName::parse(text) {
                    Ok(service) => Some(service),
                    Err(error) => {
                        fields.report("serviceName", error.code(), format!("serviceName {error}"));
                        None
                    }
                });
        let attributes = match fields.get("attributes") {
            None => Some(BTreeMap::new()),
            Some(value) => {
                match serde_json::from_value::<BTreeMap<String, String>>(value.clone()) {
                    Ok(map) => Some(map),
                    Err(_) => {
                        fields.report(
                            "attributes",
                            "invalid_type",
                            "attributes must be an object of strings",
                        );
                        None
                    }
                }
            }
        };
        let kind = fields
            .choice(
                "kind",
                false,
                |text| matches!(text, "threshold" | "absence").then(|| text.to_string()),
                "threshold, absence",
            )
            .unwrap_or_else(|| "threshold".to_string());
        let window = fields.duration("window", true, MIN_WINDOW, MAX_WINDOW);
        let condition = if kind == "absence" {
            for field in ["aggregation", "comparator", "threshold"] {
                if fields.get(field).is_some() {
                    fields.report(
                        field,
                        "not_applicable",
                        format!("absence rules have no {field}"),
                    );
                }
            }
            window.map(|window| Condition::Absence { window })
        } else {
            let aggregation = fields.choice(
                "aggregation",
                true,
                Aggregation::parse,
                "count, sum, min, max, avg, p50, p90, p95, p99, rate, increase",
            );
            let comparator = fields.choice("comparator", true, Comparator::parse, ">, >=, <, <=");
            let threshold = match fields.get("threshold") {
                None => {
                    fields.report("threshold", "required", "threshold is required");
                    None
                }
                Some(value) => match value.as_f64().filter(|number| number.is_finite()) {
                    Some(number) => Some(number),
                    None => {
                        fields.report(
                            "threshold",
                            "invalid_type",
                            "threshold must be a finite number",
                        );
                        None
                    }
                },
            };
            match (aggregation, window, comparator, threshold) {
                (Some(aggregation), Some(window), Some(comparator), Some(threshold)) => {
                    Some(Condition::Threshold {
                        aggregation,
                        window,
                        comparator,
                        threshold,
                    })
                }
                _ => None,
            }
        };
        let hold_for = if fields.get("for").is_none() {
            Some(Seconds(0))
        } else {
            fields.duration("for", false, Seconds(0), MAX_WINDOW)
        };
        if kind == "absence" && hold_for.is_some_and(|hold| hold.0 > 0) {
            fields.report(
                "for",
                "not_applicable",
                "absence rules fire after window; leave for out",
            );
        }
        let severity = fields
            .choice(
                "severity",
                false,
                Severity::parse,
                "info, warning, critical",
            )
            .or(if fields.get("severity").is_none() {
                Some(Severity::Warning)
            } else {
                None
            });
        let channels = parse_channels(&mut fields);

        if !fields.violations.is_empty() {
            return Err(fields.violations);
        }
        match (
            name, metric, attributes, condition, hold_for, severity, channels,
        ) {
            (
                Some(name),
                Some(metric),
                Some(attributes),
                Some(condition),
                Some(hold_for),
                Some(severity),
                Some(channels),
            ) => Ok(Self {
                name,
                metric,
                service_name,
                attributes,
                condition,
                hold_for,
                severity,
                channels,
            }),
            _ => Err(vec![RuleViolation {
                field: "".into(),
                code: "invalid_rule".into(),
                message: "the rule is incomplete".into(),
            }]),
        }
    }

    /// The JSON form `from_json` accepts (round-trips).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("name".into(), Value::from(self.name.clone()));
        object.insert("metric".into(), Value::from(self.metric.to_string()));
        if let Some(service) = &self.service_name {
            object.insert("serviceName".into(), Value::from(service.to_string()));
        }
        object.insert(
            "attributes".into(),
            serde_json::to_value(&self.attributes).unwrap_or_default(),
        );
        match &self.condition {
            Condition::Threshold {
                aggregation,
                window,
                comparator,
                threshold,
            } => {
                object.insert("kind".into(), Value::from("threshold"));
                object.insert(
                    "aggregation".into(),
                    serde_json::to_value(aggregation).unwrap_or_default(),
                );
                object.insert("window".into(), Value::from(window.to_string()));
                object.insert(
                    "comparator".into(),
                    serde_json::to_value(comparator).unwrap_or_default(),
                );
                object.insert("threshold".into(), Value::from(*threshold));
                object.insert("for".into(), Value::from(self.hold_for.to_string()));
            }
            Condition::Absence { window } => {
                object.insert("kind".into(), Value::from("absence"));
                object.insert("window".into(), Value::from(window.to_string()));
            }
        }
        object.insert(
            "severity".into(),
            serde_json::to_value(self.severity).unwrap_or_default(),
        );
        object.insert(
            "channels".into(),
            serde_json::to_value(&self.channels).unwrap_or_default(),
        );
        object
    }

    /// Whether a sample from `service` with `attributes` belongs to this rule.
    pub fn matches(&self, service: &str, attributes: &BTreeMap<String, String>) -> bool {
        if self
            .service_name
            .as_ref()
            .is_some_and(|wanted| wanted.as_str() != service)
        {
            return false;
        }
        self.attributes
            .iter()
            .all(|(key, value)| attributes.get(key) == Some(value))
    }
}

fn parse_channels(fields: &mut Fields<'_>) -> Option<Vec<Channel>> {
    let Some(value) = fields.get("channels") else {
        fields.report(
            "channels",
            "required",
            "channels is required (at least one webhook)",
        );
        return None;
    };
    let Some(entries) = value.as_array() else {
        fields.report("channels", "invalid_type", "channels must be an array");
        return None;
    };
    if entries.is_empty() || entries.len() > MAX_CHANNELS {
        fields.report(
            "channels",
            "out_of_range",
            format!("between 1 and {MAX_CHANNELS} channels"),
        );
        return None;
    }
    let mut channels = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let field = format!("channels[{index}]");
        let url = entry.get("url").and_then(Value::as_str);
        let format = match entry.get("format").and_then(Value::as_str) {
            None => Some(ChannelFormat::Json),
            Some("json") => Some(ChannelFormat::Json),
            Some("slack") => Some(ChannelFormat::Slack),
            Some(_) => None,
        };
        let unknown: Vec<&String> = entry.as_object().map_or_else(Vec::new, |object| {
            object
                .keys()
                .filter(|key| *key != "url" && *key != "format")
                .collect()
        });
        for key in &unknown {
            fields.report(
                &format!("{field}.{key}"),
                "unknown_field",
                format!("{key} is not a known field of a channel (url, format)"),
            );
        }
        match (url, format) {
            (_, None) => fields.report(
                &format!("{field}.format"),
                "unknown_value",
                "format must be json or slack",
            ),
            (Some(url), Some(format)) if valid_webhook_url(url) => {
                if unknown.is_empty() {
                    channels.push(Channel {
                        url: url.to_string(),
                        format,
                    });
                }
            }
            _ => fields.report(
                &format!("{field}.url"),
                "invalid_url",
                "each channel needs a url (http:// or https://, visible ASCII: IDNs as punycode, paths percent-encoded; at most 2048 characters)",
            ),
        }
    }
    Some(channels)
}

fn valid_webhook_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    url.len() <= 2048
        && !host.is_empty()
        && !host.contains('@')
        && url.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<RuleDefinition, Vec<RuleViolation>> {
        RuleDefinition::from_json(value.as_object().unwrap())
    }

    #[test]
    fn names_are_the_serialized_forms() {
        for (aggregation, name) in Aggregation::NAMES {
            assert_eq!(serde_json::to_value(aggregation).unwrap(), json!(name));
            assert_eq!(aggregation.as_str(), name);
            assert_eq!(Aggregation::parse(name), Some(aggregation));
        }
        for (comparator, symbol) in Comparator::SYMBOLS {
            assert_eq!(serde_json::to_value(comparator).unwrap(), json!(symbol));
            assert_eq!(comparator.as_str(), symbol);
            assert_eq!(Comparator::parse(symbol), Some(comparator));
        }
    }

    fn fields_of(value: Value) -> Vec<(String, String)> {
        parse(value)
            .unwrap_err()
            .into_iter()
            .map(|v| (v.field, v.code))
            .collect()
    }

    fn threshold_rule() -> Value {
        json!({"name": "slow checkout", "metric": "latency", "serviceName": "checkout",
               "aggregation": "p95", "window": "5m", "comparator": ">", "threshold": 250,
               "for": "2m", "severity": "critical",
               "channels": [{"url": "https://hooks.example.com/x", "format": "slack"}]})
    }

    /// Postgres prints a JSONB number in plain decimal (`-17976931348623157000…`, 309 digits):
    /// read back with serde_json's default, imprecise float parsing, the largest finite
    /// thresholds came out of range and the rule's events could no longer be loaded.
    #[test]
    fn the_largest_thresholds_read_back_from_the_event_stores_decimal_text() {
        for threshold in [f64::MAX, f64::MIN, 1e300, -2.5e-300, f64::MIN_POSITIVE] {
            let stored = serde_json::to_string(&threshold).unwrap();
            let decimal: f64 = stored.parse().unwrap();
            assert_eq!(decimal, threshold);
        }
        let postgres_text = format!("-17976931348623157{}", "0".repeat(292));
        let read: f64 = serde_json::from_str(&postgres_text).unwrap();
        assert_eq!(read, f64::MIN);
    }

    #[test]
    fn a_threshold_rule_parses_and_round_trips() {
        let rule = parse(threshold_rule()).unwrap();
        assert_eq!(rule.hold_for, Seconds(120));
        assert!(matches!(
            rule.condition,
            Condition::Threshold {
                aggregation: Aggregation::P95,
                window: Seconds(300),
                ..
            }
        ));
        let again = RuleDefinition::from_json(&rule.to_json()).unwrap();
        assert_eq!(again, rule);
    }

    #[test]
    fn absence_rules_need_only_a_window() {
        let rule = parse(
            json!({"name": "heartbeat", "metric": "heartbeat", "kind": "absence",
            "window": "10m", "channels": [{"url": "http://receiver.local/hook"}]}),
        )
        .unwrap();
        assert_eq!(
            rule.condition,
            Condition::Absence {
                window: Seconds(600)
            }
        );
        assert_eq!(rule.severity, Severity::Warning);
        assert_eq!(RuleDefinition::from_json(&rule.to_json()).unwrap(), rule);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let mut rule = threshold_rule();
        rule["window"] = json!("30s");
        rule["aggregation"] = json!("median");
        rule["threshold"] = json!("high");
        rule["channels"] = json!([{"url": "ftp://x"}]);
        rule["colour"] = json!("red");
        let fields = fields_of(rule);
        assert!(
            fields.contains(&("window".into(), "out_of_range".into())),
            "{fields:?}"
        );
        assert!(fields.contains(&("aggregation".into(), "unknown_value".into())));
        assert!(fields.contains(&("threshold".into(), "invalid_type".into())));
        assert!(fields.contains(&("channels[0].url".into(), "invalid_url".into())));
        assert!(fields.contains(&("colour".into(), "unknown_field".into())));
        assert_eq!(fields_of(json!({}))[0], ("name".into(), "required".into()));
        let mut long = threshold_rule();
        long["window"] = json!("2d");
        assert!(fields_of(long).contains(&("window".into(), "out_of_range".into())));
        // A channel's unknown key is named as such, not as a bad url.
        let mut extra = threshold_rule();
        extra["channels"] = json!([{"url": "https://hooks.example.com/x", "headers": {}}]);
        assert_eq!(
            fields_of(extra),
            vec![("channels[0].headers".into(), "unknown_field".into())]
        );
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Seconds::parse("90s"), Some(Seconds(90)));
        assert_eq!(Seconds::parse("24h"), Some(Seconds(86_400)));
        assert_eq!(Seconds::parse("5"), None);
        assert_eq!(Seconds::parse("m"), None);
        assert_eq!(Seconds(300).to_string(), "5m");
        assert_eq!(Seconds(90).to_string(), "90s");
    }

    #[test]
    fn samples_match_service_and_attributes() {
        let mut rule = parse(threshold_rule()).unwrap();
        rule.attributes.insert("route".into(), "/pay".into());
        let route = BTreeMap::from([("route".to_string(), "/pay".to_string())]);
        assert!(rule.matches("checkout", &route));
        assert!(!rule.matches("search", &route));
        assert!(!rule.matches("checkout", &BTreeMap::new()));
    }
}
