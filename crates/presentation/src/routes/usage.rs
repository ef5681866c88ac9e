//! `GET /usage`: a tenant's ingestion per UTC day and its daily quota.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use telemetry_application::auth::Permission;
use telemetry_application::ports::DailyUsage;
use telemetry_domain::values::TenantId;
use utoipa::{IntoParams, ToSchema};

use super::dto::invalid;
use crate::auth::Caller;
use crate::error::{ApiError, AuthenticationFailures, ErrorBody, ErrorCode};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/usage", get(usage))
        .route("/usage/tenants", get(tenants))
}

/// The longest range one answer covers.
const MAX_DAYS: u64 = 400;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// First UTC day (`YYYY-MM-DD`, inclusive); default: 29 days before `to`.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last UTC day (`YYYY-MM-DD`, inclusive); default: today. At most 400 days after `from`.
    #[param(format = Date)]
    pub to: Option<String>,
    /// Another tenant's usage: admins of the operator tenant (`OPERATOR_TENANT`) only.
    #[param(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub tenant: Option<String>,
}

/// Events of one type.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageByType {
    pub log: u64,
    pub metric: u64,
    pub trace: u64,
}

/// One UTC day's ingestion, counted with the batches that recorded it (exactly once,
/// however often producers retried).
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDay {
    /// `YYYY-MM-DD` (UTC), the day the events were accepted.
    #[schema(format = Date)]
    pub day: String,
    /// Batches recorded (`/ingest` requests and OTLP exports that recorded something or
    /// only duplicates; replayed answers are not batches).
    pub batches: u64,
    /// Events recorded.
    pub accepted: u64,
    /// Events sent again (same id within the deduplication window), not recorded again.
    pub duplicates: u64,
    #[serde(rename = "byType")]
    pub by_type: UsageByType,
    /// Events recorded from OpenTelemetry exports (log records, spans, and metric data
    /// points: a summary point records one event per statistic); part of `accepted`.
    pub otlp: u64,
    /// Ingestion requests refused, by error code (`rate_limited`, `quota_exceeded`,
    /// `invalid_events`, ...), for requests with a valid API key. Tallied by each instance
    /// and stored about once a second: a crash loses at most that second's refusals.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub refused: std::collections::BTreeMap<String, u64>,
}

/// The tenant's daily event quota.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaDto {
    /// Events the tenant may have accepted per UTC day.
    pub daily_events: u64,
    /// Accepted today so far.
    pub accepted_today: u64,
    pub remaining_today: u64,
    /// When the count starts again (the next UTC midnight).
    pub resets_at: String,
}

/// Bytes on disk of the tenant's data now, per store: each store's size times the tenant's
/// share of its rows (stores are shared by every tenant). `null` when a store could not be
/// measured (unreachable).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageDto {
    /// Telemetry in the event store (Postgres), for its replay horizon.
    pub event_store: Option<u64>,
    /// Raw events in ClickHouse.
    pub raw_events: Option<u64>,
    /// Minute, hour and day rollups in ClickHouse.
    pub rollups: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageResponse {
    pub tenant_id: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    /// The days of the range with any ingestion, oldest first.
    pub days: Vec<UsageDay>,
    /// `null` when the tenant has no quota.
    pub quota: Option<QuotaDto>,
    pub storage: StorageDto,
}

fn day(field: &str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| invalid(field, "must be a day written YYYY-MM-DD"))
}

fn usage_day(usage: DailyUsage) -> UsageDay {
    UsageDay {
        day: usage.day.to_string(),
        batches: usage.batches,
        accepted: usage.accepted,
        duplicates: usage.duplicates,
        by_type: UsageByType {
            log: usage.logs,
            metric: usage.metrics,
            trace: usage.traces,
        },
        otlp: usage.otlp,
        refused: usage.refused,
    }
}

/// `from` and `to` as UTC days: by default the 30 days ending today; at most 400 days.
fn day_range(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = to
        .map(|to| day("to", to))
        .transpose()?
        .unwrap_or_else(|| Utc::now().date_naive());
    let from = match from {
        Some(from) => day("from", from)?,
        None => to.checked_sub_days(Days::new(29)).unwrap_or(to),
    };
    if from > to || to.signed_duration_since(from).num_days() > MAX_DAYS as i64 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRange,
            format!("from must be on or before to, and at most {MAX_DAYS} days before it"),
        ));
    }
    Ok((from, to))
}

fn unavailable(error: telemetry_application::ports::PortError) -> ApiError {
    if error.is_unavailable() {
        ApiError::unavailable(
            ErrorCode::EventStoreUnavailable,
            "usage is unavailable, retry later",
        )
    } else {
        ApiError::internal(&error)
    }
}

/// A tenant's ingestion per UTC day (accepted events by type, duplicates, batches) and its
/// daily event quota, if it has one. Counted in the transaction that records each batch, so
/// the figures are exact and final as soon as a batch is acknowledged.
#[utoipa::path(get, path = "/usage", tag = "administration",
    params(UsageParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Usage per day", body = UsageResponse),
        (status = 400, description = "A day that is not `YYYY-MM-DD` (`invalid_parameter`), or `from` after `to` or more than 400 days before it (`invalid_range`)", body = ErrorBody),
        AuthenticationFailures,
        (status = 403, description = "`tenant` names another tenant and the caller is not an admin of the operator tenant", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<UsageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UsageResponse>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidParameter, rejection.body_text())
    })?;
    let tenant = match params.tenant.as_deref() {
        None => principal.tenant_id.clone(),
        Some(name) => {
            let tenant =
                TenantId::parse(name).map_err(|error| invalid("tenant", error.to_string()))?;
            if tenant != principal.tenant_id {
                caller.require(Permission::Administer)?;
                if state.operator_tenant.as_ref() != Some(&principal.tenant_id) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        ErrorCode::Forbidden,
                        "another tenant's usage is for admins of the operator tenant (OPERATOR_TENANT)",
                    ));
                }
            }
            tenant
        }
    };
    let today = Utc::now().date_naive();
    let (from, to) = day_range(params.from.as_deref(), params.to.as_deref())?;
    let (days, quota, today_usage, event_store, analytics) = tokio::join!(
        state.usage.daily(&tenant, from, to),
        state.usage.quota(&tenant),
        state.usage.daily(&tenant, today, today),
        state.usage.event_store_bytes(&tenant),
        state.analytics_storage.stored_bytes(&tenant),
    );
    let analytics = analytics
        .inspect_err(|error| tracing::warn!(%error, "analytics bytes not measured"))
        .ok();
    let storage = StorageDto {
        event_store: event_store
            .inspect_err(|error| tracing::warn!(%error, "event store bytes not measured"))
            .ok(),
        raw_events: analytics.map(|bytes| bytes.raw_events),
        rollups: analytics.map(|bytes| bytes.rollups),
    };
    let quota = match quota.map_err(unavailable)? {
        None => None,
        Some(daily_events) => {
            let accepted_today = today_usage
                .map_err(unavailable)?
                .first()
                .map_or(0, |usage| usage.accepted);
            let resets_at = today
                .checked_add_days(Days::new(1))
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|midnight| midnight.and_utc().to_rfc3339())
                .unwrap_or_default();
            Some(QuotaDto {
                daily_events,
                accepted_today,
                remaining_today: daily_events.saturating_sub(accepted_today),
                resets_at,
            })
        }
    };
    Ok(Json(UsageResponse {
        tenant_id: tenant.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        days: days
            .map_err(unavailable)?
            .into_iter()
            .map(usage_day)
            .collect(),
        quota,
        storage,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantsParams {
    /// First UTC day (`YYYY-MM-DD`, inclusive); default: 29 days before `to`.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last UTC day (`YYYY-MM-DD`, inclusive); default: today. At most 400 days after `from`.
    #[param(format = Date)]
    pub to: Option<String>,
}

/// One tenant's ingestion over the range.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantUsageDto {
    pub tenant_id: String,
    pub batches: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Of `accepted`, events from OpenTelemetry exports.
    pub otlp: u64,
    /// Ingestion requests refused, all reasons (`GET /usage?tenant=` has them by reason).
    pub refused: u64,
    /// The daily quota in force now (`null`: none).
    pub daily_quota: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantsUsageResponse {
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    /// Every tenant with ingestion, refusals or a quota in the range, most events first.
    pub tenants: Vec<TenantUsageDto>,
}

/// Every tenant's ingestion over a range of UTC days, for the platform's operators (admins
/// of `OPERATOR_TENANT`): the figures of `GET /usage`, added up per tenant.
#[utoipa::path(get, path = "/usage/tenants", tag = "administration",
    params(TenantsParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Usage per tenant", body = TenantsUsageResponse),
        (status = 400, description = "A day that is not `YYYY-MM-DD` (`invalid_parameter`), or `from` after `to` or more than 400 days before it (`invalid_range`)", body = ErrorBody),
        AuthenticationFailures,
        (status = 403, description = "Not an admin of the operator tenant", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn tenants(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<TenantsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TenantsUsageResponse>, ApiError> {
    let principal = caller.require(Permission::Administer)?;
    if state.operator_tenant.as_ref() != Some(&principal.tenant_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "every tenant's usage is for admins of the operator tenant (OPERATOR_TENANT)",
        ));
    }
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidParameter, rejection.body_text())
    })?;
    let (from, to) = day_range(params.from.as_deref(), params.to.as_deref())?;
    let totals = state
        .usage
        .tenant_totals(from, to)
        .await
        .map_err(unavailable)?;
    Ok(Json(TenantsUsageResponse {
        from: from.to_string(),
        to: to.to_string(),
        tenants: totals
            .into_iter()
            .map(|totals| TenantUsageDto {
                tenant_id: totals.tenant.to_string(),
                batches: totals.batches,
                accepted: totals.accepted,
                duplicates: totals.duplicates,
                otlp: totals.otlp,
                refused: totals.refused,
                daily_quota: totals.daily_quota,
            })
            .collect(),
    }))
}
