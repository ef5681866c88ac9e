//! Starting the service for a test and talking to it.
#![allow(dead_code)] // each test module uses a different part of the helpers

use std::sync::Once;
use std::time::Duration;

use reqwest::{Client, Response};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use telemetry_server::config::catalog::environment;
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

/// `host:port` of the ClickHouse the tests use (for a TCP proxy in front of it).
pub fn clickhouse_address() -> String {
    let url = clickhouse_url();
    let without_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    without_scheme.trim_end_matches('/').to_string()
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

static LOGGING: Once = Once::new();

/// Logs go to the test output only when `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
fn init_logging() {
    LOGGING.call_once(|| {
        if let Ok(level) = std::env::var("TEST_LOG") {
            telemetry_server::observability::init_logging(&telemetry_server::config::LogConfig {
                level,
                format: telemetry_server::config::LogFormat::Pretty,
            });
        }
    });
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    /// `host:port` of OTLP/gRPC, when the instance serves it.
    pub otlp_grpc_address: Option<String>,
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
    settings.server.otlp_grpc_port = 0;
    settings.server.shutdown_grace = Duration::from_millis(2_000);
    settings.database.url = Secret::new(format!("{}/{database}", postgres_server()));
    // Up to five tests run at once (`--test-threads` in the Makefile) against one Postgres (100 connections by default), and
    // each service also holds one connection for its processor leases: keep pools small.
    settings.database.max_connections = 6;
    // Two cores shared by eight tests and three servers: bounds that a loaded machine can
    // overrun now and then are raised, so that only a real failure fails a test.
    settings.database.acquire_timeout = Duration::from_millis(5_000);
    settings.clickhouse.url = clickhouse_url();
    settings.clickhouse.database = database;
    settings.redis.url = Secret::new(redis_url());
    settings.redis.key_prefix = format!("test:{id}:");
    settings.redis.timeout = Duration::from_millis(5_000);
    settings.auth.api_keys = Secret::new(format!("{ACME_KEY}:acme,{GLOBEX_KEY}:globex"));
    settings.auth.jwt_secret = Secret::new(JWT_SECRET);
    // Alerting at test speed, with webhooks to this machine allowed.
    settings.alerting.tick = Duration::from_millis(200);
    settings.alerting.rules_refresh = Duration::from_millis(100);
    settings.alerting.webhook_timeout = Duration::from_millis(5_000);
    settings.alerting.max_attempts = 3;
    settings.alerting.retry_base = Duration::from_millis(100);
    settings.alerting.retry_max = Duration::from_millis(1_000);
    settings.alerting.allow_private_networks = true;
    settings
}

/// Starts the service with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Retention defaults of a century, for tests that read back events dated long ago (fixed
/// fixtures): the default keeps raw events 30 days, and reads show nothing older.
pub fn keep_everything(settings: &mut Settings) {
    let century = telemetry_domain::tenant_policy::MAX_RETENTION_DAYS;
    let retention = &mut settings.retention;
    retention.events_days = century;
    retention.minute_rollups_days = century;
    retention.hour_rollups_days = century;
    retention.day_rollups_days = century;
}

/// Starts the service with test settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings().await;
    adjust(&mut settings);
    spawn_instance(settings).await
}

/// A local TCP port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("the body is not JSON")
}

// --- Talking to the ingestion API ---------------------------------------------------------

impl TestApp {
    /// `POST /ingest` with an API key and a JSON body.
    pub async fn ingest(&self, api_key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/ingest"))
            .header("X-API-Key", api_key)
            .json(body)
            .send()
            .await
            .expect("request failed")
    }

    /// `POST /ingest` that must succeed; returns the receipt.
    pub async fn ingest_ok(&self, api_key: &str, body: &Value) -> Value {
        let response = self.ingest(api_key, body).await;
        let status = response.status();
        let receipt = json(response).await;
        assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{receipt}");
        receipt
    }

    /// `GET /usage?{query}` with an API key; the answer must be 200.
    pub async fn usage(&self, api_key: &str, query: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/usage?{query}")))
            .header("X-API-Key", api_key)
            .send()
            .await
            .expect("request failed");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        json(response).await
    }

    /// A connection to the test's own Postgres database, for assertions.
    pub async fn postgres(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await
            .expect("cannot connect to the test database")
    }

    /// Telemetry events recorded in the event store for `tenant`.
    pub async fn stored_events(&self, tenant: &str) -> i64 {
        let pool = self.postgres().await;
        let count: Option<i64> = sqlx::query_scalar(
            "SELECT sum(jsonb_array_length(payload -> event_type -> 'ids'))::bigint
             FROM events
             WHERE aggregate_type = 'IngestBatch' AND event_type <> 'BatchAccepted'
               AND metadata ->> 'tenant_id' = $1",
        )
        .bind(tenant)
        .fetch_one(&pool)
        .await
        .expect("count query failed");
        pool.close().await;
        count.unwrap_or(0)
    }

    /// The answer of a query in the test's ClickHouse database (TSV), behind the service's
    /// back.
    pub async fn clickhouse_answer(&self, statement: &str) -> String {
        let response = self
            .client
            .post(format!(
                "{}/?database={}",
                self.settings.clickhouse.url, self.settings.clickhouse.database
            ))
            .body(statement.to_string())
            .send()
            .await
            .expect("ClickHouse request failed");
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{statement}");
        response.text().await.unwrap().trim().to_string()
    }

    /// Runs a statement in the test's ClickHouse database, behind the service's back.
    pub async fn clickhouse(&self, statement: &str) {
        self.clickhouse_answer(statement).await;
    }

    /// A bearer token for a user of `tenant`.
    pub fn token(&self, tenant: &str, role: &str) -> String {
        self.token_lasting(tenant, role, Duration::from_secs(600))
    }

    /// A bearer token for a user of `tenant` that expires after `lifetime`.
    pub fn token_lasting(&self, tenant: &str, role: &str, lifetime: Duration) -> String {
        let codec = telemetry_infrastructure::auth::JwtCodec::new(
            &telemetry_infrastructure::auth::JwtSettings {
                secret: Some(JWT_SECRET.to_string()),
                issuer: self.settings.auth.jwt_issuer.clone(),
                audience: self.settings.auth.jwt_audience.clone(),
                ..Default::default()
            },
        )
        .expect("jwt codec");
        codec
            .mint(
                "test-user",
                &telemetry_domain::values::TenantId::parse(tenant).expect("tenant"),
                telemetry_application::ports::Role::parse(role).expect("role"),
                lifetime,
            )
            .expect("mint")
    }
}

/// A log event with a recent timestamp.
pub fn log_event(event_id: &str) -> Value {
    serde_json::json!({
        "eventId": event_id,
        "eventType": "log",
        "serviceName": "api-gateway",
        "timestamp": recent_timestamp(),
        "userId": "12345",
        "payload": {"level": "info", "message": "User logged in"}
    })
}

/// A metric event with a recent timestamp.
pub fn metric_event(event_id: &str, name: &str, value: f64) -> Value {
    serde_json::json!({
        "eventId": event_id,
        "eventType": "metric",
        "serviceName": "checkout",
        "timestamp": recent_timestamp(),
        "payload": {"name": name, "value": value, "unit": "ms"}
    })
}

/// `count` log events with ids `<prefix>-0`, `<prefix>-1`, ...
pub fn log_batch(prefix: &str, count: usize) -> Value {
    Value::Array(
        (0..count)
            .map(|index| log_event(&format!("{prefix}-{index}")))
            .collect(),
    )
}

/// Five seconds ago, but never past the end of the UTC day the tests started on: events are
/// deduplicated per day of their timestamp, so a test that sends an event again right after
/// midnight would otherwise see it recorded twice.
pub fn recent_timestamp() -> String {
    static END_OF_FIRST_DAY: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> =
        std::sync::OnceLock::new();
    let end = *END_OF_FIRST_DAY.get_or_init(|| {
        let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
        tomorrow.and_time(chrono::NaiveTime::MIN).and_utc() - chrono::Duration::microseconds(1)
    });
    (chrono::Utc::now() - chrono::Duration::seconds(5))
        .min(end)
        .to_rfc3339()
}

// --- Reading back ----------------------------------------------------------------------------

impl TestApp {
    /// `POST /query` with an API key.
    pub async fn query(&self, api_key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/query"))
            .header("X-API-Key", api_key)
            .json(body)
            .send()
            .await
            .expect("request failed")
    }

    /// `GET` with an API key.
    pub async fn get_with_key(&self, api_key: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("X-API-Key", api_key)
            .send()
            .await
            .expect("request failed")
    }

    /// `GET` with an API key, asking for a freshly computed answer (`Cache-Control: no-cache`).
    pub async fn get_fresh(&self, api_key: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("X-API-Key", api_key)
            .header("Cache-Control", "no-cache")
            .send()
            .await
            .expect("request failed")
    }

    /// The tenant's 24h summary, freshly computed: tests of the numbers are not tests of the
    /// cache, which has its own.
    pub async fn summary(&self, api_key: &str, tenant: &str) -> Value {
        let response = self
            .get_fresh(api_key, &format!("/accounts/{tenant}/summary?window=24h"))
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        json(response).await
    }

    /// Events of the last `hours` hours counted by `/query`.
    pub async fn queried_total(&self, api_key: &str) -> u64 {
        let response = self.query(api_key, &last_hours(2)).await;
        if response.status() != reqwest::StatusCode::OK {
            return u64::MAX;
        }
        json(response).await["pagination"]["total"]
            .as_u64()
            .unwrap_or(u64::MAX)
    }

    /// `totalEvents` of the tenant's 24h summary (computed afresh if `fresh`), or `None` when
    /// it does not answer 200.
    async fn summarized_total(&self, api_key: &str, tenant: &str, fresh: bool) -> Option<u64> {
        let path = format!("/accounts/{tenant}/summary?window=24h");
        let response = if fresh {
            self.get_fresh(api_key, &path).await
        } else {
            self.get_with_key(api_key, &path).await
        };
        if response.status() != reqwest::StatusCode::OK {
            return None;
        }
        json(response).await["totalEvents"].as_u64()
    }

    /// Waits until the aggregation processor has nothing left to write (or returns at once
    /// when another instance owns it).
    pub async fn wait_until_aggregated(&self, patience: Duration) {
        eventually(patience, Duration::from_millis(100), async || {
            let ready = json(self.get("/readyz").await).await;
            let aggregation = &ready["processors"]["rollups"];
            (aggregation["lagEvents"] == 0 || aggregation["status"] == "standby")
                .then_some(())
                .ok_or_else(|| format!("aggregation processor: {aggregation}"))
        })
        .await;
    }

    /// Waits until the read side reports `expected` events for the tenant of `api_key`
    /// (through `/query` and the summary), or fails after `timeout`.
    pub async fn wait_for_events(
        &self,
        api_key: &str,
        tenant: &str,
        expected: u64,
        timeout: Duration,
    ) {
        let started = std::time::Instant::now();
        loop {
            let queried = self.queried_total(api_key).await;
            let summarized = self.summarized_total(api_key, tenant, false).await;
            if queried == expected && summarized == Some(expected) {
                // One INSERT feeds the raw table first and its rollups one after another:
                // wait until it has returned (the aggregation processor is then past these
                // events). An answer cached in between is dropped at the next cache
                // invalidation (every 500 ms by default); wait that out too, so callers read
                // settled data.
                self.wait_until_aggregated(timeout.saturating_sub(started.elapsed()))
                    .await;
                tokio::time::sleep(Duration::from_millis(700)).await;
                // Settled: the counts must still be exactly what was acknowledged (a double
                // count applied after the first match would show now).
                let queried = self.queried_total(api_key).await;
                let summarized = self.summarized_total(api_key, tenant, true).await;
                assert_eq!(
                    (queried, summarized),
                    (expected, Some(expected)),
                    "read side after settling: query / summary"
                );
                return;
            }
            assert!(
                queried == u64::MAX || queried <= expected,
                "more events visible ({queried}) than acknowledged ({expected})"
            );
            assert!(
                started.elapsed() < timeout,
                "read side shows {queried} (query) / {summarized:?} (summary), expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs `check` every `every` until it returns `Ok`; fails the test with the last `Err` once
/// `patience` has passed.
pub async fn eventually<T>(
    patience: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let started = std::time::Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(progress) => assert!(started.elapsed() < patience, "{progress}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// A `/query` body for the last `hours` hours (plus a minute ahead).
pub fn last_hours(hours: i64) -> Value {
    let now = chrono::Utc::now();
    serde_json::json!({
        "startTime": (now - chrono::Duration::hours(hours)).to_rfc3339(),
        "endTime": (now + chrono::Duration::minutes(1)).to_rfc3339(),
    })
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

// --- Running the real binary -------------------------------------------------------------

/// Starts an in-process instance with `settings` (another instance may share them: same
/// databases and Redis prefix).
pub async fn spawn_instance(settings: Settings) -> TestApp {
    init_logging();
    let application = Application::build(settings.clone())
        .await
        .expect("the service failed to start");
    let address = format!("http://127.0.0.1:{}", application.port());
    let otlp_grpc_address = application
        .otlp_grpc_port()
        .map(|port| format!("127.0.0.1:{port}"));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        otlp_grpc_address,
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

/// The `telemetry-server` binary configured like `settings` through its environment only
/// (as an operator would run it); the caller adds the subcommand.
pub fn server_command(settings: &Settings) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_telemetry-server"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(environment(settings));
    command
}

/// Runs the operator command `args` configured like `settings`; its output, as JSON.
pub fn operator_command(settings: &Settings, args: &[&str]) -> Value {
    let output = server_command(settings).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the outcome as JSON")
}

/// The service as a separate process (so a test can `kill -9` it).
pub struct ServerProcess {
    child: std::process::Child,
    pub address: String,
    pub log_path: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts `telemetry-server serve` configured like `settings` and waits until it answers.
    /// The server picks its own port (port 0) and logs it: a port chosen here and passed on
    /// could be taken by another test in the second or two before the server binds it. So
    /// every start, restarts included, may answer on a new address.
    // The child is reaped by `kill` or by `Drop`, which clippy cannot see through the struct.
    #[allow(clippy::zombie_processes)]
    pub async fn start(settings: &Settings) -> Self {
        let log_path =
            std::env::temp_dir().join(format!("{}-server.log", settings.clickhouse.database));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("server log file");
        // Earlier starts log to the same file: this one's lines begin here.
        let offset = log.metadata().expect("server log file").len();
        let mut child = server_command(settings)
            .arg("serve")
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("LOG_LEVEL", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("cannot start telemetry-server");

        let client = Client::new();
        for _ in 0..600 {
            if let Some(status) = child.try_wait().expect("child status") {
                panic!(
                    "telemetry-server exited ({status}); see {}",
                    log_path.display()
                );
            }
            if let Some(port) = listening_port(&log_path, offset) {
                let address = format!("http://127.0.0.1:{port}");
                let answered = client.get(format!("{address}/healthz")).send().await;
                if answered.is_ok() {
                    return Self {
                        child,
                        address,
                        log_path,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("telemetry-server did not start; see {}", log_path.display());
    }

    /// SIGTERM, then waits up to `patience` for the process to exit; its exit status.
    pub async fn terminate(mut self, patience: Duration) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status;
            }
            assert!(
                started.elapsed() < patience,
                "the server did not exit within {patience:?} of SIGTERM; see {}",
                self.log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, connections cut mid-request.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port a server logged (`"message":"listening","port":N`) past `offset` of its log.
fn listening_port(log_path: &std::path::Path, offset: u64) -> Option<u16> {
    use std::io::{Read, Seek, SeekFrom};
    let mut log = std::fs::File::open(log_path).ok()?;
    log.seek(SeekFrom::Start(offset)).ok()?;
    let mut written = Vec::new();
    log.read_to_end(&mut written).ok()?;
    String::from_utf8_lossy(&written).lines().find_map(|line| {
        let entry: Value = serde_json::from_str(line).ok()?;
        if entry["message"] != "listening" {
            return None;
        }
        u16::try_from(entry["port"].as_u64()?).ok()
    })
}

impl TestApp {
    /// A handle on a service running elsewhere (a separate process), for its HTTP helpers.
    pub fn attach(address: &str, settings: Settings) -> TestApp {
        TestApp {
            address: address.to_string(),
            otlp_grpc_address: None,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            database_url: settings.database.url.expose().to_string(),
            clickhouse_database: settings.clickhouse.database.clone(),
            settings,
            stop: None,
            server: None,
        }
    }
}

// --- The OpenTelemetry Python SDK and grpcio (scripts/otel-venv.sh) ----------------------

/// Runs `tests/otel/<script>` with the test Python environment and returns the JSON line it
/// printed last. (A child process, awaited: the service under test runs on this thread.)
pub async fn otel_python(script: &str, args: &[&str]) -> Value {
    otel_python_output(script, args, otel_python_child(script, args)).await
}

/// Starts `tests/otel/<script>` with the test Python environment, for a test to do other
/// things while it runs; [`otel_python_output`] waits for its JSON line.
pub fn otel_python_child(script: &str, args: &[&str]) -> tokio::process::Child {
    let root = env!("CARGO_MANIFEST_DIR");
    let python = format!("{root}/target/otel-venv/bin/python");
    assert!(
        std::path::Path::new(&python).exists(),
        "{python} is missing: run scripts/otel-venv.sh (make test does)"
    );
    tokio::process::Command::new(&python)
        .arg(format!("{root}/tests/otel/{script}"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot run the test Python")
}

/// Waits for a script started by [`otel_python_child`]; the JSON line it printed last.
pub async fn otel_python_output(
    script: &str,
    args: &[&str],
    child: tokio::process::Child,
) -> Value {
    let output = child
        .wait_with_output()
        .await
        .expect("cannot run the test Python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| panic!("{script} printed {stdout}"))
}

// --- Alert rules --------------------------------------------------------------------------

impl TestApp {
    /// Creates a rule with an API key; returns its id.
    pub async fn create_rule(&self, api_key: &str, rule: &Value) -> String {
        let response = self
            .client
            .post(self.url("/alerts/rules"))
            .header("X-API-Key", api_key)
            .json(rule)
            .send()
            .await
            .expect("request failed");
        let status = response.status();
        let body = json(response).await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("rule id").to_string()
    }

    /// The value of a counter from `/metrics`.
    pub async fn counter(&self, name: &str) -> u64 {
        let metrics = self.get("/metrics").await.text().await.expect("metrics");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no counter {name} in {metrics}"))
    }

    /// The tenant's alert history, newest first.
    pub async fn alert_history(&self, api_key: &str) -> Vec<Value> {
        let response = self
            .get_with_key(api_key, "/alerts/history?limit=1000")
            .await;
        json(response).await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A metric event with the given value now, for service `checkout`.
pub fn sample(event_id: &str, metric: &str, value: f64) -> Value {
    serde_json::json!({
        "eventId": event_id, "eventType": "metric", "serviceName": "checkout",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "payload": {"name": metric, "value": value}
    })
}
