//! `GET /timeseries`: one metric's statistics per minute, hour or day.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use telemetry_application::auth::Permission;
use telemetry_domain::values::{MetricName, ServiceName};
use utoipa::{IntoParams, ToSchema};

use super::dto::{
    cached, invalid, step, timestamp, wants_fresh, CoverageDto, KindDto, StatsDto, StepDoc,
};
use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/timeseries", get(timeseries))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesParams {
    /// The metric name (`payload.name` of metric events).
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub metric: String,
    /// RFC 3339, inclusive (widened to the start of its bucket).
    #[param(format = DateTime)]
    pub from: String,
    /// RFC 3339, exclusive (widened to the end of its bucket).
    #[param(format = DateTime)]
    pub to: String,
    /// Chosen from the range when absent (up to 6 h: 1m, up to 14 d: 1h, longer: 1d).
    #[param(value_type = Option<StepDoc>)]
    pub step: Option<String>,
    /// Only samples from this service.
    #[param(min_length = 1, max_length = 128)]
    pub service_name: Option<String>,
}

/// One bucket with samples.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointDto {
    /// Bucket start, RFC 3339.
    pub t: String,
    #[serde(flatten)]
    pub stats: StatsDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeseriesResponse {
    pub metric: String,
    #[serde(flatten)]
    pub kind: KindDto,
    pub service_name: Option<String>,
    #[schema(value_type = StepDoc)]
    pub step: String,
    pub from: String,
    pub to: String,
    /// Buckets without samples are left out.
    pub points: Vec<PointDto>,
    /// The part of the range the tenant's retention still holds.
    pub coverage: CoverageDto,
}

/// A metric time series from the matching rollup.
///
/// Each bucket has the statistics of the metric's kind (a counter's increase and rate, a
/// histogram's percentiles from its buckets; see `StatsDto`).
#[utoipa::path(get, path = "/timeseries", tag = "queries",
    params(TimeseriesParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The series", body = TimeseriesResponse),
        (status = 400, description = "Invalid range, step or parameter; more than 10,000 points; more than a million counter and histogram series and buckets to read (too_many_series)", body = ErrorBody),
        AuthenticationFailures,
        (status = 503, description = "Analytics store unavailable", body = ErrorBody),
    ))]
#[tracing::instrument(name = "http_timeseries", skip_all, fields(tenant_id = %caller.0.tenant_id))]
pub async fn timeseries(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    params: Result<Query<TimeseriesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let Query(params) = params?;
    // Values a metric's name and service could hold, or the series would be empty anyway.
    MetricName::parse(params.metric.as_str())
        .map_err(|error| invalid("metric", error.to_string()))?;
    if let Some(service) = &params.service_name {
        ServiceName::parse(service.as_str())
            .map_err(|error| invalid("serviceName", error.to_string()))?;
    }
    let step = step(params.step.as_deref())?;
    let from = timestamp("from", &params.from)?;
    let to = timestamp("to", &params.to)?;
    let (series, outcome) = state
        .queries
        .series(
            &principal.tenant_id,
            &params.metric,
            params.service_name.as_deref(),
            from,
            to,
            step,
            wants_fresh(&headers),
        )
        .await?;
    let seconds =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = TimeseriesResponse {
        metric: series.metric,
        kind: KindDto::from_description(series.description),
        service_name: series.service_name,
        step: series.step.as_step().to_string(),
        from: seconds(series.from),
        to: seconds(series.to),
        points: series
            .points
            .iter()
            .map(|point| PointDto {
                t: seconds(point.t),
                stats: StatsDto::from_stats(&point.stats)
                    .with_rates(point.increase, point.rate_per_second),
            })
            .collect(),
        coverage: series.coverage.into(),
    };
    Ok(cached(body, outcome))
}
