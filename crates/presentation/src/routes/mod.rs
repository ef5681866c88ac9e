//! One router per resource.

pub mod api_keys;
pub mod health;
pub mod ingest;
