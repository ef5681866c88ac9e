//! The OpenAPI document, generated from the handlers' annotations.
//!
//! Served at `/api-docs/openapi.json`; `openapi/openapi.json` is the committed copy and a
//! black-box test fails when the two differ (`make openapi` refreshes the copy).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail, ProblemDoc};
use crate::routes::{
    accounts, alerts, api_keys, audit, catalog, dto, health, ingest, live, otlp, query,
    read_models, session, timeseries,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Telemetry Platform API",
        description = "Multi-tenant telemetry ingestion and analytics. Producers push events with a \
tenant API key (`X-API-Key`); readers use an API key or a bearer JWT.",
        license(name = "Apache-2.0")
    ),
    paths(
        health::healthz, health::readyz, health::metrics, ingest::ingest,
        otlp::export_logs, otlp::export_metrics, otlp::export_traces,
        api_keys::issue_key, api_keys::list_keys, api_keys::revoke_key, api_keys::rotate_key,
        query::query, accounts::summary, timeseries::timeseries, catalog::catalog,
        catalog::event_series, session::session, live::live_events,
        audit::audit_log, read_models::rebuild,
        alerts::create_rule, alerts::list_rules, alerts::get_rule, alerts::replace_rule,
        alerts::delete_rule, alerts::active, alerts::history, alerts::dead_letters,
        alerts::redeliver,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, ProblemDoc, health::HealthBody, health::ReadinessBody, health::DependencyBody, health::ProcessorBody,
        ingest::IngestEvent, ingest::IngestBody, ingest::IngestResponse, ingest::EventTypeDoc,
        api_keys::IssueKeyRequest, api_keys::IssuedKeyResponse, api_keys::ApiKeyList,
        api_keys::ApiKeyDto, api_keys::KeyStatus, api_keys::RotatedKeyResponse,
        query::QueryRequest, query::QueryResponse, query::PageResponse, query::CursorResponse,
        query::GroupResponse, query::Pagination, query::GroupByDoc, dto::EventDto, dto::GroupDto,
        dto::StatsDto, dto::StepDoc, dto::KindDto, dto::MetricKindDoc, dto::TemporalityDoc,
        accounts::SummaryResponse, accounts::MetricSummary, accounts::SummaryWindowDoc,
        timeseries::TimeseriesResponse, timeseries::PointDto,
        catalog::CatalogResponse, catalog::CatalogService, catalog::CatalogMetricDto,
        catalog::MetricSource, catalog::EventSeriesResponse, catalog::EventCountDto,
        dto::EventTypeParam, session::SessionResponse, session::CredentialKind,
        session::RoleDto, session::PermissionDto,
        audit::AuditResponse, audit::AuditEntryDto, read_models::RebuildResponse,
        alerts::AlertRuleBody, alerts::ChannelBody, alerts::RuleResponse, alerts::RuleKind,
        alerts::Aggregation, alerts::Comparator, alerts::SeverityDoc, alerts::ChannelFormat,
        alerts::TransitionKind, alerts::RuleList,
        alerts::TransitionDto, alerts::ActiveResponse, alerts::HistoryResponse,
        alerts::DeadLetterDto, alerts::DeadLetterList,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "ingestion", description = "Push telemetry"),
        (name = "otlp", description = "OpenTelemetry OTLP/HTTP export (protobuf or JSON, optionally gzip)"),
        (name = "queries", description = "Events, summaries and time series"),
        (name = "alerts", description = "Alert rules, active alerts, history, dead letters"),
        (name = "administration", description = "Tenant administration (admin users)"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as served (pretty-printed JSON, stable key order).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}
