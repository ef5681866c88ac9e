//! `POST /admin/api-keys`, `DELETE /admin/api-keys/{keyId}`: manage the caller's tenant's keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use telemetry_application::auth::{KeyCommandFailure, Permission};
use telemetry_domain::values::ApiKeyId;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api-keys", post(issue_key))
        .route("/admin/api-keys/{key_id}", delete(revoke_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueKeyRequest {
    /// What the key is for (shown in the audit log), at most 200 characters.
    #[serde(default)]
    pub label: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKeyResponse {
    /// The key's public id (use it to revoke the key).
    pub key_id: String,
    /// The key itself. It is shown only in this response and stored only as a digest.
    pub key: String,
    pub tenant_id: String,
    pub label: String,
}

/// Issue a new API key for the caller's tenant (admin users only).
#[utoipa::path(post, path = "/admin/api-keys", tag = "administration",
    request_body = IssueKeyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Key issued", body = IssuedKeyResponse),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The key could not be issued as asked (`key_conflict`)", body = ErrorBody),
        (status = 503, description = "The key store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn issue_key(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<IssueKeyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<IssuedKeyResponse>), ApiError> {
    let principal = caller.require(Permission::Administer)?;
    let Json(request) =
        body.map_err(|rejection| ApiError::bad_request("invalid_json", rejection.body_text()))?;
    if request.label.chars().count() > 200 || request.label.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_label",
            "label must be at most 200 characters without control characters",
        ));
    }
    let issued = state
        .auth
        .issue_key(&principal.tenant_id, &request.label, &principal.actor())
        .await
        .map_err(key_failure)?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedKeyResponse {
            key_id: issued.key_id.to_string(),
            key: issued.key,
            tenant_id: principal.tenant_id.to_string(),
            label: request.label,
        }),
    ))
}

/// Revoke one of the caller's tenant's API keys (admin users only).
#[utoipa::path(delete, path = "/admin/api-keys/{keyId}", tag = "administration",
    params(("keyId" = String, Path, description = "The key's public id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Key revoked (or already revoked)"),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such key in this tenant", body = ErrorBody),
        (status = 503, description = "The key store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = caller.require(Permission::Administer)?;
    // Key ids are hex, written in lower case: `ABCDEF...` names the same key.
    let key_id = ApiKeyId::parse(key_id.to_ascii_lowercase())
        .map_err(|_| ApiError::not_found("no such key"))?;
    state
        .auth
        .revoke_key(&principal.tenant_id, &key_id, &principal.actor())
        .await
        .map_err(key_failure)?;
    Ok(StatusCode::NO_CONTENT)
}

fn key_failure(failure: KeyCommandFailure) -> ApiError {
    match failure {
        KeyCommandFailure::NotFound => ApiError::not_found("no such key"),
        KeyCommandFailure::Refused(error) => {
            ApiError::new(StatusCode::CONFLICT, "key_conflict", error.to_string())
        }
        KeyCommandFailure::Unavailable(cause) => {
            tracing::warn!(error = %cause, "key store unavailable");
            ApiError::unavailable("event_store_unavailable", "the key store is unavailable")
        }
    }
}
