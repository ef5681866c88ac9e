//! Why an `IngestBatch` refused a command.

use super::aggregate::BatchReceipt;
use super::validation::FieldViolation;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// At least one event breaks the contract; nothing of the batch is recorded.
    #[error("{} invalid field(s) in the batch", .0.len())]
    InvalidEvents(Vec<FieldViolation>),
    #[error("a batch must contain at least one event")]
    EmptyBatch,
    /// This batch id was recorded before: the original receipt is returned instead.
    #[error("batch {} was already recorded", .0.batch_id)]
    AlreadyRecorded(BatchReceipt),
}
