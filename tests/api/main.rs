//! Black-box tests: each test starts the real service (port 0, its own Postgres database,
//! ClickHouse database and Redis key prefix) and talks HTTP to it. `stores` checks guarantees
//! of the Postgres adapters that HTTP cannot reach (races between instances) directly.
//!
//! One test binary with a module per area keeps link time down.

// Test code: a panic is how an assertion fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod cli;
mod console;
mod health;
mod helpers;
mod horizon;
mod ingest;
mod limits;
mod live;
mod metric_kinds;
mod otlp;
mod otlp_grpc;
mod proxy;
mod queries;
mod receiver;
mod resilience;
mod retention;
mod stores;
mod usage;
