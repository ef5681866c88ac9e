//! Notifications that ran out of attempts, and redelivering them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use telemetry_application::alerting::notifications::DeadLetterFailure;
use telemetry_application::auth::Permission;
use telemetry_application::ports::Delivery;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// A notification delivery that was given up.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterDto {
    pub id: String,
    pub notification_id: String,
    pub url: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[schema(value_type = Object)]
    pub body: Value,
    pub created_at: String,
    pub failed_at: String,
}

fn dead_letter_dto(delivery: Delivery) -> DeadLetterDto {
    DeadLetterDto {
        id: delivery.id,
        notification_id: delivery.notification_id,
        url: delivery.channel.url,
        attempts: delivery.attempts,
        last_error: delivery.last_error,
        body: serde_json::from_str(&delivery.body).unwrap_or(Value::Null),
        created_at: delivery
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        failed_at: delivery
            .updated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    pub data: Vec<DeadLetterDto>,
}

fn dead_letter_failure(failure: DeadLetterFailure) -> ApiError {
    match failure {
        DeadLetterFailure::NotFound => ApiError::not_found("no such dead letter"),
        DeadLetterFailure::Unavailable(cause) => {
            tracing::warn!(error = %cause, "dead letters unavailable");
            ApiError::unavailable(
                ErrorCode::EventStoreUnavailable,
                "dead letters are unavailable, retry later",
            )
        }
    }
}

/// Notifications whose delivery was given up, newest first.
#[utoipa::path(get, path = "/alerts/dead-letters", tag = "alerts",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Dead letters", body = DeadLetterList),
        AuthenticationFailures,
        (status = 503, description = "Dead letters are unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DeadLetterList>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let deliveries = state
        .dead_letters
        .list(&principal.tenant_id, 1_000)
        .await
        .map_err(dead_letter_failure)?;
    Ok(Json(DeadLetterList {
        data: deliveries.into_iter().map(dead_letter_dto).collect(),
    }))
}

/// Deliver a dead letter again (its attempts start over).
#[utoipa::path(post, path = "/alerts/dead-letters/{deliveryId}/redeliver", tag = "alerts",
    params(("deliveryId" = String, Path)),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Queued again"),
        (status = 403, description = "Viewers cannot redeliver", body = ErrorBody),
        (status = 404, description = "No such dead letter in this tenant", body = ErrorBody),
        AuthenticationFailures,
        (status = 503, description = "Dead letters are unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(delivery_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = caller.require(Permission::WriteRules)?;
    state
        .dead_letters
        .redeliver(&principal.tenant_id, &principal.actor(), &delivery_id)
        .await
        .map_err(dead_letter_failure)?;
    Ok(StatusCode::ACCEPTED)
}
