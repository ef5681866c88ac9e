use std::fmt;

/// What went wrong in an adapter, in terms the application can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortErrorKind {
    /// The dependency did not answer or refused: retrying later may work.
    Unavailable,
    /// Anything else; retrying will not help.
    Failed,
}

#[derive(Debug, Clone, thiserror::Error)]
pub struct PortError {
    pub kind: PortErrorKind,
    pub message: String,
}

impl PortError {
    pub fn unavailable(message: impl fmt::Display) -> Self {
        Self {
            kind: PortErrorKind::Unavailable,
            message: message.to_string(),
        }
    }

    pub fn failed(message: impl fmt::Display) -> Self {
        Self {
            kind: PortErrorKind::Failed,
            message: message.to_string(),
        }
    }

    pub fn is_unavailable(&self) -> bool {
        self.kind == PortErrorKind::Unavailable
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PortErrorKind::Unavailable => write!(f, "unavailable: {}", self.message),
            PortErrorKind::Failed => f.write_str(&self.message),
        }
    }
}

/// A failed command: the store not answering is `Unavailable`, anything else `Failed`.
impl<E: std::error::Error> From<cqrs_es::AggregateError<E>> for PortError {
    fn from(error: cqrs_es::AggregateError<E>) -> Self {
        match error {
            cqrs_es::AggregateError::DatabaseConnectionError(cause)
            | cqrs_es::AggregateError::UnexpectedError(cause) => PortError::unavailable(cause),
            other => PortError::failed(other),
        }
    }
}
