//! Validated telemetry events and the compact, column-wise form they are stored in.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::values::{EventId, EventType, MetricName, ServiceName, TenantId, Timestamp, UserId};

/// The JSON object a producer sent as `payload`, kept byte for byte.
///
/// Only validation creates one from producer input; one read back from the event store is
/// trusted, because nothing is stored without having been validated first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(String);

impl Payload {
    pub(crate) fn from_validated(json_object: String) -> Self {
        Self(json_object)
    }

    /// Wraps a payload read back from storage, where it was stored after validation.
    pub fn from_stored(json_object: String) -> Self {
        Self(json_object)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// One accepted telemetry event.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryEvent {
    pub event_id: EventId,
    pub event_type: EventType,
    pub service_name: ServiceName,
    pub timestamp: Timestamp,
    pub user_id: Option<UserId>,
    pub payload: Payload,
}

/// The typed view of a metric event's payload.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    pub name: MetricName,
    pub value: f64,
    pub unit: Option<String>,
    pub attributes: BTreeMap<String, String>,
    /// The OTLP resource's attributes and the instrumentation scope, as sent: with the
    /// service, name, unit and attributes, they identify the sample's series.
    pub resource: Option<String>,
    pub scope: Option<String>,
}

#[derive(Deserialize)]
struct MetricPayload {
    name: MetricName,
    value: f64,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    attributes: Option<BTreeMap<String, String>>,
    #[serde(default)]
    resource: Option<Box<RawValue>>,
    #[serde(default)]
    scope: Option<Box<RawValue>>,
}

impl MetricSample {
    /// Reads the sample out of a metric event's payload. Payloads of metric events were
    /// checked at ingestion, so this only fails for events of another type.
    pub fn from_payload(payload: &Payload) -> Result<Self, serde_json::Error> {
        let parsed: MetricPayload = serde_json::from_str(payload.as_str())?;
        if !parsed.value.is_finite() {
            return Err(serde_json::Error::custom("metric value must be finite"));
        }
        Ok(Self {
            name: parsed.name,
            value: parsed.value,
            unit: parsed.unit,
            attributes: parsed.attributes.unwrap_or_default(),
            resource: parsed.resource.map(|raw| raw.get().to_string()),
            scope: parsed.scope.map(|raw| raw.get().to_string()),
        })
    }

    /// The text that identifies the sample's series within its service: name, unit,
    /// attributes, resource and scope. Stable for as long as the producer sends the same.
    pub fn series_key(&self) -> String {
        let raw = |value: &Option<String>| value.as_deref().unwrap_or("null").to_string();
        format!(
            "[{},{},{},{},{}]",
            serde_json::Value::from(self.name.as_str()),
            serde_json::Value::from(self.unit.as_deref().unwrap_or_default()),
            serde_json::to_string(&self.attributes).unwrap_or_default(),
            raw(&self.resource),
            raw(&self.scope),
        )
    }
}

/// All accepted events of one type from one batch.
///
/// Serialized column-wise (`ids`, `timestamps`, `services`, `users`, `payloads`) rather than
/// as an array of objects: field names are written once per batch instead of once per event,
/// similar values sit next to each other for the store's compression, and the event store's
/// deduplication trigger reads `ids` and `timestamps` without touching the payloads.
///
/// The events are shared (`Arc`): `cqrs-es` clones every event it applies, and a section
/// can hold thousands of events.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSection {
    pub tenant_id: TenantId,
    pub event_type: EventType,
    pub events: Arc<[TelemetryEvent]>,
}

impl EventSection {
    /// An estimate of the memory the section's events take, in bytes.
    pub fn approximate_bytes(&self) -> u64 {
        self.events
            .iter()
            .map(|event| {
                std::mem::size_of::<TelemetryEvent>()
                    + event.event_id.as_str().len()
                    + event.service_name.as_str().len()
                    + event.user_id.as_ref().map_or(0, |user| user.as_str().len())
                    + event.payload.as_str().len()
            })
            .sum::<usize>() as u64
    }

    /// The metric samples of a metric section, skipping none: every payload of a metric
    /// section was validated as a metric.
    pub fn metric_samples(
        &self,
    ) -> impl Iterator<Item = (&TelemetryEvent, Result<MetricSample, serde_json::Error>)> {
        self.events
            .iter()
            .map(|event| (event, MetricSample::from_payload(&event.payload)))
    }
}

/// Serializes one column of a section as a JSON array without collecting it first.
struct Column<'a, F>(&'a [TelemetryEvent], F);

impl<'a, F, T> Serialize for Column<'a, F>
where
    F: Fn(&'a TelemetryEvent) -> T,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(&self.1))
    }
}

impl Serialize for EventSection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn id(e: &TelemetryEvent) -> &str {
            e.event_id.as_str()
        }
        fn micros(e: &TelemetryEvent) -> i64 {
            e.timestamp.as_micros()
        }
        fn service(e: &TelemetryEvent) -> &str {
            e.service_name.as_str()
        }
        fn user(e: &TelemetryEvent) -> Option<&str> {
            e.user_id.as_ref().map(UserId::as_str)
        }
        fn payload(e: &TelemetryEvent) -> &str {
            e.payload.as_str()
        }
        let events = &self.events[..];
        let mut section = serializer.serialize_struct("EventSection", 7)?;
        section.serialize_field("tenant_id", &self.tenant_id)?;
        section.serialize_field("event_type", &self.event_type)?;
        section.serialize_field("ids", &Column(events, id))?;
        section.serialize_field("timestamps", &Column(events, micros))?;
        section.serialize_field("services", &Column(events, service))?;
        section.serialize_field("users", &Column(events, user))?;
        section.serialize_field("payloads", &Column(events, payload))?;
        section.end()
    }
}

#[derive(Deserialize)]
struct StoredSection {
    tenant_id: TenantId,
    event_type: EventType,
    ids: Vec<EventId>,
    timestamps: Vec<i64>,
    services: Vec<ServiceName>,
    users: Vec<Option<UserId>>,
    payloads: Vec<String>,
}

impl<'de> Deserialize<'de> for EventSection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredSection::deserialize(deserializer)?;
        let count = stored.ids.len();
        let lengths = [
            stored.timestamps.len(),
            stored.services.len(),
            stored.users.len(),
            stored.payloads.len(),
        ];
        if lengths.iter().any(|&length| length != count) {
            return Err(D::Error::custom("section columns differ in length"));
        }
        let mut events = Vec::with_capacity(count);
        let columns = stored
            .ids
            .into_iter()
            .zip(stored.timestamps)
            .zip(stored.services)
            .zip(stored.users)
            .zip(stored.payloads);
        for ((((event_id, micros), service_name), user_id), payload) in columns {
            events.push(TelemetryEvent {
                event_id,
                event_type: stored.event_type,
                service_name,
                timestamp: Timestamp::from_micros(micros).map_err(D::Error::custom)?,
                user_id,
                payload: Payload::from_stored(payload),
            });
        }
        Ok(Self {
            tenant_id: stored.tenant_id,
            event_type: stored.event_type,
            events: events.into(),
        })
    }
}

impl fmt::Display for EventSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} events", self.events.len(), self.event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, user: Option<&str>) -> TelemetryEvent {
        TelemetryEvent {
            event_id: EventId::parse(id).unwrap(),
            event_type: EventType::Metric,
            service_name: ServiceName::parse("api").unwrap(),
            timestamp: Timestamp::from_micros(1_000_000).unwrap(),
            user_id: user.map(|u| UserId::parse(u).unwrap()),
            payload: Payload::from_validated(r#"{"name":"cpu","value":0.5}"#.to_string()),
        }
    }

    #[test]
    fn sections_serialize_column_wise_and_round_trip() {
        let section = EventSection {
            tenant_id: TenantId::parse("acme").unwrap(),
            event_type: EventType::Metric,
            events: vec![event("a", Some("u1")), event("b", None)].into(),
        };
        let json = serde_json::to_value(&section).unwrap();
        assert_eq!(json["ids"], serde_json::json!(["a", "b"]));
        assert_eq!(json["users"], serde_json::json!(["u1", null]));
        assert_eq!(
            json["timestamps"],
            serde_json::json!([1_000_000, 1_000_000])
        );
        let back: EventSection = serde_json::from_value(json).unwrap();
        assert_eq!(back, section);
    }

    #[test]
    fn mismatched_columns_are_rejected() {
        let json = serde_json::json!({
            "tenant_id": "acme", "event_type": "log", "ids": ["a", "b"],
            "timestamps": [1], "services": ["s"], "users": [null], "payloads": ["{}"]
        });
        assert!(serde_json::from_value::<EventSection>(json).is_err());
    }

    #[test]
    fn metric_samples_read_the_payload() {
        let sample = MetricSample::from_payload(&Payload::from_validated(
            r#"{"name":"latency","value":12.5,"unit":"ms","attributes":{"route":"/"}}"#.into(),
        ))
        .unwrap();
        assert_eq!(sample.name.as_str(), "latency");
        assert_eq!(sample.value, 12.5);
        assert_eq!(sample.attributes["route"], "/");
    }
}
