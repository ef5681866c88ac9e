//! `GET /accounts/{accountId}/summary`: a tenant's activity over a window, from the rollups.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use telemetry_application::auth::Permission;
use telemetry_application::query::SummaryWindow;
use utoipa::{IntoParams, ToSchema};

use super::dto::{cached, invalid, wants_fresh, CoverageDto, GroupDto, KindDto, StatsDto};
use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/accounts/{account_id}/summary", get(summary))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// `24h` by default.
    #[param(value_type = Option<SummaryWindowDoc>)]
    pub window: Option<String>,
}

/// A summary's window.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum SummaryWindowDoc {
    #[schema(rename = "15m")]
    FifteenMinutes,
    #[schema(rename = "1h")]
    OneHour,
    #[schema(rename = "24h")]
    OneDay,
    #[schema(rename = "7d")]
    SevenDays,
}

/// One metric over the window: its kind, unit and temporality, and the statistics of its
/// kind (see `StatsDto`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricSummary {
    pub name: String,
    #[serde(flatten)]
    pub kind: KindDto,
    #[serde(flatten)]
    pub stats: StatsDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryResponse {
    pub account_id: String,
    #[schema(value_type = SummaryWindowDoc)]
    pub window: String,
    /// Start of the window (inclusive, minute-aligned).
    pub from: String,
    /// End of the window (exclusive): the end of the current minute.
    pub to: String,
    pub total_events: u64,
    /// Events per type: `log`, `metric`, `trace`.
    pub by_type: BTreeMap<String, u64>,
    pub top_services: Vec<GroupDto>,
    pub top_users: Vec<GroupDto>,
    pub metrics: Vec<MetricSummary>,
    /// When this answer was computed (answers are cached briefly).
    pub generated_at: String,
    /// The part of the window the tenant's retention still holds.
    pub coverage: CoverageDto,
}

/// A tenant's summary.
///
/// `accountId` is the caller's tenant id; any other id answers 404. Served from the minute,
/// hour and day rollups through the cache (`X-Cache` says which level answered;
/// `Cache-Control: no-cache` asks for a fresh answer).
#[utoipa::path(get, path = "/accounts/{accountId}/summary", tag = "queries",
    params(("accountId" = String, Path, description = "The tenant id"), SummaryParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The summary", body = SummaryResponse),
        (status = 400, description = "Unknown window or parameter; more than a million counter and histogram series and buckets to read (too_many_series)", body = ErrorBody),
        AuthenticationFailures,
        (status = 404, description = "Not the caller's account", body = ErrorBody),
        (status = 503, description = "Analytics store unavailable", body = ErrorBody),
    ))]
#[tracing::instrument(name = "http_summary", skip_all, fields(tenant_id = %caller.0.tenant_id))]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    headers: axum::http::HeaderMap,
    params: Result<Query<SummaryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let principal = caller.require(Permission::Read)?;
    if account_id != principal.tenant_id.as_str() {
        return Err(ApiError::not_found("no such account"));
    }
    let Query(params) = params?;
    let window = match params.window.as_deref() {
        None => SummaryWindow::OneDay,
        Some(value) => SummaryWindow::parse(value)
            .ok_or_else(|| invalid("window", "must be 15m, 1h, 24h or 7d"))?,
    };
    let (summary, outcome) = state
        .queries
        .summary(
            &principal.tenant_id,
            window,
            chrono::Utc::now(),
            wants_fresh(&headers),
        )
        .await?;
    let body = SummaryResponse {
        account_id: summary.account_id.to_string(),
        window: summary.window.as_str().to_string(),
        from: summary
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to: summary
            .to
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        total_events: summary.total_events,
        by_type: summary
            .by_type
            .into_iter()
            .map(|(event_type, count)| (event_type.as_str().to_string(), count))
            .collect(),
        top_services: summary
            .top_services
            .into_iter()
            .map(GroupDto::from_group)
            .collect(),
        top_users: summary
            .top_users
            .into_iter()
            .map(GroupDto::from_group)
            .collect(),
        metrics: summary
            .metrics
            .into_iter()
            .map(|metric| MetricSummary {
                name: metric.name,
                kind: KindDto::from_description(metric.description),
                stats: StatsDto::from_stats(&metric.stats)
                    .with_rates(metric.increase, metric.rate_per_second),
            })
            .collect(),
        generated_at: summary
            .generated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        coverage: summary.coverage.into(),
    };
    Ok(cached(body, outcome))
}
