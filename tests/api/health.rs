//! Liveness, readiness, the OpenAPI document and Swagger UI.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{closed_port, json, log_event, spawn_app, spawn_app_with, ACME_KEY};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_every_dependency_up() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    let status = response.status();
    let body = json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    for dependency in ["postgres", "clickhouse", "redis"] {
        assert_eq!(body["dependencies"][dependency]["status"], "up", "{body}");
    }
}

#[tokio::test]
async fn clickhouse_down_keeps_ingestion_ready_by_default() {
    let app = spawn_app_with(|settings| {
        settings.clickhouse.url = format!("http://127.0.0.1:{}", closed_port());
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["dependencies"]["clickhouse"]["status"], "down");
    assert_eq!(body["dependencies"]["clickhouse"]["required"], false);
    app.ingest_ok(ACME_KEY, &log_event("while-clickhouse-is-down"))
        .await;
}

#[tokio::test]
async fn readyz_is_503_and_names_a_required_dependency_that_is_down() {
    let app = spawn_app_with(|settings| {
        settings.clickhouse.url = format!("http://127.0.0.1:{}", closed_port());
        settings.readiness.required = vec![
            telemetry_server::config::Dependency::Postgres,
            telemetry_server::config::Dependency::Clickhouse,
        ];
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response).await;
    assert_eq!(body["status"], "not_ready");
    let clickhouse = &body["dependencies"]["clickhouse"];
    assert_eq!(clickhouse["status"], "down");
    assert_eq!(clickhouse["required"], true);
    assert!(clickhouse["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(body["dependencies"]["postgres"]["status"], "up");
}

#[tokio::test]
async fn redis_down_is_reported_but_does_not_make_the_service_unready() {
    let app = spawn_app_with(|settings| {
        settings.redis.url =
            telemetry_server::config::Secret::new(format!("redis://127.0.0.1:{}", closed_port()));
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["dependencies"]["redis"]["status"], "down");
    assert_eq!(body["dependencies"]["redis"]["required"], false);
}

#[tokio::test]
async fn served_openapi_matches_the_committed_copy() {
    let app = spawn_app().await;
    let response = app.get("/api-docs/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = json(response).await;
    let committed_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is missing: run `make openapi`");
    let committed: Value = serde_json::from_str(&committed_text).expect("committed spec is JSON");
    assert!(
        served == committed,
        "openapi/openapi.json is out of date: run `make openapi` and commit the result"
    );
    assert!(served["paths"]["/ingest"]["post"].is_object());
    // The body the spec describes is the one the service takes: an event, or an array of
    // them, not an object keyed by a variant's name.
    let body = &served["components"]["schemas"]["IngestBody"]["oneOf"];
    assert_eq!(
        body[0]["$ref"], "#/components/schemas/IngestEvent",
        "{body}"
    );
    assert_eq!(body[1]["type"], "array", "{body}");
    assert_eq!(
        body[1]["items"]["$ref"], "#/components/schemas/IngestEvent",
        "{body}"
    );
}

#[tokio::test]
async fn swagger_ui_is_served() {
    let app = spawn_app().await;
    let response = app.get("/docs/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.to_lowercase().contains("swagger"));
    // The page configures itself from the initializer, which must point at our spec.
    let response = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    let initializer = response.text().await.unwrap();
    let compact: String = initializer.split_whitespace().collect();
    assert!(
        compact.contains(r#""url":"/api-docs/openapi.json""#),
        "Swagger UI is not pointed at the spec: {initializer}"
    );
}

#[tokio::test]
async fn unknown_routes_get_the_standard_error_body() {
    let app = spawn_app().await;
    let response = app.get("/no/such/thing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["details"].is_array());
}
