//! One router per resource.

pub mod accounts;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod body;
pub mod catalog;
pub mod dto;
pub mod health;
pub mod ingest;
pub mod live;
pub mod otlp;
pub mod query;
pub mod read_models;
pub mod session;
pub mod submissions;
pub mod tenants;
pub mod timeseries;
pub mod usage;
