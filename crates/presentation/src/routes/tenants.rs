//! `GET|PUT /admin/tenants/{tenant}/retention` and `GET|PUT|DELETE
//! /admin/tenants/{tenant}/quota`: how long a tenant's data is kept and how much it may send.
//!
//! A tenant's admins set their own retention; admins of the operator tenant set anyone's,
//! and only they set quotas (a tenant's admins read theirs).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Deserializer, Serialize};
use telemetry_application::auth::{Permission, Principal};
use telemetry_application::ports::PortError;
use telemetry_application::retention::{PolicyView, Retention};
use telemetry_domain::tenant_policy::{
    QuotaChoice, RetainedStore, RetentionChoice, RetentionDays, MAX_RETENTION_DAYS,
};
use telemetry_domain::values::TenantId;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, AuthenticationFailures, ErrorBody, ErrorCode};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/tenants/{tenant}/retention",
            get(get_retention).put(put_retention),
        )
        .route(
            "/admin/tenants/{tenant}/quota",
            get(get_quota).put(put_quota).delete(delete_quota),
        )
}

/// Days kept per store. In a request, a store left out follows the service's default.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionDaysDto {
    /// Raw events (`/query`).
    #[schema(minimum = 1, maximum = 36500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u32>,
    /// Minute rollups (summaries, series and event counts at minute steps).
    #[schema(minimum = 1, maximum = 36500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minute_rollups: Option<u32>,
    #[schema(minimum = 1, maximum = 36500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour_rollups: Option<u32>,
    #[schema(minimum = 1, maximum = 36500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_rollups: Option<u32>,
    #[schema(minimum = 1, maximum = 36500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<u32>,
    /// Alert transitions (`/alerts/history`).
    #[schema(minimum = 1, maximum = 36500)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_history: Option<u32>,
}

impl RetentionDaysDto {
    fn slots(&mut self) -> [(RetainedStore, &mut Option<u32>); 6] {
        [
            (RetainedStore::Events, &mut self.events),
            (RetainedStore::MinuteRollups, &mut self.minute_rollups),
            (RetainedStore::HourRollups, &mut self.hour_rollups),
            (RetainedStore::DayRollups, &mut self.day_rollups),
            (RetainedStore::AuditLog, &mut self.audit_log),
            (RetainedStore::AlertHistory, &mut self.alert_history),
        ]
    }

    fn from_days(days: impl Fn(RetainedStore) -> Option<u32>) -> Self {
        let mut dto = Self::default();
        for (store, slot) in dto.slots() {
            *slot = days(store);
        }
        dto
    }

    fn of_choice(choice: &RetentionChoice) -> Self {
        Self::from_days(|store| choice.get(&store).map(|days| days.get()))
    }

    fn of_retention(retention: &Retention) -> Self {
        Self::from_days(|store| Some(retention.days(store)))
    }

    /// The choice this asks for, or every store whose number of days is out of range.
    fn choice(mut self) -> Result<RetentionChoice, ApiError> {
        let mut choice = RetentionChoice::new();
        let mut problems = Vec::new();
        for (store, slot) in self.slots() {
            let Some(days) = *slot else { continue };
            match RetentionDays::new(days) {
                Ok(days) => {
                    choice.insert(store, days);
                }
                Err(error) => problems.push(serde_json::json!({
                    "field": format!("retentionDays.{}", store.as_str()),
                    "message": error.to_string(),
                })),
            }
        }
        if problems.is_empty() {
            Ok(choice)
        } else {
            Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                format!("a retention is 1 to {MAX_RETENTION_DAYS} days"),
            )
            .with_details(problems))
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionRequest {
    /// The tenant's choices; stores left out follow the defaults. Replaces earlier choices.
    pub retention_days: RetentionDaysDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionResponse {
    pub tenant_id: String,
    /// What applies to each store: the tenant's choice or the default. Reads never return
    /// data older than this many whole UTC days before today, and maintenance removes it.
    pub retention_days: RetentionDaysDto,
    /// The stores the tenant's admins chose a retention for.
    pub chosen: RetentionDaysDto,
    /// The service's defaults (`RETENTION_*_DAYS`).
    pub defaults: RetentionDaysDto,
}

/// How the tenant's daily quota is set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum QuotaSource {
    /// From the configuration (`TENANT_DAILY_QUOTAS`), or none there.
    Default,
    /// Chosen: no quota.
    Unlimited,
    /// Chosen: `dailyEvents`.
    Daily,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaResponse {
    pub tenant_id: String,
    pub source: QuotaSource,
    /// Events the tenant may have accepted per UTC day (`null`: no quota). Past it,
    /// ingestion answers `429 quota_exceeded` until the next UTC midnight.
    pub daily_events: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaRequest {
    /// Events per UTC day, or `null` for no quota (whatever the configuration says).
    #[serde(deserialize_with = "present")]
    #[schema(minimum = 0, required = true)]
    pub daily_events: Option<u64>,
}

/// `dailyEvents` must be given (as a number or `null`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(deserializer)
}

fn retention_response(view: &PolicyView, state: &AppState) -> RetentionResponse {
    let defaults = Retention::new(state.policies.defaults(), &RetentionChoice::new());
    RetentionResponse {
        tenant_id: view.tenant_id.to_string(),
        retention_days: RetentionDaysDto::of_retention(&view.effective),
        chosen: RetentionDaysDto::of_choice(&view.chosen),
        defaults: RetentionDaysDto::of_retention(&defaults),
    }
}

fn quota_response(view: &PolicyView) -> QuotaResponse {
    QuotaResponse {
        tenant_id: view.tenant_id.to_string(),
        source: match view.quota {
            QuotaChoice::Default => QuotaSource::Default,
            QuotaChoice::Unlimited => QuotaSource::Unlimited,
            QuotaChoice::Daily(_) => QuotaSource::Daily,
        },
        daily_events: view.daily_quota,
    }
}

fn unavailable(error: PortError) -> ApiError {
    if error.is_unavailable() {
        ApiError::unavailable(
            ErrorCode::EventStoreUnavailable,
            "tenant policies are unavailable, retry later",
        )
    } else {
        ApiError::internal(&error)
    }
}

/// Who may act on `tenant`: its own admins (`operator_only` false) or the operator tenant's
/// admins. Returns the tenant and the actor recorded in the audit log.
fn authorize(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    operator_only: bool,
) -> Result<(TenantId, String), ApiError> {
    let principal: &Principal = caller.require(Permission::Administer)?;
    let tenant = TenantId::parse(tenant).map_err(|_| ApiError::not_found("no such tenant"))?;
    let operator = state.operator_tenant.as_ref() == Some(&principal.tenant_id);
    if operator && tenant != principal.tenant_id {
        let actor = format!("{}@{}", principal.actor(), principal.tenant_id);
        return Ok((tenant, actor));
    }
    if operator || (tenant == principal.tenant_id && !operator_only) {
        return Ok((tenant, principal.actor()));
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        if operator_only {
            "quotas are set by admins of the operator tenant (OPERATOR_TENANT)"
        } else {
            "another tenant's policy is for admins of the operator tenant (OPERATOR_TENANT)"
        },
    ))
}

fn read_authorize(state: &AppState, caller: &Caller, tenant: &str) -> Result<TenantId, ApiError> {
    authorize(state, caller, tenant, false).map(|(tenant, _)| tenant)
}

/// A tenant's retention per store: what applies, what its admins chose, and the defaults.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/retention", tag = "administration",
    params(("tenant" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The tenant")),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's retention", body = RetentionResponse),
        AuthenticationFailures,
        (status = 403, description = "Not an admin of this tenant or of the operator tenant", body = ErrorBody),
        (status = 404, description = "Not a tenant name", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn get_retention(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<RetentionResponse>, ApiError> {
    let tenant = read_authorize(&state, &caller, &tenant)?;
    let view = state.policies.policy(&tenant).await.map_err(unavailable)?;
    Ok(Json(retention_response(&view, &state)))
}

/// Set how long the tenant's data is kept, per store (admins of the tenant, or of the
/// operator tenant). Takes effect for reads within a second; maintenance removes the data
/// from storage at the next full hour. Recorded in the audit log (`tenant.retention_set`).
#[utoipa::path(put, path = "/admin/tenants/{tenant}/retention", tag = "administration",
    params(("tenant" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The tenant")),
    request_body = RetentionRequest,
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's retention now", body = RetentionResponse),
        (status = 400, description = "Not JSON of this shape (`invalid_json`), or a retention outside 1 to 36500 days (`invalid_request`, per field in `details`)", body = ErrorBody),
        AuthenticationFailures,
        (status = 403, description = "Not an admin of this tenant or of the operator tenant", body = ErrorBody),
        (status = 404, description = "Not a tenant name", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn put_retention(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    body: Result<Json<RetentionRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<RetentionResponse>, ApiError> {
    let (tenant, actor) = authorize(&state, &caller, &tenant, false)?;
    let Json(request) = body.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidJson, rejection.body_text())
    })?;
    let choice = request.retention_days.choice()?;
    let view = state
        .policies
        .set_retention(&tenant, choice, &actor)
        .await
        .map_err(unavailable)?;
    Ok(Json(retention_response(&view, &state)))
}

/// The tenant's daily event quota.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/quota", tag = "administration",
    params(("tenant" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The tenant")),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's quota", body = QuotaResponse),
        AuthenticationFailures,
        (status = 403, description = "Not an admin of this tenant or of the operator tenant", body = ErrorBody),
        (status = 404, description = "Not a tenant name", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn get_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<QuotaResponse>, ApiError> {
    let tenant = read_authorize(&state, &caller, &tenant)?;
    let view = state.policies.policy(&tenant).await.map_err(unavailable)?;
    Ok(Json(quota_response(&view)))
}

/// Set the tenant's daily event quota, or none (admins of the operator tenant). Applies to
/// batches recorded after it reaches the usage counters, within about a second, on every
/// instance. Recorded in the audit log (`tenant.quota_set`).
#[utoipa::path(put, path = "/admin/tenants/{tenant}/quota", tag = "administration",
    params(("tenant" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The tenant")),
    request_body = QuotaRequest,
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's quota now", body = QuotaResponse),
        (status = 400, description = "Not JSON of this shape (`invalid_json`)", body = ErrorBody),
        AuthenticationFailures,
        (status = 403, description = "Not an admin of the operator tenant", body = ErrorBody),
        (status = 404, description = "Not a tenant name", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn put_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    body: Result<Json<QuotaRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<QuotaResponse>, ApiError> {
    let (tenant, actor) = authorize(&state, &caller, &tenant, true)?;
    let Json(request) = body.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidJson, rejection.body_text())
    })?;
    let choice = match request.daily_events {
        Some(events) => QuotaChoice::Daily(events),
        None => QuotaChoice::Unlimited,
    };
    let view = state
        .policies
        .set_quota(&tenant, choice, &actor)
        .await
        .map_err(unavailable)?;
    Ok(Json(quota_response(&view)))
}

/// Return the tenant to the configured quota (`TENANT_DAILY_QUOTAS`, or none), admins of the
/// operator tenant.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/quota", tag = "administration",
    params(("tenant" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The tenant")),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's quota now", body = QuotaResponse),
        AuthenticationFailures,
        (status = 403, description = "Not an admin of the operator tenant", body = ErrorBody),
        (status = 404, description = "Not a tenant name", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn delete_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<QuotaResponse>, ApiError> {
    let (tenant, actor) = authorize(&state, &caller, &tenant, true)?;
    let view = state
        .policies
        .set_quota(&tenant, QuotaChoice::Default, &actor)
        .await
        .map_err(unavailable)?;
    Ok(Json(quota_response(&view)))
}
