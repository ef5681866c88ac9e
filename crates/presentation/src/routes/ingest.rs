//! `POST /ingest`: push one event or a batch of events.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use flate2::read::MultiGzDecoder;
use http_body_util::LengthLimitError;
use serde::Serialize;
use telemetry_application::auth::{Credential, Permission};
use telemetry_application::ingest::{
    body_fingerprint, IngestFailure, IngestReceipt, IngestRequest,
};
use telemetry_application::ports::RateDecision;
use telemetry_domain::ingest::{
    json_array_at_most, validate_submissions, ArrayError, EventSubmission, FieldViolation,
    MAX_LISTED_VIOLATIONS,
};
use telemetry_domain::values::{ApiKeyId, TenantId, Timestamp};
use utoipa::ToSchema;

use crate::auth::{
    apply_rate_limit_headers, failed_authentication, too_many_requests, ApiKeyCaller, ClientAddress,
};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/ingest", post(ingest))
}

/// One telemetry event, as pushed by a producer.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({
    "eventId": "evt_1234567890", "eventType": "log", "serviceName": "api-gateway",
    "timestamp": "2026-01-21T12:00:00Z", "userId": "12345",
    "payload": {"level": "info", "message": "User logged in"}
}))]
pub struct IngestEvent {
    /// Unique per tenant; the deduplication key (1-128 characters).
    #[schema(rename = "eventId", min_length = 1, max_length = 128)]
    event_id: String,
    #[schema(rename = "eventType")]
    event_type: EventTypeDoc,
    /// 1-128 characters.
    #[schema(rename = "serviceName", min_length = 1, max_length = 128)]
    service_name: String,
    /// RFC 3339; at most one hour in the future.
    #[schema(format = DateTime)]
    timestamp: String,
    /// Optional; `payload.userId` is used when absent.
    #[schema(rename = "userId", nullable = false)]
    user_id: Option<String>,
    /// A JSON object. Metric events need `name` (string) and `value` (finite number) and
    /// may carry `unit` and `attributes` (string map); trace events may carry `traceId`,
    /// `spanId` and `durationMs`.
    payload: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum EventTypeDoc {
    Log,
    Metric,
    Trace,
}

/// One event or an array of up to the configured maximum of events.
// For the OpenAPI document only: bodies are parsed by `parse_submissions`. `untagged` makes
// the schema the event or the array itself, not an object keyed by the variant's name.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum IngestBody {
    #[schema(title = "One event")]
    One(IngestEvent),
    #[schema(title = "Batch of events")]
    Many(Vec<IngestEvent>),
}

/// The receipt for an accepted request: the events are durable when it is sent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestResponse {
    /// Events recorded by this request.
    pub ingested: u32,
    /// Events skipped because their `eventId` was already recorded (or repeated in the batch).
    pub duplicates: u32,
    pub batch_id: String,
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub(crate) const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Ingest telemetry events.
///
/// Accepts one event object or an array of them. Answers `202` only after every accepted event
/// is committed to the event store. Events whose `eventId` was already recorded for the
/// tenant are counted as duplicates and not stored again. A batch with any invalid event
/// stores nothing. The body may be gzip-compressed (`Content-Encoding: gzip`); the size limit
/// applies before and after inflating.
#[utoipa::path(
    post,
    path = "/ingest",
    tag = "ingestion",
    request_body(content = IngestBody, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retried request return the original receipt (1-255 characters)"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Events recorded", body = IngestResponse, headers(
            ("X-RateLimit-Limit" = u64, description = "Requests allowed per window"),
            ("X-RateLimit-Remaining" = u64, description = "Requests left right now"),
            ("X-RateLimit-Reset" = u64, description = "Seconds until the budget is full again"),
        )),
        (status = 400, description = "Invalid JSON or invalid events (details name index and field)", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key (the X-RateLimit-* headers describe the client address's budget of such requests)", body = ErrorBody),
        (status = 413, description = "Body or batch larger than the configured limits", body = ErrorBody),
        (status = 408, description = "The body did not arrive within REQUEST_TIMEOUT_MS (with the X-RateLimit-* headers once the budget was spent)", body = ErrorBody),
        (status = 415, description = "Content type is not application/json (`unsupported_media_type`), or a Content-Encoding other than gzip (`unsupported_encoding`)", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with a different body", body = ErrorBody),
        (status = 429, description = "Rate limited: the tenant's budget, or the client address's budget of requests with a missing or unknown API key", body = ErrorBody, headers(
            ("Retry-After" = u64, description = "Seconds until a request will be allowed"),
            ("X-RateLimit-Limit" = u64, description = "Requests allowed per window"),
            ("X-RateLimit-Remaining" = u64, description = "0"),
            ("X-RateLimit-Reset" = u64, description = "Seconds until the budget is full again"),
        )),
        (status = 503, description = "Event store unavailable (`event_store_unavailable`), or the request, past its body, was not answered within REQUEST_TIMEOUT_MS (`request_timeout`)", body = ErrorBody, headers(
            ("Retry-After" = u64, description = "Seconds to wait before retrying (a retry is safe: recorded events count as duplicates)"),
        )),
    )
)]
#[tracing::instrument(
    name = "http_ingest",
    skip_all,
    fields(tenant_id = caller.as_ref().ok().map(|caller| caller.0.tenant_id.as_str()))
)]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Result<ApiKeyCaller, ApiError>,
    client: ClientAddress,
    slot: RateDecisionSlot,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body_slot = slot.clone();
    let work =
        async |caller, decision| accept(&state, caller, &headers, body, decision, &body_slot).await;
    let render = IntoResponse::into_response;
    rate_limited(&state, caller, client, slot, work, render).await
}

/// Where an ingestion route leaves its rate-limit decision, so that the answers it does not
/// produce itself (the request timeout, a panic) still carry the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Default)]
pub struct RateDecisionSlot(Arc<SlotState>);

#[derive(Debug, Default)]
struct SlotState {
    decision: OnceLock<RateDecision>,
    /// The route rendered its own answer (headers included).
    answered: AtomicBool,
    /// The body is being read: a request that runs out of time now is the client's delay;
    /// before (checking the key) and after (recording), it is the service's.
    reading_body: AtomicBool,
}

impl RateDecisionSlot {
    fn reading_body(&self, reading: bool) {
        self.0.reading_body.store(reading, Ordering::Release);
    }

    fn is_reading_body(&self) -> bool {
        self.0.reading_body.load(Ordering::Acquire)
    }
}

/// The request timeout of `/ingest`: `408 request_timeout` while the body is still arriving
/// (the client is slow), `503 request_timeout` with `Retry-After` otherwise (the service is:
/// a key lookup or an event store that stopped answering must not look like the producer's
/// fault, and a retry is safe, since recorded events count as duplicates).
pub(crate) async fn ingest_timeout(
    State(timeout): State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    let slot = request.extensions().get::<RateDecisionSlot>().cloned();
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) if slot.is_some_and(|slot| slot.is_reading_body()) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive within the request timeout",
        )
        .into_response(),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "the request was not answered within the request timeout (its events may or may \
             not have been recorded); retry: events already recorded count as duplicates",
        )
        .retry_after(1)
        .into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RateDecisionSlot {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        // Outside `refusals_carry_rate_limits` (a router without it, as in unit tests)
        // nobody reads it.
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

/// Wraps the ingestion routes' request timeouts ([`ingest_timeout`], `otlp_timeout`) and
/// panic guard (tower-http's `CatchPanicLayer`), below this in `crate::router`: their `408`,
/// `503` and `500`, which no route rendered, are counted as refusals and get the rate-limit
/// headers when the tenant's budget was already spent.
pub(crate) async fn refusals_carry_rate_limits(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = RateDecisionSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let by_a_layer = matches!(
        response.status(),
        StatusCode::REQUEST_TIMEOUT
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::SERVICE_UNAVAILABLE
    );
    if !by_a_layer || slot.0.answered.load(Ordering::Acquire) {
        return response;
    }
    state
        .metrics
        .ingest_rejected
        .fetch_add(1, Ordering::Relaxed);
    if let Some(decision) = slot.0.decision.get() {
        apply_rate_limit_headers(response.headers_mut(), decision);
    }
    response
}

/// What every ingestion route does around its own work: count the request, spend one
/// request of the tenant's budget (or, when the API key is missing or unknown, of the client
/// address's budget of failed authentications), count and render a refusal, add the
/// rate-limit headers.
pub(crate) async fn rate_limited(
    state: &AppState,
    caller: Result<ApiKeyCaller, ApiError>,
    client: ClientAddress,
    slot: RateDecisionSlot,
    work: impl AsyncFnOnce(ApiKeyCaller, RateDecision) -> Result<Response, ApiError>,
    render: impl FnOnce(ApiError) -> Response,
) -> Response {
    let metrics = &state.metrics;
    metrics.ingest_requests.fetch_add(1, Ordering::Relaxed);
    let (result, decision) = match caller {
        Ok(caller) => {
            let decision = state.rate_limits.check(&caller.0.tenant_id).await;
            let _ = slot.0.decision.set(decision);
            (work(caller, decision).await, Some(decision))
        }
        Err(error) => {
            let (error, decision) = failed_authentication(state, client, error).await;
            if let Some(decision) = decision {
                let _ = slot.0.decision.set(decision);
            }
            (Err(error), decision)
        }
    };
    let mut response = result.unwrap_or_else(|error| {
        metrics.ingest_rejected.fetch_add(1, Ordering::Relaxed);
        render(error)
    });
    if let Some(decision) = decision {
        apply_rate_limit_headers(response.headers_mut(), &decision);
    }
    slot.0.answered.store(true, Ordering::Release);
    response
}

async fn accept(
    state: &AppState,
    caller: ApiKeyCaller,
    headers: &HeaderMap,
    body: Body,
    decision: RateDecision,
    slot: &RateDecisionSlot,
) -> Result<Response, ApiError> {
    let key_id = admit(&caller, &decision)?;
    require_json(headers)?;
    let idempotency_key = idempotency_key(headers)?;
    slot.reading_body(true);
    let bytes = read_body(state, headers, body).await;
    slot.reading_body(false);
    let bytes = bytes?;
    let submissions = parse_submissions(&bytes, state.limits.max_batch_events)?;
    let batch = Batch::new(caller.0.tenant_id, key_id, idempotency_key, &bytes);
    drop(bytes);
    let receipt = record(state, batch, submissions).await?;
    let replayed = receipt.replayed;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(IngestResponse {
            ingested: receipt.ingested,
            duplicates: receipt.duplicates,
            batch_id: receipt.batch_id,
        }),
    )
        .into_response();
    if replayed {
        response.headers_mut().insert(
            HeaderName::from_static(IDEMPOTENT_REPLAYED),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// The checks every ingestion route makes before reading the body: the caller may ingest
/// (with an API key, whose id the batch records) and the tenant is within its rate limit.
pub(crate) fn admit(caller: &ApiKeyCaller, decision: &RateDecision) -> Result<ApiKeyId, ApiError> {
    let principal = &caller.0;
    if !principal.may(Permission::Ingest) {
        return Err(ApiError::forbidden());
    }
    if !decision.allowed {
        return Err(too_many_requests(
            decision,
            format!(
                "the tenant's limit of {} requests per window is used up",
                decision.limit
            ),
        ));
    }
    match &principal.credential {
        Credential::ApiKey { key_id } => Ok(key_id.clone()),
        _ => Err(ApiError::forbidden()),
    }
}

/// Reads the whole body, within the configured size limit, and inflates it when it is
/// sent with `Content-Encoding: gzip` (the inflated size is held to the same limit).
///
/// Ingestion routes enforce the limit here rather than in the router's body-limit layer,
/// which would answer before the caller is known: here a refusal comes after the tenant's
/// rate-limit decision and carries its headers like every other ingestion answer.
pub(crate) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let limit = state.limits.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    // A body declared too large is refused before any of it is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let bytes = to_bytes(body, limit).await.map_err(|error| {
        let error = error.into_inner();
        if error.is::<LengthLimitError>() {
            too_large()
        } else {
            // Malformed chunked framing, or a body cut off by the client.
            ApiError::bad_request(
                "invalid_body",
                format!("the request body could not be read: {error}"),
            )
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(bytes),
        Some("gzip" | "x-gzip") => {
            let mut inflated = Vec::new();
            MultiGzDecoder::new(bytes.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|error| {
                    ApiError::bad_request(
                        "invalid_encoding",
                        format!("the body is not valid gzip: {error}"),
                    )
                })?;
            if inflated.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(inflated))
        }
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {other:?} is not supported; send gzip or no encoding"),
        )),
    }
}

/// Who sends a batch, and the idempotency key it came with.
#[derive(Clone)]
pub(crate) struct Batch {
    tenant_id: TenantId,
    key_id: ApiKeyId,
    idempotency_key: Option<String>,
    /// Digest of the request body, taken only when an idempotency key needs it.
    body_fingerprint: String,
}

impl Batch {
    pub(crate) fn new(
        tenant_id: TenantId,
        key_id: ApiKeyId,
        idempotency_key: Option<String>,
        body: &[u8],
    ) -> Self {
        let body_fingerprint = match idempotency_key {
            Some(_) => body_fingerprint(body),
            None => String::new(),
        };
        Self {
            tenant_id,
            key_id,
            idempotency_key,
            body_fingerprint,
        }
    }

    /// Part `n` of a request recorded as several batches: the same sender and body, and
    /// an idempotency key of its own. A client's key is visible ASCII, so the newline in a
    /// derived key cannot make it collide with one.
    pub(crate) fn part(&self, n: usize) -> Self {
        let mut part = self.clone();
        if n > 0 {
            part.idempotency_key = self
                .idempotency_key
                .as_ref()
                .map(|key| format!("{key}\n{n}"));
        }
        part
    }
}

/// Records a request's events through the ingest service (within the batch limit) and
/// counts the outcome.
pub(crate) async fn record(
    state: &AppState,
    batch: Batch,
    submissions: Vec<EventSubmission>,
) -> Result<IngestReceipt, ApiError> {
    let max = state.limits.max_batch_events;
    if submissions.len() > max {
        return Err(batch_too_large(max, Some(submissions.len())));
    }
    let request = IngestRequest {
        tenant_id: batch.tenant_id,
        key_id: batch.key_id,
        idempotency_key: batch.idempotency_key,
        body_fingerprint: batch.body_fingerprint,
        submissions,
    };
    let receipt = state.ingest.ingest(request).await?;
    if !receipt.replayed {
        let metrics = &state.metrics;
        metrics
            .ingest_events_accepted
            .fetch_add(u64::from(receipt.ingested), Ordering::Relaxed);
        metrics
            .ingest_events_duplicate
            .fetch_add(u64::from(receipt.duplicates), Ordering::Relaxed);
    }
    Ok(receipt)
}

/// The request's media type: its `Content-Type` without parameters (empty when absent).
pub(crate) fn media_type(headers: &HeaderMap) -> &str {
    content_type(headers).split(';').next().unwrap_or("").trim()
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// The content type declares no charset, or UTF-8: JSON is read as UTF-8 only (RFC 8259), so
/// a body declared in another charset is refused (`415`) rather than misread.
pub(crate) fn charset_is_utf8(headers: &HeaderMap) -> bool {
    content_type(headers).split(';').skip(1).all(|parameter| {
        let Some((name, value)) = parameter.split_once('=') else {
            return true;
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            return true;
        }
        let value = value.trim().trim_matches('"');
        value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
    })
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if media_type(headers).eq_ignore_ascii_case("application/json") && charset_is_utf8(headers) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send events as application/json, in UTF-8",
    ))
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )
    };
    let key = value.to_str().map_err(|_| invalid())?.trim();
    let valid = !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(invalid());
    }
    Ok(Some(key.to_string()))
}

/// One object or an array of objects.
fn parse_submissions(bytes: &[u8], max: usize) -> Result<Vec<EventSubmission>, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not valid JSON: it is not UTF-8 ({error})"),
        )
    })?;
    let invalid_json = |error: &serde_json::Error| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not valid JSON: {error}"),
        )
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let submissions = match first {
        Some(b'[') => {
            EventSubmission::from_json_array(text, max).map_err(|error| match error {
                ArrayError::TooMany => batch_too_large(max, None),
                // The array, read element by element, says why: elements that are not
                // objects, or JSON that is not well-formed (a truncated body, say).
                ArrayError::Json(error) => match not_objects(text, max) {
                    Ok(Some(refusal)) => refusal,
                    Ok(None) => invalid_json(&error),
                    Err(syntax) => invalid_json(&syntax),
                },
            })?
        }
        Some(b'{') => vec![EventSubmission::from_json(text).map_err(|error| invalid_json(&error))?],
        _ if text.starts_with('\u{feff}') => {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the body starts with a byte order mark; send JSON without one",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the body must be a JSON event object or an array of them",
            ))
        }
    };
    if submissions.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch contains no events",
        ));
    }
    Ok(submissions)
}

/// For a well-formed JSON array with elements that are not objects: an `invalid_events`
/// error naming each of them by index, and every problem of the objects among them, like
/// any other invalid batch (or `413` when the array holds more than `max` elements).
/// `Err` with the syntax error when the array is not well-formed JSON.
fn not_objects(text: &str, max: usize) -> Result<Option<ApiError>, serde_json::Error> {
    let elements: Vec<&serde_json::value::RawValue> = match json_array_at_most(text, max) {
        Ok(elements) => elements,
        Err(ArrayError::TooMany) => return Ok(Some(batch_too_large(max, None))),
        Err(ArrayError::Json(error)) => return Err(error),
    };
    if elements
        .iter()
        .all(|element| element.get().starts_with('{'))
    {
        return Ok(None);
    }
    let received_at = Timestamp::now();
    let mut violations = Vec::new();
    for (index, element) in elements.iter().enumerate() {
        if violations.len() > MAX_LISTED_VIOLATIONS {
            break;
        }
        if !element.get().starts_with('{') {
            violations.push(FieldViolation::not_an_object(index));
            continue;
        }
        let Ok(submission) = EventSubmission::from_json(element.get()) else {
            continue;
        };
        if let Err(found) = validate_submissions(std::slice::from_ref(&submission), received_at) {
            violations.extend(
                found
                    .into_iter()
                    .map(|violation| FieldViolation { index, ..violation }),
            );
        }
    }
    violations.truncate(MAX_LISTED_VIOLATIONS + 1);
    Ok(Some(IngestFailure::InvalidEvents(violations).into()))
}

/// `413 batch_too_large`; `count` when the whole batch was counted.
fn batch_too_large(max: usize, count: Option<usize>) -> ApiError {
    let count = count.map_or_else(|| "more".to_string(), |count| count.to_string());
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "batch_too_large",
        format!("a batch may hold at most {max} events, this one has {count}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_may_be_one_object_or_an_array() {
        assert_eq!(
            parse_submissions(br#" {"eventId":"a"}"#, 10).unwrap().len(),
            1
        );
        assert_eq!(
            parse_submissions(br#"[{"eventId":"a"},{"eventId":"b"}]"#, 10)
                .unwrap()
                .len(),
            2
        );
        let error = parse_submissions(b"[]", 10).unwrap_err();
        assert_eq!(error.code, "empty_batch");
        let error = parse_submissions(b"[{\"eventId\":\"\xff\"}]", 10).unwrap_err();
        assert_eq!(error.code, "invalid_json");
        let error = parse_submissions(b"\"text\"", 10).unwrap_err();
        assert_eq!(error.code, "invalid_json");
        let error = parse_submissions(b"[{\"eventId\":", 10).unwrap_err();
        assert_eq!(error.code, "invalid_json");
        // A truncated array is reported as such, not by the type of its first element.
        let error = parse_submissions(b"[1,2", 10).unwrap_err();
        assert_eq!(error.code, "invalid_json");
        assert!(error.message.contains("EOF"), "{}", error.message);
        let error = parse_submissions("\u{feff}{}".as_bytes(), 10).unwrap_err();
        assert!(
            error.message.contains("byte order mark"),
            "{}",
            error.message
        );
        // Elements that are not objects, and the problems of the objects beside them.
        let error = parse_submissions(br#"[1, {"eventId": 7}, null]"#, 10).unwrap_err();
        assert_eq!(error.code, "invalid_events");
        let problems: Vec<(u64, &str, &str)> = error
            .details
            .iter()
            .map(|detail| {
                let text = |name: &str| detail[name].as_str().unwrap_or_default();
                (
                    detail["index"].as_u64().unwrap(),
                    text("field"),
                    text("code"),
                )
            })
            .collect();
        assert_eq!(
            problems,
            [
                (0, "", "invalid_type"),
                (1, "eventId", "invalid_type"),
                (1, "eventType", "required"),
                (1, "serviceName", "required"),
                (1, "timestamp", "required"),
                (1, "payload", "required"),
                (2, "", "invalid_type"),
            ]
        );
    }

    #[test]
    fn a_batch_past_the_event_limit_is_refused_while_parsing() {
        let three = br#"[{"eventId":"a"},{"eventId":"b"},{"eventId":"c"}]"#;
        assert_eq!(parse_submissions(three, 3).unwrap().len(), 3);
        let error = parse_submissions(three, 2).unwrap_err();
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.code, "batch_too_large");
        let error = parse_submissions(b"[1, 2, 3]", 2).unwrap_err();
        assert_eq!(error.code, "batch_too_large");
    }

    #[test]
    fn answers_list_at_most_so_many_problems() {
        let ones = format!("[{}]", vec!["1"; 5_000].join(","));
        let error = parse_submissions(ones.as_bytes(), 10_000).unwrap_err();
        assert_eq!(error.code, "invalid_events");
        assert_eq!(error.details.len(), MAX_LISTED_VIOLATIONS);
        assert!(
            error.message.starts_with("more than 1000 problems"),
            "{}",
            error.message
        );
        let two = parse_submissions(b"[1, 2]", 10).unwrap_err();
        assert_eq!(two.message, "2 problem(s) found; nothing was ingested");
    }

    #[test]
    fn content_type_must_be_json() {
        let mut headers = HeaderMap::new();
        assert!(require_json(&headers).is_err());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(require_json(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(require_json(&headers).is_err());
        for accepted in [
            "application/json;charset=\"UTF-8\"",
            "Application/JSON; Charset=utf8",
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(accepted));
            assert!(require_json(&headers).is_ok(), "{accepted}");
        }
        for refused in [
            "application/json; charset=utf-16",
            "application/json;charset=iso-8859-1",
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(refused));
            let error = require_json(&headers).unwrap_err();
            assert_eq!(
                error.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{refused}"
            );
        }
    }
}
