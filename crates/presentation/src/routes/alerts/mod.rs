//! Alert rules, active alerts, alert history and dead letters.

mod schema;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use telemetry_application::alerting::notifications::DeadLetterFailure;
use telemetry_application::alerting::rules::RuleFailure;
use telemetry_application::auth::Permission;
use telemetry_application::ports::{AlertHistoryRow, Delivery, HistoryFilter, RuleRecord};
use telemetry_domain::alert::AlertEvent;
use telemetry_domain::alert_rule::{IfVersion, RuleDefinition, RuleViolation, Severity};
use utoipa::{IntoParams, ToSchema};

pub use self::schema::{
    Aggregation, AlertRuleBody, ChannelBody, ChannelFormat, Comparator, RuleKind, SeverityDoc,
    TransitionKind,
};
use super::dto::{decode_log_cursor, invalid, next_log_cursor, timestamp};
use crate::auth::Caller;
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
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

/// A rule as stored: its definition (every field with its value, defaults filled in) plus
/// `id`, `enabled`, `version`, `createdAt`, `updatedAt`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleResponse {
    pub id: String,
    pub enabled: bool,
    /// Raised by every change; the `ETag` for `If-Match`.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    #[serde(flatten)]
    #[schema(value_type = AlertRuleBody)]
    pub definition: Map<String, Value>,
}

fn rule_response(rule: &RuleRecord) -> RuleResponse {
    RuleResponse {
        id: rule.rule_id.clone(),
        enabled: rule.enabled,
        version: rule.version,
        created_at: rule.created_at.to_rfc3339(),
        updated_at: rule.updated_at.to_rfc3339(),
        definition: rule.definition.to_json(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub data: Vec<RuleResponse>,
}

/// Splits `enabled` from the definition and validates the rest.
fn parse_rule(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(RuleDefinition, Option<bool>), ApiError> {
    let Json(value) = body.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidJson, rejection.body_text())
    })?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidJson,
            "the rule must be a JSON object",
        ));
    };
    // `enabled` is not part of the definition, but a wrong one is listed with the
    // definition's problems, as one more of the rule's.
    let (enabled, enabled_violation) = match object.remove("enabled") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Bool(enabled)) => (Some(enabled), None),
        Some(_) => (
            None,
            Some(RuleViolation {
                field: "enabled".into(),
                code: "invalid_type".into(),
                message: "enabled must be true or false".into(),
            }),
        ),
    };
    let definition =
        RuleDefinition::from_json(&object).and_then(|definition| match &enabled_violation {
            None => Ok(definition),
            Some(_) => Err(Vec::new()),
        });
    let definition = definition.map_err(|mut violations| {
        violations.extend(enabled_violation);
        let details = violations
            .iter()
            .map(|violation| serde_json::to_value(violation).unwrap_or(Value::Null))
            .collect();
        ApiError::bad_request(
            ErrorCode::InvalidRule,
            format!("{} problem(s) in the rule", violations.len()),
        )
        .with_details(details)
    })?;
    Ok((definition, enabled))
}

fn rule_failure(failure: RuleFailure) -> ApiError {
    match failure {
        RuleFailure::NotFound => ApiError::not_found("no such alert rule"),
        RuleFailure::VersionMismatch { current } => ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::VersionMismatch,
            format!(
                "the rule changed since it was read (it is at version {current}); read it again"
            ),
        )
        .with_details(vec![serde_json::json!({"currentVersion": current})]),
        RuleFailure::LimitReached(limit) => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::RuleLimitReached,
            format!("the tenant has {limit} alert rules, the most it may have; delete one first"),
        ),
        RuleFailure::Conflict => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::RuleConflict,
            "the rule is being changed by other requests at the same time; retry",
        ),
        RuleFailure::Unavailable(cause) => {
            tracing::warn!(error = %cause, "alert rules unavailable");
            ApiError::unavailable(
                ErrorCode::EventStoreUnavailable,
                "alert rules are unavailable, retry later",
            )
        }
        RuleFailure::Internal(cause) => ApiError::internal(&cause),
    }
}

/// A rule's entity tag: its version, which every change raises.
fn etag(rule: &RuleRecord) -> [(HeaderName, String); 1] {
    [(header::ETAG, format!("\"{}\"", rule.version))]
}

/// The versions `If-Match` admits (RFC 9110): `*` or no header admits any; otherwise the
/// listed entity tags (`"3"`, the rule's `ETag`; a bare `3` is taken too) compared
/// strongly, so a weak tag (`W/"3"`) admits none.
fn if_match(headers: &HeaderMap) -> Result<IfVersion, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            ErrorCode::InvalidHeader,
            "If-Match must be *, or entity tags of this rule such as \"3\"",
        )
    };
    let mut versions = Vec::new();
    let mut present = false;
    for value in headers.get_all(header::IF_MATCH) {
        let value = value.to_str().map_err(|_| malformed())?;
        for tag in value
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
        {
            present = true;
            if tag == "*" {
                return Ok(IfVersion::Any);
            }
            let (weak, tag) = match tag.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, tag),
            };
            let (quoted, opaque) = match tag.strip_prefix('"') {
                Some(rest) => (true, rest.strip_suffix('"').ok_or_else(malformed)?),
                None => (false, tag),
            };
            let version = opaque.parse::<u64>();
            if opaque.contains('"') || (!quoted && version.is_err()) {
                return Err(malformed());
            }
            // Tags this API never issued (not a version) match nothing, like weak ones.
            if let (false, Ok(version)) = (weak, version) {
                versions.push(version);
            }
        }
    }
    Ok(if present {
        IfVersion::OneOf(versions)
    } else {
        IfVersion::Any
    })
}

/// Create an alert rule (editors, admins, API keys).
#[utoipa::path(post, path = "/alerts/rules", tag = "alerts",
    request_body = AlertRuleBody,
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = RuleResponse,
            headers(("ETag" = String, description = "The rule's version, for `If-Match`"))),
        (status = 400, description = "Invalid rule (details name the fields)", body = ErrorBody),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 403, description = "Viewers cannot change rules", body = ErrorBody),
        (status = 409, description = "The tenant has as many rules as it may have (`rule_limit_reached`)", body = ErrorBody),
        (status = 409, description = "Concurrent changes kept winning (`rule_conflict`); retry", body = ErrorBody),
        (status = 503, description = "The rule store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let principal = caller.require(Permission::WriteRules)?;
    let (definition, enabled) = parse_rule(body)?;
    let rule = state
        .alert_rules
        .create(
            &principal.tenant_id,
            &principal.actor(),
            definition,
            enabled.unwrap_or(true),
        )
        .await
        .map_err(rule_failure)?;
    Ok((StatusCode::CREATED, etag(&rule), Json(rule_response(&rule))))
}

/// The tenant's rules (the list follows changes within a moment).
#[utoipa::path(get, path = "/alerts/rules", tag = "alerts",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Rules", body = RuleList),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "The rule store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RuleList>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let rules = state
        .alert_rules
        .list(&principal.tenant_id)
        .await
        .map_err(rule_failure)?;
    Ok(Json(RuleList {
        data: rules.iter().map(rule_response).collect(),
    }))
}

/// One rule.
#[utoipa::path(get, path = "/alerts/rules/{ruleId}", tag = "alerts",
    params(("ruleId" = String, Path)),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The rule", body = RuleResponse,
            headers(("ETag" = String, description = "The rule's version, for `If-Match`"))),
        (status = 404, description = "No such rule in this tenant", body = ErrorBody),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "The rule store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn get_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(rule_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let rule = state
        .alert_rules
        .get(&principal.tenant_id, &rule_id)
        .await
        .map_err(rule_failure)?;
    Ok((etag(&rule), Json(rule_response(&rule))))
}

/// Replace a rule's definition; `enabled` enables or disables it.
#[utoipa::path(put, path = "/alerts/rules/{ruleId}", tag = "alerts",
    params(("ruleId" = String, Path),
        ("If-Match" = Option<String>, Header, description = "Apply only to this version: the rule's `ETag` (`\"3\"`)")),
    request_body = AlertRuleBody,
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The rule as it is now", body = RuleResponse,
            headers(("ETag" = String, description = "The rule's version, for `If-Match`"))),
        (status = 400, description = "Invalid rule (`invalid_rule`) or `If-Match` (`invalid_header`)", body = ErrorBody),
        (status = 403, description = "Viewers cannot change rules", body = ErrorBody),
        (status = 404, description = "No such rule in this tenant", body = ErrorBody),
        (status = 409, description = "Concurrent changes to the rule kept winning; retry", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version (`version_mismatch`)", body = ErrorBody),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "The rule store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn replace_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(rule_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let principal = caller.require(Permission::WriteRules)?;
    let if_version = if_match(&headers)?;
    let (definition, enabled) = parse_rule(body)?;
    let rule = state
        .alert_rules
        .replace(
            &principal.tenant_id,
            &principal.actor(),
            &rule_id,
            definition,
            enabled,
            if_version,
        )
        .await
        .map_err(rule_failure)?;
    Ok((etag(&rule), Json(rule_response(&rule))))
}

/// Delete a rule (a firing alert of it resolves).
#[utoipa::path(delete, path = "/alerts/rules/{ruleId}", tag = "alerts",
    params(("ruleId" = String, Path),
        ("If-Match" = Option<String>, Header, description = "Apply only to this version: the rule's `ETag` (`\"3\"`)")),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`If-Match` is not a list of entity tags (`invalid_header`)", body = ErrorBody),
        (status = 403, description = "Viewers cannot change rules", body = ErrorBody),
        (status = 404, description = "No such rule in this tenant", body = ErrorBody),
        (status = 409, description = "Concurrent changes to the rule kept winning; retry", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version (`version_mismatch`)", body = ErrorBody),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "The rule store is unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(rule_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let principal = caller.require(Permission::WriteRules)?;
    let if_version = if_match(&headers)?;
    state
        .alert_rules
        .delete(
            &principal.tenant_id,
            &principal.actor(),
            &rule_id,
            if_version,
        )
        .await
        .map_err(rule_failure)?;
    Ok(StatusCode::NO_CONTENT)
}

/// One alert transition.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransitionDto {
    pub rule_id: String,
    pub rule_name: String,
    pub series: String,
    #[schema(value_type = TransitionKind)]
    pub transition: String,
    pub episode: u64,
    pub value: Option<f64>,
    #[schema(value_type = SeverityDoc)]
    pub severity: String,
    pub reason: String,
    pub at: String,
}

fn transition_dto(row: AlertHistoryRow) -> TransitionDto {
    TransitionDto {
        rule_id: row.rule_id,
        rule_name: row.rule_name,
        series: row.series,
        transition: row.transition.to_string(),
        episode: row.episode,
        value: row.value,
        severity: row.severity,
        reason: row.reason,
        at: row.occurred_at.to_rfc3339(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveResponse {
    /// Series whose latest transition is `triggered`.
    pub data: Vec<TransitionDto>,
}

/// Alerts firing now.
#[utoipa::path(get, path = "/alerts/active", tag = "alerts",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Firing alerts", body = ActiveResponse),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "The analytics store is unavailable (`analytics_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn active(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ActiveResponse>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let rows = state.alert_queries.active(&principal.tenant_id).await?;
    Ok(Json(ActiveResponse {
        data: rows.into_iter().map(transition_dto).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only this rule's transitions.
    pub rule_id: Option<String>,
    /// Only this series (the service name, or `*` for rules across services).
    pub series: Option<String>,
    /// Only transitions of this kind.
    #[param(value_type = Option<TransitionKind>)]
    pub transition: Option<String>,
    /// Only alerts of rules of this severity.
    #[param(value_type = Option<SeverityDoc>)]
    pub severity: Option<String>,
    /// Transitions at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Transitions before this time (RFC 3339).
    pub to: Option<String>,
    /// 1-1000, default 100.
    pub limit: Option<u64>,
    /// `nextCursor` of an earlier answer.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResponse {
    pub data: Vec<TransitionDto>,
    pub next_cursor: Option<String>,
}

fn history_filter(params: &HistoryParams) -> Result<HistoryFilter, ApiError> {
    let transition = match params.transition.as_deref() {
        None => None,
        Some(name) => Some(
            AlertEvent::KINDS
                .into_iter()
                .find(|known| *known == name)
                .ok_or_else(|| {
                    invalid(
                        "transition",
                        "must be pending, cleared, triggered or resolved",
                    )
                })?,
        ),
    };
    if let Some(severity) = params.severity.as_deref() {
        if Severity::parse(severity).is_none() {
            return Err(invalid("severity", "must be info, warning or critical"));
        }
    }
    Ok(HistoryFilter {
        rule_id: params.rule_id.clone(),
        series: params.series.clone(),
        transition,
        severity: params.severity.clone(),
        from: params
            .from
            .as_deref()
            .map(|value| timestamp("from", value))
            .transpose()?,
        to: params
            .to
            .as_deref()
            .map(|value| timestamp("to", value))
            .transpose()?,
    })
}

/// Every alert transition with the value that caused it, newest first.
#[utoipa::path(get, path = "/alerts/history", tag = "alerts",
    params(HistoryParams),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Transitions", body = HistoryResponse),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "The analytics store is unavailable (`analytics_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<HistoryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let Query(params) = params?;
    let before = params
        .cursor
        .as_deref()
        .map(decode_log_cursor)
        .transpose()?;
    let filter = history_filter(&params)?;
    let (rows, has_more) = state
        .alert_queries
        .history(
            &principal.tenant_id,
            &filter,
            before,
            params.limit.unwrap_or(100),
        )
        .await?;
    let next_cursor = next_log_cursor(
        has_more,
        rows.last().map(|last| (last.occurred_at, last.source)),
    );
    Ok(Json(HistoryResponse {
        data: rows.into_iter().map(transition_dto).collect(),
        next_cursor,
    }))
}

/// A notification delivery that was given up.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterDto {
    pub id: String,
    pub notification_id: String,
    pub url: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[schema(value_type = Object)]
    pub body: Value,
    pub created_at: String,
    pub failed_at: String,
}

fn dead_letter_dto(delivery: Delivery) -> DeadLetterDto {
    DeadLetterDto {
        id: delivery.id,
        notification_id: delivery.notification_id,
        url: delivery.channel.url,
        attempts: delivery.attempts,
        last_error: delivery.last_error,
        body: serde_json::from_str(&delivery.body).unwrap_or(Value::Null),
        created_at: delivery
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        failed_at: delivery
            .updated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    pub data: Vec<DeadLetterDto>,
}

fn dead_letter_failure(failure: DeadLetterFailure) -> ApiError {
    match failure {
        DeadLetterFailure::NotFound => ApiError::not_found("no such dead letter"),
        DeadLetterFailure::Unavailable(cause) => {
            tracing::warn!(error = %cause, "dead letters unavailable");
            ApiError::unavailable(
                ErrorCode::EventStoreUnavailable,
                "dead letters are unavailable, retry later",
            )
        }
    }
}

/// Notifications whose delivery was given up, newest first.
#[utoipa::path(get, path = "/alerts/dead-letters", tag = "alerts",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Dead letters", body = DeadLetterList),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "Dead letters are unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DeadLetterList>, ApiError> {
    let principal = caller.require(Permission::Read)?;
    let deliveries = state
        .dead_letters
        .list(&principal.tenant_id, 1_000)
        .await
        .map_err(dead_letter_failure)?;
    Ok(Json(DeadLetterList {
        data: deliveries.into_iter().map(dead_letter_dto).collect(),
    }))
}

/// Deliver a dead letter again (its attempts start over).
#[utoipa::path(post, path = "/alerts/dead-letters/{deliveryId}/redeliver", tag = "alerts",
    params(("deliveryId" = String, Path)),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Queued again"),
        (status = 403, description = "Viewers cannot redeliver", body = ErrorBody),
        (status = 404, description = "No such dead letter in this tenant", body = ErrorBody),
        (status = 401, description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)", body = ErrorBody),
        (status = 429, description = "Too many requests with missing or unknown credentials from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "Dead letters are unavailable (`event_store_unavailable`, with `Retry-After`)", body = ErrorBody),
    ))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(delivery_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = caller.require(Permission::WriteRules)?;
    state
        .dead_letters
        .redeliver(&principal.tenant_id, &principal.actor(), &delivery_id)
        .await
        .map_err(dead_letter_failure)?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn parsed(values: &[&'static str]) -> Result<IfVersion, u16> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::IF_MATCH, HeaderValue::from_static(value));
        }
        if_match(&headers).map_err(|error| error.status.as_u16())
    }

    #[test]
    fn if_match_follows_strong_comparison() {
        assert_eq!(parsed(&[]), Ok(IfVersion::Any));
        assert_eq!(parsed(&["*"]), Ok(IfVersion::Any));
        assert_eq!(parsed(&["\"3\""]), Ok(IfVersion::OneOf(vec![3])));
        assert_eq!(parsed(&["3"]), Ok(IfVersion::OneOf(vec![3])));
        assert_eq!(
            parsed(&["\"2\", \"3\"", "\"7\""]),
            Ok(IfVersion::OneOf(vec![2, 3, 7]))
        );
        // Weak tags and tags this API never issued match no version.
        assert_eq!(parsed(&["W/\"3\""]), Ok(IfVersion::OneOf(vec![])));
        assert_eq!(parsed(&["\"abc\""]), Ok(IfVersion::OneOf(vec![])));
        assert_eq!(parsed(&["version three"]), Err(400));
        assert_eq!(parsed(&["\"3"]), Err(400));
    }
}
