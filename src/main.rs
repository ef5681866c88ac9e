//! `telemetry-server`: runs the service, or one operator command.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use telemetry_application::ports::Role;
use telemetry_domain::read_model::ReadModelName;
use telemetry_domain::values::TenantId;
use telemetry_server::config::Settings;
use telemetry_server::observability::init_logging;
use telemetry_server::startup::{
    event_store_horizon, maintain_retention, migrate_clickhouse, Application, Infrastructure,
};

/// The longest lifetime `mint-token` gives a token: a year.
const MAX_TOKEN_TTL_SECONDS: u64 = 366 * 24 * 3600;

/// Ingestion allocates and frees many small strings per event across worker threads;
/// mimalloc handles that pattern with much less overhead than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "telemetry-server",
    version,
    about = "Multi-tenant telemetry ingestion and analytics"
)]
struct Cli {
    /// TOML configuration file (overrides defaults; environment overrides the file).
    #[arg(long, global = true, env = "CONFIG_FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply the Postgres and ClickHouse migrations, then exit.
    Migrate,
    /// Print a bearer token for a user of a tenant.
    MintToken {
        #[arg(long)]
        tenant: String,
        /// viewer, editor or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// The `sub` claim.
        #[arg(long, default_value = "operator")]
        subject: String,
        /// Lifetime in seconds (at most a year).
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=MAX_TOKEN_TTL_SECONDS))]
        ttl: u64,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Drop a ClickHouse read model (`rollups`, `audit` or `alert_history`; `aggregation` is the former name of `rollups`) and replay
    /// the event store into it. The running service (whichever instance owns the read model) does the work.
    Rebuild { read_model: String },
    /// Run the event store's maintenance once (the service runs it hourly): create the
    /// coming days' partitions and drop the telemetry past the horizon
    /// (`EVENT_STORE_HORIZON_DAYS`) that every processor has read. Prints the outcome.
    MaintainEventStore {
        /// Run as of this RFC 3339 time instead of now (to see what a later run will drop,
        /// or to test).
        #[arg(long)]
        at: Option<String>,
    },
    /// Run retention maintenance once (the service runs it hourly): drop the ClickHouse
    /// partitions past every tenant's retention and delete what is past some tenant's.
    /// Prints what each store lost.
    MaintainRetention {
        /// Run as of this RFC 3339 time instead of now.
        #[arg(long)]
        at: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::MaintainEventStore { at } => maintain_event_store(settings, at).await,
        Command::MaintainRetention { at } => {
            init_logging(&settings.log);
            let at = parse_at(at)?;
            let infrastructure = Infrastructure::connect(&settings).await?;
            let maintenance = infrastructure.retention_maintenance(&settings)?;
            let done = maintain_retention(&infrastructure.pool, &maintenance, at).await?;
            write_line(&serde_json::to_string(&done)?)
        }
        Command::Migrate => {
            init_logging(&settings.log);
            let infrastructure = Infrastructure::connect(&settings).await?;
            let applied =
                migrate_clickhouse(&infrastructure.pool, &infrastructure.clickhouse).await?;
            tracing::info!(?applied, "migrations applied");
            Ok(())
        }
        Command::MintToken {
            tenant,
            role,
            subject,
            ttl,
        } => {
            let tenant = TenantId::parse(tenant).context("invalid --tenant")?;
            let role = Role::parse(&role).context("--role must be viewer, editor or admin")?;
            let settings_jwt =
                telemetry_infrastructure::auth::JwtCodec::new(&jwt_settings_for_cli(&settings)?)?;
            let token = settings_jwt.mint(&subject, &tenant, role, Duration::from_secs(ttl))?;
            write_line(&token)
        }
        Command::Openapi => write_line(&telemetry_presentation::openapi::openapi_json()),
        Command::Rebuild { read_model } => {
            init_logging(&settings.log);
            let name = ReadModelName::parse(&read_model)
                .context("READ_MODEL must be rollups, audit or alert_history")?;
            // Recorded as the requesting tenant in the audit log.
            let tenant = match settings.auth.operator_tenant.clone() {
                Some(tenant) => tenant,
                None => TenantId::parse("operator")?,
            };
            let infrastructure = Infrastructure::connect(&settings).await?;
            let generation = infrastructure
                .read_model_admin()
                .request_rebuild(name, &tenant, "system:cli")
                .await?;
            write_line(&format!(
                "rebuild of {name} requested (generation {generation}); the service that owns it replays the event store now"
            ))
        }
    }
}

/// `maintain-event-store`: one maintenance run, its outcome printed as JSON.
async fn maintain_event_store(settings: Settings, at: Option<String>) -> anyhow::Result<()> {
    init_logging(&settings.log);
    let at = parse_at(at)?;
    let infrastructure = Infrastructure::connect(&settings).await?;
    let run = infrastructure
        .horizon()
        .maintain(at, event_store_horizon(&settings))
        .await?;
    write_line(&serde_json::to_string(&run)?)
}

/// `--at`, or now.
fn parse_at(at: Option<String>) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(match at {
        Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .context("--at must be an RFC 3339 time, such as 2026-12-31T00:00:00Z")?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logging(&settings.log);
    tracing::info!(settings = ?settings, "starting");
    let application = Application::build(settings).await?;
    application.run_until_stopped(shutdown_signal()).await
}

fn jwt_settings_for_cli(
    settings: &Settings,
) -> anyhow::Result<telemetry_infrastructure::auth::JwtSettings> {
    let auth = &settings.auth;
    let read = |path: &str| -> anyhow::Result<Option<String>> {
        if path.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        ))
    };
    Ok(telemetry_infrastructure::auth::JwtSettings {
        secret: (!auth.jwt_secret.is_empty()).then(|| auth.jwt_secret.expose().to_string()),
        public_key_pem: read(&auth.jwt_public_key_file)?,
        private_key_pem: read(&auth.jwt_private_key_file)?,
        issuer: auth.jwt_issuer.clone(),
        audience: auth.jwt_audience.clone(),
    })
}

fn write_line(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
