//! The one HTTP error type and the one JSON error body.
//!
//! Every error response looks like
//! `{"error": {"code": "...", "message": "...", "details": [...]}}`. Application failures are
//! mapped to status codes here and nowhere else; internal causes are logged, not returned.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use telemetry_application::auth::AuthFailure;
use telemetry_application::ingest::IngestFailure;
use telemetry_application::ports::TokenError;
use telemetry_application::query::{InvalidQuery, QueryFailure};
use telemetry_domain::ingest::MAX_LISTED_VIOLATIONS;
use utoipa::ToSchema;

/// The answers any operation that authenticates its caller can give before it runs: no or
/// unknown credentials, and too many of those from one address. Listed in each operation's
/// `responses(...)` as `AuthenticationFailures`, so their wording lives in one place.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum AuthenticationFailures {
    #[response(
        status = 401,
        description = "Not authenticated (the X-RateLimit-* headers describe the client address's budget of failed authentications)"
    )]
    NotAuthenticated(ErrorBody),
    #[response(
        status = 429,
        description = "Too many requests with missing or unknown credentials from this address (see Retry-After)"
    )]
    TooManyFailedAuthentications(ErrorBody),
}

/// Error response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable error code, such as `invalid_events` or `rate_limited`.
    #[schema(example = "invalid_events")]
    pub code: String,
    pub message: String,
    /// What exactly is wrong, one entry per problem (empty for most errors).
    #[schema(value_type = Vec<ProblemDoc>)]
    pub details: Vec<Value>,
}

/// One problem of an error: which field (and, for `/ingest`, which event) and why; a
/// `412 version_mismatch` carries the current version instead.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct ProblemDoc {
    /// The event's position in the batch (`/ingest`).
    index: Option<u64>,
    /// The field, as a path: `eventId`, `payload.value`, `channels[0].url`.
    field: Option<String>,
    /// Why, as a code: `required`, `invalid_type`, `out_of_range`, ...
    code: Option<String>,
    message: Option<String>,
    /// The version the resource has now (`412 version_mismatch`).
    current_version: Option<u64>,
}

macro_rules! error_codes {
    ($($variant:ident = $wire:literal: $($status:literal)|+;)+) => {
        /// Every error code the API answers with: its name on the wire (snake_case) and
        /// the statuses it comes with (the first is the usual one). `docs/API.md`'s table of
        /// codes is checked against this list by a test.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                }
            }

            /// The statuses this code is answered with, the usual one first.
            pub fn statuses(self) -> &'static [u16] {
                match self {
                    $(ErrorCode::$variant => &[$($status),+],)+
                }
            }
        }
    };
}

error_codes! {
    InvalidJson = "invalid_json": 400;
    InvalidEvents = "invalid_events": 400;
    InvalidBody = "invalid_body": 400;
    InvalidEncoding = "invalid_encoding": 400;
    InvalidOtlp = "invalid_otlp": 400;
    InvalidRecords = "invalid_records": 400;
    InvalidRule = "invalid_rule": 400;
    EmptyBatch = "empty_batch": 400;
    InvalidIdempotencyKey = "invalid_idempotency_key": 400;
    InvalidRequest = "invalid_request": 400;
    InvalidParameter = "invalid_parameter": 400;
    InvalidRange = "invalid_range": 400;
    InvalidLimit = "invalid_limit": 400;
    InvalidPage = "invalid_page": 400;
    TooManyPoints = "too_many_points": 400;
    TooManySeries = "too_many_series": 400;
    InvalidLabel = "invalid_label": 400;
    InvalidHeader = "invalid_header": 400;
    BadRequest = "bad_request": 400;
    MissingCredentials = "missing_credentials": 401;
    InvalidApiKey = "invalid_api_key": 401;
    InvalidToken = "invalid_token": 401;
    TokenExpired = "token_expired": 401;
    BearerNotConfigured = "bearer_not_configured": 401;
    Forbidden = "forbidden": 403;
    NotFound = "not_found": 404;
    MethodNotAllowed = "method_not_allowed": 405;
    RequestTimeout = "request_timeout": 408 | 503;
    RuleConflict = "rule_conflict": 409;
    RuleLimitReached = "rule_limit_reached": 409;
    KeyConflict = "key_conflict": 409;
    LogTruncated = "log_truncated": 409;
    VersionMismatch = "version_mismatch": 412;
    PayloadTooLarge = "payload_too_large": 413;
    BatchTooLarge = "batch_too_large": 413;
    UnsupportedMediaType = "unsupported_media_type": 415;
    UnsupportedEncoding = "unsupported_encoding": 415;
    IdempotencyKeyReused = "idempotency_key_reused": 422;
    RateLimited = "rate_limited": 429;
    LiveLimitReached = "live_limit_reached": 429;
    QuotaExceeded = "quota_exceeded": 429;
    InternalError = "internal_error": 500;
    EventStoreUnavailable = "event_store_unavailable": 503;
    AuthUnavailable = "auth_unavailable": 503;
    AnalyticsUnavailable = "analytics_unavailable": 503;
    Unavailable = "unavailable": 503;
}

impl ErrorCode {
    /// The usual status of this code.
    pub fn status(self) -> StatusCode {
        StatusCode::from_u16(self.statuses()[0]).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP error: status, code, message, details, and an optional `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<Value>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with `code` at its usual status.
    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code.status(), code, message)
    }

    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = details;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "the credentials do not allow this operation",
        )
    }

    /// A dependency is down: 503 with `Retry-After`.
    pub fn unavailable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry_after(5)
    }

    /// Something broke that is not the caller's fault; the cause is logged, not returned.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "an internal error occurred",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_string(),
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Query parameters that do not parse (unknown field, wrong type): 400 `invalid_request`.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(ErrorCode::InvalidRequest, rejection.body_text())
    }
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Missing => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::MissingCredentials,
                "send an X-API-Key header or an Authorization: Bearer token",
            ),
            AuthFailure::InvalidApiKey => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidApiKey,
                "the API key is not valid",
            ),
            AuthFailure::InvalidToken(TokenError::Expired) => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::TokenExpired,
                "the bearer token has expired",
            ),
            AuthFailure::InvalidToken(TokenError::NotConfigured) => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::BearerNotConfigured,
                "this server does not accept bearer tokens",
            ),
            AuthFailure::InvalidToken(TokenError::Invalid(reason)) => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidToken,
                format!("the bearer token is not valid: {reason}"),
            ),
            AuthFailure::Forbidden => Self::forbidden(),
            AuthFailure::Unavailable(cause) => {
                tracing::warn!(error = %cause, "credential store unavailable");
                Self::unavailable(
                    ErrorCode::AuthUnavailable,
                    "credentials cannot be checked right now, retry later",
                )
            }
        }
    }
}

/// Seconds from `now` to the next UTC midnight (at least one).
pub fn seconds_to_next_utc_day(now: chrono::DateTime<chrono::Utc>) -> u64 {
    let seconds_into_day = now.timestamp().rem_euclid(86_400);
    u64::try_from(86_400 - seconds_into_day)
        .unwrap_or(86_400)
        .max(1)
}

impl From<IngestFailure> for ApiError {
    fn from(failure: IngestFailure) -> Self {
        match failure {
            IngestFailure::InvalidEvents(mut violations) => {
                let message = if violations.len() > MAX_LISTED_VIOLATIONS {
                    violations.truncate(MAX_LISTED_VIOLATIONS);
                    format!(
                        "more than {MAX_LISTED_VIOLATIONS} problems found (the first \
                         {MAX_LISTED_VIOLATIONS} are listed); nothing was ingested"
                    )
                } else {
                    format!(
                        "{} problem(s) found; nothing was ingested",
                        violations.len()
                    )
                };
                let details = violations
                    .into_iter()
                    .map(|violation| serde_json::to_value(violation).unwrap_or(Value::Null))
                    .collect();
                Self::bad_request(ErrorCode::InvalidEvents, message).with_details(details)
            }
            IngestFailure::EmptyBatch => {
                Self::bad_request(ErrorCode::EmptyBatch, "the batch contains no events")
            }
            IngestFailure::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for a request with a different body",
            ),
            IngestFailure::QuotaExceeded => Self::of(
                ErrorCode::QuotaExceeded,
                "the tenant's daily event quota is used up; nothing was ingested, and it starts \
                 again at the next UTC midnight (Retry-After)",
            )
            .retry_after(seconds_to_next_utc_day(chrono::Utc::now())),
            IngestFailure::StoreUnavailable(cause) => {
                tracing::warn!(error = %cause, "ingest refused: event store unavailable");
                Self::unavailable(
                    ErrorCode::EventStoreUnavailable,
                    "the event store is unavailable; retry later (safe: events that were recorded count as duplicates)",
                )
            }
            IngestFailure::Internal(cause) => Self::internal(&cause),
        }
    }
}

impl From<QueryFailure> for ApiError {
    fn from(failure: QueryFailure) -> Self {
        match failure {
            QueryFailure::Invalid { problem, message } => {
                let code = match problem {
                    InvalidQuery::Range => ErrorCode::InvalidRange,
                    InvalidQuery::Page => ErrorCode::InvalidPage,
                    InvalidQuery::Limit => ErrorCode::InvalidLimit,
                    InvalidQuery::TooManyPoints => ErrorCode::TooManyPoints,
                    InvalidQuery::TooManySeries => ErrorCode::TooManySeries,
                };
                Self::bad_request(code, message)
            }
            QueryFailure::Unavailable(cause) => {
                tracing::warn!(error = %cause, "analytics store unavailable");
                Self::unavailable(
                    ErrorCode::AnalyticsUnavailable,
                    "the analytics store is unavailable, retry later",
                )
            }
            QueryFailure::Internal(cause) => Self::internal(&cause),
        }
    }
}

/// Gives error responses that middleware produced without the standard body (timeouts,
/// body limits, unknown methods: no body or plain text) the standard JSON body. Bodies a
/// handler wrote on purpose (JSON, OTLP's protobuf `Status`) pass unchanged.
pub async fn ensure_json_errors(response: Response) -> Response {
    let status = response.status();
    let is_plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !is_plain {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        _ if status.is_server_error() => ErrorCode::InternalError,
        _ => ErrorCode::BadRequest,
    };
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let mut rebuilt = ApiError::new(status, code, message).into_response();
    for (name, value) in parts.headers.iter() {
        rebuilt.headers_mut().entry(name).or_insert(value.clone());
    }
    rebuilt
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// `docs/API.md`'s table of error codes: code -> statuses.
    fn documented() -> BTreeMap<String, BTreeSet<u16>> {
        let api = include_str!("../../../docs/API.md");
        let table = api
            .split("| Status | Codes |")
            .nth(1)
            .expect("API.md has the table of error codes");
        let mut codes: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
        for row in table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
        {
            let mut cells = row.split('|').skip(1);
            let status: u16 = cells.next().unwrap_or("").trim().parse().expect("a status");
            let listed = cells.next().unwrap_or("");
            // Codes are the backquoted words; parentheses explain, not list.
            let mut depth = 0;
            let mut text = String::new();
            for c in listed.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ if depth == 0 => text.push(c),
                    _ => {}
                }
            }
            for code in text.split('`').skip(1).step_by(2) {
                codes.entry(code.to_string()).or_default().insert(status);
            }
        }
        codes
    }

    #[test]
    fn the_documented_error_codes_are_the_ones_the_api_answers_with() {
        let known: BTreeMap<String, BTreeSet<u16>> = ErrorCode::ALL
            .iter()
            .map(|code| {
                let statuses = code.statuses().iter().copied().collect();
                (code.as_str().to_string(), statuses)
            })
            .collect();
        assert_eq!(documented(), known);
    }

    #[test]
    fn every_code_has_its_usual_status() {
        assert_eq!(ErrorCode::InvalidJson.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorCode::RequestTimeout.status(),
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(
            ErrorCode::RateLimited.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "one name per code");
    }
}
