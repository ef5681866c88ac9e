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
///
/// Each has a public name (`as_str`: the CLI, the HTTP API, `/readyz`, logs) and a storage
/// key (`storage_key`: recorded events, ClickHouse rows, the processor lease). They differ
/// for `rollups`, which was called `aggregation` until the name said what it produces; the
/// old name stays its storage key, so upgraded and not yet upgraded instances share one
/// lease and one history, and is still accepted wherever a name is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadModelName {
    /// Raw events and their minute, hour and day rollups.
    #[serde(rename = "aggregation", alias = "rollups")]
    Rollups,
    /// The audit log.
    Audit,
    /// Alert transitions.
    AlertHistory,
}

impl ReadModelName {
    pub const ALL: [ReadModelName; 3] = [
        ReadModelName::Rollups,
        ReadModelName::Audit,
        ReadModelName::AlertHistory,
    ];

    /// Whether the read model is built from telemetry batches, which the event store keeps
    /// only for its replay horizon (the rollups' raw events, the audit log's batch
    /// entries); the alert history is built from alerts, which it keeps for good.
    pub fn replays_telemetry(self) -> bool {
        matches!(self, Self::Rollups | Self::Audit)
    }

    pub fn parse(value: &str) -> Result<Self, ValueError> {
        match value {
            "rollups" | "aggregation" => Ok(Self::Rollups),
            "audit" => Ok(Self::Audit),
            "alert_history" => Ok(Self::AlertHistory),
            _ => Err(ValueError::UnknownVariant {
                expected: "rollups, audit, alert_history",
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rollups => "rollups",
            Self::Audit => "audit",
            Self::AlertHistory => "alert_history",
        }
    }

    /// The name its events, rows and lease are recorded under (see the type's comment).
    pub fn storage_key(self) -> &'static str {
        match self {
            Self::Rollups => "aggregation",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for ReadModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
