//! Commands an `ApiKey` handles.

use crate::values::{ApiKeyId, TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiKeyCommand {
    /// Issue a key to a tenant. Issuing the same key to the same tenant again changes
    /// nothing, so start-up bootstrapping can repeat it safely.
    Issue {
        key_id: ApiKeyId,
        /// Hex SHA-256 digest of the key.
        key_digest: String,
        tenant_id: TenantId,
        label: String,
        issued_at: Timestamp,
    },
    /// Stop accepting the key. Revoked keys cannot be issued again.
    Revoke { revoked_at: Timestamp },
}
