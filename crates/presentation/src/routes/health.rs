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

/// The event store's replay horizon, as its last maintenance run (hourly, and at start-up)
/// left it. Informational: a held-back horizon does not make the service unready.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventStoreBody {
    /// When the last maintenance run happened.
    pub last_maintenance: String,
    /// Telemetry recorded before this may be dropped (`null`: the horizon is off).
    pub horizon_start: Option<String>,
    /// Telemetry recorded before this is gone from the event store: replays (and rebuilds of
    /// `rollups` and `audit`) start after it (`null`: nothing was ever dropped).
    pub dropped_before: Option<String>,
    /// Processors that have not yet read a part of the store past the horizon, which is kept
    /// for them (empty when none): a stopped or failing processor shows here.
    pub held_back_by: Vec<String>,
    /// The oldest partition kept past the horizon for them.
    pub held_partition: Option<String>,
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
    /// The event store's horizon (`null` before the first maintenance run or when the
    /// store does not answer).
    #[serde(rename = "eventStore")]
    pub event_store: Option<EventStoreBody>,
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
    let (report, processors, horizon) = tokio::join!(
        state.readiness.report(),
        state.processors.report(&*state.event_log),
        state.horizon.last_run()
    );
    let event_store = horizon.ok().flatten().map(|run| EventStoreBody {
        last_maintenance: run.ran_at.to_rfc3339(),
        horizon_start: run.horizon_start.map(|at| at.to_rfc3339()),
        dropped_before: run.dropped_before.map(|at| at.to_rfc3339()),
        held_back_by: run.held_back_by,
        held_partition: run.held_partition,
    });
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
            event_store,
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
