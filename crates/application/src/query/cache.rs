//! The two-level cache in front of summaries and time series.
//!
//! Keys embed the tenant's generation number, which the rollups processor bumps after it
//! writes new rows for the tenant (at most once per invalidation interval). A bump makes the
//! tenant's cached answers unreachable at once on every instance, so new data shows without
//! waiting for a TTL; the TTLs (seconds in process, at most a minute in Redis) only bound
//! memory and the staleness allowed when Redis is unreachable. Without Redis, answers come
//! from the in-process cache or the store, never an error.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use telemetry_domain::values::TenantId;
use tokio::sync::watch;
use tracing::warn;

use crate::metrics::Metrics;
use crate::ports::{CacheStore, GenerationStore, PortError};

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    L1,
    L2,
    Miss,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::L1 => "L1",
            Self::L2 => "L2",
            Self::Miss => "MISS",
        }
    }
}

pub struct TwoLevelCache {
    l1: Arc<dyn CacheStore>,
    l2: Arc<dyn CacheStore>,
    generations: Arc<dyn GenerationStore>,
    /// This process's own generations: used when Redis cannot be read.
    local: Mutex<HashMap<TenantId, u64>>,
    dirty: Mutex<HashSet<TenantId>>,
    metrics: Arc<Metrics>,
}

impl TwoLevelCache {
    pub fn new(
        l1: Arc<dyn CacheStore>,
        l2: Arc<dyn CacheStore>,
        generations: Arc<dyn GenerationStore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            l1,
            l2,
            generations,
            local: Mutex::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
            metrics,
        }
    }

    /// The cached answer for `key` of `tenant`, or `compute`'s, which is then cached. With
    /// `refresh`, the cached answer is ignored and replaced (a client's `no-cache`).
    pub async fn get_or_compute<T, F, Fut, E>(
        &self,
        tenant: &TenantId,
        key: &str,
        refresh: bool,
        compute: F,
    ) -> Result<(T, CacheOutcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let full_key = match self.generations.current(tenant).await {
            Ok(generation) => format!("{tenant}:g{generation}:{key}"),
            Err(error) => {
                self.l2_failed(&error);
                format!("{tenant}:l{}:{key}", self.local_generation(tenant))
            }
        };
        if !refresh {
            if let Some(value) = self.read_l1(&full_key).await {
                return Ok((value, CacheOutcome::L1));
            }
            if let Some(bytes) = self.read_l2(&full_key).await {
                if let Ok(value) = serde_json::from_slice(&bytes) {
                    let _ = self.l1.put(&full_key, bytes).await;
                    return Ok((value, CacheOutcome::L2));
                }
            }
        }
        let value = compute().await?;
        if let Ok(bytes) = serde_json::to_vec(&value) {
            let bytes: Arc<[u8]> = bytes.into();
            let _ = self.l1.put(&full_key, Arc::clone(&bytes)).await;
            if let Err(error) = self.l2.put(&full_key, bytes).await {
                self.l2_failed(&error);
            }
        }
        Ok((value, CacheOutcome::Miss))
    }

    async fn read_l1<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let hit = self
            .l1
            .get(key)
            .await
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let counter = if hit.is_some() {
            &self.metrics.cache_l1_hits
        } else {
            &self.metrics.cache_l1_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    async fn read_l2(&self, key: &str) -> Option<Arc<[u8]>> {
        match self.l2.get(key).await {
            Ok(Some(bytes)) => {
                self.metrics.cache_l2_hits.fetch_add(1, Ordering::Relaxed);
                Some(bytes)
            }
            Ok(None) => {
                self.metrics.cache_l2_misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(error) => {
                self.l2_failed(&error);
                None
            }
        }
    }

    fn l2_failed(&self, error: &PortError) {
        let failures = self.metrics.cache_l2_errors.fetch_add(1, Ordering::Relaxed);
        if failures.is_power_of_two() {
            warn!(error = %error, failures = failures + 1, "shared cache unavailable; using the process cache");
        }
    }

    fn local_generation(&self, tenant: &TenantId) -> u64 {
        self.local
            .lock()
            .map(|local| local.get(tenant).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Marks tenants whose data changed; their generation is bumped at the next flush.
    pub fn invalidate<'a>(&self, tenants: impl IntoIterator<Item = &'a TenantId>) {
        if let Ok(mut dirty) = self.dirty.lock() {
            dirty.extend(tenants.into_iter().cloned());
        }
    }

    /// Bumps the generation of every tenant marked since the last flush (or whose bump
    /// failed at an earlier one).
    pub async fn flush(&self) {
        let tenants: Vec<TenantId> = match self.dirty.lock() {
            Ok(mut dirty) => dirty.drain().collect(),
            Err(_) => return,
        };
        if tenants.is_empty() {
            return;
        }
        if let Ok(mut local) = self.local.lock() {
            for tenant in &tenants {
                *local.entry(tenant.clone()).or_default() += 1;
            }
        }
        if let Err(error) = self.generations.bump(&tenants).await {
            // The shared generations did not move, so other instances (and this one, once
            // Redis answers again) would serve the tenants' older answers until their TTL:
            // they stay marked and the next flush bumps them.
            self.l2_failed(&error);
            if let Ok(mut dirty) = self.dirty.lock() {
                dirty.extend(tenants);
            }
        }
    }

    /// Flushes invalidations every `interval` until stopped.
    pub async fn run_invalidation(&self, interval: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => self.flush().await,
                _ = stop.changed() => {
                    self.flush().await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use async_trait::async_trait;

    use super::*;

    #[derive(Default)]
    struct Bytes(Mutex<HashMap<String, Arc<[u8]>>>);

    #[async_trait]
    impl CacheStore for Bytes {
        async fn get(&self, key: &str) -> Result<Option<Arc<[u8]>>, PortError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        async fn put(&self, key: &str, value: Arc<[u8]>) -> Result<(), PortError> {
            self.0.lock().unwrap().insert(key.to_string(), value);
            Ok(())
        }
    }

    /// Shared generations that can be made unreachable.
    #[derive(Default)]
    struct Generations {
        values: Mutex<HashMap<TenantId, u64>>,
        down: AtomicBool,
    }

    #[async_trait]
    impl GenerationStore for Generations {
        async fn current(&self, tenant: &TenantId) -> Result<u64, PortError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(PortError::unavailable("redis down"));
            }
            Ok(self
                .values
                .lock()
                .unwrap()
                .get(tenant)
                .copied()
                .unwrap_or(0))
        }
        async fn bump(&self, tenants: &[TenantId]) -> Result<(), PortError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(PortError::unavailable("redis down"));
            }
            let mut values = self.values.lock().unwrap();
            tenants
                .iter()
                .for_each(|tenant| *values.entry(tenant.clone()).or_default() += 1);
            Ok(())
        }
    }

    async fn answer(cache: &TwoLevelCache, tenant: &TenantId, value: u64) -> (u64, CacheOutcome) {
        cache
            .get_or_compute(tenant, "summary", false, async || Ok::<_, PortError>(value))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_invalidation_redis_missed_is_applied_once_it_answers_again() {
        let generations = Arc::new(Generations::default());
        let cache = TwoLevelCache::new(
            Arc::new(Bytes::default()),
            Arc::new(Bytes::default()),
            Arc::clone(&generations) as Arc<dyn GenerationStore>,
            Arc::new(Metrics::default()),
        );
        let acme = TenantId::parse("acme").unwrap();
        assert_eq!(answer(&cache, &acme, 1).await, (1, CacheOutcome::Miss));
        assert_eq!(answer(&cache, &acme, 2).await, (1, CacheOutcome::L1));

        // New data while Redis is down: the bump fails, and the cached answer must not
        // come back once Redis answers again.
        generations.down.store(true, Ordering::SeqCst);
        cache.invalidate([&acme]);
        cache.flush().await;
        generations.down.store(false, Ordering::SeqCst);
        cache.flush().await;
        assert_eq!(answer(&cache, &acme, 3).await, (3, CacheOutcome::Miss));
        assert_eq!(generations.current(&acme).await.unwrap(), 1);

        // Once bumped, it is not bumped again.
        cache.flush().await;
        assert_eq!(generations.current(&acme).await.unwrap(), 1);
    }
}
