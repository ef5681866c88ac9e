//! The one list of settings: each one's key in the file, the environment variable that
//! overrides it, and what it means. The README's table and `config/example.toml` are generated
//! from this list and [`Settings::default`] (`make config-docs`); a test keeps them equal.

use figment::value::Value;

use super::Settings;

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// `section.key` in the TOML file.
    pub key: &'static str,
    /// The environment variable (a public name: it never changes). `None` would make a
    /// tuning knob file-only; today every setting has one.
    pub env: Option<&'static str>,
    /// What it does, in the README's words (Markdown).
    pub meaning: &'static str,
}

/// Every setting, in the order the README and the example file list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "server.port",
        env: Some("PORT"),
        meaning: "HTTP port",
    },
    Setting {
        key: "server.host",
        env: Some("HOST"),
        meaning: "Listen address",
    },
    Setting {
        key: "server.otlp_grpc_enabled",
        env: Some("OTLP_GRPC_ENABLED"),
        meaning: "Serve OTLP/gRPC (the OpenTelemetry collector services) on `OTLP_GRPC_PORT`",
    },
    Setting {
        key: "server.otlp_grpc_port",
        env: Some("OTLP_GRPC_PORT"),
        meaning: "OTLP/gRPC port (HTTP/2 without TLS, as OTLP exporters send it with `insecure`; `0` picks a free port, logged at start-up)",
    },
    Setting {
        key: "server.request_timeout_ms",
        env: Some("REQUEST_TIMEOUT_MS"),
        meaning: "Requests running longer get 408 (ingestion: 503 with `Retry-After` unless its body was still arriving); also how long a Postgres connection released mid-statement may take to answer before it is closed",
    },
    Setting {
        key: "server.shutdown_grace_ms",
        env: Some("SHUTDOWN_GRACE_MS"),
        meaning: "On SIGTERM/SIGINT, how long in-flight requests get to finish (then their connections are closed), and then how long background work (processors, deliveries) gets to stop: at most twice this in all",
    },
    Setting {
        key: "database.url",
        env: Some("DATABASE_URL"),
        meaning: "Postgres (event store)",
    },
    Setting {
        key: "database.max_connections",
        env: Some("DATABASE_MAX_CONNECTIONS"),
        meaning: "Pool size (each instance holds one connection more, for its processor leases)",
    },
    Setting {
        key: "database.acquire_timeout_ms",
        env: Some("DATABASE_ACQUIRE_TIMEOUT_MS"),
        meaning: "Wait for a connection before answering 503",
    },
    Setting {
        key: "database.startup_timeout_ms",
        env: Some("DATABASE_STARTUP_TIMEOUT_MS"),
        meaning: "How long start-up waits for Postgres (the migrations run before the listener binds; past this the process exits, for its supervisor to restart)",
    },
    Setting {
        key: "clickhouse.url",
        env: Some("CLICKHOUSE_URL"),
        meaning: "ClickHouse HTTP endpoint",
    },
    Setting {
        key: "clickhouse.database",
        env: Some("CLICKHOUSE_DATABASE"),
        meaning: "ClickHouse database (created if missing)",
    },
    Setting {
        key: "clickhouse.user",
        env: Some("CLICKHOUSE_USER"),
        meaning: "ClickHouse user",
    },
    Setting {
        key: "clickhouse.password",
        env: Some("CLICKHOUSE_PASSWORD"),
        meaning: "ClickHouse password",
    },
    Setting {
        key: "clickhouse.query_timeout_ms",
        env: Some("CLICKHOUSE_QUERY_TIMEOUT_MS"),
        meaning: "Bound on one ClickHouse read (queries, summaries, time series, audit and alert history), at most `REQUEST_TIMEOUT_MS`; past it the server stops the query and the read is `503 analytics_unavailable`",
    },
    Setting {
        key: "redis.url",
        env: Some("REDIS_URL"),
        meaning: "Redis (rate limits, shared cache)",
    },
    Setting {
        key: "redis.key_prefix",
        env: Some("REDIS_KEY_PREFIX"),
        meaning: "Prefix of every Redis key",
    },
    Setting {
        key: "redis.timeout_ms",
        env: Some("REDIS_TIMEOUT_MS"),
        meaning: "Bound on one Redis call before degrading; after 3 calls in a row unanswered the connection is replaced",
    },
    Setting {
        key: "auth.api_keys",
        env: Some("API_KEYS"),
        meaning: "`key:tenant,key:tenant`, registered (hashed) at start-up; keys of at least 16 characters, random (`openssl rand -hex 24`)",
    },
    Setting {
        key: "auth.jwt_secret",
        env: Some("JWT_SECRET"),
        meaning: "HS256 secret for bearer tokens (at least 32 bytes)",
    },
    Setting {
        key: "auth.jwt_public_key_file",
        env: Some("JWT_PUBLIC_KEY_FILE"),
        meaning: "RS256 public key (PEM) instead of a secret",
    },
    Setting {
        key: "auth.jwt_private_key_file",
        env: Some("JWT_PRIVATE_KEY_FILE"),
        meaning: "RS256 private key, only for `mint-token`",
    },
    Setting {
        key: "auth.jwt_issuer",
        env: Some("JWT_ISSUER"),
        meaning: "Required `iss` claim",
    },
    Setting {
        key: "auth.jwt_audience",
        env: Some("JWT_AUDIENCE"),
        meaning: "Required `aud` claim",
    },
    Setting {
        key: "auth.api_key_cache_ttl_ms",
        env: Some("API_KEY_CACHE_TTL_MS"),
        meaning: "API key lookups cached this long (at most 300000): how long a revoked key may still work on other instances",
    },
    Setting {
        key: "auth.operator_tenant",
        env: Some("OPERATOR_TENANT"),
        meaning: "Admins of this tenant may rebuild read models over HTTP",
    },
    Setting {
        key: "rate_limit.window_ms",
        env: Some("RATE_LIMIT_WINDOW_MS"),
        meaning: "Rate limit window per tenant (ingestion routes: `/ingest`, `/v1/*`), at most a day",
    },
    Setting {
        key: "rate_limit.max_requests",
        env: Some("RATE_LIMIT_MAX_REQUESTS"),
        meaning: "Requests per window per tenant (at least 1, at most one per microsecond of the window: 60000000 for a minute)",
    },
    Setting {
        key: "rate_limit.overrides",
        env: Some("RATE_LIMIT_OVERRIDES"),
        meaning: "`tenant=max_requests,...` (same window; `0` refuses every ingestion request of that tenant)",
    },
    Setting {
        key: "rate_limit.failed_auth_max_requests",
        env: Some("RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS"),
        meaning: "Requests with missing or unknown credentials (any route) per window per client address, then 429 (`0`: not limited)",
    },
    Setting {
        key: "ingest.max_batch_events",
        env: Some("INGEST_MAX_BATCH_EVENTS"),
        meaning: "More events in one `/ingest` request, or records in one OTLP export: 413",
    },
    Setting {
        key: "ingest.max_body_bytes",
        env: Some("INGEST_MAX_BODY_BYTES"),
        meaning: "Larger bodies, compressed or inflated: 413",
    },
    Setting {
        key: "ingest.dedup_window_days",
        env: Some("DEDUP_WINDOW_DAYS"),
        meaning: "Duplicate detection window (event time)",
    },
    Setting {
        key: "ingest.event_store_horizon_days",
        env: Some("EVENT_STORE_HORIZON_DAYS"),
        meaning: "Days of telemetry the event store keeps for replays; 0 keeps all, else at least the dedup window",
    },
    Setting {
        key: "ingest.daily_quotas",
        env: Some("TENANT_DAILY_QUOTAS"),
        meaning: "tenant=events,...: events a tenant may have accepted per UTC day (past it: 429 quota_exceeded)",
    },
    Setting {
        key: "cache.l1_ttl_ms",
        env: Some("CACHE_L1_TTL_MS"),
        meaning: "In-process cache entry lifetime",
    },
    Setting {
        key: "cache.l1_max_bytes",
        env: Some("CACHE_L1_MAX_BYTES"),
        meaning: "In-process cache size",
    },
    Setting {
        key: "cache.l2_ttl_ms",
        env: Some("CACHE_L2_TTL_MS"),
        meaning: "Redis cache entry lifetime (at most 60000)",
    },
    Setting {
        key: "cache.invalidation_interval_ms",
        env: Some("CACHE_INVALIDATION_INTERVAL_MS"),
        meaning: "How often tenants with new data get a new cache generation",
    },
    Setting {
        key: "processors.enabled",
        env: Some("PROCESSORS_ENABLED"),
        meaning: "Run event processors in this instance (instances share them by lease)",
    },
    Setting {
        key: "processors.batch_events",
        env: Some("PROCESSOR_BATCH_EVENTS"),
        meaning: "Store events a processor reads per round",
    },
    Setting {
        key: "processors.poll_interval_ms",
        env: Some("PROCESSOR_POLL_INTERVAL_MS"),
        meaning: "Longest wait for events committed by other instances",
    },
    Setting {
        key: "processors.coalesce_ms",
        env: Some("PROCESSOR_COALESCE_MS"),
        meaning: "Pause after a round with few events, so ClickHouse gets fewer, larger inserts",
    },
    Setting {
        key: "processors.handoff_bytes",
        env: Some("PROCESSOR_HANDOFF_BYTES"),
        meaning: "Memory for events an instance keeps after committing them, so its own processors need not read them back from Postgres (`0`: always read back)",
    },
    Setting {
        key: "alerting.tick_ms",
        env: Some("ALERT_TICK_MS"),
        meaning: "How often every alert series is re-evaluated (`for`, absence, sliding windows)",
    },
    Setting {
        key: "alerting.rules_refresh_ms",
        env: Some("ALERT_RULES_REFRESH_MS"),
        meaning: "How often the evaluator re-reads the rules: a new or changed rule applies within this long",
    },
    Setting {
        key: "alerting.webhook_timeout_ms",
        env: Some("NOTIFY_TIMEOUT_MS"),
        meaning: "Webhook request timeout",
    },
    Setting {
        key: "alerting.max_attempts",
        env: Some("NOTIFY_MAX_ATTEMPTS"),
        meaning: "Attempts before a notification becomes a dead letter",
    },
    Setting {
        key: "alerting.retry_base_ms",
        env: Some("NOTIFY_RETRY_BASE_MS"),
        meaning: "First retry delay; doubles per attempt, with jitter",
    },
    Setting {
        key: "alerting.retry_max_ms",
        env: Some("NOTIFY_RETRY_MAX_MS"),
        meaning: "Longest retry delay",
    },
    Setting {
        key: "alerting.allow_private_networks",
        env: Some("NOTIFY_ALLOW_PRIVATE_NETWORKS"),
        meaning: "Allow webhooks to loopback, private and link-local addresses",
    },
    Setting {
        key: "alerting.keep_delivered_hours",
        env: Some("NOTIFY_KEEP_DELIVERED_HOURS"),
        meaning: "How long delivered notifications stay in the outbox",
    },
    Setting {
        key: "alerting.keep_dead_days",
        env: Some("NOTIFY_KEEP_DEAD_DAYS"),
        meaning: "How long dead letters can be redelivered before they are deleted",
    },
    Setting {
        key: "alerting.max_rules_per_tenant",
        env: Some("ALERT_MAX_RULES_PER_TENANT"),
        meaning: "Alert rules one tenant may have (`409 rule_limit_reached` beyond)",
    },
    Setting {
        key: "alerting.max_series_per_rule",
        env: Some("ALERT_MAX_SERIES_PER_RULE"),
        meaning: "Series (services) one rule tracks; samples of further series are ignored and counted",
    },
    Setting {
        key: "live.max_connections_per_tenant",
        env: Some("LIVE_MAX_CONNECTIONS_PER_TENANT"),
        meaning: "Live event streams (`/live/events`, the console's live tail) one tenant may have open on one instance; more are `429 live_limit_reached`",
    },
    Setting {
        key: "live.buffer_events",
        env: Some("LIVE_BUFFER_EVENTS"),
        meaning: "Events one live stream holds for a client that reads slowly (and at most 1 MiB); further ones are skipped and the client is told how many",
    },
    Setting {
        key: "live.max_events_per_second",
        env: Some("LIVE_MAX_EVENTS_PER_SECOND"),
        meaning: "Events one live stream is sent per second at most (a burst of a second's worth); more are skipped and counted the same way. A person reads far fewer; each event sent costs the instance about 2 µs of CPU (`docs/BENCHMARKS.md`)",
    },
    Setting {
        key: "retention.events_days",
        env: Some("RETENTION_EVENTS_DAYS"),
        meaning: "Days a tenant's raw events are kept (`/query`) unless its admins chose otherwise; whole UTC days",
    },
    Setting {
        key: "retention.minute_rollups_days",
        env: Some("RETENTION_MINUTE_ROLLUPS_DAYS"),
        meaning: "Days minute rollups are kept (summaries and series at minute steps)",
    },
    Setting {
        key: "retention.hour_rollups_days",
        env: Some("RETENTION_HOUR_ROLLUPS_DAYS"),
        meaning: "Days hour rollups are kept",
    },
    Setting {
        key: "retention.day_rollups_days",
        env: Some("RETENTION_DAY_ROLLUPS_DAYS"),
        meaning: "Days day rollups are kept",
    },
    Setting {
        key: "retention.audit_log_days",
        env: Some("RETENTION_AUDIT_LOG_DAYS"),
        meaning: "Days audit log entries are kept",
    },
    Setting {
        key: "retention.alert_history_days",
        env: Some("RETENTION_ALERT_HISTORY_DAYS"),
        meaning: "Days alert transitions are kept (`/alerts/history`)",
    },
    Setting {
        key: "log.level",
        env: Some("LOG_LEVEL"),
        meaning: "tracing filter, e.g. `info,telemetry_application=debug` (one that does not parse means `info`)",
    },
    Setting {
        key: "log.format",
        env: Some("LOG_FORMAT"),
        meaning: "`json` or `pretty`",
    },
    Setting {
        key: "readiness.required",
        env: Some("READINESS_REQUIRED"),
        meaning: "Dependencies whose outage makes `/readyz` 503 (`postgres`, `clickhouse`, `redis`)",
    },
    Setting {
        key: "readiness.check_timeout_ms",
        env: Some("READINESS_CHECK_TIMEOUT_MS"),
        meaning: "Bound on each readiness check",
    },
];

/// The setting at a file key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

fn defaults() -> Value {
    Value::serialize(Settings::default()).expect("defaults serialize")
}

/// A default as the README shows it.
fn shown(value: &Value) -> String {
    match value {
        Value::String(_, text) if text.is_empty() => "empty".to_string(),
        Value::Array(_, items) => {
            let items: Vec<String> = items.iter().map(plain).collect();
            format!("`{}`", items.join(","))
        }
        other => format!("`{}`", plain(other)),
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(_, text) => text.clone(),
        Value::Bool(_, flag) => flag.to_string(),
        Value::Num(..) => value
            .to_u128()
            .map(|n| n.to_string())
            .or_else(|| value.to_i128().map(|n| n.to_string()))
            .or_else(|| value.to_f64().map(|n| n.to_string()))
            .unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

/// A default as TOML writes it.
fn toml_value(value: &Value) -> String {
    match value {
        Value::String(_, text) => format!("{text:?}"),
        Value::Array(_, items) => {
            let items: Vec<String> = items.iter().map(toml_value).collect();
            format!("[{}]", items.join(", "))
        }
        other => plain(other),
    }
}

/// `settings` as the environment variables that would set it (to start another process
/// configured the same way, as the black-box tests do).
pub fn environment(settings: &Settings) -> Vec<(&'static str, String)> {
    let values = Value::serialize(settings).expect("settings serialize");
    SETTINGS
        .iter()
        .filter_map(|setting| {
            let value = values.find_ref(setting.key)?;
            let text = match value {
                Value::Array(_, items) => items.iter().map(plain).collect::<Vec<_>>().join(","),
                other => plain(other),
            };
            Some((setting.env?, text))
        })
        .collect()
}

/// The README's table of variables (between its `settings` markers).
pub fn readme_table() -> String {
    let defaults = defaults();
    let mut table = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
    for setting in SETTINGS {
        let Some(variable) = setting.env else {
            continue;
        };
        let default = defaults
            .find_ref(setting.key)
            .map(shown)
            .unwrap_or_default();
        table.push_str(&format!(
            "| `{variable}` | {default} | {} |\n",
            setting.meaning
        ));
    }
    table.push_str("| `CONFIG_FILE` | none | TOML file with any of the above |\n");
    table
}

/// `config/example.toml`: every setting with its default, its variable and meaning above it.
pub fn example_file() -> String {
    let defaults = defaults();
    let mut file = String::from(
        "# Every setting with its default, generated from the list of settings \
         (`make config-docs`).\n\
         # Point CONFIG_FILE (or --config) at a copy of this file; environment variables \
         (named\n\
         # in the comments) override what the file says. Durations (`*_ms`) take milliseconds \
         or\n\
         # a unit (\"30s\"); sizes (`*_bytes`) take bytes or a unit (\"64MiB\").\n",
    );
    let mut section = "";
    for setting in SETTINGS {
        let (this_section, key) = setting.key.split_once('.').expect("section.key");
        if this_section != section {
            section = this_section;
            file.push_str(&format!("\n[{section}]\n"));
        }
        let variable = setting
            .env
            .map_or(String::new(), |name| format!("{name}: "));
        file.push_str(&format!("# {variable}{}\n", setting.meaning));
        let default = defaults
            .find_ref(setting.key)
            .map(toml_value)
            .unwrap_or_default();
        file.push_str(&format!("{key} = {default}\n"));
    }
    file
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    const README_BEGIN: &str = "<!-- settings: generated from src/config/catalog.rs -->\n";
    const README_END: &str = "\n<!-- end of settings -->";

    fn leaf_keys(value: &Value, prefix: &str, keys: &mut BTreeSet<String>) {
        match value {
            Value::Dict(_, dict) => {
                for (name, child) in dict {
                    let key = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    leaf_keys(child, &key, keys);
                }
            }
            _ => {
                keys.insert(prefix.to_string());
            }
        }
    }

    #[test]
    fn every_setting_is_listed_once_with_a_distinct_variable() {
        let mut fields = BTreeSet::new();
        leaf_keys(&defaults(), "", &mut fields);
        let listed: BTreeSet<String> = SETTINGS.iter().map(|s| s.key.to_string()).collect();
        assert_eq!(listed.len(), SETTINGS.len(), "a key is listed twice");
        assert_eq!(fields, listed, "Settings fields and SETTINGS differ");
        let variables: BTreeSet<&str> = SETTINGS.iter().filter_map(|s| s.env).collect();
        assert_eq!(
            variables.len(),
            SETTINGS.iter().filter(|s| s.env.is_some()).count()
        );
    }

    /// Compares a generated file with the committed one; `UPDATE_CONFIG_DOCS=1` rewrites it.
    fn check(path: &Path, committed: &str, generated: &str) {
        if committed == generated {
            return;
        }
        if std::env::var_os("UPDATE_CONFIG_DOCS").is_some() {
            std::fs::write(path, generated).unwrap();
            return;
        }
        panic!(
            "{} is not what the list of settings generates; run `make config-docs`",
            path.display()
        );
    }

    #[test]
    fn the_environment_of_settings_reads_back_as_the_same_settings() {
        let mut settings = Settings::default();
        settings.server.port = 9999;
        settings.rate_limit.overrides = "acme=5".into();
        settings.readiness.required = vec![super::super::Dependency::Redis];
        settings.auth.jwt_secret = super::super::Secret::new("0123");
        let variables = environment(&settings);
        let read = Settings::from_layers(None, |name| {
            variables
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        assert_eq!(read, settings);
    }

    #[test]
    fn the_readme_table_is_generated_from_the_list() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let start = readme.find(README_BEGIN).expect("settings marker") + README_BEGIN.len();
        let end = start + readme[start..].find(README_END).expect("end marker");
        let regenerated = format!("{}{}{}", &readme[..start], readme_table(), &readme[end..]);
        check(&path, &readme, &regenerated);
    }

    #[test]
    fn the_example_file_is_generated_from_the_list_and_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let committed = std::fs::read_to_string(&path).unwrap();
        check(&path, &committed, &example_file());
        assert_eq!(Settings::from_file(&path).unwrap(), Settings::default());
    }
}
