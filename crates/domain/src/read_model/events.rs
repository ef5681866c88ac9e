//! Domain events of the `ReadModel` aggregate.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::ReadModelName;
use crate::values::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReadModelEvent {
    ReadModelRebuildRequested {
        name: ReadModelName,
        /// The generation the read model must reach; starts at 1.
        generation: u64,
        requested_at: Timestamp,
    },
}

impl DomainEvent for ReadModelEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ReadModelRebuildRequested { .. } => "ReadModelRebuildRequested".to_string(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
