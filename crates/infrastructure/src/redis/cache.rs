//! The shared cache (L2) and the per-tenant cache generations, both in Redis.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use telemetry_application::ports::{CacheStore, GenerationStore, PortError};
use telemetry_domain::values::TenantId;

use super::Redis;

pub struct RedisCache {
    redis: Redis,
    ttl: Duration,
}

impl RedisCache {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self { redis, ttl }
    }
}

#[async_trait]
impl CacheStore for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Arc<[u8]>>, PortError> {
        let key = self.redis.key(&format!("cache:{key}"));
        let value: Option<Vec<u8>> = self
            .redis
            .run("redis cache get", |mut connection| async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(value.map(Arc::from))
    }

    async fn put(&self, key: &str, value: Arc<[u8]>) -> Result<(), PortError> {
        let key = self.redis.key(&format!("cache:{key}"));
        let ttl_ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.redis
            .run("redis cache set", |mut connection| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(&value[..])
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await
    }
}

pub struct RedisGenerations {
    redis: Redis,
}

impl RedisGenerations {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl GenerationStore for RedisGenerations {
    async fn current(&self, tenant: &TenantId) -> Result<u64, PortError> {
        let key = self.redis.key(&format!("generation:{tenant}"));
        let value: Option<u64> = self
            .redis
            .run("redis generation get", |mut connection| async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(value.unwrap_or(0))
    }

    async fn bump(&self, tenants: &[TenantId]) -> Result<(), PortError> {
        let keys: Vec<String> = tenants
            .iter()
            .map(|tenant| self.redis.key(&format!("generation:{tenant}")))
            .collect();
        self.redis
            .run("redis generation bump", |mut connection| async move {
                let mut pipeline = redis::pipe();
                for key in keys {
                    pipeline.cmd("INCR").arg(key).ignore();
                }
                pipeline.query_async::<()>(&mut connection).await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_cache::contract::cache_store_contract;

    fn redis(prefix: &str) -> Redis {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        Redis::connect_lazily(&url, prefix, Duration::from_secs(2)).unwrap()
    }

    #[tokio::test]
    async fn redis_cache_honours_the_contract() {
        let prefix = format!("test:contract:{}:", std::process::id());
        let ttl = Duration::from_secs(2);
        let store = RedisCache::new(redis(&prefix), ttl);
        cache_store_contract(&store, ttl, "redis").await;
    }

    #[tokio::test]
    async fn generations_start_at_zero_and_bump() {
        let prefix = format!("test:generations:{}:", std::process::id());
        let generations = RedisGenerations::new(redis(&prefix));
        let acme = TenantId::parse("acme").unwrap();
        let globex = TenantId::parse("globex").unwrap();
        assert_eq!(generations.current(&acme).await.unwrap(), 0);
        generations
            .bump(&[acme.clone(), globex.clone()])
            .await
            .unwrap();
        generations.bump(std::slice::from_ref(&acme)).await.unwrap();
        assert_eq!(generations.current(&acme).await.unwrap(), 2);
        assert_eq!(generations.current(&globex).await.unwrap(), 1);
    }
}
