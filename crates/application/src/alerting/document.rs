//! A rule in the API's JSON form, as answered to readers and kept in the audit log.

use std::collections::BTreeMap;

use serde::Serialize;
use telemetry_domain::alert_rule::{
    Aggregation, Channel, Comparator, Condition, RuleDefinition, Severity,
};

/// `kind` and exactly the fields of that kind, every default filled in: what a client can
/// send back unchanged to replace the rule with itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleDocument {
    pub name: String,
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,
    pub window: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparator: Option<Comparator>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub hold_for: Option<String>,
    pub severity: Severity,
    pub channels: Vec<Channel>,
}

impl From<&RuleDefinition> for RuleDocument {
    fn from(rule: &RuleDefinition) -> Self {
        let (kind, aggregation, comparator, threshold, hold_for) = match &rule.condition {
            Condition::Threshold {
                aggregation,
                comparator,
                threshold,
                ..
            } => (
                "threshold",
                Some(*aggregation),
                Some(*comparator),
                Some(*threshold),
                Some(rule.hold_for.to_string()),
            ),
            Condition::Absence { .. } => ("absence", None, None, None, None),
        };
        Self {
            name: rule.name.clone(),
            metric: rule.metric.to_string(),
            service_name: rule.service_name.as_ref().map(ToString::to_string),
            attributes: rule.attributes.clone(),
            kind,
            aggregation,
            window: rule.condition.window().to_string(),
            comparator,
            threshold,
            hold_for,
            severity: rule.severity,
            channels: rule.channels.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use telemetry_domain::alert_rule::{ChannelFormat, Seconds};
    use telemetry_domain::values::{MetricName, ServiceName};

    use super::*;

    fn parts(condition: Condition) -> RuleDefinition {
        RuleDefinition {
            name: "checkout".into(),
            metric: MetricName::parse("latency").unwrap(),
            service_name: Some(ServiceName::parse("checkout").unwrap()),
            attributes: BTreeMap::from([("route".into(), "/pay".into())]),
            condition,
            hold_for: Seconds(0),
            severity: Severity::Critical,
            channels: vec![
                Channel::new(0, "https://hooks.example.com/x", ChannelFormat::Slack).unwrap(),
            ],
        }
    }

    #[test]
    fn a_document_has_the_fields_of_its_kind() {
        let threshold = RuleDefinition {
            hold_for: Seconds(120),
            ..parts(Condition::Threshold {
                aggregation: Aggregation::P95,
                window: Seconds(300),
                comparator: Comparator::AtLeast,
                threshold: 250.5,
            })
        }
        .check()
        .unwrap();
        assert_eq!(
            serde_json::to_value(RuleDocument::from(&threshold)).unwrap(),
            json!({"name": "checkout", "metric": "latency", "serviceName": "checkout",
                   "attributes": {"route": "/pay"}, "kind": "threshold", "aggregation": "p95",
                   "window": "5m", "comparator": ">=", "threshold": 250.5, "for": "2m",
                   "severity": "critical",
                   "channels": [{"url": "https://hooks.example.com/x", "format": "slack"}]})
        );
        let absence = RuleDefinition {
            service_name: None,
            ..parts(Condition::Absence {
                window: Seconds(600),
            })
        }
        .check()
        .unwrap();
        assert_eq!(
            serde_json::to_value(RuleDocument::from(&absence)).unwrap(),
            json!({"name": "checkout", "metric": "latency", "attributes": {"route": "/pay"},
                   "kind": "absence", "window": "10m", "severity": "critical",
                   "channels": [{"url": "https://hooks.example.com/x", "format": "slack"}]})
        );
    }
}
