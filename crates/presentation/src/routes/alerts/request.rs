//! Parsing a new or replacing alert rule from its JSON body, field by field.
//!
//! Every field is read on its own ([`Field`]), so one request answers every problem at once,
//! each named by its field: a wrong JSON type (`invalid_type`), a value outside a closed list
//! (`unknown_value`), a field the rule's kind has not (`not_applicable`), a field no rule has
//! (`unknown_field`), a missing one (`required`). The values are then checked by the domain's
//! constructors; how they fit together is the domain's too ([`RuleDefinition::misfits`], checked
//! with what could be read, so it is answered with the rest), and [`RuleDefinition::check`]
//! checks the rule they make. The OpenAPI document describes
//! the same body as `AlertRuleRequest` (`schema.rs`); the contract test checks that the two
//! agree.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use telemetry_domain::alert_rule::{
    rule_name, threshold, Aggregation, Channel, ChannelFormat, Comparator, Condition,
    RuleDefinition, RuleViolation, Seconds, Severity,
};
use telemetry_domain::field_code::FieldCode;
use telemetry_domain::values::{MetricName, ServiceName, ValueError};

/// One field of a JSON object as sent: left out (or `null`), a `T`, or something else.
#[derive(Debug, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Given(T),
    Wrong(Value),
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(Self::Absent);
        }
        Ok(match T::deserialize(&value) {
            Ok(given) => Self::Given(given),
            Err(_) => Self::Wrong(value),
        })
    }
}

/// What one request's fields came to: their problems so far.
#[derive(Default)]
struct Problems(Vec<RuleViolation>);

impl Problems {
    fn push(&mut self, violation: RuleViolation) {
        self.0.push(violation);
    }

    /// `Ok` values pass; a problem is noted and becomes `None`.
    fn check<T>(&mut self, result: Result<T, RuleViolation>) -> Option<T> {
        result.map_err(|violation| self.push(violation)).ok()
    }

    /// A field of a closed list (or a string) that is missing, of the wrong JSON type, or not
    /// in the list; `default` stands in when it is left out.
    fn pick<T>(
        &mut self,
        name: &str,
        field: Field<T>,
        default: Option<T>,
        expected: &str,
    ) -> Option<T> {
        match field {
            Field::Given(value) => Some(value),
            Field::Absent if default.is_some() => default,
            Field::Absent => {
                self.push(RuleViolation::new(
                    name,
                    FieldCode::Required,
                    format!("{name} is required"),
                ));
                None
            }
            Field::Wrong(Value::String(_)) if !expected.is_empty() => {
                self.push(RuleViolation::new(
                    name,
                    FieldCode::UnknownValue,
                    format!("{name} must be one of: {expected}"),
                ));
                None
            }
            Field::Wrong(_) => {
                self.push(RuleViolation::new(
                    name,
                    FieldCode::InvalidType,
                    format!("{name} must be a string"),
                ));
                None
            }
        }
    }

    /// A text field: missing (when required), not a string, or a string that `parse` refuses.
    fn text<T>(
        &mut self,
        name: &str,
        field: Field<String>,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, RuleViolation>,
    ) -> Option<T> {
        if !required && matches!(field, Field::Absent) {
            return None;
        }
        let text = self.pick(name, field, None, "")?;
        self.check(parse(&text))
    }

    /// Reports `name` as not belonging to this kind of rule when it is given.
    fn not_applicable<T>(&mut self, name: &str, field: &Field<T>, kind: &str) {
        if !matches!(field, Field::Absent) {
            self.push(RuleViolation::new(
                name,
                FieldCode::NotApplicable,
                format!("{kind} rules have no {name}"),
            ));
        }
    }
}

/// A value object's problem as a problem of field `name`.
fn value_violation(name: &str, error: ValueError) -> RuleViolation {
    RuleViolation::new(name, error.code(), format!("{name} {error}"))
}

/// What a rule watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Threshold,
    Absence,
}

/// One webhook as sent.
#[derive(Debug, Deserialize)]
pub struct ChannelRequestFields {
    #[serde(default)]
    url: Field<String>,
    #[serde(default)]
    format: Field<ChannelFormat>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

/// A new or replacing rule as sent: its definition and, apart from it, `enabled`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleRequest {
    name: Field<String>,
    metric: Field<String>,
    service_name: Field<String>,
    attributes: Field<BTreeMap<String, String>>,
    kind: Field<Kind>,
    aggregation: Field<Aggregation>,
    window: Field<String>,
    comparator: Field<Comparator>,
    threshold: Field<f64>,
    #[serde(rename = "for")]
    hold_for: Field<String>,
    severity: Field<Severity>,
    channels: Field<Vec<Value>>,
    enabled: Field<bool>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

impl RuleRequest {
    /// The rule, with `enabled` when it was given, or every problem of the request.
    pub fn into_rule(self) -> Result<(RuleDefinition, Option<bool>), Vec<RuleViolation>> {
        let mut problems = Problems::default();
        for key in self.unknown.keys() {
            problems.push(RuleViolation::new(
                key.as_str(),
                FieldCode::UnknownField,
                format!("{key} is not a known field"),
            ));
        }
        let name = problems.text("name", self.name, true, rule_name);
        let metric = problems.text("metric", self.metric, true, |text| {
            MetricName::parse(text).map_err(|error| value_violation("metric", error))
        });
        let service_name = problems.text("serviceName", self.service_name, false, |text| {
            ServiceName::parse(text).map_err(|error| value_violation("serviceName", error))
        });
        let attributes = match self.attributes {
            Field::Absent => Some(BTreeMap::new()),
            Field::Given(attributes) => Some(attributes),
            Field::Wrong(_) => {
                problems.push(RuleViolation::new(
                    "attributes",
                    FieldCode::InvalidType,
                    "attributes must be an object of strings",
                ));
                None
            }
        };
        let kind = problems
            .pick(
                "kind",
                self.kind,
                Some(Kind::Threshold),
                "threshold, absence",
            )
            .unwrap_or(Kind::Threshold);
        let window = problems.text("window", self.window, true, Seconds::window);
        let condition = match kind {
            Kind::Absence => {
                problems.not_applicable("aggregation", &self.aggregation, "absence");
                problems.not_applicable("comparator", &self.comparator, "absence");
                problems.not_applicable("threshold", &self.threshold, "absence");
                window.map(|window| Condition::Absence { window })
            }
            Kind::Threshold => {
                let aggregation = problems.pick(
                    "aggregation",
                    self.aggregation,
                    None,
                    "count, sum, min, max, avg, p50, p90, p95, p99, rate, increase",
                );
                let comparator = problems.pick("comparator", self.comparator, None, ">, >=, <, <=");
                let threshold = match self.threshold {
                    Field::Given(value) => problems.check(threshold(value)),
                    Field::Absent => {
                        problems.push(RuleViolation::new(
                            "threshold",
                            FieldCode::Required,
                            "threshold is required",
                        ));
                        None
                    }
                    Field::Wrong(_) => {
                        problems.push(RuleViolation::new(
                            "threshold",
                            FieldCode::InvalidType,
                            "threshold must be a finite number",
                        ));
                        None
                    }
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
            }
        };
        let hold_for = match self.hold_for {
            Field::Absent => Some(Seconds(0)),
            field => problems.text("for", field, true, Seconds::hold),
        };
        let severity = problems.pick(
            "severity",
            self.severity,
            Some(Severity::Warning),
            "info, warning, critical",
        );
        let channel_count = match &self.channels {
            Field::Given(entries) => Some(entries.len()),
            _ => None,
        };
        let channels = channels(&mut problems, self.channels);
        let enabled = match self.enabled {
            Field::Absent => None,
            Field::Given(enabled) => Some(enabled),
            Field::Wrong(_) => {
                problems.push(RuleViolation::new(
                    "enabled",
                    FieldCode::InvalidType,
                    "enabled must be true or false",
                ));
                None
            }
        };
        for misfit in RuleDefinition::misfits(Some(kind == Kind::Absence), hold_for, channel_count)
        {
            problems.push(misfit);
        }
        let parts = match (
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
            ) if problems.0.is_empty() => RuleDefinition {
                name,
                metric,
                service_name,
                attributes,
                condition,
                hold_for,
                severity,
                channels,
            },
            _ => return Err(problems.0),
        };
        Ok((parts.check()?, enabled))
    }
}

/// The channels: an array of `{url, format}` objects, each checked on its own.
fn channels(problems: &mut Problems, field: Field<Vec<Value>>) -> Option<Vec<Channel>> {
    let entries = match field {
        Field::Given(entries) => entries,
        Field::Absent => {
            problems.push(RuleViolation::new(
                "channels",
                FieldCode::Required,
                "channels is required (at least one webhook)",
            ));
            return None;
        }
        Field::Wrong(_) => {
            problems.push(RuleViolation::new(
                "channels",
                FieldCode::InvalidType,
                "channels must be an array",
            ));
            return None;
        }
    };
    let mut channels = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let field = format!("channels[{index}]");
        let entry = ChannelRequestFields::deserialize(&entry).unwrap_or(ChannelRequestFields {
            url: Field::Absent,
            format: Field::Absent,
            unknown: BTreeMap::new(),
        });
        for key in entry.unknown.keys() {
            problems.push(RuleViolation::new(
                format!("{field}.{key}"),
                FieldCode::UnknownField,
                format!("{key} is not a known field of a channel (url, format)"),
            ));
        }
        let format = match entry.format {
            Field::Absent => ChannelFormat::Json,
            Field::Given(format) => format,
            Field::Wrong(_) => {
                problems.push(RuleViolation::new(
                    format!("{field}.format"),
                    FieldCode::UnknownValue,
                    "format must be json or slack",
                ));
                continue;
            }
        };
        let url = match entry.url {
            Field::Given(url) => url,
            _ => String::new(),
        };
        if let Some(channel) = problems.check(Channel::new(index, &url, format)) {
            channels.push(channel);
        }
    }
    Some(channels)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use telemetry_application::alerting::document::RuleDocument;

    use super::*;

    fn parse(value: Value) -> Result<(RuleDefinition, Option<bool>), Vec<RuleViolation>> {
        RuleRequest::deserialize(value).unwrap().into_rule()
    }

    fn fields_of(value: Value) -> Vec<(String, String)> {
        parse(value)
            .unwrap_err()
            .into_iter()
            .map(|v| (v.field, v.code.to_string()))
            .collect()
    }

    fn threshold_rule() -> Value {
        json!({"name": "slow checkout", "metric": "latency", "serviceName": "checkout",
               "aggregation": "p95", "window": "5m", "comparator": ">", "threshold": 250,
               "for": "2m", "severity": "critical",
               "channels": [{"url": "https://hooks.example.com/x", "format": "slack"}]})
    }

    #[test]
    fn a_threshold_rule_parses_and_its_answered_form_parses_back() {
        let (rule, enabled) = parse(threshold_rule()).unwrap();
        assert_eq!(enabled, None);
        assert_eq!(rule.hold_for, Seconds(120));
        assert!(matches!(
            rule.condition,
            Condition::Threshold {
                aggregation: Aggregation::P95,
                window: Seconds(300),
                ..
            }
        ));
        let answered = serde_json::to_value(RuleDocument::from(&rule)).unwrap();
        assert_eq!(parse(answered).unwrap().0, rule);
    }

    #[test]
    fn absence_rules_need_only_a_window_and_nulls_count_as_left_out() {
        let (rule, enabled) = parse(json!({"name": "heartbeat", "metric": "heartbeat",
            "kind": "absence", "window": "10m", "threshold": null, "enabled": false,
            "channels": [{"url": "http://receiver.local/hook", "format": null}]}))
        .unwrap();
        assert_eq!(
            rule.condition,
            Condition::Absence {
                window: Seconds(600)
            }
        );
        assert_eq!(rule.severity, Severity::Warning);
        assert_eq!(rule.channels[0].format, ChannelFormat::Json);
        assert_eq!(enabled, Some(false));
        let answered = serde_json::to_value(RuleDocument::from(&rule)).unwrap();
        assert_eq!(parse(answered).unwrap().0, rule);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let mut rule = threshold_rule();
        rule["window"] = json!("30s");
        rule["aggregation"] = json!("median");
        rule["comparator"] = json!(7);
        rule["threshold"] = json!("high");
        rule["channels"] = json!([{"url": "ftp://x"}, 7, {"url": "http://a.b", "format": "xml"}]);
        rule["colour"] = json!("red");
        rule["enabled"] = json!("yes");
        rule["attributes"] = json!({"route": 1});
        assert_eq!(
            fields_of(rule),
            [
                ("colour", "unknown_field"),
                ("attributes", "invalid_type"),
                ("window", "out_of_range"),
                ("aggregation", "unknown_value"),
                ("comparator", "invalid_type"),
                ("threshold", "invalid_type"),
                ("channels[0].url", "invalid_url"),
                ("channels[1].url", "invalid_url"),
                ("channels[2].format", "unknown_value"),
                ("enabled", "invalid_type"),
            ]
            .map(|(field, code)| (field.to_string(), code.to_string()))
        );
        assert_eq!(fields_of(json!({}))[0], ("name".into(), "required".into()));
        // A channel's unknown key is named as such, not as a bad url.
        let mut extra = threshold_rule();
        extra["channels"] = json!([{"url": "https://hooks.example.com/x", "headers": {}}]);
        assert_eq!(
            fields_of(extra),
            vec![("channels[0].headers".into(), "unknown_field".into())]
        );
    }

    #[test]
    fn fields_of_the_other_kind_are_not_applicable() {
        let mut rule = threshold_rule();
        rule["kind"] = json!("absence");
        assert_eq!(
            fields_of(rule.clone()),
            [
                ("aggregation", "not_applicable"),
                ("comparator", "not_applicable"),
                ("threshold", "not_applicable"),
                ("for", "not_applicable"),
            ]
            .map(|(field, code)| (field.to_string(), code.to_string()))
        );
        for field in ["aggregation", "comparator", "threshold"] {
            rule.as_object_mut().unwrap().remove(field);
        }
        // How the fields fit together is checked with the fields' own problems.
        assert_eq!(
            fields_of(rule.clone()),
            vec![("for".into(), "not_applicable".into())]
        );
        rule["channels"] = json!([]);
        rule["window"] = json!("5s");
        assert_eq!(
            fields_of(rule),
            [
                ("window", "out_of_range"),
                ("for", "not_applicable"),
                ("channels", "out_of_range")
            ]
            .map(|(field, code)| (field.to_string(), code.to_string()))
        );
        let mut unknown_kind = threshold_rule();
        unknown_kind["kind"] = json!("rate");
        assert_eq!(
            fields_of(unknown_kind),
            vec![("kind".into(), "unknown_value".into())]
        );
    }

    #[test]
    fn names_and_metrics_are_the_domains_values() {
        let mut rule = threshold_rule();
        rule["name"] = json!("   ");
        rule["metric"] = json!("");
        rule["serviceName"] = json!("a\u{1}b");
        assert_eq!(
            fields_of(rule),
            [
                ("name", "invalid_value"),
                ("metric", "empty"),
                ("serviceName", "invalid_characters")
            ]
            .map(|(field, code)| (field.to_string(), code.to_string()))
        );
    }
}
