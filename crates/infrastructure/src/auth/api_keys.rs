//! API keys looked up through the `ApiKey` aggregates, cached in process.
//!
//! A revocation made on another instance takes effect here within the cache TTL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::future::Cache;
use telemetry_application::commands::AggregateCommands;
use telemetry_application::ports::{ApiKeyDirectory, PortError};
use telemetry_domain::api_key::ApiKey;
use telemetry_domain::values::ApiKeyId;

pub struct CachedApiKeyDirectory {
    keys: Arc<dyn AggregateCommands<ApiKey>>,
    cache: Cache<ApiKeyId, Option<Arc<ApiKey>>>,
}

impl CachedApiKeyDirectory {
    pub fn new(keys: Arc<dyn AggregateCommands<ApiKey>>, ttl: Duration) -> Self {
        Self {
            keys,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl ApiKeyDirectory for CachedApiKeyDirectory {
    async fn find(&self, key_id: &ApiKeyId) -> Result<Option<ApiKey>, PortError> {
        let keys = Arc::clone(&self.keys);
        let id = key_id.clone();
        let cached =
            self.cache
                .try_get_with(key_id.clone(), async move {
                    let key = keys.load(id.as_str()).await.map_err(|error| {
                        PortError::unavailable(format!("loading API key: {error}"))
                    })?;
                    Ok::<_, PortError>(key.tenant_id().is_some().then(|| Arc::new(key)))
                })
                .await
                .map_err(|error: Arc<PortError>| (*error).clone())?;
        Ok(cached.map(|key| (*key).clone()))
    }

    async fn invalidate(&self, key_id: &ApiKeyId) {
        self.cache.invalidate(key_id).await;
    }
}
