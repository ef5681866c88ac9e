//! Adapters that implement the application's ports against real systems.
//!
//! - [`postgres`]: connection pool and migrations, the `postgres-es` event stores, the
//!   deduplication index, the event log that processors tail, advisory-lock leases.
//! - [`clickhouse`]: client set-up for 18.16 and current servers, versioned DDL, the read
//!   models the processors write, and the analytics reads.
//! - [`redis`]: the shared connection, the GCRA rate limiter, the shared cache and cache
//!   generations.
//! - [`memory_cache`]: the in-process cache (moka).
//! - [`webhook`]: webhook delivery for notifications.
//! - [`auth`]: JWT verification and minting, the cached API key directory.

pub mod auth;
pub mod clickhouse;
pub mod memory_cache;
pub mod postgres;
pub mod redis;
pub mod webhook;

/// `bytes` times `part / whole` (0 when there is no whole): a tenant's share of a table
/// shared by every tenant.
pub(crate) fn share(bytes: u64, part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    u64::try_from(u128::from(bytes) * u128::from(part.min(whole)) / u128::from(whole))
        .unwrap_or(u64::MAX)
}
