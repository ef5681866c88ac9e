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
