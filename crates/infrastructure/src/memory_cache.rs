//! The in-process cache (L1): moka, bounded by total bytes, entries live for a fixed TTL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::future::Cache;
use telemetry_application::ports::{CacheStore, PortError};

pub struct MokaCache {
    cache: Cache<String, Arc<[u8]>>,
}

impl MokaCache {
    pub fn new(ttl: Duration, max_bytes: u64) -> Self {
        Self {
            cache: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(max_bytes)
                .weigher(|key: &String, value: &Arc<[u8]>| {
                    u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }
}

#[async_trait]
impl CacheStore for MokaCache {
    async fn get(&self, key: &str) -> Result<Option<Arc<[u8]>>, PortError> {
        Ok(self.cache.get(key).await)
    }

    async fn put(&self, key: &str, value: Arc<[u8]>) -> Result<(), PortError> {
        self.cache.insert(key.to_string(), value).await;
        Ok(())
    }
}

/// One suite, run against every `CacheStore` adapter (moka here, Redis in `redis::cache`).
#[cfg(test)]
pub(crate) mod contract {
    use std::sync::Arc;
    use std::time::Duration;

    use telemetry_application::ports::CacheStore;

    /// `store` must expire entries after `ttl`.
    pub async fn cache_store_contract(store: &dyn CacheStore, ttl: Duration, namespace: &str) {
        let key = |name: &str| format!("{namespace}:{name}");
        assert_eq!(store.get(&key("absent")).await.unwrap(), None);

        let value: Arc<[u8]> = Arc::from(&b"{\"answer\":42}"[..]);
        store.put(&key("a"), Arc::clone(&value)).await.unwrap();
        assert_eq!(
            store.get(&key("a")).await.unwrap(),
            Some(Arc::clone(&value))
        );

        let replaced: Arc<[u8]> = Arc::from(&b"second"[..]);
        store.put(&key("a"), Arc::clone(&replaced)).await.unwrap();
        assert_eq!(store.get(&key("a")).await.unwrap(), Some(replaced));
        assert_eq!(store.get(&key("b")).await.unwrap(), None);

        store.put(&key("short-lived"), value).await.unwrap();
        tokio::time::sleep(ttl + Duration::from_millis(300)).await;
        assert_eq!(store.get(&key("short-lived")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn moka_cache_honours_the_contract() {
        let ttl = Duration::from_secs(2);
        let store = super::MokaCache::new(ttl, 1024 * 1024);
        cache_store_contract(&store, ttl, "moka").await;
    }
}
