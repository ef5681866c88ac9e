//! Alert rules: create, list, read, replace (with `If-Match`), delete.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use telemetry_application::alerting::document::RuleDocument;
use telemetry_application::alerting::rules::RuleFailure;
use telemetry_application::auth::Permission;
use telemetry_application::ports::RuleRecord;
use telemetry_domain::alert_rule::{IfVersion, RuleDefinition};
use utoipa::ToSchema;

use super::request::RuleRequest;
use super::schema::{AlertRuleBody, AlertRuleRequest};
use crate::auth::Caller;
use crate::error::AuthenticationFailures;
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

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
    pub definition: RuleDocument,
}

fn rule_response(rule: &RuleRecord) -> RuleResponse {
    RuleResponse {
        id: rule.rule_id.clone(),
        enabled: rule.enabled,
        version: rule.version,
        created_at: rule.created_at.to_rfc3339(),
        updated_at: rule.updated_at.to_rfc3339(),
        definition: RuleDocument::from(&rule.definition),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub data: Vec<RuleResponse>,
}

/// The rule of a request body and its `enabled`, or every problem of it (`invalid_rule`).
fn parse_rule(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(RuleDefinition, Option<bool>), ApiError> {
    let Json(value) = body.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidJson, rejection.body_text())
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidJson,
            "the rule must be a JSON object",
        ));
    }
    let request = RuleRequest::deserialize(value)
        .map_err(|error| ApiError::bad_request(ErrorCode::InvalidJson, error.to_string()))?;
    request.into_rule().map_err(|violations| {
        let details = violations
            .iter()
            .map(|violation| serde_json::to_value(violation).unwrap_or(Value::Null))
            .collect();
        ApiError::bad_request(
            ErrorCode::InvalidRule,
            format!("{} problem(s) in the rule", violations.len()),
        )
        .with_details(details)
    })
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

/// The `If-Match` header of `PUT` and `DELETE`, as documented (`if_match` parses it).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct IfMatchHeader {
    /// Apply only to this version: the rule's `ETag` (`"3"`); `*` or a list of entity tags
    #[param(
        rename = "If-Match",
        pattern = r#"^[ \t,]*((\*|(W/)?("[!#-+\--~]*"|[0-9]{1,19}))([ \t]*,[ \t,]*(\*|(W/)?("[!#-+\--~]*"|[0-9]{1,19})))*)?[ \t,]*$"#
    )]
    if_match: Option<String>,
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
    request_body = AlertRuleRequest,
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = RuleResponse,
            headers(("ETag" = String, description = "The rule's version, for `If-Match`"))),
        (status = 400, description = "Invalid rule (details name the fields)", body = ErrorBody),
        AuthenticationFailures,
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
        AuthenticationFailures,
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
        AuthenticationFailures,
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
    params(("ruleId" = String, Path), IfMatchHeader),
    request_body = AlertRuleRequest,
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The rule as it is now", body = RuleResponse,
            headers(("ETag" = String, description = "The rule's version, for `If-Match`"))),
        (status = 400, description = "Invalid rule (`invalid_rule`) or `If-Match` (`invalid_header`)", body = ErrorBody),
        (status = 403, description = "Viewers cannot change rules", body = ErrorBody),
        (status = 404, description = "No such rule in this tenant", body = ErrorBody),
        (status = 409, description = "Concurrent changes to the rule kept winning; retry", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version (`version_mismatch`)", body = ErrorBody),
        AuthenticationFailures,
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
    params(("ruleId" = String, Path), IfMatchHeader),
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`If-Match` is not a list of entity tags (`invalid_header`)", body = ErrorBody),
        (status = 403, description = "Viewers cannot change rules", body = ErrorBody),
        (status = 404, description = "No such rule in this tenant", body = ErrorBody),
        (status = 409, description = "Concurrent changes to the rule kept winning; retry", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version (`version_mismatch`)", body = ErrorBody),
        AuthenticationFailures,
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
