//! Authentication and authorization: who is calling, for which tenant, allowed to do what.
//!
//! Producers use tenant API keys. Keys are never stored: the `ApiKey` aggregate holds the
//! SHA-256 digest, and its id is the first 16 hex digits of that digest, so a request costs
//! one hash and one (cached) aggregate lookup. Human users present a JWT carrying tenant and
//! role.

use std::sync::Arc;

use cqrs_es::AggregateError;
use sha2::{Digest, Sha256};
use telemetry_domain::api_key::{ApiKey, ApiKeyCommand, ApiKeyError};
use telemetry_domain::values::{ApiKeyId, TenantId, Timestamp};
use uuid::Uuid;

use crate::commands::AggregateCommands;
use crate::ports::{ApiKeyCatalog, ApiKeyDirectory, ApiKeyRecord, Role, TokenError, TokenVerifier};
use crate::InvalidSetting;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    ApiKey {
        key_id: ApiKeyId,
    },
    User {
        subject: String,
        role: Role,
        /// When the token expires, in seconds since the epoch.
        expires_at: Option<u64>,
    },
}

/// An authenticated caller, always bound to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub credential: Credential,
}

/// Things a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Push telemetry (API keys only).
    Ingest,
    /// Read events, summaries, time series, alerts.
    Read,
    /// Create and change alert rules, and redeliver dead letters.
    WriteRules,
    /// Administrative commands: API keys, the audit log, read-model rebuilds.
    Administer,
}

impl Permission {
    pub const ALL: [Permission; 4] = [Self::Ingest, Self::Read, Self::WriteRules, Self::Administer];
}

impl Principal {
    /// Everything the caller may do.
    pub fn permissions(&self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|permission| self.may(*permission))
            .collect()
    }

    pub fn may(&self, permission: Permission) -> bool {
        match (&self.credential, permission) {
            (Credential::ApiKey { .. }, Permission::Administer) => false,
            (Credential::ApiKey { .. }, _) => true,
            (Credential::User { .. }, Permission::Ingest) => false,
            (Credential::User { .. }, Permission::Read) => true,
            (Credential::User { role, .. }, Permission::WriteRules) => *role >= Role::Editor,
            (Credential::User { role, .. }, Permission::Administer) => *role == Role::Admin,
        }
    }

    /// A short description of the caller for audit entries (`key:<id>` or `user:<subject>`).
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::ApiKey { key_id } => format!("key:{key_id}"),
            Credential::User { subject, .. } => format!("user:{subject}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no credentials were presented")]
    Missing,
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    #[error("the caller may not do this")]
    Forbidden,
    #[error("credentials cannot be checked right now: {0}")]
    Unavailable(String),
}

/// A key's digest and the id derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDigest {
    pub key_id: ApiKeyId,
    pub digest: String,
}

impl KeyDigest {
    pub fn of(raw_key: &str) -> Self {
        let digest: String = Sha256::digest(raw_key.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let key_id = ApiKeyId::parse(&digest[..16])
            .unwrap_or_else(|_| unreachable!("16 hex digits always form a valid key id"));
        Self { key_id, digest }
    }
}

/// The shortest key `API_KEYS` may configure (generated keys are far longer).
pub const MIN_CONFIGURED_KEY_LENGTH: usize = 16;

/// Keys configured at start-up: `key:tenant,key:tenant`.
pub fn parse_api_key_list(spec: &str) -> Result<Vec<(String, TenantId)>, InvalidSetting> {
    let invalid = |problem: String| InvalidSetting::new("API_KEYS", problem);
    let mut keys = Vec::new();
    for entry in spec
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let Some((key, tenant)) = entry.rsplit_once(':') else {
            return Err(invalid("each entry must look like key:tenant".to_string()));
        };
        // Key ids (a prefix of the key's SHA-256) are logged and audited: a short key could
        // be found from its id by trying every key of its length.
        if key.len() < MIN_CONFIGURED_KEY_LENGTH {
            return Err(invalid(format!(
                "API keys must be at least {MIN_CONFIGURED_KEY_LENGTH} characters long"
            )));
        }
        let tenant =
            TenantId::parse(tenant).map_err(|error| invalid(format!("tenant id {error}")))?;
        keys.push((key.to_string(), tenant));
    }
    Ok(keys)
}

/// Authenticates callers and manages API keys.
pub struct AuthService {
    keys: Arc<dyn AggregateCommands<ApiKey>>,
    directory: Arc<dyn ApiKeyDirectory>,
    tokens: Arc<dyn TokenVerifier>,
    catalog: Arc<dyn ApiKeyCatalog>,
}

/// Result of issuing a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedKey {
    pub key_id: ApiKeyId,
    /// The key itself; shown once, never stored.
    pub key: String,
}

/// Result of rotating a key: its successor, and whether the old key is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedKey {
    pub issued: IssuedKey,
    pub label: String,
    /// False when the new key was issued but revoking the old one failed: the answer must
    /// still carry the new key (it is shown only once), and the old one stays active
    /// until it is revoked again.
    pub replaced_revoked: bool,
}

impl AuthService {
    pub fn new(
        keys: Arc<dyn AggregateCommands<ApiKey>>,
        directory: Arc<dyn ApiKeyDirectory>,
        tokens: Arc<dyn TokenVerifier>,
        catalog: Arc<dyn ApiKeyCatalog>,
    ) -> Self {
        Self {
            keys,
            directory,
            tokens,
            catalog,
        }
    }

    /// The tenant's keys, newest first (the list follows changes within a moment).
    pub async fn list_keys(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<ApiKeyRecord>, KeyCommandFailure> {
        self.catalog
            .list(tenant)
            .await
            .map_err(|error| KeyCommandFailure::Unavailable(error.to_string()))
    }

    /// Issues a successor of a key of `tenant` (same label), then revokes the key.
    pub async fn rotate_key(
        &self,
        tenant: &TenantId,
        key_id: &ApiKeyId,
        actor: &str,
    ) -> Result<RotatedKey, KeyCommandFailure> {
        let current = self
            .keys
            .load(key_id.as_str())
            .await
            .map_err(KeyCommandFailure::from_aggregate)?;
        if current.tenant_id() != Some(tenant) {
            return Err(KeyCommandFailure::NotFound);
        }
        if current.is_revoked() {
            return Err(KeyCommandFailure::AlreadyRevoked);
        }
        let label = current.label().unwrap_or_default().to_string();
        let issued = self.issue_key(tenant, &label, actor).await?;
        // Once more after a failure: a concurrent change of the key (another rotation, a
        // revocation) is a conflict the second attempt resolves (revoking is idempotent).
        let mut revoked = self.revoke_key(tenant, key_id, actor).await;
        if revoked.is_err() {
            revoked = self.revoke_key(tenant, key_id, actor).await;
        }
        let replaced_revoked = match revoked {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    tenant_id = %tenant,
                    key_id = %key_id,
                    error = %error,
                    "rotation issued a new key but could not revoke the old one"
                );
                false
            }
        };
        Ok(RotatedKey {
            issued,
            label,
            replaced_revoked,
        })
    }

    pub async fn authenticate_api_key(&self, raw_key: &str) -> Result<Principal, AuthFailure> {
        let KeyDigest { key_id, digest } = KeyDigest::of(raw_key);
        let key = self
            .directory
            .find(&key_id)
            .await
            .map_err(|error| AuthFailure::Unavailable(error.to_string()))?;
        let tenant = key
            .as_ref()
            .and_then(|key| key.tenant_for(&digest))
            .ok_or(AuthFailure::InvalidApiKey)?;
        Ok(Principal {
            tenant_id: tenant.clone(),
            credential: Credential::ApiKey { key_id },
        })
    }

    pub fn authenticate_token(&self, token: &str) -> Result<Principal, AuthFailure> {
        let claims = self.tokens.verify(token)?;
        Ok(Principal {
            tenant_id: claims.tenant_id,
            credential: Credential::User {
                subject: claims.subject,
                role: claims.role,
                expires_at: claims.expires_at,
            },
        })
    }

    /// Records `raw_key` as a key of `tenant` (idempotent). `actor` is who asked, for the
    /// audit log.
    pub async fn register_key(
        &self,
        tenant: &TenantId,
        raw_key: &str,
        label: &str,
        actor: &str,
    ) -> Result<ApiKeyId, KeyCommandFailure> {
        let KeyDigest { key_id, digest } = KeyDigest::of(raw_key);
        let command = ApiKeyCommand::Issue {
            key_id: key_id.clone(),
            key_digest: digest,
            tenant_id: tenant.clone(),
            label: label.to_string(),
            issued_at: Timestamp::now(),
        };
        self.run(&key_id, command, tenant, actor).await?;
        Ok(key_id)
    }

    /// Creates a new random key for `tenant`.
    pub async fn issue_key(
        &self,
        tenant: &TenantId,
        label: &str,
        actor: &str,
    ) -> Result<IssuedKey, KeyCommandFailure> {
        let key = format!("tk_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let key_id = self.register_key(tenant, &key, label, actor).await?;
        Ok(IssuedKey { key_id, key })
    }

    /// Revokes a key of `tenant`. Keys of other tenants look like missing keys.
    pub async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &ApiKeyId,
        actor: &str,
    ) -> Result<(), KeyCommandFailure> {
        let current = self
            .keys
            .load(key_id.as_str())
            .await
            .map_err(KeyCommandFailure::from_aggregate)?;
        if current.tenant_id() != Some(tenant) {
            return Err(KeyCommandFailure::NotFound);
        }
        let command = ApiKeyCommand::Revoke {
            revoked_at: Timestamp::now(),
        };
        self.run(key_id, command, tenant, actor).await
    }

    async fn run(
        &self,
        key_id: &ApiKeyId,
        command: ApiKeyCommand,
        tenant: &TenantId,
        actor: &str,
    ) -> Result<(), KeyCommandFailure> {
        let metadata = crate::commands::command_metadata(tenant, actor);
        let result = self.keys.execute(key_id.as_str(), command, metadata).await;
        self.directory.invalidate(key_id).await;
        result
            .map(|_| ())
            .map_err(KeyCommandFailure::from_aggregate)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyCommandFailure {
    #[error("no such key")]
    NotFound,
    #[error("the key is revoked: issue a new key instead")]
    AlreadyRevoked,
    #[error(transparent)]
    Refused(ApiKeyError),
    #[error("the key store is unavailable: {0}")]
    Unavailable(String),
}

impl KeyCommandFailure {
    fn from_aggregate(error: AggregateError<ApiKeyError>) -> Self {
        match error {
            AggregateError::UserError(ApiKeyError::NotIssued) => Self::NotFound,
            AggregateError::UserError(error) => Self::Refused(error),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_the_digest_prefix() {
        let digest = KeyDigest::of("secret-key-1");
        assert_eq!(digest.digest.len(), 64);
        assert_eq!(digest.key_id.as_str(), &digest.digest[..16]);
    }

    #[test]
    fn api_key_lists_parse_and_validate() {
        let keys = parse_api_key_list("key-one-000000001:acme, key-two-000000002:globex").unwrap();
        assert_eq!(keys[0].0, "key-one-000000001");
        assert_eq!(keys[1].1.as_str(), "globex");
        assert!(parse_api_key_list("").unwrap().is_empty());
        assert!(parse_api_key_list("short-key-15-ch:acme").is_err());
        assert!(parse_api_key_list("just-long-enough:acme").is_ok());
        assert!(parse_api_key_list("no-tenant-here-at-all").is_err());
        assert!(parse_api_key_list("long-enough-key-1:bad tenant").is_err());
    }

    #[test]
    fn permissions_follow_credential_and_role() {
        let tenant = TenantId::parse("acme").unwrap();
        let user = |role| Principal {
            tenant_id: tenant.clone(),
            credential: Credential::User {
                subject: "u".into(),
                role,
                expires_at: None,
            },
        };
        let key = Principal {
            tenant_id: tenant.clone(),
            credential: Credential::ApiKey {
                key_id: KeyDigest::of("k").key_id,
            },
        };
        assert!(key.may(Permission::Ingest) && key.may(Permission::WriteRules));
        assert!(!key.may(Permission::Administer));
        assert!(!user(Role::Admin).may(Permission::Ingest));
        assert!(user(Role::Viewer).may(Permission::Read));
        assert!(!user(Role::Viewer).may(Permission::WriteRules));
        assert!(user(Role::Editor).may(Permission::WriteRules));
        assert!(!user(Role::Editor).may(Permission::Administer));
        assert!(user(Role::Admin).may(Permission::Administer));
    }
}
