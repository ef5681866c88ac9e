//! OTLP/gRPC: the OpenTelemetry collector services on a port of their own (4317 by
//! default), as the Collector's `otlp` exporter and SDKs configured for gRPC send them.
//!
//! One path, two transports: an export received here goes through exactly what an OTLP/HTTP
//! protobuf export goes through ([`crate::routes::otlp::export_bytes`]: size check,
//! decoding, conversion, deduplication, the event store). What differs is the framing, which
//! tonic handles (length-prefixed messages, `grpc-encoding: gzip`, statuses in trailers),
//! and how answers are given: the gRPC status codes the OTLP specification asks for, with
//! a `google.rpc.Status` in `grpc-status-details-bin` whose `ErrorInfo.reason` is the code
//! `/ingest` would give and, when a retry can succeed, a `RetryInfo` (exporters retry
//! `RESOURCE_EXHAUSTED` only with one).

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
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, UnaryService};
use tower_http::trace::TraceLayer;

use crate::auth::{failed_authentication, ApiKeyCaller, ClientAddress, API_KEY_HEADER};
use crate::error::ApiError;
use crate::otlp::proto::{
    ErrorInfo, ExportPartialSuccess, ExportResponse, ProtoAny, ProtoDuration, RetryInfo, Status,
};
use crate::otlp::Signal;
use crate::routes::body::idempotency_key;
use crate::routes::ingest::{admit, Batch};
use crate::routes::otlp::{export_bytes, grpc_code, Encoding, ERROR_DOMAIN, ERROR_INFO_TYPE};
use crate::state::AppState;

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

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
        .layer(TraceLayer::new_for_grpc())
        .with_state(state)
}

/// One export: the message's declared size is checked before anything is read past it,
/// then tonic decodes the frame (inflating gzip) and [`Export`] records it.
async fn export(
    state: AppState,
    signal: Signal,
    client: Option<IpAddr>,
    request: Request,
) -> Response {
    let limit = state.limits.max_body_bytes;
    let request = match within_limit(request, limit).await {
        Ok(request) => request,
        Err(status) => return status_response(status),
    };
    let mut grpc = Grpc::new(RawCodec)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let service = Export {
        state,
        signal,
        client,
    };
    grpc.unary(service, request).await.map(Body::new)
}

/// The request, unchanged, if the message it frames declares at most `limit` bytes; a
/// larger one is `RESOURCE_EXHAUSTED` without `RetryInfo` (not retried, as the OTLP
/// specification says of a request that can never be accepted), before its bytes are read.
async fn within_limit(request: Request, limit: usize) -> Result<Request, tonic::Status> {
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut prefix = Vec::new();
    while prefix.len() < 5 {
        match stream.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(error)) => {
                return Err(tonic::Status::cancelled(format!(
                    "the request body could not be read: {error}"
                )))
            }
            None => break,
        }
    }
    if let Some(length) = prefix.get(1..5) {
        let declared = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        if usize::try_from(declared).unwrap_or(usize::MAX) > limit {
            return Err(tonic::Status::resource_exhausted(format!(
                "the export is {declared} bytes; at most {limit} (INGEST_MAX_BODY_BYTES) are \
                 accepted"
            )));
        }
    }
    let rest = futures_util::stream::once(async move { Ok(Bytes::from(prefix)) }).chain(stream);
    Ok(Request::from_parts(parts, Body::from_stream(rest)))
}

/// Records one export for its sender; answers the `Export*ServiceResponse`.
#[derive(Clone)]
struct Export {
    state: AppState,
    signal: Signal,
    client: Option<IpAddr>,
}

impl UnaryService<Bytes> for Export {
    type Response = Bytes;
    type Future = Pin<
        Box<dyn std::future::Future<Output = Result<tonic::Response<Bytes>, tonic::Status>> + Send>,
    >;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let Export {
            state,
            signal,
            client,
        } = self.clone();
        Box::pin(async move {
            state
                .metrics
                .ingest_requests
                .fetch_add(1, Ordering::Relaxed);
            // As for OTLP/HTTP: past the request timeout a retry is safe (the records' ids
            // derive from their content), so the answer is one exporters retry.
            let timeout = state.limits.request_timeout;
            let outcome = tokio::time::timeout(timeout, record(&state, signal, client, request))
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::unavailable(
                        "request_timeout",
                        "the export was not recorded within the request timeout; retry",
                    )
                    .retry_after(1))
                });
            outcome.map(tonic::Response::new).map_err(|error| {
                state
                    .metrics
                    .ingest_rejected
                    .fetch_add(1, Ordering::Relaxed);
                grpc_status(error)
            })
        })
    }
}

async fn record(
    state: &AppState,
    signal: Signal,
    client: Option<IpAddr>,
    request: tonic::Request<Bytes>,
) -> Result<Bytes, ApiError> {
    let (metadata, _, bytes) = request.into_parts();
    let headers = metadata.into_headers();
    let caller = match authenticate(state, &headers).await {
        Ok(caller) => caller,
        Err(error) => {
            return Err(failed_authentication(state, ClientAddress(client), error)
                .await
                .0)
        }
    };
    let decision = state.rate_limits.check(&caller.0.tenant_id).await;
    let key_id = admit(&caller, &decision)?;
    let idempotency_key = idempotency_key(&headers)?;
    let batch = Batch::new(caller.0.tenant_id, key_id, idempotency_key, &bytes);
    let exported = export_bytes(state, batch, bytes, signal, Encoding::Protobuf).await?;
    let response = ExportResponse {
        partial_success: exported
            .partial
            .map(|(rejected, error_message)| ExportPartialSuccess {
                rejected: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message,
            }),
    };
    Ok(Bytes::from(response.encode_to_vec()))
}

/// The API key in the `x-api-key` metadata; as over HTTP, ingestion takes no bearer token.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<ApiKeyCaller, ApiError> {
    let key = headers
        .get(API_KEY_HEADER)
        .map(|value| value.to_str().map(str::trim).unwrap_or_default());
    let Some(key) = key.filter(|key| !key.is_empty() || headers.contains_key(API_KEY_HEADER))
    else {
        let mut error = ApiError::from(AuthFailure::Missing);
        error.message = if headers.contains_key(axum::http::header::AUTHORIZATION) {
            "ingestion takes x-api-key metadata; bearer tokens are for reads and administration"
        } else {
            "send x-api-key metadata"
        }
        .to_string();
        return Err(error);
    };
    if key.is_empty() {
        return Err(AuthFailure::InvalidApiKey.into());
    }
    Ok(ApiKeyCaller(state.auth.authenticate_api_key(key).await?))
}

/// An error as OTLP/gRPC reports it: the gRPC code for its HTTP status, and in the details
/// a `google.rpc.Status` with an `ErrorInfo` (the service's code) and, when a retry may
/// succeed after a while, a `RetryInfo`.
fn grpc_status(error: ApiError) -> tonic::Status {
    let code = grpc_code(error.status);
    let mut details = vec![ProtoAny {
        type_url: ERROR_INFO_TYPE.to_string(),
        value: ErrorInfo {
            reason: error.code.to_string(),
            domain: ERROR_DOMAIN.to_string(),
        }
        .encode_to_vec(),
    }];
    if let Some(seconds) = error.retry_after_secs {
        details.push(ProtoAny {
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
    let status = Status {
        code,
        message: error.message.clone(),
        details,
    };
    tonic::Status::with_details(
        tonic::Code::from_i32(code),
        error.message,
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
