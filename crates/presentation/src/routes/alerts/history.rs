//! Active alerts and the history of alert transitions.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use telemetry_application::auth::Permission;
use telemetry_application::ports::{AlertHistoryRow, HistoryFilter};
use telemetry_domain::alert::AlertEvent;
use telemetry_domain::alert_rule::Severity;
use utoipa::{IntoParams, ToSchema};

use super::schema::{SeverityDoc, TransitionKind};
use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::{ApiError, ErrorBody};
use crate::routes::dto::{decode_log_cursor, invalid, next_log_cursor, timestamp};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransitionDto {
    pub rule_id: String,
    pub rule_name: String,
    pub series: String,
    #[schema(value_type = TransitionKind)]
    pub transition: String,
    pub episode: u64,
    pub value: Option<f64>,
    #[schema(value_type = SeverityDoc)]
    pub severity: String,
    pub reason: String,
    pub at: String,
}

fn transition_dto(row: AlertHistoryRow) -> TransitionDto {
    TransitionDto {
        rule_id: row.rule_id,
        rule_name: row.rule_name,
        series: row.series,
        transition: row.transition.to_string(),
        episode: row.episode,
        value: row.value,
        severity: row.severity,
        reason: row.reason,
        at: row.occurred_at.to_rfc3339(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveResponse {
    /// Series whose latest transition is `triggered`.
    pub data: Vec<TransitionDto>,
}

/// Alerts firing now.
#[utoipa::path(get, path = "/alerts/active", tag = "alerts",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Firing alerts", body = ActiveResponse),
        AuthenticationFailures,
        (status = 503, description = "The analytics store is unavailable (`analytics_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn active(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ActiveResponse>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let rows = state.alert_queries.active(&principal.tenant_id).await?;
    Ok(Json(ActiveResponse {
        data: rows.into_iter().map(transition_dto).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only this rule's transitions.
    pub rule_id: Option<String>,
    /// Only this series (the service name, or `*` for rules across services).
    pub series: Option<String>,
    /// Only transitions of this kind.
    #[param(value_type = Option<TransitionKind>)]
    pub transition: Option<String>,
    /// Only alerts of rules of this severity.
    #[param(value_type = Option<SeverityDoc>)]
    pub severity: Option<String>,
    /// Transitions at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Transitions before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// 1-1000, default 100.
    pub limit: Option<u64>,
    /// `nextCursor` of an earlier answer.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResponse {
    pub data: Vec<TransitionDto>,
    pub next_cursor: Option<String>,
}

fn history_filter(params: &HistoryParams) -> Result<HistoryFilter, ApiError> {
    let transition = match params.transition.as_deref() {
        None => None,
        Some(name) => Some(
            AlertEvent::KINDS
                .into_iter()
                .find(|known| *known == name)
                .ok_or_else(|| {
                    invalid(
                        "transition",
                        "must be pending, cleared, triggered or resolved",
                    )
                })?,
        ),
    };
    if let Some(severity) = params.severity.as_deref() {
        if Severity::parse(severity).is_none() {
            return Err(invalid("severity", "must be info, warning or critical"));
        }
    }
    Ok(HistoryFilter {
        rule_id: params.rule_id.clone(),
        series: params.series.clone(),
        transition,
        severity: params.severity.clone(),
        from: params
            .from
            .as_deref()
            .map(|value| timestamp("from", value))
            .transpose()?,
        to: params
            .to
            .as_deref()
            .map(|value| timestamp("to", value))
            .transpose()?,
    })
}

/// Every alert transition with the value that caused it, newest first.
#[utoipa::path(get, path = "/alerts/history", tag = "alerts",
    params(HistoryParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Transitions", body = HistoryResponse),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        AuthenticationFailures,
        (status = 503, description = "The analytics store is unavailable (`analytics_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<HistoryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let Query(params) = params?;
    let before = params
        .cursor
        .as_deref()
        .map(decode_log_cursor)
        .transpose()?;
    let filter = history_filter(&params)?;
    let (rows, has_more) = state
        .alert_queries
        .history(
            &principal.tenant_id,
            &filter,
            before,
            params.limit.unwrap_or(100),
        )
        .await?;
    let next_cursor = next_log_cursor(
        has_more,
        rows.last().map(|last| (last.occurred_at, last.source)),
    );
    Ok(Json(HistoryResponse {
        data: rows.into_iter().map(transition_dto).collect(),
        next_cursor,
    }))
}
