use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use telemetry_domain::api_key::ApiKey;
use telemetry_domain::values::{ApiKeyId, TenantId, Timestamp};

use super::PortError;

/// Finds API keys by their public id.
#[async_trait]
pub trait ApiKeyDirectory: Send + Sync {
    /// The key's current state; `None` when no key has this id.
    async fn find(&self, key_id: &ApiKeyId) -> Result<Option<ApiKey>, PortError>;
    /// Forgets anything cached about `key_id` (after it changed here).
    async fn invalidate(&self, key_id: &ApiKeyId);
}

/// What a human user may do within their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "viewer" => Some(Self::Viewer),
            "editor" => Some(Self::Editor),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }
}

/// The verified claims of a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserClaims {
    pub subject: String,
    pub tenant_id: TenantId,
    pub role: Role,
    /// When the token stops being accepted (its `exp`), in seconds since the epoch.
    pub expires_at: Option<u64>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("bearer tokens are not configured on this server")]
    NotConfigured,
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// Verifies bearer tokens (JWT).
pub trait TokenVerifier: Send + Sync {
    fn verify(&self, token: &str) -> Result<UserClaims, TokenError>;
}

/// One of a tenant's API keys, as listed (never the key or its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_id: ApiKeyId,
    pub tenant_id: TenantId,
    pub label: String,
    pub issued_at: Timestamp,
    /// Who issued it (`key:<id>`, `user:<sub>`, `system:<component>`).
    pub issued_by: String,
    pub revoked_at: Option<Timestamp>,
    pub revoked_by: Option<String>,
}

/// A change to the key list, from one `ApiKey` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyChange {
    Issued(ApiKeyRecord),
    Revoked {
        key_id: ApiKeyId,
        revoked_at: Timestamp,
        revoked_by: String,
    },
}

/// The tenants' key lists, kept by the `api_keys` processor.
#[async_trait]
pub trait ApiKeyCatalog: super::CatalogStore<ApiKeyChange> {
    /// The tenant's keys, newest first.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, PortError>;
}
