//! Why an `AlertRule` refused a command.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertRuleError {
    /// No such rule in the caller's tenant (including deleted rules and other tenants' rules).
    #[error("no such alert rule")]
    NotFound,
    #[error("an alert rule with this id exists")]
    AlreadyExists,
    /// The command expected another version of the rule: it changed since the caller read it.
    #[error("the rule is at version {current}, not the one expected")]
    VersionMismatch { current: u64 },
}
