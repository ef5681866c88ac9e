//! `GET /audit`: the caller's tenant's audit log, newest first.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use telemetry_application::auth::Permission;
use telemetry_application::ports::{LogPosition, RowPosition};
use telemetry_domain::values::Timestamp;
use utoipa::{IntoParams, ToSchema};

use super::dto::invalid;
use crate::auth::Caller;
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
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entries, newest first", body = AuditResponse),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditResponse>, ApiError> {
    let principal = caller.require(Permission::Administer)?;
    let Query(params) = params
        .map_err(|rejection| ApiError::bad_request("invalid_request", rejection.body_text()))?;
    let before = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let (entries, has_more) = state
        .queries
        .audit_log(
            &principal.tenant_id,
            before,
            params.action.as_deref(),
            params.limit.unwrap_or(100),
        )
        .await?;
    let next_cursor = has_more
        .then(|| {
            entries
                .last()
                .map(|last| encode_cursor(last.occurred_at, last.source))
        })
        .flatten();
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

#[derive(Serialize, Deserialize)]
struct AuditCursor(i64, u64, i64, u32);

fn encode_cursor(occurred_at: Timestamp, source: RowPosition) -> String {
    let cursor = AuditCursor(
        occurred_at.as_micros(),
        source.event.transaction_id,
        source.event.position,
        source.index,
    );
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn decode_cursor(cursor: &str) -> Result<(Timestamp, RowPosition), ApiError> {
    let AuditCursor(micros, transaction_id, position, index) = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("cursor", "not a cursor returned by this API"))?;
    let occurred_at =
        Timestamp::from_micros(micros).map_err(|e| invalid("cursor", e.to_string()))?;
    Ok((
        occurred_at,
        RowPosition {
            event: LogPosition {
                transaction_id,
                position,
            },
            index,
        },
    ))
}
