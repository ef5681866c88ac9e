//! `POST /ingest`: push one event or a batch of events.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use telemetry_application::auth::{Credential, Permission};
use telemetry_application::ingest::{body_fingerprint, IngestReceipt, IngestRequest};
use telemetry_application::ports::RateDecision;
use telemetry_domain::ingest::EventSubmission;
use telemetry_domain::values::{ApiKeyId, TenantId};
use utoipa::ToSchema;

use super::body::{batch_too_large, idempotency_key, parse_submissions, read_body, require_json};
use crate::auth::{
    apply_rate_limit_headers, failed_authentication, too_many_requests, ApiKeyCaller, ClientAddress,
};
use crate::error::ErrorCode;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/ingest", post(ingest))
}

/// One telemetry event, as pushed by a producer.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "eventId": "evt_1234567890", "eventType": "log", "serviceName": "api-gateway",
    "timestamp": "2026-01-21T12:00:00Z", "userId": "12345",
    "payload": {"level": "info", "message": "User logged in"}
}))]
pub struct IngestEvent {
    /// Unique per tenant; the deduplication key (1-128 characters).
    #[schema(
        rename = "eventId",
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    event_id: String,
    #[schema(rename = "eventType")]
    event_type: EventTypeDoc,
    /// 1-128 characters, no control characters.
    #[schema(
        rename = "serviceName",
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    service_name: String,
    /// RFC 3339; at most one hour in the future.
    #[schema(format = DateTime)]
    timestamp: String,
    /// Optional (`null` is absent); `payload.userId` is used when absent.
    #[schema(
        rename = "userId",
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
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

/// One event or an array of one up to the configured maximum of events.
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
            description = "Makes a retried request return the original receipt (1-255 visible ASCII characters)",
            pattern = r"^[ \t]*[!-~]{1,255}[ \t]*$"),
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

/// The request timeout of an ingestion route.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IngestionTimeout {
    pub timeout: std::time::Duration,
    /// Whether a body still arriving at the timeout gets `408` (`/ingest`: the client is
    /// slow) or the same `503` as the rest (OTLP: exporters do not retry a `408`).
    pub late_body_is_408: bool,
}

/// Answers a request past its timeout with `503 request_timeout` and `Retry-After` (the
/// service is slow: a key lookup or an event store that stopped answering must not look like
/// the producer's fault, and a retry is safe, since recorded events count as duplicates), or,
/// where the route says so, `408 request_timeout` while the body is still arriving.
pub(crate) async fn ingestion_timeout(
    State(policy): State<IngestionTimeout>,
    request: Request,
    next: Next,
) -> Response {
    let slot = request.extensions().get::<RateDecisionSlot>().cloned();
    match tokio::time::timeout(policy.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) if policy.late_body_is_408 && slot.is_some_and(|slot| slot.is_reading_body()) => {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                "the request body did not arrive within the request timeout",
            )
            .into_response()
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RequestTimeout,
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

/// Wraps the ingestion routes' request timeout ([`ingestion_timeout`]) and
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
    let tenant = caller
        .as_ref()
        .ok()
        .map(|caller| caller.0.tenant_id.clone());
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
        if let Some(tenant) = &tenant {
            state.refusals.record(tenant, error.code.as_str());
        }
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

/// Who sends a batch, and the idempotency key it came with.
#[derive(Clone)]
pub(crate) struct Batch {
    tenant_id: TenantId,
    key_id: ApiKeyId,
    idempotency_key: Option<String>,
    /// Digest of the request body, taken only when an idempotency key needs it.
    body_fingerprint: String,
    /// An OpenTelemetry export (counted apart in usage).
    otlp: bool,
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
            otlp: false,
        }
    }

    /// The batch of an OpenTelemetry export.
    pub(crate) fn of_otlp_export(mut self) -> Self {
        self.otlp = true;
        self
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
        otlp: batch.otlp,
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
