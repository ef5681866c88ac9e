//! The list of each tenant's API keys: a processor that projects the `ApiKey` events into
//! the [`ApiKeyCatalog`], so administrators can see which keys exist, who issued them and
//! which are revoked, without the keys (or their digests) ever being listed.

use std::sync::Arc;

use telemetry_domain::api_key::{ApiKey, ApiKeyEvent};

use crate::commands::ACTOR_METADATA_KEY;
use crate::ports::CatalogStore;
use crate::ports::{ApiKeyChange, ApiKeyRecord, EventFilter, PortError, StoredEvent};
use crate::processing::catalog::CatalogProjection;
use crate::processing::metadata_field;

/// The `api_keys` processor.
pub type ApiKeyCatalogProcessor = CatalogProjection<ApiKeyChange>;

impl CatalogProjection<ApiKeyChange> {
    pub const NAME: &'static str = "api_keys";

    pub fn api_keys(catalog: Arc<dyn CatalogStore<ApiKeyChange>>) -> Self {
        let filters = vec![EventFilter {
            aggregate_type: <ApiKey as cqrs_es::Aggregate>::TYPE,
            event_types: &[],
        }];
        Self::new(Self::NAME, filters, catalog, key_change)
    }
}

fn key_change(event: &StoredEvent) -> Result<ApiKeyChange, PortError> {
    let actor = metadata_field(event, ACTOR_METADATA_KEY).unwrap_or_default();
    let domain_event: ApiKeyEvent = event.decode().map_err(PortError::failed)?;
    Ok(match domain_event {
        ApiKeyEvent::ApiKeyIssued {
            key_id,
            tenant_id,
            label,
            issued_at,
            ..
        } => ApiKeyChange::Issued(ApiKeyRecord {
            key_id,
            tenant_id,
            label,
            issued_at,
            issued_by: actor,
            revoked_at: None,
            revoked_by: None,
        }),
        ApiKeyEvent::ApiKeyRevoked {
            key_id, revoked_at, ..
        } => ApiKeyChange::Revoked {
            key_id,
            revoked_at,
            revoked_by: actor,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::Utc;
    use telemetry_domain::values::{ApiKeyId, TenantId, Timestamp};

    use super::*;
    use crate::commands::command_metadata;
    use crate::ports::LogPosition;
    use crate::processing::EventProcessor;

    #[derive(Default)]
    struct Recorded(Mutex<Vec<(Vec<ApiKeyChange>, LogPosition)>>);

    #[async_trait::async_trait]
    impl CatalogStore<ApiKeyChange> for Recorded {
        async fn checkpoint(&self, _name: &str) -> Result<Option<LogPosition>, PortError> {
            Ok(None)
        }
        async fn apply(
            &self,
            _name: &str,
            changes: &[ApiKeyChange],
            position: LogPosition,
        ) -> Result<(), PortError> {
            self.0.lock().unwrap().push((changes.to_vec(), position));
            Ok(())
        }
    }

    fn stored(event: ApiKeyEvent, position: i64, actor: &str) -> StoredEvent {
        let tenant = TenantId::parse("acme").unwrap();
        StoredEvent {
            position: LogPosition {
                transaction_id: 7,
                position,
            },
            aggregate_type: "ApiKey".into(),
            aggregate_id: "0123456789abcdef".into(),
            sequence: position,
            event_type: "ignored".into(),
            event_version: "1".into(),
            payload: serde_json::to_string(&event).unwrap().as_str().into(),
            metadata: serde_json::to_string(&command_metadata(&tenant, actor)).unwrap(),
            recorded_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn issued_and_revoked_keys_are_listed_with_who_did_it_and_the_checkpoint() {
        let catalog = Arc::new(Recorded::default());
        let processor = ApiKeyCatalogProcessor::api_keys(Arc::clone(&catalog) as _);
        let key_id = ApiKeyId::parse("0123456789abcdef").unwrap();
        let tenant_id = TenantId::parse("acme").unwrap();
        let at = Timestamp::from_micros(1_700_000_000_000_000).unwrap();
        let events = [
            stored(
                ApiKeyEvent::ApiKeyIssued {
                    key_id: key_id.clone(),
                    key_digest: "digest-never-listed".into(),
                    tenant_id: tenant_id.clone(),
                    label: "ci".into(),
                    issued_at: at,
                },
                1,
                "user:alice",
            ),
            stored(
                ApiKeyEvent::ApiKeyRevoked {
                    key_id: key_id.clone(),
                    tenant_id: tenant_id.clone(),
                    revoked_at: at,
                },
                2,
                "user:bob",
            ),
        ];
        processor.process(&events).await.unwrap();
        let applied = catalog.0.lock().unwrap();
        let (changes, position) = &applied[0];
        assert_eq!(*position, events[1].position);
        assert_eq!(
            changes[0],
            ApiKeyChange::Issued(ApiKeyRecord {
                key_id: key_id.clone(),
                tenant_id,
                label: "ci".into(),
                issued_at: at,
                issued_by: "user:alice".into(),
                revoked_at: None,
                revoked_by: None,
            })
        );
        assert_eq!(
            changes[1],
            ApiKeyChange::Revoked {
                key_id,
                revoked_at: at,
                revoked_by: "user:bob".into(),
            }
        );
    }
}
