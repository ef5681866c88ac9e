//! What an alert rule watches and when it fires: the rule's values, each checked as it is
//! built, and how they must fit together. The JSON form is the API's (presentation).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::field_code::FieldCode;
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

/// A rule: what it watches, when it fires, whom it notifies. Built from values checked on
/// their own and then [`RuleDefinition::check`]ed as a whole.
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
    pub code: FieldCode,
    pub message: String,
}

impl RuleViolation {
    pub fn new(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

pub const MIN_WINDOW: Seconds = Seconds(60);
pub const MAX_WINDOW: Seconds = Seconds(86_400);
pub const MAX_CHANNELS: usize = 10;
const MAX_NAME_CHARACTERS: usize = 200;
const MAX_URL_BYTES: usize = 2048;

/// A rule's name: 1-200 characters without control characters, blanks around it dropped.
pub fn rule_name(text: &str) -> Result<String, RuleViolation> {
    let name = text.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARACTERS
        || name.chars().any(char::is_control)
    {
        return Err(RuleViolation::new(
            "name",
            FieldCode::InvalidValue,
            "name must be 1-200 characters without control characters",
        ));
    }
    Ok(name.to_string())
}

impl Seconds {
    /// A duration of `field` written `30s`, `5m`, `2h` or `1d`, between `min` and `max`.
    fn parse_between(
        field: &str,
        text: &str,
        min: Seconds,
        max: Seconds,
    ) -> Result<Self, RuleViolation> {
        let duration = Self::parse(text).ok_or_else(|| {
            RuleViolation::new(
                field,
                FieldCode::InvalidDuration,
                format!("{field} must look like 30s, 5m, 2h or 1d"),
            )
        })?;
        if duration < min || duration > max {
            return Err(RuleViolation::new(
                field,
                FieldCode::OutOfRange,
                format!("{field} must be between {min} and {max}"),
            ));
        }
        Ok(duration)
    }

    /// The window a rule looks back over (`window`): `1m` to `24h`.
    pub fn window(text: &str) -> Result<Self, RuleViolation> {
        Self::parse_between("window", text, MIN_WINDOW, MAX_WINDOW)
    }

    /// How long a condition must hold before firing (`for`): `0s` to `24h`.
    pub fn hold(text: &str) -> Result<Self, RuleViolation> {
        Self::parse_between("for", text, Seconds(0), MAX_WINDOW)
    }
}

/// A threshold rule's comparison value: any finite number.
pub fn threshold(value: f64) -> Result<f64, RuleViolation> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(RuleViolation::new(
            "threshold",
            FieldCode::InvalidType,
            "threshold must be a finite number",
        ))
    }
}

impl Channel {
    /// The channel at `index` of a rule's list: an `http://` or `https://` URL with a host
    /// and no user info, of visible ASCII (IDNs as punycode, paths percent-encoded), at most
    /// 2048 bytes.
    pub fn new(index: usize, url: &str, format: ChannelFormat) -> Result<Self, RuleViolation> {
        if !valid_webhook_url(url) {
            return Err(RuleViolation::new(
                format!("channels[{index}].url"),
                FieldCode::InvalidUrl,
                "each channel needs a url (http:// or https://, visible ASCII: IDNs as punycode, paths percent-encoded; at most 2048 characters)",
            ));
        }
        Ok(Self {
            url: url.to_string(),
            format,
        })
    }
}

fn valid_webhook_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    url.len() <= MAX_URL_BYTES
        && !host.is_empty()
        && !host.contains('@')
        && url.bytes().all(|b| b.is_ascii_graphic())
}

impl RuleDefinition {
    /// How the parts that are known fit together: an absence rule fires after its window
    /// and has no hold (`for`); a rule notifies 1-10 channels. A parser that found problems
    /// with single fields passes what it could read (`None` for the rest), so one answer
    /// lists every problem.
    pub fn misfits(
        is_absence: Option<bool>,
        hold_for: Option<Seconds>,
        channels: Option<usize>,
    ) -> Vec<RuleViolation> {
        let mut violations = Vec::new();
        if is_absence == Some(true) && hold_for.is_some_and(|hold| hold.0 > 0) {
            violations.push(RuleViolation::new(
                "for",
                FieldCode::NotApplicable,
                "absence rules fire after window; leave for out",
            ));
        }
        if channels.is_some_and(|count| count == 0 || count > MAX_CHANNELS) {
            violations.push(RuleViolation::new(
                "channels",
                FieldCode::OutOfRange,
                format!("between 1 and {MAX_CHANNELS} channels"),
            ));
        }
        violations
    }

    /// The rule, if its parts (each valid on its own: built with [`rule_name`],
    /// [`Seconds::window`], [`Channel::new`], ...) fit together; otherwise every way they do
    /// not ([`Self::misfits`]).
    pub fn check(self) -> Result<Self, Vec<RuleViolation>> {
        let violations = Self::misfits(
            Some(matches!(self.condition, Condition::Absence { .. })),
            Some(self.hold_for),
            Some(self.channels.len()),
        );
        if violations.is_empty() {
            Ok(self)
        } else {
            Err(violations)
        }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn threshold_parts() -> RuleDefinition {
        RuleDefinition {
            name: "slow checkout".into(),
            metric: MetricName::parse("latency").unwrap(),
            service_name: Some(ServiceName::parse("checkout").unwrap()),
            attributes: BTreeMap::new(),
            condition: Condition::Threshold {
                aggregation: Aggregation::P95,
                window: Seconds(300),
                comparator: Comparator::Above,
                threshold: 250.0,
            },
            hold_for: Seconds(120),
            severity: Severity::Critical,
            channels: vec![
                Channel::new(0, "https://hooks.example.com/x", ChannelFormat::Slack).unwrap(),
            ],
        }
    }

    fn codes(result: Result<RuleDefinition, Vec<RuleViolation>>) -> Vec<(String, String)> {
        result
            .unwrap_err()
            .into_iter()
            .map(|v| (v.field, v.code.to_string()))
            .collect()
    }

    #[test]
    fn names_are_the_serialized_forms() {
        for (aggregation, name) in Aggregation::NAMES {
            assert_eq!(serde_json::to_value(aggregation).unwrap(), json!(name));
            assert_eq!(aggregation.as_str(), name);
            assert_eq!(
                serde_json::from_value::<Aggregation>(json!(name)).unwrap(),
                aggregation
            );
        }
        for (comparator, symbol) in Comparator::SYMBOLS {
            assert_eq!(serde_json::to_value(comparator).unwrap(), json!(symbol));
            assert_eq!(comparator.as_str(), symbol);
            assert_eq!(
                serde_json::from_value::<Comparator>(json!(symbol)).unwrap(),
                comparator
            );
        }
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
    fn parts_that_fit_make_the_rule() {
        let rule = threshold_parts().check().unwrap();
        assert_eq!(rule.hold_for, Seconds(120));
        assert_eq!(rule.condition.window(), Seconds(300));
        let stored = serde_json::to_value(&rule).unwrap();
        assert_eq!(
            serde_json::from_value::<RuleDefinition>(stored).unwrap(),
            rule
        );
    }

    #[test]
    fn parts_that_do_not_fit_are_all_named() {
        let mut parts = threshold_parts();
        parts.condition = Condition::Absence {
            window: Seconds(600),
        };
        parts.channels.clear();
        assert_eq!(
            codes(parts.clone().check()),
            vec![
                ("for".into(), "not_applicable".into()),
                ("channels".into(), "out_of_range".into())
            ]
        );
        parts.hold_for = Seconds(0);
        parts.channels = (0..=MAX_CHANNELS)
            .map(|index| {
                Channel::new(index, "http://receiver.local/hook", ChannelFormat::Json).unwrap()
            })
            .collect();
        assert_eq!(
            codes(parts.clone().check()),
            vec![("channels".into(), "out_of_range".into())]
        );
        parts.channels.truncate(MAX_CHANNELS);
        assert!(parts.check().is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(rule_name("  cpu high ").unwrap(), "cpu high");
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(201)] {
            assert_eq!(rule_name(bad).unwrap_err().code, "invalid_value", "{bad:?}");
        }
        assert!(rule_name(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn webhooks_are_http_urls_of_visible_ascii_with_a_host() {
        for good in [
            "http://receiver.local/hook",
            "https://hooks.example.com/a?b=c#d",
        ] {
            assert!(Channel::new(0, good, ChannelFormat::Json).is_ok(), "{good}");
        }
        let too_long = format!("https://example.com/{}", "a".repeat(2048));
        for bad in [
            "ftp://x",
            "https://",
            "https:///path",
            "https://user@example.com/",
            "https://exämple.com/",
            "https://example.com/a b",
            too_long.as_str(),
        ] {
            let violation = Channel::new(3, bad, ChannelFormat::Json).unwrap_err();
            assert_eq!(
                (violation.field.as_str(), violation.code.as_str()),
                ("channels[3].url", "invalid_url"),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_parse_print_and_are_bounded() {
        assert_eq!(Seconds::parse("90s"), Some(Seconds(90)));
        assert_eq!(Seconds::parse("24h"), Some(Seconds(86_400)));
        assert_eq!(Seconds::parse("5"), None);
        assert_eq!(Seconds::parse("m"), None);
        assert_eq!(Seconds(300).to_string(), "5m");
        assert_eq!(Seconds(90).to_string(), "90s");
        assert_eq!(Seconds::window("5m"), Ok(Seconds(300)));
        assert_eq!(Seconds::window("30s").unwrap_err().code, "out_of_range");
        assert_eq!(Seconds::window("2d").unwrap_err().code, "out_of_range");
        assert_eq!(
            Seconds::window("soon").unwrap_err().code,
            "invalid_duration"
        );
        assert_eq!(Seconds::hold("0s"), Ok(Seconds(0)));
        assert_eq!(Seconds::hold("25h").unwrap_err().field, "for");
        assert!(threshold(f64::MAX).is_ok());
        assert_eq!(threshold(f64::NAN).unwrap_err().code, "invalid_type");
    }

    #[test]
    fn samples_match_service_and_attributes() {
        let mut rule = threshold_parts().check().unwrap();
        rule.attributes.insert("route".into(), "/pay".into());
        let route = BTreeMap::from([("route".to_string(), "/pay".to_string())]);
        assert!(rule.matches("checkout", &route));
        assert!(!rule.matches("search", &route));
        assert!(!rule.matches("checkout", &BTreeMap::new()));
    }
}
