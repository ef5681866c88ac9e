//! Shapes shared by the read endpoints, and parsing helpers for their parameters.

use serde::Serialize;
use serde_json::value::RawValue;
use telemetry_application::ports::{GroupCount, MetricStats, StoredTelemetry};
use telemetry_domain::values::Timestamp;
use utoipa::ToSchema;

use crate::error::ApiError;

/// An event in the shape it was ingested.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDto {
    pub event_id: String,
    #[schema(example = "log")]
    pub event_type: String,
    pub service_name: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub user_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
}

impl EventDto {
    pub fn from_stored(event: StoredTelemetry) -> Self {
        let payload =
            RawValue::from_string(event.payload).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self {
            event_id: event.event_id,
            event_type: event.event_type.as_str().to_string(),
            service_name: event.service_name,
            timestamp: event.timestamp.to_rfc3339(),
            user_id: event.user_id,
            payload,
        }
    }
}

/// A group and its number of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDto {
    /// The group's value; `null` for events without one (grouping by user).
    pub key: Option<String>,
    pub count: u64,
}

impl GroupDto {
    pub fn from_group(group: GroupCount) -> Self {
        Self {
            key: (!group.key.is_empty()).then_some(group.key),
            count: group.count,
        }
    }
}

/// Statistics of a metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsDto {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl StatsDto {
    pub fn from_stats(stats: &MetricStats) -> Self {
        Self {
            count: stats.count,
            sum: stats.sum,
            min: stats.min,
            max: stats.max,
            avg: if stats.count == 0 {
                0.0
            } else {
                stats.sum / stats.count as f64
            },
            p50: stats.p50,
            p95: stats.p95,
            p99: stats.p99,
        }
    }
}

/// Whether the client asked for a fresh answer (`Cache-Control: no-cache`).
pub fn wants_fresh(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| {
            let directive = directive.trim();
            directive.eq_ignore_ascii_case("no-cache")
                || directive.eq_ignore_ascii_case("max-age=0")
        })
}

/// Parses an RFC 3339 parameter, naming it in the error.
pub fn timestamp(field: &str, value: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(value).map_err(|error| {
        ApiError::bad_request("invalid_parameter", format!("{field} {error}")).with_details(vec![
            serde_json::json!({"field": field, "code": error.code(), "message": error.to_string()}),
        ])
    })
}

/// A 400 naming one invalid parameter.
pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::bad_request("invalid_parameter", format!("{field}: {message}")).with_details(vec![
        serde_json::json!({"field": field, "message": message}),
    ])
}
