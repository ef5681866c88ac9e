//! Configuration in layers, read with `figment`: defaults in code, then an optional TOML
//! file (`CONFIG_FILE` or `--config`), then environment variables. Every setting is typed
//! (durations, byte sizes, enums, tenant ids) and read once, here; a value that does not fit
//! stops start-up with the setting's name and the form it accepts.
//!
//! [`catalog::SETTINGS`] is the one list of settings: each one's file key, variable and
//! meaning. The README's table and `config/example.toml` are generated from it and checked
//! by a test.

pub mod catalog;
pub mod forms;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use telemetry_application::rate_limit::check_budget;
use telemetry_domain::values::TenantId;

pub use forms::{Dependency, LogFormat};

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

/// Serialized as its value: defaults pass through figment this way, and the generated
/// documentation shows default secrets (all empty or local). Nothing logs a serialized
/// `Settings`.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

// What each setting means, and its variable, is in `catalog::SETTINGS`; the structs say only
// the type. Durations are `Duration`s read from `*_ms` keys (see `forms::millis`).

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
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
    pub retention: RetentionConfig,
    pub log: LogConfig,
    pub readiness: ReadinessConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub otlp_grpc_enabled: bool,
    pub otlp_grpc_port: u16,
    #[serde(rename = "request_timeout_ms", with = "forms::millis")]
    pub request_timeout: Duration,
    #[serde(rename = "shutdown_grace_ms", with = "forms::millis")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    #[serde(rename = "acquire_timeout_ms", with = "forms::millis")]
    pub acquire_timeout: Duration,
    #[serde(rename = "startup_timeout_ms", with = "forms::millis")]
    pub startup_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    #[serde(rename = "query_timeout_ms", with = "forms::millis")]
    pub query_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    pub url: Secret,
    pub key_prefix: String,
    #[serde(rename = "timeout_ms", with = "forms::millis")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub api_keys: Secret,
    pub jwt_secret: Secret,
    pub jwt_public_key_file: String,
    pub jwt_private_key_file: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    #[serde(rename = "api_key_cache_ttl_ms", with = "forms::millis")]
    pub api_key_cache_ttl: Duration,
    #[serde(with = "forms::optional_tenant")]
    pub operator_tenant: Option<TenantId>,
}

/// The longest rate-limit window: a budget over more than a day is a quota, not a rate.
pub const MAX_RATE_LIMIT_WINDOW: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(rename = "window_ms", with = "forms::millis")]
    pub window: Duration,
    pub max_requests: u64,
    /// `tenant=max_requests,...`, parsed (with the window) into the rate-limit policy.
    pub overrides: String,
    pub failed_auth_max_requests: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    pub max_batch_events: usize,
    #[serde(with = "forms::usize_bytes")]
    pub max_body_bytes: usize,
    pub dedup_window_days: u32,
    /// Days of telemetry the event store keeps for replays (0: all of it).
    pub event_store_horizon_days: u32,
    /// `tenant=events,...`: daily event quotas (parsed at start-up).
    pub daily_quotas: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(rename = "l1_ttl_ms", with = "forms::millis")]
    pub l1_ttl: Duration,
    #[serde(with = "forms::bytes")]
    pub l1_max_bytes: u64,
    #[serde(rename = "l2_ttl_ms", with = "forms::millis")]
    pub l2_ttl: Duration,
    #[serde(rename = "invalidation_interval_ms", with = "forms::millis")]
    pub invalidation_interval: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorConfig {
    pub enabled: bool,
    pub batch_events: usize,
    #[serde(rename = "poll_interval_ms", with = "forms::millis")]
    pub poll_interval: Duration,
    #[serde(rename = "coalesce_ms", with = "forms::millis")]
    pub coalesce: Duration,
    #[serde(with = "forms::bytes")]
    pub handoff_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    #[serde(rename = "tick_ms", with = "forms::millis")]
    pub tick: Duration,
    #[serde(rename = "rules_refresh_ms", with = "forms::millis")]
    pub rules_refresh: Duration,
    #[serde(rename = "webhook_timeout_ms", with = "forms::millis")]
    pub webhook_timeout: Duration,
    pub max_attempts: u32,
    #[serde(rename = "retry_base_ms", with = "forms::millis")]
    pub retry_base: Duration,
    #[serde(rename = "retry_max_ms", with = "forms::millis")]
    pub retry_max: Duration,
    pub allow_private_networks: bool,
    pub keep_delivered_hours: u64,
    pub keep_dead_days: u64,
    pub max_rules_per_tenant: usize,
    pub max_series_per_rule: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    pub max_connections_per_tenant: usize,
    pub buffer_events: usize,
    pub max_events_per_second: u32,
}

/// Days each store keeps a tenant's data unless an administrator chose otherwise
/// (`PUT /admin/tenants/{tenant}/retention`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub events_days: u32,
    pub minute_rollups_days: u32,
    pub hour_rollups_days: u32,
    pub day_rollups_days: u32,
    pub audit_log_days: u32,
    pub alert_history_days: u32,
}

impl RetentionConfig {
    /// The defaults per store (values checked at start-up).
    pub fn defaults(
        &self,
    ) -> std::collections::BTreeMap<
        telemetry_domain::tenant_policy::RetainedStore,
        telemetry_domain::tenant_policy::RetentionDays,
    > {
        use telemetry_domain::tenant_policy::{RetainedStore as Store, RetentionDays};
        [
            (Store::Events, self.events_days),
            (Store::MinuteRollups, self.minute_rollups_days),
            (Store::HourRollups, self.hour_rollups_days),
            (Store::DayRollups, self.day_rollups_days),
            (Store::AuditLog, self.audit_log_days),
            (Store::AlertHistory, self.alert_history_days),
        ]
        .into_iter()
        .filter_map(|(store, days)| Some((store, RetentionDays::new(days).ok()?)))
        .collect()
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events_days: 30,
            minute_rollups_days: 7,
            hour_rollups_days: 90,
            day_rollups_days: 730,
            audit_log_days: 365,
            alert_history_days: 365,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter (one that does not parse means `info`).
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReadinessConfig {
    #[serde(with = "forms::comma_list")]
    pub required: Vec<Dependency>,
    #[serde(rename = "check_timeout_ms", with = "forms::millis")]
    pub check_timeout: Duration,
}

impl ReadinessConfig {
    /// Whether the dependency whose check reports `name` is required.
    pub fn requires(&self, name: &str) -> bool {
        self.required
            .iter()
            .any(|dependency| dependency.name() == name)
    }
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8080,
            otlp_grpc_enabled: true,
            otlp_grpc_port: 4317,
            request_timeout: ms(30_000),
            shutdown_grace: ms(10_000),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/telemetry"),
            max_connections: 32,
            acquire_timeout: ms(3_000),
            startup_timeout: ms(30_000),
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
            query_timeout: ms(10_000),
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("redis://127.0.0.1:6379"),
            key_prefix: "telemetry:".into(),
            timeout: ms(250),
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
            api_key_cache_ttl: ms(30_000),
            operator_tenant: None,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            window: ms(60_000),
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
            event_store_horizon_days: 30,
            daily_quotas: String::new(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            l1_ttl: ms(5_000),
            l1_max_bytes: 64 * 1024 * 1024,
            l2_ttl: ms(60_000),
            invalidation_interval: ms(500),
        }
    }
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_events: 128,
            poll_interval: ms(250),
            coalesce: ms(200),
            handoff_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            tick: ms(5_000),
            rules_refresh: ms(1_000),
            webhook_timeout: ms(5_000),
            max_attempts: 8,
            retry_base: ms(1_000),
            retry_max: ms(300_000),
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
            format: LogFormat::Json,
        }
    }
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            // Ingestion needs Postgres only: were ClickHouse required, its outage would take
            // every instance out of the load balancer, and producers with it, while reads
            // answer 503 analytics_unavailable by themselves.
            required: vec![Dependency::Postgres],
            check_timeout: ms(2_000),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    /// A value that does not fit its setting, from whichever layer it came.
    #[error("{setting} (from {source_name}): {problem}")]
    Value {
        setting: String,
        source_name: String,
        problem: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// Names the setting by its variable (or its file key when it has none).
    fn from_figment(error: figment::Error) -> Self {
        let key = error.path.join(".");
        let setting = catalog::find(&key).map_or_else(
            || {
                if key.is_empty() {
                    "configuration".to_string()
                } else {
                    key.clone()
                }
            },
            |setting| match setting.env {
                Some(variable) => format!("{variable} ({key})"),
                None => key.clone(),
            },
        );
        let source_name = error.metadata.as_ref().map_or_else(
            || "defaults".to_string(),
            |metadata| match &metadata.source {
                Some(source) => format!("{} {source}", metadata.name),
                None => metadata.name.to_string(),
            },
        );
        Self::Value {
            setting,
            source_name,
            problem: error.kind.to_string(),
        }
    }
}

impl Settings {
    /// Defaults, then `config_file` (else `CONFIG_FILE`, if set), then the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let environment = |name: &str| std::env::var(name).ok();
        let file = config_file
            .map(Path::to_path_buf)
            .or_else(|| environment("CONFIG_FILE").map(Into::into));
        Self::from_layers(file.as_deref(), environment)
    }

    /// The layers, with the environment given as a lookup (tests pass their own).
    pub fn from_layers(
        file: Option<&Path>,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            // figment treats a missing file as empty; a named file that is not there is an
            // operator's mistake.
            std::fs::metadata(path).map_err(|error| ConfigError::Read {
                path: path.display().to_string(),
                error,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment
            .merge(EnvironmentVariables::read(environment))
            .extract()
            .map_err(ConfigError::from_figment)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The file layer alone over the defaults, unvalidated (examples, tests).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file_exact(path))
            .extract()
            .map_err(ConfigError::from_figment)
    }

    /// Rejects values and combinations that cannot work, with a message naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_string()));
        let window = self.rate_limit.window;
        if window.is_zero() || window > MAX_RATE_LIMIT_WINDOW {
            return invalid("RATE_LIMIT_WINDOW_MS must be between 1 and 86400000 (one day)");
        }
        if self.rate_limit.max_requests == 0 {
            return invalid(
                "RATE_LIMIT_MAX_REQUESTS must be greater than 0 (to stop one tenant, give it \
                 RATE_LIMIT_OVERRIDES=tenant=0)",
            );
        }
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
        if self.clickhouse.query_timeout.is_zero()
            || self.clickhouse.query_timeout > self.server.request_timeout
        {
            return invalid(
                "CLICKHOUSE_QUERY_TIMEOUT_MS must be greater than 0 and at most \
                 REQUEST_TIMEOUT_MS",
            );
        }
        if self.redis.timeout.is_zero() {
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
        if let Err(problem) = telemetry_application::ports::parse_quotas(&self.ingest.daily_quotas)
        {
            return invalid(&format!("TENANT_DAILY_QUOTAS: {problem}"));
        }
        if self.retention.defaults().len() != 6 {
            return invalid(&format!(
                "RETENTION_*_DAYS must each be 1 to {}",
                telemetry_domain::tenant_policy::MAX_RETENTION_DAYS
            ));
        }
        let horizon = self.ingest.event_store_horizon_days;
        if horizon != 0 && horizon < self.ingest.dedup_window_days {
            return invalid(
                "EVENT_STORE_HORIZON_DAYS must be 0 (keep everything) or at least DEDUP_WINDOW_DAYS",
            );
        }
        if self.cache.l1_ttl.is_zero() || self.cache.l2_ttl.is_zero() {
            return invalid("CACHE_L1_TTL_MS and CACHE_L2_TTL_MS must be greater than 0");
        }
        if self.cache.l2_ttl > Duration::from_secs(60) {
            return invalid(
                "CACHE_L2_TTL_MS may be at most 60000 (answers may be at most a minute stale)",
            );
        }
        if self.auth.api_key_cache_ttl > Duration::from_secs(300) {
            return invalid(
                "API_KEY_CACHE_TTL_MS may be at most 300000 (a revoked key keeps working on \
                 other instances for up to this long)",
            );
        }
        if self.alerting.max_attempts == 0
            || self.alerting.tick.is_zero()
            || self.alerting.rules_refresh.is_zero()
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
        Ok(())
    }
}

/// The environment layer: every variable of [`catalog::SETTINGS`] that is set, at its key.
///
/// A variable is text. Where the setting's default is a number or a boolean, text that reads
/// as one (`9090`, `true`) becomes one; everything else stays text, so a numeric password is
/// not read as a number, and the setting's form (`"30s"`, `"64MiB"`, `postgres, redis`) or its
/// error takes it from there.
struct EnvironmentVariables(Dict);

impl EnvironmentVariables {
    fn read(environment: impl Fn(&str) -> Option<String>) -> Self {
        let defaults = Value::serialize(Settings::default()).expect("defaults serialize");
        let mut root = Dict::new();
        for setting in catalog::SETTINGS {
            let Some(text) = setting.env.and_then(&environment) else {
                continue;
            };
            let trimmed = text.trim();
            let value = match defaults.find_ref(setting.key) {
                Some(Value::Bool(..)) => trimmed.parse::<bool>().map(Value::from).ok(),
                Some(Value::Num(..)) => trimmed.parse::<u64>().map(Value::from).ok(),
                _ => None,
            }
            .unwrap_or_else(|| Value::from(text));
            insert(&mut root, setting.key, value);
        }
        Self(root)
    }
}

/// Puts `value` at the dotted `key` of `root`.
fn insert(root: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            root.insert(key.to_string(), value);
        }
        Some((section, rest)) => {
            let entry = root
                .entry(section.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, dict) = entry {
                insert(dict, rest, value);
            }
        }
    }
}

impl Provider for EnvironmentVariables {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(variables: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let variables: Vec<(String, String)> = variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_layers(None, |name| {
            variables
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings = load(&[
            ("PORT", "9090"),
            ("DATABASE_URL", "postgres://u:p@db/x"),
            ("CLICKHOUSE_PASSWORD", "1234"),
            ("RATE_LIMIT_MAX_REQUESTS", "5"),
            ("RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS", "0"),
            ("READINESS_REQUIRED", "postgres, redis"),
            ("REQUEST_TIMEOUT_MS", "45000"),
            ("SHUTDOWN_GRACE_MS", "3s"),
            ("INGEST_MAX_BODY_BYTES", "2MiB"),
            ("OTLP_GRPC_ENABLED", "false"),
            ("LOG_FORMAT", "pretty"),
            ("OPERATOR_TENANT", "operator"),
        ])
        .unwrap();
        assert_eq!(settings.server.port, 9090);
        assert_eq!(settings.database.url.expose(), "postgres://u:p@db/x");
        assert_eq!(settings.clickhouse.password.expose(), "1234");
        assert_eq!(settings.rate_limit.max_requests, 5);
        assert_eq!(settings.rate_limit.failed_auth_max_requests, 0);
        assert_eq!(
            settings.readiness.required,
            vec![Dependency::Postgres, Dependency::Redis]
        );
        assert_eq!(settings.server.request_timeout, Duration::from_secs(45));
        assert_eq!(settings.server.shutdown_grace, Duration::from_secs(3));
        assert_eq!(settings.ingest.max_body_bytes, 2 << 20);
        assert!(!settings.server.otlp_grpc_enabled);
        assert_eq!(settings.log.format, LogFormat::Pretty);
        assert_eq!(settings.auth.operator_tenant.unwrap().as_str(), "operator");
    }

    #[test]
    fn invalid_values_name_the_variable_and_the_accepted_form() {
        let error = load(&[("PORT", "eighty")]).unwrap_err().to_string();
        assert!(error.starts_with("PORT (server.port)"), "{error}");
        assert!(error.contains("environment variable"), "{error}");
        let error = load(&[("ALERT_TICK_MS", "often")]).unwrap_err().to_string();
        assert!(error.contains("ALERT_TICK_MS"), "{error}");
        assert!(error.contains("milliseconds (e.g. 30000)"), "{error}");
        let error = load(&[("LOG_FORMAT", "xml")]).unwrap_err().to_string();
        assert!(
            error.contains("LOG_FORMAT") && error.contains("json"),
            "{error}"
        );
        let error = load(&[("READINESS_REQUIRED", "postgres,kafka")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("READINESS_REQUIRED"), "{error}");
        let error = load(&[("OPERATOR_TENANT", "no spaces")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("OPERATOR_TENANT") && error.contains("tenant id"),
            "{error}"
        );
    }

    #[test]
    fn a_revoked_key_is_refused_everywhere_within_five_minutes_at_most() {
        let mut settings = Settings::default();
        settings.auth.api_key_cache_ttl = Duration::from_secs(300);
        assert!(settings.validate().is_ok());
        settings.auth.api_key_cache_ttl = Duration::from_millis(300_001);
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
        assert!(invalid(|s| s.rate_limit.window = ms(86_400_001)).contains("RATE_LIMIT_WINDOW_MS"));
        assert!(invalid(|s| s.rate_limit.window = ms(0)).contains("RATE_LIMIT_WINDOW_MS"));
        assert!(invalid(|s| s.rate_limit.max_requests = 0).contains("RATE_LIMIT_OVERRIDES"));
        assert!(invalid(|s| s.rate_limit.max_requests = 60_000_001)
            .contains("RATE_LIMIT_MAX_REQUESTS may be at most 60000000"));
        assert!(
            invalid(|s| s.rate_limit.failed_auth_max_requests = 60_000_001)
                .contains("RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS")
        );
        assert!(invalid(|s| s.redis.timeout = ms(0)).contains("REDIS_TIMEOUT_MS"));
        assert!(invalid(|s| s.clickhouse.query_timeout = ms(30_001))
            .contains("CLICKHOUSE_QUERY_TIMEOUT_MS"));

        let mut settings = Settings::default();
        settings.rate_limit.window = ms(86_400_000);
        settings.rate_limit.max_requests = 86_400_000_000;
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn files_set_values_and_unknown_keys_are_errors() {
        let dir = std::env::temp_dir().join(format!("telemetry-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "[server]\nport = 7000\nrequest_timeout_ms = \"20s\"\n[ingest]\ndedup_window_days = 3\n",
        )
        .unwrap();
        let settings = Settings::from_layers(Some(&good), |_| None).unwrap();
        assert_eq!(settings.server.port, 7000);
        assert_eq!(settings.server.request_timeout, Duration::from_secs(20));
        assert_eq!(settings.ingest.dedup_window_days, 3);
        assert_eq!(settings.ingest.max_batch_events, 10_000);
        // The environment wins over the file.
        let settings = Settings::from_layers(Some(&good), |name| {
            (name == "PORT").then(|| "7001".to_string())
        })
        .unwrap();
        assert_eq!(settings.server.port, 7001);

        let typo = dir.join("typo.toml");
        std::fs::write(&typo, "[server]\nprot = 1\n").unwrap();
        let error = Settings::from_layers(Some(&typo), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("prot") && error.contains("typo.toml"),
            "{error}"
        );

        let missing = dir.join("missing.toml");
        let error = Settings::from_layers(Some(&missing), |_| None).unwrap_err();
        assert!(matches!(error, ConfigError::Read { .. }), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_shipped_files_parse() {
        for file in ["config/example.toml", "config/dev.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            Settings::from_layers(Some(&path), |_| None).unwrap();
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = Settings::default();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("postgres://postgres@"));
        assert!(printed.contains("[redacted]"));
    }
}
