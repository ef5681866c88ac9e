//! Alert rules: one `AlertRule` aggregate per rule. Every change is a domain event, so rule
//! history is in the event store and every change reaches the audit log.

mod aggregate;
mod commands;
mod definition;
mod errors;
mod events;

pub use aggregate::{AlertRule, RuleState, ALERT_RULE};
pub use commands::{AlertRuleCommand, IfVersion};
pub use definition::{
    rule_name, threshold, Aggregation, Channel, ChannelFormat, Comparator, Condition,
    RuleDefinition, RuleViolation, Seconds, Severity, MAX_CHANNELS, MAX_WINDOW, MIN_WINDOW,
};
pub use errors::AlertRuleError;
pub use events::AlertRuleEvent;
