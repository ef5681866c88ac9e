//! Commands a `ReadModel` handles.

use super::ReadModelName;
use crate::values::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub enum ReadModelCommand {
    /// Drop the read model's data and replay the event store into it.
    RequestRebuild {
        name: ReadModelName,
        requested_at: Timestamp,
    },
}
