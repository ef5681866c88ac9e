//! `GET /catalog` (a tenant's services and metric names with their counts) and
//! `GET /timeseries/events` (events per bucket by type): what a client needs to offer
//! choices and draw an overview without scanning raw events.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use telemetry_application::auth::Permission;
use telemetry_application::ports::GroupCount;
use telemetry_domain::values::{EventType, ServiceName};
use utoipa::{IntoParams, ToSchema};

use super::dto::{
    cached, invalid, step, timestamp, wants_fresh, CoverageDto, EventTypeParam, KindDto, StepDoc,
};
use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/catalog", get(catalog))
        .route("/timeseries/events", get(event_series))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogParams {
    /// RFC 3339, inclusive (widened to the start of its minute); default: seven days before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339, exclusive (widened to the end of its minute); default: the end of the current minute.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

/// A service and its events over the range.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogService {
    pub name: String,
    pub events: u64,
}

/// A service that sent a metric, and how many samples.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricSource {
    pub name: String,
    pub samples: u64,
}

/// A metric name, its kind, unit and temporality, its samples (data points), and the
/// services that sent it (largest first).
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogMetricDto {
    pub name: String,
    #[serde(flatten)]
    pub kind: KindDto,
    pub samples: u64,
    pub services: Vec<MetricSource>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogResponse {
    /// Start of the range (inclusive, minute-aligned).
    pub from: String,
    /// End of the range (exclusive, minute-aligned).
    pub to: String,
    /// Services by events, largest first; at most 1,000.
    pub services: Vec<CatalogService>,
    /// Metric names in name order; at most 1,000 (and 1,000 services each).
    pub metrics: Vec<CatalogMetricDto>,
    /// The part of the range the tenant's retention still holds.
    pub coverage: CoverageDto,
}

fn seconds(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The tenant's services and metric names with their counts, from the rollups.
///
/// For pickers: which services sent events, which metrics exist and which services sent
/// each. Cached like summaries (`X-Cache`; `Cache-Control: no-cache` asks for a fresh answer).
#[utoipa::path(get, path = "/catalog", tag = "queries",
    params(CatalogParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The catalog", body = CatalogResponse),
        (status = 400, description = "Invalid range or parameter (`invalid_parameter`, `invalid_range`, `invalid_request`)", body = ErrorBody),
        AuthenticationFailures,
        (status = 503, description = "Analytics store unavailable (`analytics_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
#[tracing::instrument(name = "http_catalog", skip_all, fields(tenant_id = %caller.0.tenant_id))]
pub async fn catalog(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<CatalogParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let Query(params) = params?;
    let from = params
        .from
        .as_deref()
        .map(|from| timestamp("from", from))
        .transpose()?;
    let to = params
        .to
        .as_deref()
        .map(|to| timestamp("to", to))
        .transpose()?;
    let (catalog, outcome) = state
        .queries
        .catalog(
            &principal.tenant_id,
            from,
            to,
            chrono::Utc::now(),
            wants_fresh(&headers),
        )
        .await?;
    let body = CatalogResponse {
        coverage: catalog.coverage.into(),
        from: seconds(catalog.from),
        to: seconds(catalog.to),
        services: catalog
            .services
            .into_iter()
            .map(|GroupCount { key, count }| CatalogService {
                name: key,
                events: count,
            })
            .collect(),
        metrics: catalog
            .metrics
            .into_iter()
            .map(|metric| CatalogMetricDto {
                name: metric.name,
                kind: KindDto::from_description(metric.description),
                samples: metric.samples,
                services: metric
                    .services
                    .into_iter()
                    .map(|GroupCount { key, count }| MetricSource {
                        name: key,
                        samples: count,
                    })
                    .collect(),
            })
            .collect(),
    };
    Ok(cached(body, outcome))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventSeriesParams {
    /// RFC 3339, inclusive (widened to the start of its bucket).
    #[param(format = DateTime)]
    pub from: String,
    /// RFC 3339, exclusive (widened to the end of its bucket).
    #[param(format = DateTime)]
    pub to: String,
    /// Chosen from the range when absent (up to 6 h: 1m, up to 14 d: 1h, longer: 1d).
    #[param(value_type = Option<StepDoc>)]
    pub step: Option<String>,
    /// Only events of this service.
    #[param(min_length = 1, max_length = 128)]
    pub service_name: Option<String>,
    /// Only events of this type.
    #[param(inline)]
    pub event_type: Option<EventTypeParam>,
}

/// Events of one bucket by type.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventCountDto {
    /// Bucket start, RFC 3339.
    pub t: String,
    pub total: u64,
    pub log: u64,
    pub metric: u64,
    pub trace: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventSeriesResponse {
    #[schema(value_type = StepDoc)]
    pub step: String,
    pub from: String,
    pub to: String,
    /// Buckets without events are left out.
    pub points: Vec<EventCountDto>,
    /// The part of the range the tenant's retention still holds.
    pub coverage: CoverageDto,
}

/// Events per bucket by type, from the rollup of the step.
#[utoipa::path(get, path = "/timeseries/events", tag = "queries",
    params(EventSeriesParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The series", body = EventSeriesResponse),
        (status = 400, description = "Invalid range, step or parameter; more than 10,000 points", body = ErrorBody),
        AuthenticationFailures,
        (status = 503, description = "Analytics store unavailable (`analytics_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
#[tracing::instrument(name = "http_event_series", skip_all, fields(tenant_id = %caller.0.tenant_id))]
pub async fn event_series(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<EventSeriesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let Query(params) = params?;
    if let Some(service) = &params.service_name {
        ServiceName::parse(service.as_str())
            .map_err(|error| invalid("serviceName", error.to_string()))?;
    }
    let step = step(params.step.as_deref())?;
    let from = timestamp("from", &params.from)?;
    let to = timestamp("to", &params.to)?;
    let (series, outcome) = state
        .queries
        .event_series(
            &principal.tenant_id,
            from,
            to,
            step,
            params.service_name.as_deref(),
            params.event_type.map(EventType::from),
            wants_fresh(&headers),
        )
        .await?;
    let body = EventSeriesResponse {
        coverage: series.coverage.into(),
        step: series.step.as_step().to_string(),
        from: seconds(series.from),
        to: seconds(series.to),
        points: series
            .points
            .iter()
            .map(|point| EventCountDto {
                t: seconds(chrono::DateTime::from_timestamp(point.bucket, 0).unwrap_or_default()),
                total: point.log + point.metric + point.trace,
                log: point.log,
                metric: point.metric,
                trace: point.trace,
            })
            .collect(),
    };
    Ok(cached(body, outcome))
}
