//! Alert rules, active alerts, alert history and dead letters.

mod dead_letters;
mod history;
mod request;
mod rules;
mod schema;

use axum::routing::{get, post};
use axum::Router;

pub use self::dead_letters::*;
pub use self::history::*;
pub use self::rules::*;
pub use self::schema::{
    AbsenceKind, AbsenceRuleRequest, Aggregation, AlertRuleBody, AlertRuleRequest, ChannelBody,
    ChannelFormat, ChannelRequest, Comparator, RuleKind, SeverityDoc, ThresholdKind,
    ThresholdRuleRequest, TransitionKind,
};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alerts/rules", post(create_rule).get(list_rules))
        .route(
            "/alerts/rules/{rule_id}",
            get(get_rule).put(replace_rule).delete(delete_rule),
        )
        .route("/alerts/active", get(active))
        .route("/alerts/history", get(history))
        .route("/alerts/dead-letters", get(dead_letters))
        .route(
            "/alerts/dead-letters/{delivery_id}/redeliver",
            post(redeliver),
        )
}
