//! OTLP/gRPC: the OpenTelemetry collector services on a port of their own (4317 by
//! default), as the Collector's `otlp` exporter and SDKs configured for gRPC send them.
//!
//! One path, two transports: an export received here goes through exactly what an OTLP/HTTP
//! protobuf export goes through ([`crate::routes::otlp::export_bytes`]: size check,
//! decoding, conversion, deduplication, the event store), and is admitted the same way
//! first: the API key, the failed-authentication budget and the tenant's rate limit are
//! checked from the metadata before a byte of the message is read. What differs is the
//! framing, which tonic handles (length-prefixed messages, `grpc-encoding: gzip`, statuses
//! in trailers), and how answers are given: the gRPC status codes the OTLP specification
//! asks for, with a `google.rpc.Status` in `grpc-status-details-bin` whose
//! `ErrorInfo.reason` is the code `/ingest` would give and, when a retry can succeed, a
//! `RetryInfo` (exporters retry `RESOURCE_EXHAUSTED` only with one).

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use prost::Message;
use telemetry_application::auth::AuthFailure;
use telemetry_domain::values::ApiKeyId;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{ClientStreamingService, Grpc};
use tonic::Streaming;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{
    authenticate_key, failed_authentication, header_text, ApiKeyCaller, ClientAddress,
    API_KEY_HEADER,
};
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::otlp::proto::{ProtoAny, ProtoDuration, RetryInfo};
use crate::otlp::Signal;
use crate::routes::body::idempotency_key;
use crate::routes::ingest::{admit, Batch, IDEMPOTENT_REPLAYED};
use crate::routes::otlp::{export_bytes, export_response_message, grpc_code, rpc_status, Encoding};
use crate::state::AppState;

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";
const RESOURCE_EXHAUSTED: i32 = 8;

/// The collector services' methods, by signal.
const METHODS: [(Signal, &str); 3] = [
    (
        Signal::Logs,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    ),
    (
        Signal::Metrics,
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    ),
    (
        Signal::Traces,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    ),
];

/// The OTLP/gRPC services, to be served over HTTP/2.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (signal, method) in METHODS {
        router = router.route(
            method,
            post(
                move |State(state): State<AppState>,
                      ClientAddress(client): ClientAddress,
                      request: Request| async move {
                    export(state, signal, client, request).await
                },
            ),
        );
    }
    router
        .fallback(|| async {
            status_response(tonic::Status::unimplemented(
                "this server serves the OTLP collector services' Export methods only",
            ))
        })
        .layer(CatchPanicLayer::custom(|_| {
            status_response(grpc_status(&ApiError::internal(
                &"an export handler panicked",
            )))
        }))
        .layer(TraceLayer::new_for_grpc())
        .with_state(state)
}

/// One export, within the request timeout as a whole (admission, reading the message,
/// recording it), counted like `/ingest` requests.
async fn export(
    state: AppState,
    signal: Signal,
    client: Option<IpAddr>,
    request: Request,
) -> Response {
    let metrics = &state.metrics;
    metrics.ingest_requests.fetch_add(1, Ordering::Relaxed);
    let timeout = state.limits.request_timeout;
    // Past the timeout a retry is safe (the records' ids derive from their content), so the
    // answer is one exporters retry, as over HTTP.
    let response = tokio::time::timeout(timeout, answer(&state, signal, client, request))
        .await
        .unwrap_or_else(|_| {
            let error = ApiError::unavailable(
                ErrorCode::RequestTimeout,
                "the export was not recorded within the request timeout; retry",
            )
            .retry_after(1);
            status_response(grpc_status(&error))
        });
    // Refusals are trailers-only answers: their status is in the headers.
    let refused = response
        .headers()
        .get("grpc-status")
        .is_some_and(|code| code.as_bytes() != b"0");
    if refused {
        metrics.ingest_rejected.fetch_add(1, Ordering::Relaxed);
    }
    response
}

async fn answer(
    state: &AppState,
    signal: Signal,
    client: Option<IpAddr>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let caller = match authenticate(state, headers).await {
        Ok(caller) => caller,
        Err(error) => {
            let (error, _) = failed_authentication(state, ClientAddress(client), error).await;
            return status_response(grpc_status(&error));
        }
    };
    let decision = state.rate_limits.check(&caller.0.tenant_id).await;
    let admitted =
        admit(&caller, &decision).and_then(|key_id| Ok((key_id, idempotency_key(headers)?)));
    let refuse = |error: &ApiError| {
        state
            .refusals
            .record(&caller.0.tenant_id, error.code.as_str());
        status_response(grpc_status(error))
    };
    let (key_id, idempotency_key) = match admitted {
        Ok(admitted) => admitted,
        Err(error) => return refuse(&error),
    };
    let limit = state.limits.max_body_bytes;
    let request = match within_limit(request, limit).await {
        Ok(request) => request,
        Err(error) => return refuse(&error),
    };
    let mut grpc = Grpc::new(RawCodec)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let service = Export {
        state: state.clone(),
        signal,
        caller,
        key_id,
        idempotency_key,
    };
    grpc.client_streaming(service, request).await.map(Body::new)
}

/// The API key in the `x-api-key` metadata; as over HTTP, ingestion takes no bearer token.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<ApiKeyCaller, ApiError> {
    if header_text(headers, API_KEY_HEADER).is_none() {
        let mut error = ApiError::from(AuthFailure::Missing);
        error.message = if headers.contains_key(axum::http::header::AUTHORIZATION) {
            "ingestion takes x-api-key metadata; bearer tokens are for reads and administration"
        } else {
            "send x-api-key metadata"
        }
        .to_string();
        return Err(error);
    }
    authenticate_key(state, headers).await.map(ApiKeyCaller)
}

/// The request, unchanged, if the first message it frames declares at most `limit` bytes;
/// a larger one is refused before its bytes are read (tonic's own limit would answer
/// `OUT_OF_RANGE`, which OTLP exporters retry).
async fn within_limit(request: Request, limit: usize) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut prefix = Vec::new();
    while prefix.len() < 5 {
        match stream.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(error)) => {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidBody,
                    format!("the request body could not be read: {error}"),
                ))
            }
            None => break,
        }
    }
    if let Some(length) = prefix.get(1..5) {
        let declared = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        if usize::try_from(declared).unwrap_or(usize::MAX) > limit {
            return Err(too_large(limit));
        }
    }
    let rest = futures_util::stream::once(async move { Ok(Bytes::from(prefix)) }).chain(stream);
    Ok(Request::from_parts(parts, Body::from_stream(rest)))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        format!("an export may be at most {limit} bytes (INGEST_MAX_BODY_BYTES), inflated or not"),
    )
}

/// Records the one export message of a call for the admitted sender; answers the
/// `Export*ServiceResponse`.
struct Export {
    state: AppState,
    signal: Signal,
    caller: ApiKeyCaller,
    key_id: ApiKeyId,
    idempotency_key: Option<String>,
}

type ExportFuture = Pin<
    Box<dyn std::future::Future<Output = Result<tonic::Response<Bytes>, tonic::Status>> + Send>,
>;

impl ClientStreamingService<Bytes> for Export {
    type Response = Bytes;
    type Future = ExportFuture;

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let (state, signal) = (self.state.clone(), self.signal);
        let tenant = self.caller.0.tenant_id.clone();
        let (key_id, idempotency_key) = (self.key_id.clone(), self.idempotency_key.clone());
        let mut messages = request.into_inner();
        Box::pin(async move {
            let limit = state.limits.max_body_bytes;
            let refused = |error: ApiError| {
                state.refusals.record(&tenant, error.code.as_str());
                grpc_status(&error)
            };
            let bytes = one_message(&mut messages, limit).await.map_err(refused)?;
            let batch =
                Batch::new(tenant.clone(), key_id, idempotency_key, &bytes).of_otlp_export();
            let exported = export_bytes(&state, batch, bytes, signal, Encoding::Protobuf)
                .await
                .map_err(refused)?;
            let mut response =
                tonic::Response::new(Bytes::from(export_response_message(exported.partial)));
            if exported.replayed {
                response.metadata_mut().insert(
                    IDEMPOTENT_REPLAYED,
                    tonic::metadata::MetadataValue::from_static("true"),
                );
            }
            Ok(response)
        })
    }
}

/// The call's one message (an Export is unary); a second one is refused rather than
/// ignored.
async fn one_message(messages: &mut Streaming<Bytes>, limit: usize) -> Result<Bytes, ApiError> {
    let unreadable = |status: tonic::Status| {
        if status.code() == tonic::Code::ResourceExhausted {
            too_large(limit)
        } else {
            ApiError::bad_request(
                ErrorCode::InvalidEncoding,
                format!("the message could not be read: {}", status.message()),
            )
        }
    };
    let Some(message) = messages.message().await.map_err(unreadable)? else {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidOtlp,
            "the call carries no export message",
        ));
    };
    if messages.message().await.map_err(unreadable)?.is_some() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidOtlp,
            "an Export call carries one message",
        ));
    }
    Ok(message)
}

/// An error as OTLP/gRPC reports it: the gRPC code for its HTTP status (a body above the
/// limit: `RESOURCE_EXHAUSTED`), and in the details the `google.rpc.Status` with its
/// `ErrorInfo` and, when a retry may succeed after a while, a `RetryInfo`.
fn grpc_status(error: &ApiError) -> tonic::Status {
    let code = if error.code == ErrorCode::PayloadTooLarge {
        RESOURCE_EXHAUSTED
    } else {
        grpc_code(error.status)
    };
    let mut status = rpc_status(error, code);
    if let Some(seconds) = error.retry_after_secs {
        status.details.push(ProtoAny {
            type_url: RETRY_INFO_TYPE.to_string(),
            value: RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
                    nanos: 0,
                }),
            }
            .encode_to_vec(),
        });
    }
    tonic::Status::with_details(
        tonic::Code::from_i32(code),
        error.message.clone(),
        Bytes::from(status.encode_to_vec()),
    )
}

/// A status as a trailers-only gRPC answer.
fn status_response(status: tonic::Status) -> Response {
    let mut response = status.into_http::<Body>();
    // gRPC answers are HTTP 200 whatever their status.
    *response.status_mut() = StatusCode::OK;
    response.into_response()
}

/// Passes the message bytes through: decoding is the shared export path's.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, buffer: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        buffer.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(buffer.copy_to_bytes(buffer.remaining())))
    }
}
