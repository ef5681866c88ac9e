//! `GET|POST /admin/api-keys`, `DELETE /admin/api-keys/{keyId}`,
//! `POST /admin/api-keys/{keyId}/rotate`: manage the caller's tenant's keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use telemetry_application::auth::{KeyCommandFailure, Permission};
use telemetry_application::ports::ApiKeyRecord;
use telemetry_domain::values::ApiKeyId;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api-keys", post(issue_key).get(list_keys))
        .route("/admin/api-keys/{key_id}", delete(revoke_key))
        .route("/admin/api-keys/{key_id}/rotate", post(rotate_key))
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
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Key issued", body = IssuedKeyResponse),
        (status = 400, description = "Invalid request", body = ErrorBody),
        AuthenticationFailures,
        (status = 403, description = "Not an admin (an admin's bearer token is required; API keys and other roles are authenticated but refused)", body = ErrorBody),
        (status = 409, description = "The key could not be issued as asked (`key_conflict`)", body = ErrorBody),
        (status = 503, description = "The key store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn issue_key(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<IssueKeyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<IssuedKeyResponse>), ApiError> {
    let principal = caller.require(Permission::Administer)?;
    let Json(request) = body.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidJson, rejection.body_text())
    })?;
    if request.label.chars().count() > 200 || request.label.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidLabel,
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
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Key revoked (or already revoked)"),
        AuthenticationFailures,
        (status = 403, description = "Not an admin (an admin's bearer token is required; API keys and other roles are authenticated but refused)", body = ErrorBody),
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

/// Whether a key still authenticates.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Revoked,
}

/// One of the tenant's keys (the key itself is never shown again after it was issued).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDto {
    pub key_id: String,
    pub label: String,
    pub status: KeyStatus,
    /// RFC 3339.
    pub issued_at: String,
    /// Who issued it: `user:<sub>`, `key:<id>` or `system:<component>`.
    pub issued_by: String,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

impl ApiKeyDto {
    fn from_record(record: ApiKeyRecord) -> Self {
        Self {
            key_id: record.key_id.to_string(),
            label: record.label,
            status: if record.revoked_at.is_some() {
                KeyStatus::Revoked
            } else {
                KeyStatus::Active
            },
            issued_at: record.issued_at.to_rfc3339(),
            issued_by: record.issued_by,
            revoked_at: record.revoked_at.map(|at| at.to_rfc3339()),
            revoked_by: record.revoked_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Newest first.
    pub data: Vec<ApiKeyDto>,
}

/// The caller's tenant's API keys, active and revoked, newest first (admin users only).
///
/// The list follows issues and revocations within a moment.
#[utoipa::path(get, path = "/admin/api-keys", tag = "administration",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The keys", body = ApiKeyList),
        AuthenticationFailures,
        (status = 403, description = "Not an admin (an admin's bearer token is required; API keys and other roles are authenticated but refused)", body = ErrorBody),
        (status = 503, description = "The key store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ApiKeyList>, ApiError> {
    let principal = caller.require(Permission::Administer)?;
    let keys = state
        .auth
        .list_keys(&principal.tenant_id)
        .await
        .map_err(key_failure)?;
    Ok(Json(ApiKeyList {
        data: keys.into_iter().map(ApiKeyDto::from_record).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedKeyResponse {
    /// The new key's public id.
    pub key_id: String,
    /// The new key. It is shown only in this response and stored only as a digest.
    pub key: String,
    pub tenant_id: String,
    /// The label, taken over from the replaced key.
    pub label: String,
    pub replaced_key_id: String,
    /// False when the new key was issued but the old one could not be revoked (the store
    /// failed in between): it still works; revoke it with `DELETE`.
    pub replaced_key_revoked: bool,
}

/// Replace a key: issue a new one with the same label and revoke the old one (admin users
/// only). Producers switch to the new key; requests with the old one are refused from the
/// moment it is revoked (on other instances within `API_KEY_CACHE_TTL_MS`).
#[utoipa::path(post, path = "/admin/api-keys/{keyId}/rotate", tag = "administration",
    params(("keyId" = String, Path, description = "The key's public id")),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "New key issued, old key revoked (see `replacedKeyRevoked`)", body = RotatedKeyResponse),
        AuthenticationFailures,
        (status = 403, description = "Not an admin (an admin's bearer token is required; API keys and other roles are authenticated but refused)", body = ErrorBody),
        (status = 404, description = "No such key in this tenant", body = ErrorBody),
        (status = 409, description = "The key is already revoked (`key_conflict`)", body = ErrorBody),
        (status = 503, description = "The key store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<(StatusCode, Json<RotatedKeyResponse>), ApiError> {
    let principal = caller.require(Permission::Administer)?;
    let key_id = ApiKeyId::parse(key_id.to_ascii_lowercase())
        .map_err(|_| ApiError::not_found("no such key"))?;
    let rotated = state
        .auth
        .rotate_key(&principal.tenant_id, &key_id, &principal.actor())
        .await
        .map_err(key_failure)?;
    Ok((
        StatusCode::CREATED,
        Json(RotatedKeyResponse {
            key_id: rotated.issued.key_id.to_string(),
            key: rotated.issued.key,
            tenant_id: principal.tenant_id.to_string(),
            label: rotated.label,
            replaced_key_id: key_id.to_string(),
            replaced_key_revoked: rotated.replaced_revoked,
        }),
    ))
}

fn key_failure(failure: KeyCommandFailure) -> ApiError {
    match failure {
        KeyCommandFailure::NotFound => ApiError::not_found("no such key"),
        KeyCommandFailure::AlreadyRevoked => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::KeyConflict,
            failure.to_string(),
        ),
        KeyCommandFailure::Refused(error) => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::KeyConflict,
            error.to_string(),
        ),
        KeyCommandFailure::Unavailable(cause) => {
            tracing::warn!(error = %cause, "key store unavailable");
            ApiError::unavailable(
                ErrorCode::EventStoreUnavailable,
                "the key store is unavailable",
            )
        }
    }
}
