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
use telemetry_application::query::QueryFailure;
use telemetry_domain::ingest::MAX_LISTED_VIOLATIONS;
use utoipa::ToSchema;

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

/// An HTTP error: status, code, message, details, and an optional `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Value>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the credentials do not allow this operation",
        )
    }

    /// A dependency is down: 503 with `Retry-After`.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry_after(5)
    }

    /// Something broke that is not the caller's fault; the cause is logged, not returned.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
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
        Self::bad_request("invalid_request", rejection.body_text())
    }
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Missing => Self::new(
                StatusCode::UNAUTHORIZED,
                "missing_credentials",
                "send an X-API-Key header or an Authorization: Bearer token",
            ),
            AuthFailure::InvalidApiKey => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is not valid",
            ),
            AuthFailure::InvalidToken(TokenError::Expired) => Self::new(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "the bearer token has expired",
            ),
            AuthFailure::InvalidToken(TokenError::NotConfigured) => Self::new(
                StatusCode::UNAUTHORIZED,
                "bearer_not_configured",
                "this server does not accept bearer tokens",
            ),
            AuthFailure::InvalidToken(TokenError::Invalid(reason)) => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!("the bearer token is not valid: {reason}"),
            ),
            AuthFailure::Forbidden => Self::forbidden(),
            AuthFailure::Unavailable(cause) => {
                tracing::warn!(error = %cause, "credential store unavailable");
                Self::unavailable(
                    "auth_unavailable",
                    "credentials cannot be checked right now, retry later",
                )
            }
        }
    }
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
                Self::bad_request("invalid_events", message).with_details(details)
            }
            IngestFailure::EmptyBatch => {
                Self::bad_request("empty_batch", "the batch contains no events")
            }
            IngestFailure::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a request with a different body",
            ),
            IngestFailure::StoreUnavailable(cause) => {
                tracing::warn!(error = %cause, "ingest refused: event store unavailable");
                Self::unavailable(
                    "event_store_unavailable",
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
            QueryFailure::Invalid { code, message } => Self::bad_request(code, message),
            QueryFailure::Unavailable(cause) => {
                tracing::warn!(error = %cause, "analytics store unavailable");
                Self::unavailable(
                    "analytics_unavailable",
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
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ if status.is_server_error() => "internal_error",
        _ => "bad_request",
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
