//! Domain events of the `ApiKey` aggregate.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::values::{ApiKeyId, TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApiKeyEvent {
    ApiKeyIssued {
        key_id: ApiKeyId,
        key_digest: String,
        tenant_id: TenantId,
        label: String,
        issued_at: Timestamp,
    },
    ApiKeyRevoked {
        key_id: ApiKeyId,
        tenant_id: TenantId,
        revoked_at: Timestamp,
    },
}

impl DomainEvent for ApiKeyEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApiKeyIssued { .. } => "ApiKeyIssued",
            Self::ApiKeyRevoked { .. } => "ApiKeyRevoked",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
