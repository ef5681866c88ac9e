//! Why an `ApiKey` refused a command.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("the key belongs to another tenant")]
    OwnedByAnotherTenant,
    #[error("the key was revoked and cannot be issued again")]
    Revoked,
    #[error("no such key")]
    NotIssued,
}
