//! The OpenAPI document, generated from the handlers' annotations.
//!
//! Served at `/api-docs/openapi.json`; `openapi/openapi.json` is the committed copy and a
//! black-box test fails when the two differ (`make openapi` refreshes the copy).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail, ProblemDoc};
use crate::routes::{
    accounts, alerts, api_keys, audit, catalog, dto, health, ingest, live, otlp, query,
    read_models, session, tenants, timeseries, usage,
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
        audit::audit_log, read_models::rebuild, usage::usage, usage::tenants,
        tenants::get_retention, tenants::put_retention, tenants::get_quota, tenants::put_quota,
        tenants::delete_quota,
        alerts::create_rule, alerts::list_rules, alerts::get_rule, alerts::replace_rule,
        alerts::delete_rule, alerts::active, alerts::history, alerts::dead_letters,
        alerts::redeliver,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, ProblemDoc, live::LiveFrame, live::LiveFrameKind, health::HealthBody, health::ReadinessBody, health::DependencyBody, health::ProcessorBody, health::EventStoreBody,
        ingest::IngestEvent, ingest::IngestBody, ingest::IngestResponse, ingest::EventTypeDoc,
        api_keys::IssueKeyRequest, api_keys::IssuedKeyResponse, api_keys::ApiKeyList,
        api_keys::ApiKeyDto, api_keys::KeyStatus, api_keys::RotatedKeyResponse,
        query::QueryRequest, query::QueryResponse, query::PageResponse, query::CursorResponse,
        query::GroupResponse, query::Pagination, query::GroupByDoc, dto::EventDto, dto::GroupDto,
        dto::StatsDto, dto::StepDoc, dto::CoverageDto, dto::KindDto, dto::MetricKindDoc, dto::TemporalityDoc,
        accounts::SummaryResponse, accounts::MetricSummary, accounts::SummaryWindowDoc,
        timeseries::TimeseriesResponse, timeseries::PointDto,
        catalog::CatalogResponse, catalog::CatalogService, catalog::CatalogMetricDto,
        catalog::MetricSource, catalog::EventSeriesResponse, catalog::EventCountDto,
        dto::EventTypeParam, session::SessionResponse, session::CredentialKind,
        session::RoleDto, session::PermissionDto,
        audit::AuditResponse, audit::AuditEntryDto, read_models::RebuildResponse,
        usage::UsageResponse, usage::StorageDto, usage::UsageDay, usage::TenantsUsageResponse,
        usage::TenantUsageDto, usage::UsageByType, usage::QuotaDto,
        tenants::RetentionDaysDto, tenants::RetentionRequest, tenants::RetentionResponse,
        tenants::QuotaSource, tenants::QuotaResponse, tenants::QuotaRequest,
        otlp::OtlpLogsJson, otlp::OtlpMetricsJson, otlp::OtlpTraceJson,
        alerts::AlertRuleBody, alerts::AlertRuleRequest, alerts::ThresholdRuleRequest,
        alerts::AbsenceRuleRequest, alerts::ThresholdKind, alerts::AbsenceKind,
        alerts::ChannelRequest, alerts::ChannelBody, alerts::RuleResponse, alerts::RuleKind,
        alerts::Aggregation, alerts::Comparator, alerts::SeverityDoc, alerts::ChannelFormat,
        alerts::TransitionKind, alerts::RuleList,
        alerts::TransitionDto, alerts::ActiveResponse, alerts::HistoryResponse,
        alerts::DeadLetterDto, alerts::DeadLetterList,
    )),
    modifiers(&SecuritySchemes, &HeadersAreText),
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

/// Optional header parameters are text or absent: a header cannot be `null`, so the `null`
/// utoipa adds to the type of an `Option` (for JSON bodies) is taken out again.
struct HeadersAreText;

impl Modify for HeadersAreText {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{Schema, SchemaType, Type};
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let RefOr::T(parameter) = parameter else {
                        continue;
                    };
                    if parameter.parameter_in != ParameterIn::Header {
                        continue;
                    }
                    if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema {
                        if let SchemaType::Array(types) = &object.schema_type {
                            let text: Vec<Type> = types
                                .iter()
                                .filter(|t| **t != Type::Null)
                                .cloned()
                                .collect();
                            if let [only] = text.as_slice() {
                                object.schema_type = SchemaType::Type(only.clone());
                            }
                        }
                    }
                }
            }
        }
        // An empty batch is refused (`empty_batch`); utoipa cannot put `minItems` on the
        // array variant of `IngestBody` itself.
        let batch = openapi
            .components
            .as_mut()
            .and_then(|components| components.schemas.get_mut("IngestBody"));
        if let Some(RefOr::T(Schema::OneOf(one_of))) = batch {
            for item in &mut one_of.items {
                if let RefOr::T(Schema::Array(array)) = item {
                    array.min_items = Some(1);
                }
            }
        }
    }
}

/// The document as served (pretty-printed JSON, stable key order).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}
