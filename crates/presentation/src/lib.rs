//! Presentation: the HTTP interface.
//!
//! - [`routes`]: one router per resource (health, ingestion, ...).
//! - [`otlp`]: OpenTelemetry OTLP/HTTP messages and their translation into events.
//! - [`auth`]: extractors that authenticate callers (API key, bearer JWT).
//! - [`error`]: the single error type and JSON error body; all status mapping lives there.
//! - [`openapi`]: the generated OpenAPI document and Swagger UI.
//! - [`console`]: the browser console (`ui/`), its files and security headers.
//! - [`grpc`]: OTLP/gRPC, served on a port of its own.
//! - [`state`]: what handlers share.

pub mod auth;
pub mod console;
pub mod error;
pub mod grpc;
pub mod openapi;
pub mod otlp;
pub mod routes;
pub mod state;

use axum::http::{header, HeaderName, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use state::{AppState, HttpLimits};

/// Where the OpenAPI document is served (and where Swagger UI loads it from).
const OPENAPI_PATH: &str = "/api-docs/openapi.json";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP API, ready to serve.
pub fn router(state: AppState) -> Router {
    let timeout = state.limits.request_timeout;
    let max_body_bytes = state.limits.max_body_bytes;
    // Ingestion reads bodies through `routes::body::read_body`, which holds them to the
    // same limit once the caller and its rate limit are known; every other route is held to
    // it by the layer. Ingestion has its own timeout and panic guard, wrapped by
    // `refusals_carry_rate_limits`, so that their answers carry the tenant's rate-limit
    // headers too. OTLP exporters retry only 429, 502, 503 and 504: an export that runs past
    // the timeout is answered 503 with `Retry-After` (a retry is safe, the records' ids
    // derive from their content); `/ingest` answers 408 while the body is still arriving
    // and 503 otherwise.
    let timeout_layer = |late_body_is_408| {
        axum::middleware::from_fn_with_state(
            routes::ingest::IngestionTimeout {
                timeout,
                late_body_is_408,
            },
            routes::ingest::ingestion_timeout,
        )
    };
    let ingestion = Router::new()
        .merge(routes::ingest::router().layer(timeout_layer(true)))
        .merge(routes::otlp::router().layer(timeout_layer(false)))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::ingest::refusals_carry_rate_limits,
        ))
        .with_state(state.clone());
    let api = Router::new()
        .merge(routes::health::router())
        .merge(routes::api_keys::router())
        .merge(routes::query::router())
        .merge(routes::accounts::router())
        .merge(routes::timeseries::router())
        .merge(routes::catalog::router())
        .merge(routes::session::router())
        .merge(routes::live::router())
        .merge(routes::audit::router())
        .merge(routes::read_models::router())
        .merge(routes::usage::router())
        .merge(routes::tenants::router())
        .merge(routes::alerts::router())
        .route(OPENAPI_PATH, get(serve_openapi))
        .merge(console::router())
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .fallback(not_found)
        .with_state(state);
    Router::new()
        // The UI loads the spec from the route above, which serves it with this deployment's
        // details; without a URL it would show "No API definition provided".
        .merge(SwaggerUi::new("/docs").config(Config::new([OPENAPI_PATH])))
        .merge(api)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .merge(ingestion)
        // Layers wrap the ones above them: the JSON error mapping must sit outside the
        // limits that answer by themselves.
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::map_response(error::ensure_json_errors))
        .layer(cors())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The answer to a request whose handler panicked (the cause is logged, not returned).
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    error::ApiError::internal(&"a request handler panicked").into_response()
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("idempotency-key"),
            header::CONTENT_ENCODING,
            header::IF_MATCH,
            header::CACHE_CONTROL,
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            header::RETRY_AFTER,
            header::ETAG,
            REQUEST_ID,
        ])
}

async fn serve_openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::openapi_json(),
    )
}

async fn not_found() -> error::ApiError {
    error::ApiError::not_found("no such endpoint")
}
