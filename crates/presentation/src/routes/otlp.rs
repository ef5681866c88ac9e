//! OTLP/HTTP: `POST /v1/logs`, `/v1/metrics` and `/v1/traces`, as OpenTelemetry SDKs and
//! collectors export them (`OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8080` and an
//! `X-API-Key` header).
//!
//! Follows the OTLP/HTTP specification: binary protobuf (`application/x-protobuf`) or
//! OTLP/JSON (`application/json`), optionally gzip-compressed; `200` with an
//! `Export*ServiceResponse` in the request's encoding once the events are committed (with
//! `partialSuccess` when some records were rejected); failures carry a `google.rpc.Status`
//! whose `details` hold a `google.rpc.ErrorInfo` with the same machine-readable code
//! `/ingest` would give (`reason`). `429` and `503` carry `Retry-After`, which exporters
//! honour; other `4xx` are not retried by them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use prost::Message;
use serde::de::DeserializeOwned;
use serde_json::json;
use telemetry_domain::values::Timestamp;

use super::body::{charset_is_utf8, idempotency_key, media_type, read_body};
use super::ingest::{admit, rate_limited, record, Batch, RateDecisionSlot, IDEMPOTENT_REPLAYED};
use crate::auth::{ApiKeyCaller, ClientAddress};
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::otlp::convert::Limits;
use crate::otlp::proto::{ErrorInfo, ExportPartialSuccess, ExportResponse, ProtoAny, Status};
use crate::otlp::size::{self, Verdict};
use crate::otlp::{convert, Conversion, Signal};
use crate::state::AppState;

pub const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
const ERROR_INFO_TYPE: &str = "type.googleapis.com/google.rpc.ErrorInfo";
/// The events of one export may take this many times the body limit.
const PAYLOAD_EXPANSION: usize = 4;
/// `ErrorInfo.domain` of every error this service reports.
pub const ERROR_DOMAIN: &str = "telemetry";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/logs", post(export_logs))
        .route("/v1/metrics", post(export_metrics))
        .route("/v1/traces", post(export_traces))
}

/// The two encodings OTLP/HTTP defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Option<Self> {
        let media_type = media_type(headers);
        if media_type.eq_ignore_ascii_case(PROTOBUF) {
            Some(Self::Protobuf)
        } else if media_type.eq_ignore_ascii_case(JSON) && charset_is_utf8(headers) {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        })
    }
}

/// Export logs (OTLP/HTTP).
///
/// An `ExportLogsServiceRequest`. Each log record becomes a `log` event of the resource's
/// `service.name`; see docs/API.md for the mapping.
#[utoipa::path(
    post,
    path = "/v1/logs",
    tag = "otlp",
    request_body(
        description = "ExportLogsServiceRequest, binary protobuf or OTLP/JSON, optionally gzip (Content-Encoding)",
        content(("application/x-protobuf"), (OtlpLogsJson = "application/json"))
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Recorded; `partialSuccess` counts rejected records", content(("application/x-protobuf"), ("application/json"))),
        (status = 400, description = "Undecodable body, or every record rejected (google.rpc.Status)"),
        (status = 401, description = "Missing or unknown API key (google.rpc.Status)"),
        (status = 413, description = "Body above the size limit, or more records than INGEST_MAX_BATCH_EVENTS, or more messages than 100 per allowed record (google.rpc.Status)"),
        (status = 415, description = "Content type or encoding not supported (google.rpc.Status)"),
        (status = 422, description = "Idempotency-Key reused with a different body (google.rpc.Status, code 9)"),
        (status = 429, description = "Rate limited; see Retry-After (google.rpc.Status)"),
        (status = 503, description = "Event store unavailable (google.rpc.Status), or not answered within REQUEST_TIMEOUT_MS (the standard JSON error body, `request_timeout`, with the rate-limit headers); see Retry-After"),
    )
)]
pub async fn export_logs(
    State(state): State<AppState>,
    caller: Result<ApiKeyCaller, ApiError>,
    client: ClientAddress,
    slot: RateDecisionSlot,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&state, caller, client, slot, &headers, body, Signal::Logs).await
}

/// Export metrics (OTLP/HTTP).
///
/// An `ExportMetricsServiceRequest`. Gauge and sum data points become `metric` events;
/// histograms and summaries their `.count`, `.sum`, `.min`, `.max` and quantile samples.
#[utoipa::path(
    post,
    path = "/v1/metrics",
    tag = "otlp",
    request_body(
        description = "ExportMetricsServiceRequest, binary protobuf or OTLP/JSON, optionally gzip (Content-Encoding)",
        content(("application/x-protobuf"), (OtlpMetricsJson = "application/json"))
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Recorded; `partialSuccess` counts rejected data points", content(("application/x-protobuf"), ("application/json"))),
        (status = 400, description = "Undecodable body, or every data point rejected (google.rpc.Status)"),
        (status = 401, description = "Missing or unknown API key (google.rpc.Status)"),
        (status = 413, description = "Body above the size limit, or more records than INGEST_MAX_BATCH_EVENTS, or more messages than 100 per allowed record (google.rpc.Status)"),
        (status = 415, description = "Content type or encoding not supported (google.rpc.Status)"),
        (status = 422, description = "Idempotency-Key reused with a different body (google.rpc.Status, code 9)"),
        (status = 429, description = "Rate limited; see Retry-After (google.rpc.Status)"),
        (status = 503, description = "Event store unavailable (google.rpc.Status), or not answered within REQUEST_TIMEOUT_MS (the standard JSON error body, `request_timeout`, with the rate-limit headers); see Retry-After"),
    )
)]
pub async fn export_metrics(
    State(state): State<AppState>,
    caller: Result<ApiKeyCaller, ApiError>,
    client: ClientAddress,
    slot: RateDecisionSlot,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(
        &state,
        caller,
        client,
        slot,
        &headers,
        body,
        Signal::Metrics,
    )
    .await
}

/// Export traces (OTLP/HTTP).
///
/// An `ExportTraceServiceRequest`. Each span becomes a `trace` event with `traceId`,
/// `spanId`, `parentSpanId`, `durationMs`, `status` and its attributes and events.
#[utoipa::path(
    post,
    path = "/v1/traces",
    tag = "otlp",
    request_body(
        description = "ExportTraceServiceRequest, binary protobuf or OTLP/JSON, optionally gzip (Content-Encoding)",
        content(("application/x-protobuf"), (OtlpTraceJson = "application/json"))
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Recorded; `partialSuccess` counts rejected spans", content(("application/x-protobuf"), ("application/json"))),
        (status = 400, description = "Undecodable body, or every span rejected (google.rpc.Status)"),
        (status = 401, description = "Missing or unknown API key (google.rpc.Status)"),
        (status = 413, description = "Body above the size limit, or more records than INGEST_MAX_BATCH_EVENTS, or more messages than 100 per allowed record (google.rpc.Status)"),
        (status = 415, description = "Content type or encoding not supported (google.rpc.Status)"),
        (status = 422, description = "Idempotency-Key reused with a different body (google.rpc.Status, code 9)"),
        (status = 429, description = "Rate limited; see Retry-After (google.rpc.Status)"),
        (status = 503, description = "Event store unavailable (google.rpc.Status), or not answered within REQUEST_TIMEOUT_MS (the standard JSON error body, `request_timeout`, with the rate-limit headers); see Retry-After"),
    )
)]
pub async fn export_traces(
    State(state): State<AppState>,
    caller: Result<ApiKeyCaller, ApiError>,
    client: ClientAddress,
    slot: RateDecisionSlot,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&state, caller, client, slot, &headers, body, Signal::Traces).await
}

#[tracing::instrument(name = "http_otlp_export", skip_all, fields(signal = ?signal))]
async fn export(
    state: &AppState,
    caller: Result<ApiKeyCaller, ApiError>,
    client: ClientAddress,
    slot: RateDecisionSlot,
    headers: &HeaderMap,
    body: Body,
    signal: Signal,
) -> Response {
    let encoding = Encoding::of(headers);
    let render = |error| status_response(error, encoding.unwrap_or(Encoding::Json));
    let work = async |caller, decision| {
        accept(state, caller, headers, body, &decision, signal, encoding).await
    };
    rate_limited(state, caller, client, slot, work, render).await
}

async fn accept(
    state: &AppState,
    caller: ApiKeyCaller,
    headers: &HeaderMap,
    body: Body,
    decision: &telemetry_application::ports::RateDecision,
    signal: Signal,
    encoding: Option<Encoding>,
) -> Result<Response, ApiError> {
    let key_id = admit(&caller, decision)?;
    let encoding = encoding.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send OTLP as application/x-protobuf or application/json (in UTF-8)",
        )
    })?;
    let idempotency_key = idempotency_key(headers)?;
    let bytes = read_body(state, headers, body).await?;
    let batch = Batch::new(caller.0.tenant_id, key_id, idempotency_key, &bytes).of_otlp_export();
    let exported = export_bytes(state, batch, bytes, signal, encoding).await?;
    let mut response = export_response(signal, encoding, exported.partial);
    if exported.replayed {
        response.headers_mut().insert(
            HeaderName::from_static(IDEMPOTENT_REPLAYED),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// What an export that was recorded answers.
pub(crate) struct Exported {
    /// Rejected records and why (a partial success), if any.
    pub partial: Option<(usize, String)>,
    /// An `Idempotency-Key` retry of an export recorded whole: nothing was recorded again.
    pub replayed: bool,
}

/// Records the export in `bytes` (already inflated, within the body limit) for `batch`'s
/// sender: checked for size, decoded and converted off the request threads, then recorded
/// like `/ingest` batches. The transports (OTLP/HTTP, OTLP/gRPC) differ only in how they
/// receive the bytes and answer.
pub(crate) async fn export_bytes(
    state: &AppState,
    batch: Batch,
    bytes: Bytes,
    signal: Signal,
    encoding: Encoding,
) -> Result<Exported, ApiError> {
    let limits = Limits {
        max_records: state.limits.max_batch_events,
        max_payload_bytes: state
            .limits
            .max_body_bytes
            .saturating_mul(PAYLOAD_EXPANSION),
    };
    // Decoding, hashing and building events of a large export is CPU work: keep it off the
    // threads that serve requests, and run no more of it at once than there are cores (the
    // others wait for a permit with their body still encoded). Measured at the maximum OTLP
    // rate: RSS at most 241 MB sampled, against 305 MB unbounded (docs/BENCHMARKS.md).
    let permit = Arc::clone(&state.conversions)
        .acquire_owned()
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let conversion = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let received_at = Timestamp::now();
        within_size(signal, encoding, &bytes, limits.max_records)?;
        Ok::<_, ApiError>(match signal {
            Signal::Logs => convert::logs(&decode(signal, encoding, &bytes)?, received_at, limits),
            Signal::Metrics => {
                convert::metrics(&decode(signal, encoding, &bytes)?, received_at, limits)
            }
            Signal::Traces => {
                convert::traces(&decode(signal, encoding, &bytes)?, received_at, limits)
            }
        })
    })
    .await
    .map_err(|error| ApiError::internal(&error))??;
    let Conversion {
        submissions,
        records,
        rejected,
        error_message,
        too_large,
    } = conversion;
    if let Some(message) = too_large {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BatchTooLarge,
            message,
        ));
    }
    if rejected > 0 {
        state
            .metrics
            .otlp_records_rejected
            .fetch_add(rejected as u64, Ordering::Relaxed);
    }
    if submissions.is_empty() && rejected > 0 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRecords,
            error_message,
        ));
    }
    // Histograms and summaries become several events per data point, so an export within
    // the record limit can exceed the batch limit: it is then recorded as several batches,
    // each committed before the next. If a later one fails, the exporter's retry finds the
    // earlier ones' events in the deduplication index (their ids come from content).
    let max = state.limits.max_batch_events;
    let batches = submissions.len().div_ceil(max);
    let mut submissions = submissions.into_iter();
    // An Idempotency-Key retry of an export recorded whole: every batch is a replay.
    let mut replayed = batches > 0;
    for chunk in 0..batches {
        let events: Vec<_> = submissions.by_ref().take(max).collect();
        let receipt = match record(state, batch.part(chunk), events).await {
            Ok(receipt) => receipt,
            Err(mut error) if chunk > 0 => {
                error.message = format!(
                    "{chunk} of {batches} batches of this export were recorded before: {}; \
                     a retry records only the rest",
                    error.message
                );
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        replayed &= receipt.replayed;
        tracing::debug!(
            records,
            rejected,
            chunk,
            ingested = receipt.ingested,
            duplicates = receipt.duplicates,
            batch_id = %receipt.batch_id,
            "OTLP export recorded"
        );
    }
    Ok(Exported {
        partial: (rejected > 0).then_some((rejected, error_message)),
        replayed,
    })
}

/// `413 batch_too_large` for an export with more records, or more messages, than decoding
/// it may build (`crate::otlp::size`).
fn within_size(
    signal: Signal,
    encoding: Encoding,
    bytes: &[u8],
    max_records: usize,
) -> Result<(), ApiError> {
    let verdict = match encoding {
        Encoding::Protobuf => size::check_protobuf(signal, bytes, max_records),
        Encoding::Json => size::check_json(signal, bytes, max_records),
    };
    let message = match verdict {
        Verdict::Within => return Ok(()),
        Verdict::TooManyRecords => signal.too_many_records(max_records),
        Verdict::TooManyMessages => format!(
            "an export may hold at most {} messages (resources, scopes, records, attributes \
             and values) in all",
            max_records.saturating_mul(size::MESSAGES_PER_RECORD)
        ),
    };
    Err(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BatchTooLarge,
        message,
    ))
}

fn decode<T: Message + Default + DeserializeOwned>(
    signal: Signal,
    encoding: Encoding,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let invalid = |error: &dyn std::fmt::Display| {
        ApiError::bad_request(
            ErrorCode::InvalidOtlp,
            format!("the body is not a valid OTLP export request: {error}"),
        )
    };
    match encoding {
        Encoding::Protobuf => T::decode(bytes).map_err(|error| invalid(&error)),
        Encoding::Json => {
            // An export is a JSON object. Derived deserializers also read a struct from an
            // array of its fields in order, so `[null]` would decode as an empty export.
            let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
            if first != Some(&b'{') {
                return Err(invalid(&"an OTLP/JSON export is a JSON object"));
            }
            let request: T = serde_json::from_slice(bytes).map_err(|error| invalid(&error))?;
            // Unknown fields are ignored (newer senders may add some), so an export written
            // with the proto's own field names (`resource_logs`), which OTLP/JSON does not
            // allow, or another signal's export sent here, would decode as empty and be
            // answered 200 with nothing recorded. An empty request with fields is refused.
            if request.encoded_len() == 0 {
                let keys: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
                    serde_json::from_slice(bytes).unwrap_or_default();
                let expected = signal.resources_field();
                if let Some(key) = keys.keys().find(|key| key.contains('_')) {
                    return Err(invalid(&format_args!(
                        "unknown field `{key}`: OTLP/JSON field names are lowerCamelCase \
                         (`{expected}`, not `{key}`)"
                    )));
                }
                if let Some(key) = keys.keys().find(|key| key.as_str() != expected) {
                    return Err(invalid(&format_args!(
                        "unknown field `{key}`: this endpoint takes `{expected}`"
                    )));
                }
            }
            Ok(request)
        }
    }
}

/// `Export*ServiceResponse`: empty on full success, `partialSuccess` when records were
/// rejected.
fn export_response(
    signal: Signal,
    encoding: Encoding,
    partial: Option<(usize, String)>,
) -> Response {
    let body = match encoding {
        Encoding::Protobuf => export_response_message(partial),
        Encoding::Json => {
            let body = match partial {
                None => json!({}),
                Some((rejected, error_message)) => json!({"partialSuccess": {
                    signal.rejected_field(): rejected.to_string(),
                    "errorMessage": error_message,
                }}),
            };
            body.to_string().into_bytes()
        }
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// An `Export*ServiceResponse` as protobuf (the three signals' share one shape): empty, or
/// with the `partial_success` of rejected records.
pub(crate) fn export_response_message(partial: Option<(usize, String)>) -> Vec<u8> {
    ExportResponse {
        partial_success: partial.map(|(rejected, error_message)| ExportPartialSuccess {
            rejected: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message,
        }),
    }
    .encode_to_vec()
}

/// The `google.rpc.Status` of an error, with gRPC status `code`: its message, and an
/// `ErrorInfo` whose `reason` is the code `/ingest` would give.
pub(crate) fn rpc_status(error: &ApiError, code: i32) -> Status {
    let info = ErrorInfo {
        reason: error.code.to_string(),
        domain: ERROR_DOMAIN.to_string(),
    };
    Status {
        code,
        message: error.message.clone(),
        details: vec![ProtoAny {
            type_url: ERROR_INFO_TYPE.to_string(),
            value: info.encode_to_vec(),
        }],
    }
}

/// An error as OTLP/HTTP reports it: a `google.rpc.Status` in the request's encoding, its
/// `ErrorInfo.reason` the code `/ingest` would give.
fn status_response(error: ApiError, encoding: Encoding) -> Response {
    let code = grpc_code(error.status);
    let body = match encoding {
        Encoding::Protobuf => rpc_status(&error, code).encode_to_vec(),
        Encoding::Json => json!({
            "code": code,
            "message": error.message,
            "details": [{"@type": ERROR_INFO_TYPE, "reason": error.code.as_str(), "domain": ERROR_DOMAIN}],
        })
        .to_string()
        .into_bytes(),
    };
    let mut response = (
        error.status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    if let Some(seconds) = error.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The gRPC status code for an HTTP status, as `google.rpc.Status.code` wants it.
pub(crate) fn grpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::UNAUTHORIZED => 16,          // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,              // PERMISSION_DENIED
        StatusCode::TOO_MANY_REQUESTS => 8,      // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14,   // UNAVAILABLE
        StatusCode::UNPROCESSABLE_ENTITY => 9,   // FAILED_PRECONDITION
        status if status.is_client_error() => 3, // INVALID_ARGUMENT
        _ => 13,                                 // INTERNAL
    }
}

/// The outline of an export in OTLP/JSON (the protobuf JSON mapping, with hex trace and span
/// ids), as the server takes it: the resources array holds objects (messages) or is `null`;
/// fields the server does not know are ignored, as OTLP/JSON receivers must, except in an
/// export that holds no resources, where a field other than the resources array means the
/// export was meant for another signal or written with the proto's names, and is refused. So:
/// either at least one resource (and anything else), or only the resources field.
fn otlp_export_schema(field: &str, message: &str) -> RefOr<Schema> {
    let messages = || ObjectBuilder::new().schema_type(Type::Object);
    let with_resources = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            field,
            ArrayBuilder::new().items(messages()).min_items(Some(1)),
        )
        .required(field);
    let only_resources = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            field,
            ArrayBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
                .items(messages()),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    AnyOfBuilder::new()
        .item(with_resources)
        .item(only_resources)
        .description(Some(format!(
            "`{message}` in OTLP/JSON: `{field}` holds the resources; unknown fields are \
             ignored beside at least one resource"
        )))
        .into()
}

macro_rules! otlp_export_doc {
    ($name:ident, $field:literal, $message:literal) => {
        #[doc = concat!("`", $message, "` in OTLP/JSON (see `otlp_export_schema`).")]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                otlp_export_schema($field, $message)
            }
        }

        impl ToSchema for $name {}
    };
}

otlp_export_doc!(OtlpLogsJson, "resourceLogs", "ExportLogsServiceRequest");
otlp_export_doc!(
    OtlpMetricsJson,
    "resourceMetrics",
    "ExportMetricsServiceRequest"
);
otlp_export_doc!(OtlpTraceJson, "resourceSpans", "ExportTraceServiceRequest");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_follows_the_content_type() {
        let mut headers = HeaderMap::new();
        assert_eq!(Encoding::of(&headers), None);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        assert_eq!(Encoding::of(&headers), Some(Encoding::Protobuf));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(Encoding::of(&headers), Some(Encoding::Json));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(Encoding::of(&headers), None);
    }

    #[test]
    fn protobuf_errors_are_statuses_with_the_code_in_error_info() {
        let error = ApiError::bad_request(ErrorCode::InvalidOtlp, "broken");
        let response = status_response(error, Encoding::Protobuf);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = futures_body(response);
        let status = Status::decode(body.as_slice()).unwrap();
        assert_eq!(status.code, 3);
        assert_eq!(status.message, "broken");
        assert_eq!(status.details[0].type_url, ERROR_INFO_TYPE);
        let info = ErrorInfo::decode(status.details[0].value.as_slice()).unwrap();
        assert_eq!(info.reason, "invalid_otlp");
    }

    #[test]
    fn partial_success_names_the_signal_specific_field() {
        let response = export_response(
            Signal::Metrics,
            Encoding::Json,
            Some((2, "2 of 5 data points rejected".into())),
        );
        let body: serde_json::Value = serde_json::from_slice(&futures_body(response)).unwrap();
        assert_eq!(body["partialSuccess"]["rejectedDataPoints"], "2");
        let response = export_response(Signal::Logs, Encoding::Protobuf, None);
        assert!(futures_body(response).is_empty());
    }

    #[test]
    fn a_json_export_is_an_object() {
        use crate::otlp::proto::ExportTraceServiceRequest as Traces;
        for body in [&b"[null]"[..], b" []", b"null", b"\"resourceSpans\""] {
            let refused = decode::<Traces>(Signal::Traces, Encoding::Json, body).unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidOtlp, "{body:?}");
        }
        assert!(
            decode::<Traces>(Signal::Traces, Encoding::Json, b" {\"resourceSpans\": []}").is_ok()
        );
    }

    fn futures_body(response: Response) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap()
            .to_vec()
    }
}
