//! Configuration in layers: defaults in code, then an optional TOML file (`CONFIG_FILE` or
//! `--config`), then environment variables. Every setting and its variable is listed in the
//! README; `config/example.toml` shows the file form.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use telemetry_application::rate_limit::check_budget;
use telemetry_domain::values::TenantId;

/// A value that must never appear in logs or error messages.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub clickhouse: ClickHouseConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub ingest: IngestConfig,
    pub cache: CacheConfig,
    pub processors: ProcessorConfig,
    pub alerting: AlertingConfig,
    pub live: LiveConfig,
    pub log: LogConfig,
    pub readiness: ReadinessConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Serve OTLP/gRPC (on `otlp_grpc_port`).
    pub otlp_grpc_enabled: bool,
    /// The OTLP/gRPC port (4317, the OTLP default; 0 picks a free one).
    pub otlp_grpc_port: u16,
    pub request_timeout_ms: u64,
    /// How long shutdown waits for requests and background work to finish.
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    /// How long start-up keeps retrying while Postgres does not answer.
    pub startup_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    /// Bound on one read (queries, summaries, time series, audit and alert history).
    pub query_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    pub url: Secret,
    /// Prepended to every key, so deployments (and tests) can share one Redis.
    pub key_prefix: String,
    /// Upper bound for one Redis call before the caller degrades.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `key:tenant,key:tenant`, registered (hashed) at start-up.
    pub api_keys: Secret,
    /// HS256 secret (at least 32 bytes). Leave empty to use RS256 or no bearer tokens.
    pub jwt_secret: Secret,
    /// RS256 public key (PEM file) for verifying tokens.
    pub jwt_public_key_file: String,
    /// RS256 private key (PEM file), only needed to mint tokens.
    pub jwt_private_key_file: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// How long an API key lookup is cached (revocations elsewhere apply within this).
    pub api_key_cache_ttl_ms: u64,
    /// Admins of this tenant may rebuild read models over HTTP (empty: nobody may).
    pub operator_tenant: String,
}

/// The longest rate-limit window: a budget over more than a day is a quota, not a rate.
pub const MAX_RATE_LIMIT_WINDOW_MS: u64 = 86_400_000;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub window_ms: u64,
    pub max_requests: u64,
    /// `tenant=max_requests,tenant=max_requests` (same window).
    pub overrides: String,
    /// Requests with a missing or unknown API key allowed per client address and window
    /// (0: not limited).
    pub failed_auth_max_requests: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    pub max_batch_events: usize,
    pub max_body_bytes: usize,
    /// Duplicate detection window, in days of event time.
    pub dedup_window_days: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// In-process (moka) entry lifetime.
    pub l1_ttl_ms: u64,
    /// In-process cache size bound.
    pub l1_max_bytes: u64,
    /// Shared (Redis) entry lifetime: the most a cached answer can be stale when
    /// invalidation cannot reach it.
    pub l2_ttl_ms: u64,
    /// How often tenants with new data get a new cache generation.
    pub invalidation_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorConfig {
    /// Run the event processors in this instance (several instances share them by lease).
    pub enabled: bool,
    /// Store events read per round (a section holds up to a whole batch of events).
    pub batch_events: usize,
    /// Longest wait for new events committed by other instances.
    pub poll_interval_ms: u64,
    /// Pause after a round that found few events, so read-model writes come in larger blocks.
    pub coalesce_ms: u64,
    /// Bytes of events this instance keeps in memory after committing them, so its own
    /// processors do not read them back from Postgres (0: always read them back).
    pub handoff_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// How often every alert series is re-evaluated (`for` durations, absence, sliding).
    pub tick_ms: u64,
    /// How often the evaluator re-reads the rule catalog: a new or changed rule applies
    /// within this long.
    pub rules_refresh_ms: u64,
    /// Webhook request timeout.
    pub webhook_timeout_ms: u64,
    /// Attempts before a notification becomes a dead letter.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubles with each further one.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Allow webhooks to loopback and private addresses (development, tests).
    pub allow_private_networks: bool,
    /// How long notifications that were delivered are kept in the outbox.
    pub keep_delivered_hours: u64,
    /// How long dead letters can be redelivered before they are deleted.
    pub keep_dead_days: u64,
    /// Alert rules one tenant may have.
    pub max_rules_per_tenant: usize,
    /// Series (services) one rule may track; samples of further series are ignored.
    pub max_series_per_rule: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Live event streams (`/live/events`) one tenant may have open on one instance.
    pub max_connections_per_tenant: usize,
    /// Events one stream buffers for a slow client before it skips further ones.
    pub buffer_events: usize,
    /// Events per second one stream is sent at most (more are skipped and counted).
    pub max_events_per_second: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `info,telemetry_application=debug`, ...
    pub level: String,
    /// `json` (default) or `pretty`.
    pub format: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReadinessConfig {
    /// Dependencies that make `/readyz` answer 503 when down.
    pub required: Vec<String>,
    pub check_timeout_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8080,
            otlp_grpc_enabled: true,
            otlp_grpc_port: 4317,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/telemetry"),
            max_connections: 32,
            acquire_timeout_ms: 3_000,
            startup_timeout_ms: 30_000,
        }
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "telemetry".into(),
            user: "default".into(),
            password: Secret::default(),
            query_timeout_ms: 10_000,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("redis://127.0.0.1:6379"),
            key_prefix: "telemetry:".into(),
            timeout_ms: 250,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            api_keys: Secret::default(),
            jwt_secret: Secret::default(),
            jwt_public_key_file: String::new(),
            jwt_private_key_file: String::new(),
            jwt_issuer: "telemetry-platform".into(),
            jwt_audience: "telemetry-api".into(),
            api_key_cache_ttl_ms: 30_000,
            operator_tenant: String::new(),
        }
    }
}

impl AuthConfig {
    /// The operator tenant, if one is set; a set but invalid one is an error that names the
    /// setting.
    pub fn operator_tenant(&self) -> Result<Option<TenantId>, ConfigError> {
        if self.operator_tenant.is_empty() {
            return Ok(None);
        }
        TenantId::parse(&self.operator_tenant)
            .map(Some)
            .map_err(|_| ConfigError::Invalid("OPERATOR_TENANT must be a valid tenant id".into()))
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            window_ms: 60_000,
            max_requests: 1_000,
            overrides: String::new(),
            failed_auth_max_requests: 100,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_batch_events: 10_000,
            max_body_bytes: 10 * 1024 * 1024,
            dedup_window_days: 7,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            l1_ttl_ms: 5_000,
            l1_max_bytes: 64 * 1024 * 1024,
            l2_ttl_ms: 60_000,
            invalidation_interval_ms: 500,
        }
    }
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_events: 128,
            poll_interval_ms: 250,
            coalesce_ms: 200,
            handoff_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            tick_ms: 5_000,
            rules_refresh_ms: 1_000,
            webhook_timeout_ms: 5_000,
            max_attempts: 8,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            allow_private_networks: false,
            keep_delivered_hours: 168,
            keep_dead_days: 30,
            max_rules_per_tenant: 100,
            max_series_per_rule: 1_000,
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            max_connections_per_tenant: 25,
            buffer_events: 1_000,
            max_events_per_second: 100,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "json".into(),
        }
    }
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            // Ingestion needs Postgres only: were ClickHouse required, its outage would take
            // every instance out of the load balancer, and producers with it, while reads
            // answer 503 analytics_unavailable by themselves.
            required: vec!["postgres".into()],
            check_timeout_ms: 2_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("invalid config file {path}: {error}")]
    Parse {
        path: String,
        error: toml::de::Error,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Environment variable names and the settings they set.
pub const ENVIRONMENT_VARIABLES: &[&str] = &[
    "PORT",
    "HOST",
    "OTLP_GRPC_ENABLED",
    "OTLP_GRPC_PORT",
    "REQUEST_TIMEOUT_MS",
    "SHUTDOWN_GRACE_MS",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "DATABASE_ACQUIRE_TIMEOUT_MS",
    "DATABASE_STARTUP_TIMEOUT_MS",
    "CLICKHOUSE_URL",
    "CLICKHOUSE_DATABASE",
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
    "CLICKHOUSE_QUERY_TIMEOUT_MS",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "REDIS_TIMEOUT_MS",
    "API_KEYS",
    "JWT_SECRET",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "API_KEY_CACHE_TTL_MS",
    "OPERATOR_TENANT",
    "RATE_LIMIT_WINDOW_MS",
    "RATE_LIMIT_MAX_REQUESTS",
    "RATE_LIMIT_OVERRIDES",
    "RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS",
    "INGEST_MAX_BATCH_EVENTS",
    "INGEST_MAX_BODY_BYTES",
    "DEDUP_WINDOW_DAYS",
    "CACHE_L1_TTL_MS",
    "CACHE_L1_MAX_BYTES",
    "CACHE_L2_TTL_MS",
    "CACHE_INVALIDATION_INTERVAL_MS",
    "PROCESSORS_ENABLED",
    "PROCESSOR_BATCH_EVENTS",
    "PROCESSOR_POLL_INTERVAL_MS",
    "PROCESSOR_COALESCE_MS",
    "PROCESSOR_HANDOFF_BYTES",
    "ALERT_TICK_MS",
    "ALERT_RULES_REFRESH_MS",
    "NOTIFY_TIMEOUT_MS",
    "NOTIFY_MAX_ATTEMPTS",
    "NOTIFY_RETRY_BASE_MS",
    "NOTIFY_RETRY_MAX_MS",
    "NOTIFY_ALLOW_PRIVATE_NETWORKS",
    "NOTIFY_KEEP_DELIVERED_HOURS",
    "NOTIFY_KEEP_DEAD_DAYS",
    "ALERT_MAX_RULES_PER_TENANT",
    "ALERT_MAX_SERIES_PER_RULE",
    "LIVE_MAX_CONNECTIONS_PER_TENANT",
    "LIVE_BUFFER_EVENTS",
    "LIVE_MAX_EVENTS_PER_SECOND",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "READINESS_REQUIRED",
    "READINESS_CHECK_TIMEOUT_MS",
];

impl Settings {
    /// Defaults, then `config_file` (if any), then the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let environment: HashMap<String, String> = std::env::vars().collect();
        let file = config_file
            .map(Path::to_path_buf)
            .or_else(|| environment.get("CONFIG_FILE").map(Into::into));
        let mut settings = match file {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        settings.apply_environment(&environment)?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: display.clone(),
            error,
        })?;
        toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: display,
            error,
        })
    }

    /// Overrides settings from environment variables (see [`ENVIRONMENT_VARIABLES`]).
    pub fn apply_environment(
        &mut self,
        environment: &HashMap<String, String>,
    ) -> Result<(), ConfigError> {
        let env = Env(environment);
        env.parse("PORT", &mut self.server.port)?;
        env.text("HOST", &mut self.server.host);
        env.parse("OTLP_GRPC_ENABLED", &mut self.server.otlp_grpc_enabled)?;
        env.parse("OTLP_GRPC_PORT", &mut self.server.otlp_grpc_port)?;
        env.parse("REQUEST_TIMEOUT_MS", &mut self.server.request_timeout_ms)?;
        env.parse("SHUTDOWN_GRACE_MS", &mut self.server.shutdown_grace_ms)?;
        env.secret("DATABASE_URL", &mut self.database.url);
        env.parse(
            "DATABASE_MAX_CONNECTIONS",
            &mut self.database.max_connections,
        )?;
        env.parse(
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            &mut self.database.acquire_timeout_ms,
        )?;
        env.parse(
            "DATABASE_STARTUP_TIMEOUT_MS",
            &mut self.database.startup_timeout_ms,
        )?;
        env.text("CLICKHOUSE_URL", &mut self.clickhouse.url);
        env.text("CLICKHOUSE_DATABASE", &mut self.clickhouse.database);
        env.text("CLICKHOUSE_USER", &mut self.clickhouse.user);
        env.secret("CLICKHOUSE_PASSWORD", &mut self.clickhouse.password);
        env.parse(
            "CLICKHOUSE_QUERY_TIMEOUT_MS",
            &mut self.clickhouse.query_timeout_ms,
        )?;
        env.secret("REDIS_URL", &mut self.redis.url);
        env.text("REDIS_KEY_PREFIX", &mut self.redis.key_prefix);
        env.parse("REDIS_TIMEOUT_MS", &mut self.redis.timeout_ms)?;
        env.secret("API_KEYS", &mut self.auth.api_keys);
        env.secret("JWT_SECRET", &mut self.auth.jwt_secret);
        env.text("JWT_PUBLIC_KEY_FILE", &mut self.auth.jwt_public_key_file);
        env.text("JWT_PRIVATE_KEY_FILE", &mut self.auth.jwt_private_key_file);
        env.text("JWT_ISSUER", &mut self.auth.jwt_issuer);
        env.text("JWT_AUDIENCE", &mut self.auth.jwt_audience);
        env.parse("API_KEY_CACHE_TTL_MS", &mut self.auth.api_key_cache_ttl_ms)?;
        env.text("OPERATOR_TENANT", &mut self.auth.operator_tenant);
        env.parse("RATE_LIMIT_WINDOW_MS", &mut self.rate_limit.window_ms)?;
        env.parse("RATE_LIMIT_MAX_REQUESTS", &mut self.rate_limit.max_requests)?;
        env.text("RATE_LIMIT_OVERRIDES", &mut self.rate_limit.overrides);
        env.parse(
            "RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS",
            &mut self.rate_limit.failed_auth_max_requests,
        )?;
        env.parse("INGEST_MAX_BATCH_EVENTS", &mut self.ingest.max_batch_events)?;
        env.parse("INGEST_MAX_BODY_BYTES", &mut self.ingest.max_body_bytes)?;
        env.parse("DEDUP_WINDOW_DAYS", &mut self.ingest.dedup_window_days)?;
        env.parse("CACHE_L1_TTL_MS", &mut self.cache.l1_ttl_ms)?;
        env.parse("CACHE_L1_MAX_BYTES", &mut self.cache.l1_max_bytes)?;
        env.parse("CACHE_L2_TTL_MS", &mut self.cache.l2_ttl_ms)?;
        env.parse(
            "CACHE_INVALIDATION_INTERVAL_MS",
            &mut self.cache.invalidation_interval_ms,
        )?;
        env.parse("PROCESSORS_ENABLED", &mut self.processors.enabled)?;
        env.parse("PROCESSOR_BATCH_EVENTS", &mut self.processors.batch_events)?;
        env.parse(
            "PROCESSOR_POLL_INTERVAL_MS",
            &mut self.processors.poll_interval_ms,
        )?;
        env.parse("PROCESSOR_COALESCE_MS", &mut self.processors.coalesce_ms)?;
        env.parse(
            "PROCESSOR_HANDOFF_BYTES",
            &mut self.processors.handoff_bytes,
        )?;
        env.parse("ALERT_TICK_MS", &mut self.alerting.tick_ms)?;
        env.parse(
            "ALERT_RULES_REFRESH_MS",
            &mut self.alerting.rules_refresh_ms,
        )?;
        env.parse("NOTIFY_TIMEOUT_MS", &mut self.alerting.webhook_timeout_ms)?;
        env.parse("NOTIFY_MAX_ATTEMPTS", &mut self.alerting.max_attempts)?;
        env.parse("NOTIFY_RETRY_BASE_MS", &mut self.alerting.retry_base_ms)?;
        env.parse("NOTIFY_RETRY_MAX_MS", &mut self.alerting.retry_max_ms)?;
        env.parse(
            "NOTIFY_ALLOW_PRIVATE_NETWORKS",
            &mut self.alerting.allow_private_networks,
        )?;
        env.parse(
            "NOTIFY_KEEP_DELIVERED_HOURS",
            &mut self.alerting.keep_delivered_hours,
        )?;
        env.parse("NOTIFY_KEEP_DEAD_DAYS", &mut self.alerting.keep_dead_days)?;
        env.parse(
            "ALERT_MAX_RULES_PER_TENANT",
            &mut self.alerting.max_rules_per_tenant,
        )?;
        env.parse(
            "ALERT_MAX_SERIES_PER_RULE",
            &mut self.alerting.max_series_per_rule,
        )?;
        env.parse(
            "LIVE_MAX_CONNECTIONS_PER_TENANT",
            &mut self.live.max_connections_per_tenant,
        )?;
        env.parse("LIVE_BUFFER_EVENTS", &mut self.live.buffer_events)?;
        env.parse(
            "LIVE_MAX_EVENTS_PER_SECOND",
            &mut self.live.max_events_per_second,
        )?;
        env.text("LOG_LEVEL", &mut self.log.level);
        env.text("LOG_FORMAT", &mut self.log.format);
        if let Some(required) = environment.get("READINESS_REQUIRED") {
            self.readiness.required = required
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect();
        }
        env.parse(
            "READINESS_CHECK_TIMEOUT_MS",
            &mut self.readiness.check_timeout_ms,
        )?;
        Ok(())
    }

    /// Rejects combinations that cannot work, with a message naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_string()));
        if self.rate_limit.window_ms == 0 || self.rate_limit.window_ms > MAX_RATE_LIMIT_WINDOW_MS {
            return invalid("RATE_LIMIT_WINDOW_MS must be between 1 and 86400000 (one day)");
        }
        if self.rate_limit.max_requests == 0 {
            return invalid(
                "RATE_LIMIT_MAX_REQUESTS must be greater than 0 (to stop one tenant, give it \
                 RATE_LIMIT_OVERRIDES=tenant=0)",
            );
        }
        let window = std::time::Duration::from_millis(self.rate_limit.window_ms);
        for (name, max_requests) in [
            ("RATE_LIMIT_MAX_REQUESTS", self.rate_limit.max_requests),
            (
                "RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS",
                self.rate_limit.failed_auth_max_requests,
            ),
        ] {
            check_budget(name, name, max_requests, window)
                .map_err(|invalid| ConfigError::Invalid(invalid.problem))?;
        }
        if self.clickhouse.query_timeout_ms == 0
            || self.clickhouse.query_timeout_ms > self.server.request_timeout_ms
        {
            return invalid(
                "CLICKHOUSE_QUERY_TIMEOUT_MS must be greater than 0 and at most \
                 REQUEST_TIMEOUT_MS",
            );
        }
        if self.redis.timeout_ms == 0 {
            return invalid("REDIS_TIMEOUT_MS must be greater than 0");
        }
        if self.ingest.max_batch_events == 0 || self.ingest.max_body_bytes == 0 {
            return invalid(
                "INGEST_MAX_BATCH_EVENTS and INGEST_MAX_BODY_BYTES must be greater than 0",
            );
        }
        if self.ingest.dedup_window_days == 0 {
            return invalid("DEDUP_WINDOW_DAYS must be at least 1");
        }
        if self.cache.l1_ttl_ms == 0 || self.cache.l2_ttl_ms == 0 {
            return invalid("CACHE_L1_TTL_MS and CACHE_L2_TTL_MS must be greater than 0");
        }
        if self.cache.l2_ttl_ms > 60_000 {
            return invalid(
                "CACHE_L2_TTL_MS may be at most 60000 (answers may be at most a minute stale)",
            );
        }
        if self.auth.api_key_cache_ttl_ms > 300_000 {
            return invalid(
                "API_KEY_CACHE_TTL_MS may be at most 300000 (a revoked key keeps working on \
                 other instances for up to this long)",
            );
        }
        if self.alerting.max_attempts == 0
            || self.alerting.tick_ms == 0
            || self.alerting.rules_refresh_ms == 0
        {
            return invalid(
                "NOTIFY_MAX_ATTEMPTS, ALERT_TICK_MS and ALERT_RULES_REFRESH_MS must be greater than 0",
            );
        }
        if self.alerting.max_rules_per_tenant == 0 || self.alerting.max_series_per_rule == 0 {
            return invalid(
                "ALERT_MAX_RULES_PER_TENANT and ALERT_MAX_SERIES_PER_RULE must be greater than 0",
            );
        }
        if self.processors.batch_events == 0 {
            return invalid("PROCESSOR_BATCH_EVENTS must be greater than 0");
        }
        if self.live.max_connections_per_tenant == 0
            || self.live.buffer_events == 0
            || self.live.max_events_per_second == 0
        {
            return invalid(
                "LIVE_MAX_CONNECTIONS_PER_TENANT, LIVE_BUFFER_EVENTS and \
                 LIVE_MAX_EVENTS_PER_SECOND must be greater than 0",
            );
        }
        self.auth.operator_tenant()?;
        if !matches!(self.log.format.as_str(), "json" | "pretty") {
            return invalid("LOG_FORMAT must be json or pretty");
        }
        for name in &self.readiness.required {
            if !matches!(name.as_str(), "postgres" | "clickhouse" | "redis") {
                return invalid("READINESS_REQUIRED may list postgres, clickhouse and redis");
            }
        }
        Ok(())
    }
}

struct Env<'a>(&'a HashMap<String, String>);

impl Env<'_> {
    fn text(&self, name: &'static str, target: &mut String) {
        if let Some(value) = self.0.get(name) {
            *target = value.clone();
        }
    }

    fn secret(&self, name: &'static str, target: &mut Secret) {
        if let Some(value) = self.0.get(name) {
            *target = Secret::new(value.clone());
        }
    }

    fn parse<T: FromStr>(&self, name: &'static str, target: &mut T) -> Result<(), ConfigError>
    where
        T::Err: fmt::Display,
    {
        if let Some(value) = self.0.get(name) {
            *target = value
                .trim()
                .parse()
                .map_err(|error: T::Err| ConfigError::Env {
                    name,
                    message: format!("cannot parse {value:?}: {error}"),
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variable names `apply_environment` reads, from its source.
    fn variables_read() -> Vec<&'static str> {
        let source = include_str!("config.rs");
        let start = source
            .find("pub fn apply_environment")
            .expect("apply_environment");
        let body = &source[start..];
        let body = &body[..body.find("\n    }\n").expect("end of apply_environment")];
        body.split('"')
            .skip(1)
            .step_by(2)
            .filter(|token| {
                token.len() > 2
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect()
    }

    #[test]
    fn every_environment_variable_is_listed_and_documented() {
        let read = variables_read();
        assert!(read.len() > 40, "{read:?}");
        let readme = include_str!("../README.md");
        for name in &read {
            assert!(
                ENVIRONMENT_VARIABLES.contains(name),
                "{name} is read but missing from ENVIRONMENT_VARIABLES"
            );
        }
        for name in ENVIRONMENT_VARIABLES {
            assert!(read.contains(name), "{name} is listed but never read");
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not documented in README.md"
            );
        }
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let mut settings = Settings::default();
        settings
            .apply_environment(&env(&[
                ("PORT", "9090"),
                ("DATABASE_URL", "postgres://u:p@db/x"),
                ("RATE_LIMIT_MAX_REQUESTS", "5"),
                ("RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS", "0"),
                ("READINESS_REQUIRED", "postgres, redis"),
            ]))
            .unwrap();
        assert_eq!(settings.server.port, 9090);
        assert_eq!(settings.database.url.expose(), "postgres://u:p@db/x");
        assert_eq!(settings.rate_limit.max_requests, 5);
        assert_eq!(settings.rate_limit.failed_auth_max_requests, 0);
        assert_eq!(settings.readiness.required, vec!["postgres", "redis"]);
    }

    #[test]
    fn a_revoked_key_is_refused_everywhere_within_five_minutes_at_most() {
        let mut settings = Settings::default();
        settings.auth.api_key_cache_ttl_ms = 300_000;
        assert!(settings.validate().is_ok());
        settings.auth.api_key_cache_ttl_ms = 300_001;
        let error = settings.validate().unwrap_err();
        assert!(error.to_string().contains("API_KEY_CACHE_TTL_MS"));
    }

    #[test]
    fn rate_limits_and_the_redis_deadline_stay_within_what_the_limiter_computes_exactly() {
        let invalid = |change: fn(&mut Settings)| {
            let mut settings = Settings::default();
            change(&mut settings);
            settings.validate().unwrap_err().to_string()
        };
        assert!(invalid(|s| s.rate_limit.window_ms = 86_400_001).contains("RATE_LIMIT_WINDOW_MS"));
        assert!(invalid(|s| s.rate_limit.window_ms = 0).contains("RATE_LIMIT_WINDOW_MS"));
        assert!(invalid(|s| s.rate_limit.max_requests = 0).contains("RATE_LIMIT_OVERRIDES"));
        assert!(invalid(|s| s.rate_limit.max_requests = 60_000_001)
            .contains("RATE_LIMIT_MAX_REQUESTS may be at most 60000000"));
        assert!(
            invalid(|s| s.rate_limit.failed_auth_max_requests = 60_000_001)
                .contains("RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS")
        );
        assert!(invalid(|s| s.redis.timeout_ms = 0).contains("REDIS_TIMEOUT_MS"));
        assert!(invalid(|s| s.clickhouse.query_timeout_ms = 30_001)
            .contains("CLICKHOUSE_QUERY_TIMEOUT_MS"));

        let mut settings = Settings::default();
        settings.rate_limit.window_ms = 86_400_000;
        settings.rate_limit.max_requests = 86_400_000_000;
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn unparsable_values_name_the_variable() {
        let mut settings = Settings::default();
        let error = settings
            .apply_environment(&env(&[("PORT", "eighty")]))
            .unwrap_err();
        assert!(error.to_string().contains("PORT"));
    }

    #[test]
    fn files_set_values_and_unknown_keys_are_errors() {
        let settings: Settings =
            toml::from_str("[server]\nport = 7000\n[ingest]\ndedup_window_days = 3\n").unwrap();
        assert_eq!(settings.server.port, 7000);
        assert_eq!(settings.ingest.dedup_window_days, 3);
        assert_eq!(settings.ingest.max_batch_events, 10_000);
        assert!(toml::from_str::<Settings>("[server]\nprot = 1\n").is_err());
    }

    #[test]
    fn the_example_file_parses_and_matches_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
        let from_file = Settings::from_file(Path::new(path)).unwrap();
        assert_eq!(from_file, Settings::default());
        // "Every setting with its default": each one is there, named by its variable.
        let text = std::fs::read_to_string(path).unwrap();
        let missing: Vec<&&str> = ENVIRONMENT_VARIABLES
            .iter()
            .filter(|name| !text.contains(&format!("# {name}")))
            .collect();
        assert!(
            missing.is_empty(),
            "not in config/example.toml: {missing:?}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = Settings::default();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("postgres://postgres@"));
        assert!(printed.contains("[redacted]"));
    }
}
