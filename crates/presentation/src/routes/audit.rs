//! `GET /audit`: the caller's tenant's audit log, newest first.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use telemetry_application::auth::Permission;
use utoipa::{IntoParams, ToSchema};

use super::dto::{decode_log_cursor, next_log_cursor};
use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(audit_log))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries with this action (e.g. `ingest.batch`, `api_key.revoked`).
    pub action: Option<String>,
    /// 1-1000, default 100.
    pub limit: Option<u64>,
    /// `nextCursor` of an earlier answer.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryDto {
    pub occurred_at: String,
    #[schema(example = "api_key.issued")]
    pub action: String,
    /// `key:<id>`, `user:<subject>` or `system:<component>`.
    pub actor: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub details: Box<RawValue>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditResponse {
    pub data: Vec<AuditEntryDto>,
    pub next_cursor: Option<String>,
}

/// The audit log: one entry per ingest batch and per administrative command (admins only).
#[utoipa::path(get, path = "/audit", tag = "administration",
    params(AuditParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Entries, newest first", body = AuditResponse),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        AuthenticationFailures,
        (status = 403, description = "Not an admin (an admin's bearer token is required; API keys and other roles are authenticated but refused)", body = ErrorBody),
        (status = 503, description = "The analytics store is unavailable (`analytics_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditResponse>, ApiError> {
    let principal = caller.require(Permission::Administer)?;
    let Query(params) = params?;
    let before = params
        .cursor
        .as_deref()
        .map(decode_log_cursor)
        .transpose()?;
    let (entries, has_more) = state
        .queries
        .audit_log(
            &principal.tenant_id,
            before,
            params.action.as_deref(),
            params.limit.unwrap_or(100),
        )
        .await?;
    let next_cursor = next_log_cursor(
        has_more,
        entries.last().map(|last| (last.occurred_at, last.source)),
    );
    Ok(Json(AuditResponse {
        data: entries
            .into_iter()
            .map(|entry| AuditEntryDto {
                occurred_at: entry.occurred_at.to_rfc3339(),
                action: entry.action,
                actor: entry.actor,
                subject: entry.subject,
                details: RawValue::from_string(entry.details)
                    .unwrap_or_else(|_| RawValue::NULL.to_owned()),
            })
            .collect(),
        next_cursor,
    }))
}
