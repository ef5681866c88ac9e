//! One router per resource.

pub mod health;
pub mod ingest;
