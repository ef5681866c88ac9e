//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process is up and serving HTTP. Never touches a dependency.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

/// One dependency in the readiness report.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyBody {
    #[schema(example = "up")]
    pub status: &'static str,
    /// A required dependency that is down makes the service not ready.
    pub required: bool,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One event processor as this instance sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessorBody {
    /// `running` (this instance owns it), `standby` (another instance does), `starting` or
    /// `retrying`.
    pub status: &'static str,
    /// Store events committed after the processor's position (counted up to 100,000).
    pub lag_events: Option<u64>,
    /// Age of the oldest event the processor has not applied yet.
    pub lag_seconds: Option<f64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessBody {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Per dependency: `postgres`, `clickhouse`, `redis`.
    pub dependencies: std::collections::BTreeMap<&'static str, DependencyBody>,
    /// Per event processor (`rollups`, `audit`, ...): state and lag. Informational: lag
    /// does not make the service unready.
    pub processors: std::collections::BTreeMap<&'static str, ProcessorBody>,
}

/// Readiness: every required dependency answers.
///
/// Postgres, ClickHouse and Redis are each checked; the body lists each one's status and each
/// event processor's lag. The answer is 503 when a required dependency is down (by default
/// Postgres and ClickHouse; without Redis the service keeps working, degraded).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = ReadinessBody),
        (status = 503, description = "A required dependency is down", body = ReadinessBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (report, processors) = tokio::join!(
        state.readiness.report(),
        state.processors.report(&*state.event_log)
    );
    let processors = processors
        .into_iter()
        .map(|(name, processor)| {
            let body = ProcessorBody {
                status: processor.status.as_str(),
                lag_events: processor.lag_events,
                lag_seconds: processor.lag_seconds,
                last_error: processor.last_error,
            };
            (name, body)
        })
        .collect();
    let dependencies = report
        .dependencies
        .into_iter()
        .map(|dependency| {
            let body = DependencyBody {
                status: if dependency.up { "up" } else { "down" },
                required: dependency.required,
                latency_ms: dependency.latency_ms,
                error: dependency.error,
            };
            (dependency.name, body)
        })
        .collect();
    let (status_code, status) = if report.ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        status_code,
        Json(ReadinessBody {
            status,
            dependencies,
            processors,
        }),
    )
}

/// Counters in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render_prometheus(),
    )
}
