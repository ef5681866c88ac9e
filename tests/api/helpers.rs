//! Starting the service for a test and talking to it.
#![allow(dead_code)] // each test module uses a different part of the helpers

use std::sync::Once;
use std::time::Duration;

use reqwest::{Client, Response};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use telemetry_server::config::{Secret, Settings};
use telemetry_server::startup::Application;
use tokio::sync::oneshot;
use uuid::Uuid;

pub const ACME_KEY: &str = "acme-test-key-0001";
pub const GLOBEX_KEY: &str = "globex-test-key-0001";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";

/// Where the test dependencies live (overridable for unusual set-ups).
fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn clickhouse_url() -> String {
    std::env::var("TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

static LOGGING: Once = Once::new();

/// Logs go to the test output only when `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
fn init_logging() {
    LOGGING.call_once(|| {
        if let Ok(level) = std::env::var("TEST_LOG") {
            telemetry_server::observability::init_logging(&telemetry_server::config::LogConfig {
                level,
                format: "pretty".into(),
            });
        }
    });
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub database_url: String,
    pub clickhouse_database: String,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request failed")
    }

    /// Stops the service gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Settings for a fresh, isolated instance: port 0, new Postgres and ClickHouse databases,
/// own Redis prefix, two tenants with one API key each, an HS256 JWT secret.
pub async fn test_settings() -> Settings {
    let id = Uuid::new_v4().simple().to_string()[..12].to_string();
    let database = format!("test_{id}");
    let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_server()))
        .await
        .expect("cannot reach Postgres; is it running?");
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await
        .expect("cannot create the test database");

    let mut settings = Settings::default();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.shutdown_grace_ms = 2_000;
    settings.database.url = Secret::new(format!("{}/{database}", postgres_server()));
    settings.database.max_connections = 10;
    settings.database.acquire_timeout_ms = 1_500;
    settings.clickhouse.url = clickhouse_url();
    settings.clickhouse.database = database;
    settings.redis.url = Secret::new(redis_url());
    settings.redis.key_prefix = format!("test:{id}:");
    settings.auth.api_keys = Secret::new(format!("{ACME_KEY}:acme,{GLOBEX_KEY}:globex"));
    settings.auth.jwt_secret = Secret::new(JWT_SECRET);
    settings
}

/// Starts the service with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service with test settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logging();
    let mut settings = test_settings().await;
    adjust(&mut settings);
    let application = Application::build(settings.clone())
        .await
        .expect("the service failed to start");
    let address = format!("http://127.0.0.1:{}", application.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client"),
        database_url: settings.database.url.expose().to_string(),
        clickhouse_database: settings.clickhouse.database.clone(),
        settings,
        stop: Some(stop),
        server: Some(server),
    }
}

/// A local TCP port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("the body is not JSON")
}
