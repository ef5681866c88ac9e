//! `GET /session`: who the caller is, for clients (the console) that adapt to it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use telemetry_application::auth::{Credential, Principal};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/session", get(session))
}

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ApiKey,
    Token,
}

/// A user's role (bearer tokens only).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    Viewer,
    Editor,
    Admin,
}

/// Something the caller may do.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PermissionDto {
    /// Push telemetry (`/ingest`, `/v1/*`): API keys.
    Ingest,
    /// Read events, summaries, time series, alerts, the live stream.
    Read,
    /// Create and change alert rules, redeliver dead letters.
    WriteRules,
    /// API keys and the audit log: admin users.
    Administer,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    /// The tenant every request of this caller is scoped to.
    pub tenant_id: String,
    pub credential: CredentialKind,
    /// The API key's public id (API keys only).
    pub key_id: Option<String>,
    /// The token's subject (bearer tokens only).
    pub subject: Option<String>,
    /// The user's role (bearer tokens only).
    pub role: Option<RoleDto>,
    /// When the token expires, RFC 3339 (bearer tokens only).
    pub expires_at: Option<String>,
    pub permissions: Vec<PermissionDto>,
}

impl SessionResponse {
    fn of(principal: &Principal) -> Self {
        use telemetry_application::auth::Permission;
        use telemetry_application::ports::Role;
        let permissions = principal
            .permissions()
            .into_iter()
            .map(|permission| match permission {
                Permission::Ingest => PermissionDto::Ingest,
                Permission::Read => PermissionDto::Read,
                Permission::WriteRules => PermissionDto::WriteRules,
                Permission::Administer => PermissionDto::Administer,
            })
            .collect();
        let tenant_id = principal.tenant_id.to_string();
        match &principal.credential {
            Credential::ApiKey { key_id } => Self {
                tenant_id,
                credential: CredentialKind::ApiKey,
                key_id: Some(key_id.to_string()),
                subject: None,
                role: None,
                expires_at: None,
                permissions,
            },
            Credential::User {
                subject,
                role,
                expires_at,
            } => Self {
                tenant_id,
                credential: CredentialKind::Token,
                key_id: None,
                subject: Some(subject.clone()),
                role: Some(match role {
                    Role::Viewer => RoleDto::Viewer,
                    Role::Editor => RoleDto::Editor,
                    Role::Admin => RoleDto::Admin,
                }),
                expires_at: expires_at
                    .and_then(|seconds| i64::try_from(seconds).ok())
                    .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                permissions,
            },
        }
    }
}

/// Who the caller is: tenant, credential, role and permissions.
///
/// Any valid API key or bearer token may ask; a client uses it to check a credential and to
/// show only what the caller may do.
#[utoipa::path(get, path = "/session", tag = "queries",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = SessionResponse),
        (status = 401, description = "Not authenticated: `missing_credentials`, `invalid_api_key`, `invalid_token`, `token_expired` (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "Credentials cannot be checked right now (`auth_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn session(State(_): State<AppState>, caller: Caller) -> Json<SessionResponse> {
    Json(SessionResponse::of(&caller.0))
}
