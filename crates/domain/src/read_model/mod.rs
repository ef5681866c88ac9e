//! Read models: the ClickHouse tables derived from the event store. The `ReadModel`
//! aggregate (one instance per read model) records requests to rebuild one: each request bumps
//! the read model's generation, and the processor that owns the read model replays the event
//! store into it from the start when it sees a newer generation.

mod aggregate;
mod commands;
mod errors;
mod events;

pub use aggregate::{ReadModel, READ_MODEL};
pub use commands::ReadModelCommand;
pub use errors::ReadModelError;
pub use events::ReadModelEvent;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::values::ValueError;

/// The read models that can be rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadModelName {
    /// Raw events and their minute, hour and day rollups.
    Aggregation,
    /// The audit log.
    Audit,
    /// Alert transitions.
    AlertHistory,
}

impl ReadModelName {
    pub const ALL: [ReadModelName; 3] = [
        ReadModelName::Aggregation,
        ReadModelName::Audit,
        ReadModelName::AlertHistory,
    ];

    pub fn parse(value: &str) -> Result<Self, ValueError> {
        match value {
            "aggregation" => Ok(Self::Aggregation),
            "audit" => Ok(Self::Audit),
            "alert_history" => Ok(Self::AlertHistory),
            _ => Err(ValueError::UnknownVariant {
                expected: "aggregation, audit, alert_history",
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aggregation => "aggregation",
            Self::Audit => "audit",
            Self::AlertHistory => "alert_history",
        }
    }
}

impl fmt::Display for ReadModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
