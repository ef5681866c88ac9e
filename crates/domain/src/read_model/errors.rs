//! Why a `ReadModel` refused a command.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadModelError {
    #[error("this aggregate belongs to read model {0}")]
    WrongReadModel(String),
}
