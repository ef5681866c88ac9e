//! Shapes shared by the read endpoints, and parsing helpers for their parameters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use telemetry_application::ports::{
    Granularity, GroupCount, LogPosition, MetricStats, RowPosition, StoredTelemetry,
};
use telemetry_application::query::cache::CacheOutcome;
use telemetry_application::query::kinds::MetricDescription;
use telemetry_domain::ingest::TelemetryEvent;
use telemetry_domain::values::{EventType, Timestamp};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::ErrorCode;

/// An event type.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventTypeParam {
    Log,
    Metric,
    Trace,
}

impl From<EventTypeParam> for EventType {
    fn from(param: EventTypeParam) -> Self {
        match param {
            EventTypeParam::Log => EventType::Log,
            EventTypeParam::Metric => EventType::Metric,
            EventTypeParam::Trace => EventType::Trace,
        }
    }
}

/// An event in the shape it was ingested.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDto {
    pub event_id: String,
    #[schema(value_type = EventTypeParam)]
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

impl EventDto {
    /// An accepted event as the live stream sends it.
    pub fn from_event(event_type: EventType, event: &TelemetryEvent) -> Self {
        let payload = RawValue::from_string(event.payload.as_str().to_string())
            .unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self {
            event_id: event.event_id.as_str().to_string(),
            event_type: event_type.as_str().to_string(),
            service_name: event.service_name.as_str().to_string(),
            timestamp: event.timestamp.to_rfc3339(),
            user_id: event.user_id.as_ref().map(|user| user.as_str().to_string()),
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

/// Statistics of a metric, by its kind:
///
/// - **gauge** and **upDownCounter**: `count` samples, their `sum`, `min`, `max`, `avg` and
///   percentiles (t-digest estimates); `increase` and `ratePerSecond` are `null`.
/// - **counter**: `increase` (cumulative points turned into increases run by run, resets
///   counted from zero; delta points added up) and `ratePerSecond` (the increase divided by
///   the window or step); `count` is the number of data points; the other fields are `null`.
/// - **histogram**: `count` and `sum` of the observations in the window, `avg`, `min` and
///   `max` (delta points that report them; otherwise `null`), and `p50`..`p99` estimated from
///   the merged bucket counts (linear interpolation within the bucket that holds the
///   quantile, as Prometheus' `histogram_quantile`).
///
/// A statistic a double cannot hold (a sum past ±1.8e308, a percentile past the ±3.4e38 a
/// t-digest keeps) or that the kind does not have is `null`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsDto {
    pub count: u64,
    #[schema(nullable)]
    pub sum: f64,
    #[schema(nullable)]
    pub min: f64,
    #[schema(nullable)]
    pub max: f64,
    #[schema(nullable)]
    pub avg: f64,
    #[schema(nullable)]
    pub p50: f64,
    #[schema(nullable)]
    pub p90: f64,
    #[schema(nullable)]
    pub p95: f64,
    #[schema(nullable)]
    pub p99: f64,
    /// Counters: the increase over the window (or bucket).
    #[schema(required = true)]
    pub increase: Option<f64>,
    /// Counters: the increase per second.
    #[schema(required = true)]
    pub rate_per_second: Option<f64>,
}

/// How a metric is read.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum MetricKindDoc {
    #[schema(rename = "gauge")]
    Gauge,
    #[schema(rename = "counter")]
    Counter,
    #[schema(rename = "upDownCounter")]
    UpDownCounter,
    #[schema(rename = "histogram")]
    Histogram,
}

/// Whether a counter's or histogram's points are totals since a start time or changes.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum TemporalityDoc {
    #[schema(rename = "cumulative")]
    Cumulative,
    #[schema(rename = "delta")]
    Delta,
}

/// A metric's kind, unit and temporality (those of its latest points), which say which
/// statistics make sense for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct KindDto {
    #[schema(value_type = MetricKindDoc)]
    pub kind: String,
    #[schema(required = true)]
    pub unit: Option<String>,
    /// Counters and histograms.
    #[schema(value_type = Option<TemporalityDoc>, required = true)]
    pub temporality: Option<String>,
}

impl KindDto {
    pub fn from_description(description: MetricDescription) -> Self {
        Self {
            kind: description.kind,
            unit: description.unit,
            temporality: description.temporality,
        }
    }
}

/// A rollup step.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum StepDoc {
    #[schema(rename = "1m")]
    Minute,
    #[schema(rename = "1h")]
    Hour,
    #[schema(rename = "1d")]
    Day,
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
            p90: stats.p90,
            p95: stats.p95,
            p99: stats.p99,
            increase: None,
            rate_per_second: None,
        }
    }

    /// With a counter's increase and rate.
    pub fn with_rates(mut self, increase: Option<f64>, rate_per_second: Option<f64>) -> Self {
        self.increase = increase;
        self.rate_per_second = rate_per_second;
        self
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

/// Parses an RFC 3339 bound of a time range, naming it in the error.
pub fn timestamp(field: &str, value: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339_bound(value).map_err(|error| {
        ApiError::bad_request(ErrorCode::InvalidParameter, format!("{field} {error}")).with_details(vec![
            serde_json::json!({"field": field, "code": error.code(), "message": error.to_string()}),
        ])
    })
}

/// A `step` parameter: `1m`, `1h` or `1d`.
pub fn step(value: Option<&str>) -> Result<Option<Granularity>, ApiError> {
    value
        .map(|step| {
            Granularity::from_step(step).ok_or_else(|| invalid("step", "must be 1m, 1h or 1d"))
        })
        .transpose()
}

/// A read's JSON answer, saying which cache level gave it (`X-Cache`).
pub fn cached(body: impl Serialize, outcome: CacheOutcome) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        "x-cache",
        axum::http::HeaderValue::from_static(outcome.as_str()),
    );
    response
}

/// A 400 naming one invalid parameter.
pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::bad_request(ErrorCode::InvalidParameter, format!("{field}: {message}")).with_details(
        vec![serde_json::json!({"field": field, "message": message})],
    )
}

/// The keyset of a row derived from the event log (an audit entry, an alert transition):
/// its time, then the log position it came from.
#[derive(Serialize, Deserialize)]
struct LogRowCursor(i64, u64, i64, u32);

/// The `nextCursor` after a page whose last row is `last`, if there are more rows.
pub fn next_log_cursor(has_more: bool, last: Option<(Timestamp, RowPosition)>) -> Option<String> {
    let (at, source) = last.filter(|_| has_more)?;
    let cursor = LogRowCursor(
        at.as_micros(),
        source.event.transaction_id,
        source.event.position,
        source.index,
    );
    Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default()))
}

/// The keyset of a `cursor` made by `next_log_cursor`.
pub fn decode_log_cursor(cursor: &str) -> Result<(Timestamp, RowPosition), ApiError> {
    let LogRowCursor(micros, transaction_id, position, index) = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("cursor", "not a cursor returned by this API"))?;
    let at = Timestamp::from_micros(micros).map_err(|e| invalid("cursor", e.to_string()))?;
    let event = LogPosition {
        transaction_id,
        position,
    };
    Ok((at, RowPosition { event, index }))
}

/// The part of the range an answer covers under the tenant's retention.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageDto {
    /// The answer covers the range from here to its end; data before this instant is past
    /// the retention of the rollups read (`GET /admin/tenants/{tenant}/retention`).
    pub from: String,
    /// `true` when that is the start of the range asked for.
    pub complete: bool,
}

impl From<telemetry_application::query::Coverage> for CoverageDto {
    fn from(coverage: telemetry_application::query::Coverage) -> Self {
        Self {
            from: coverage
                .from
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            complete: coverage.complete,
        }
    }
}
