//! `POST /admin/read-models/{name}/rebuild`: drop a ClickHouse read model and replay the
//! event store into it (operators only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use telemetry_application::auth::Permission;
use telemetry_application::read_models::RebuildFailure;
use telemetry_domain::read_model::ReadModelName;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/read-models/{name}/rebuild", post(rebuild))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebuildResponse {
    pub read_model: String,
    /// The generation the read model is being rebuilt to.
    pub generation: u64,
}

/// Rebuild a read model (`rollups`, `audit` or `alert_history`) from the event store. `aggregation`, the former name of `rollups`, is accepted too.
///
/// The processor that owns the read model (on whichever instance holds it) truncates its
/// tables and replays every event; queries see partial data until it has caught up. Once
/// the event store's horizon has dropped telemetry, `rollups` and `audit` are refused
/// (`409 log_truncated`): the replay would lose what they hold of it. Admins
/// of the operator tenant (`OPERATOR_TENANT`) only.
#[utoipa::path(post, path = "/admin/read-models/{name}/rebuild", tag = "administration",
    params(("name" = String, Path, description = "`rollups`, `audit` or `alert_history` (or `aggregation`, the former name of `rollups`)")),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Rebuild requested", body = RebuildResponse),
        AuthenticationFailures,
        (status = 403, description = "Not an admin of the operator tenant (an admin's bearer token is required; API keys and other roles are authenticated but refused)", body = ErrorBody),
        (status = 404, description = "No such read model", body = ErrorBody),
        (status = 409, description = "`rollups` and `audit` are built from telemetry, which the event store keeps for its horizon: once it has dropped some, they are not rebuilt (`log_truncated`)", body = ErrorBody),
        (status = 503, description = "The event store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn rebuild(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<RebuildResponse>), ApiError> {
    let principal = caller.require(Permission::Administer)?;
    if state.operator_tenant.as_ref() != Some(&principal.tenant_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "rebuilds are reserved to admins of the operator tenant (OPERATOR_TENANT)",
        ));
    }
    let name =
        ReadModelName::parse(&name).map_err(|_| ApiError::not_found("no such read model"))?;
    let generation = state
        .read_models
        .request_rebuild(name, &principal.tenant_id, &principal.actor())
        .await
        .map_err(|failure| match failure {
            RebuildFailure::LogTruncated { since } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::LogTruncated,
                format!(
                    "the event store keeps telemetry for its horizon and no longer holds what was recorded before {}: a replay would lose it from {name}",
                    since.to_rfc3339()
                ),
            ),
            RebuildFailure::Port(error) if error.is_unavailable() => ApiError::unavailable(
                ErrorCode::EventStoreUnavailable,
                "the event store is unavailable",
            ),
            RebuildFailure::Port(error) => ApiError::internal(&error),
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RebuildResponse {
            read_model: name.to_string(),
            generation,
        }),
    ))
}
