//! Start-up as a function: configuration -> adapters -> application services -> router.
//!
//! Tests and the binary start exactly the same thing: `Application::build(settings)` binds
//! the listener (port 0 picks a free port) and returns; `run_until_stopped` serves until the
//! shutdown future completes, then stops background work.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use telemetry_application::alerting::evaluator::{AlertEvaluator, EvaluatorSettings};
use telemetry_application::alerting::history::{self as alert_history, AlertQueries};
use telemetry_application::alerting::notifications::{
    DeadLetters, DeliverySettings, DeliveryWorker, NotificationProcessor,
};
use telemetry_application::alerting::rules::{AlertRuleService, RuleCatalogProcessor};
use telemetry_application::api_keys::ApiKeyCatalogProcessor;
use telemetry_application::auth::{parse_api_key_list, AuthService, KeyCommandFailure};
use telemetry_application::commands::{AggregateCommands, CommandBus, EventWeight};
use telemetry_application::ingest::IngestService;
use telemetry_application::live::{LiveFeed, LiveSettings};
use telemetry_application::metrics::Metrics;
use telemetry_application::ports::{
    parse_quotas, AlertHistoryRow, AuditEntry, DependencyCheck, EventLog, EventRow,
    EventStoreHorizon, RateLimit, ReadModelStore, SourcedRow, StoreEnforcement, UsageStore,
};
use telemetry_application::processing::runner::reads_telemetry;
use telemetry_application::processing::{
    audit, rollups, EventProcessor, ProcessorMonitor, ProcessorRunner, ProjectionProcessor,
    RecentCommits, RunnerSettings,
};
use telemetry_application::query::cache::TwoLevelCache;
use telemetry_application::query::QueryService;
use telemetry_application::rate_limit::{RateLimitPolicy, RateLimitService};
use telemetry_application::read_models::ReadModelAdmin;
use telemetry_application::readiness::ReadinessService;
use telemetry_application::refusals::RefusalTally;
use telemetry_application::retention::{
    PolicyService, RetentionMaintenance, TenantPolicyProcessor,
};
use telemetry_domain::alert::Alert;
use telemetry_domain::alert_rule::AlertRule;
use telemetry_domain::api_key::{ApiKey, ApiKeyError};
use telemetry_domain::dead_letter::DeadLetter;
use telemetry_domain::ingest::{EventSection, IngestBatch};
use telemetry_domain::read_model::{ReadModel, ReadModelName};
use telemetry_domain::tenant_policy::TenantPolicy;
use telemetry_infrastructure::auth::{CachedApiKeyDirectory, JwtCodec, JwtSettings};
use telemetry_infrastructure::clickhouse::{
    self as ch, ClickHouse, ClickHouseAlertHistory, ClickHouseAnalytics, ClickHouseCheck,
    ClickHouseReadModel, ClickHouseSettings,
};
use telemetry_infrastructure::memory_cache::MokaCache;
use telemetry_infrastructure::postgres::{self as pg, PgPool, PostgresCheck, PostgresSettings};
use telemetry_infrastructure::redis::{
    Redis, RedisCache, RedisCheck, RedisGenerations, RedisRateLimiter,
};
use telemetry_infrastructure::webhook::HttpWebhookSender;
use telemetry_presentation::{AppState, HttpLimits};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::Settings;

/// A built, bound service, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    port: u16,
    /// OTLP/gRPC, when enabled: its listener and its services.
    grpc: Option<(TcpListener, axum::Router)>,
    background: Background,
    shutdown_grace: Duration,
    /// Its streams end when the service starts stopping, so they do not hold the drain.
    live: Arc<LiveFeed>,
}

/// Long-running tasks (maintenance, schema set-up, processors) and their stop signal.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Background {
    fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: JoinSet::new(),
        }
    }

    /// A receiver that turns `true` when the service stops.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Runs `work` five seconds past every full UTC hour until the service stops.
    fn spawn_hourly<F, Fut>(&mut self, work: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.stop_signal();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(until_next_hour(chrono::Utc::now())) => {}
                    _ = stop.changed() => return,
                }
                work().await;
            }
        });
    }

    /// Runs the task `start` makes (given the stop signal) until the service stops. A panic
    /// is logged and the task started afresh a second later: one bad input must not end, until
    /// a restart, the delivery of every notification or the invalidation of every cached
    /// answer, while `/readyz` still says ready. (Processors are supervised by their runner.)
    fn spawn_supervised<F, Fut>(&mut self, name: &'static str, start: F)
    where
        F: Fn(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        use futures_util::FutureExt;
        let mut stop = self.stop_signal();
        self.tasks.spawn(async move {
            loop {
                let run = std::panic::AssertUnwindSafe(start(stop.clone()));
                if run.catch_unwind().await.is_ok() || *stop.borrow() {
                    return;
                }
                error!(
                    task = name,
                    "background task panicked; starting it again in a second"
                );
                tokio::select! {
                    _ = tokio::time::sleep(RESTART_DELAY) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    async fn shut_down(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!("background tasks did not stop in time; aborting them");
            self.tasks.abort_all();
        }
    }
}

/// How long a background task that panicked waits before it is started again.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// What a small domain event (a receipt, a rule change) is taken to weigh in memory.
const SMALL_EVENT_BYTES: u64 = 1024;

/// Adapters shared by the services, built once.
pub struct Infrastructure {
    pub pool: PgPool,
    pub clickhouse: ClickHouse,
    pub redis: Redis,
    pub committed: Arc<Notify>,
    /// Events committed by this instance, for its own processors.
    pub recent: Arc<RecentCommits>,
    pub jwt: Arc<JwtCodec>,
    /// The process's counters (`/metrics`).
    pub metrics: Arc<Metrics>,
}

impl Infrastructure {
    /// Connects lazily to everything and applies the Postgres migrations (waiting for
    /// Postgres up to the configured start-up timeout).
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let pool = pg::pool(&PostgresSettings {
            url: settings.database.url.expose().to_string(),
            max_connections: settings.database.max_connections,
            acquire_timeout: settings.database.acquire_timeout,
            release_timeout: settings.server.request_timeout,
        })
        .context("invalid DATABASE_URL")?;
        pg::migrate_when_available(&pool, settings.database.startup_timeout)
            .await
            .context("applying Postgres migrations")?;
        let clickhouse = ClickHouse::new(&ClickHouseSettings {
            url: settings.clickhouse.url.clone(),
            database: settings.clickhouse.database.clone(),
            user: settings.clickhouse.user.clone(),
            password: settings.clickhouse.password.expose().to_string(),
            query_timeout: settings.clickhouse.query_timeout,
        })?;
        let redis = Redis::connect_lazily(
            settings.redis.url.expose(),
            &settings.redis.key_prefix,
            settings.redis.timeout,
        )
        .context("invalid REDIS_URL")?;
        let jwt = Arc::new(JwtCodec::new(&jwt_settings(settings)?)?);
        let metrics = Arc::new(Metrics::default());
        let handoff_bytes = if settings.processors.enabled {
            settings.processors.handoff_bytes
        } else {
            0
        };
        Ok(Self {
            pool,
            clickhouse,
            redis,
            committed: Arc::new(Notify::new()),
            recent: Arc::new(RecentCommits::new(handoff_bytes).counting(Arc::clone(&metrics))),
            jwt,
            metrics,
        })
    }

    /// Commands for aggregates of type `A`, stored by postgres-es.
    pub fn commands<A>(&self) -> Arc<dyn AggregateCommands<A>>
    where
        A: cqrs_es::Aggregate<Services = ()> + 'static,
        A::Command: Send + 'static,
    {
        self.commands_weighing(|_| SMALL_EVENT_BYTES)
    }

    /// Like [`Self::commands`], where an event can take more than one unit of the
    /// processors' in-memory hand-off (`weight`).
    pub fn commands_weighing<A>(&self, weight: EventWeight<A>) -> Arc<dyn AggregateCommands<A>>
    where
        A: cqrs_es::Aggregate<Services = ()> + 'static,
        A::Command: Send + 'static,
    {
        Arc::new(
            CommandBus::new(
                pg::event_store::<A>(self.pool.clone()),
                (),
                Arc::clone(&self.committed),
            )
            .remembering(Arc::clone(&self.recent), weight),
        )
    }

    /// Like [`Self::commands`], with a snapshot every `every` events: for aggregates whose
    /// streams keep growing (an alert flapping for months).
    pub fn commands_with_snapshots<A>(&self, every: usize) -> Arc<dyn AggregateCommands<A>>
    where
        A: cqrs_es::Aggregate<Services = ()> + 'static,
        A::Command: Send + 'static,
    {
        Arc::new(
            CommandBus::new(
                pg::snapshot_store::<A>(self.pool.clone(), every),
                (),
                Arc::clone(&self.committed),
            )
            .remembering(Arc::clone(&self.recent), |_| SMALL_EVENT_BYTES),
        )
    }

    /// Rebuild requests, recorded through the `ReadModel` aggregate.
    pub fn read_model_admin(&self) -> Arc<ReadModelAdmin> {
        Arc::new(ReadModelAdmin::new(self.commands::<ReadModel>()).with_horizon(self.horizon()))
    }

    /// The event store's replay horizon (and the processors' progress it waits for).
    pub fn horizon(&self) -> Arc<dyn EventStoreHorizon> {
        Arc::new(pg::PostgresEventStoreHorizon::new(self.pool.clone()))
    }

    /// The projection of tenant policies (retention choices and chosen quotas).
    pub fn tenant_policies(
        &self,
        settings: &Settings,
    ) -> anyhow::Result<Arc<pg::PostgresTenantPolicies>> {
        Ok(Arc::new(pg::PostgresTenantPolicies::new(
            self.pool.clone(),
            parse_quotas(&settings.ingest.daily_quotas)?,
        )))
    }

    /// Removes what is past every tenant's retention from ClickHouse.
    pub fn retention_maintenance(
        &self,
        settings: &Settings,
    ) -> anyhow::Result<RetentionMaintenance> {
        Ok(RetentionMaintenance::new(
            self.tenant_policies(settings)? as _,
            Arc::new(ch::ClickHouseRetention::new(self.clickhouse.clone())),
            settings.retention.defaults(),
        ))
    }
}

/// Retention maintenance as of `at`, one instance at a time (the others then find nothing
/// left to remove).
pub async fn maintain_retention(
    pool: &PgPool,
    maintenance: &RetentionMaintenance,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<StoreEnforcement>> {
    let done = pg::exclusively(pool, "retention_maintenance", || maintenance.run(at)).await??;
    Ok(done)
}

/// Adds the refused requests tallied in memory to the usage counters every second, and once
/// more when the service stops.
fn spawn_refusal_flush(background: &mut Background, refusals: &Arc<RefusalTally>) {
    let refusals = Arc::clone(refusals);
    background.spawn_supervised("refusal counts", move |mut stop| {
        let refusals = Arc::clone(&refusals);
        async move {
            loop {
                let stopping = tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => false,
                    _ = stop.changed() => true,
                };
                if let Err(error) = refusals.flush().await {
                    warn!(error = %error, "refused requests not counted yet; retrying");
                }
                if stopping || *stop.borrow() {
                    return;
                }
            }
        }
    });
}

/// Runs retention maintenance a few seconds past every full UTC hour. A failed run is
/// logged and retried the next hour; reads never show data past retention meanwhile.
fn start_retention_maintenance(
    background: &mut Background,
    infrastructure: &Infrastructure,
    settings: &Settings,
) -> anyhow::Result<()> {
    let maintenance = Arc::new(infrastructure.retention_maintenance(settings)?);
    let pool = infrastructure.pool.clone();
    background.spawn_hourly(move || {
        let (maintenance, pool) = (Arc::clone(&maintenance), pool.clone());
        async move {
            match maintain_retention(&pool, &maintenance, chrono::Utc::now()).await {
                Ok(done) => info!(?done, "retention maintained"),
                Err(error) => error!(error = %error, "retention maintenance failed"),
            }
        }
    });
    Ok(())
}

fn jwt_settings(settings: &Settings) -> anyhow::Result<JwtSettings> {
    let read = |path: &str, what: &str| -> anyhow::Result<Option<String>> {
        if path.is_empty() {
            return Ok(None);
        }
        std::fs::read_to_string(path)
            .map(Some)
            .with_context(|| format!("cannot read {what} {path}"))
    };
    let auth = &settings.auth;
    Ok(JwtSettings {
        secret: (!auth.jwt_secret.is_empty()).then(|| auth.jwt_secret.expose().to_string()),
        public_key_pem: read(&auth.jwt_public_key_file, "JWT_PUBLIC_KEY_FILE")?,
        private_key_pem: read(&auth.jwt_private_key_file, "JWT_PRIVATE_KEY_FILE")?,
        issuer: auth.jwt_issuer.clone(),
        audience: auth.jwt_audience.clone(),
    })
}

/// Applies the ClickHouse DDL, one instance at a time (Postgres advisory lock).
pub async fn migrate_clickhouse(
    pool: &PgPool,
    clickhouse: &ClickHouse,
) -> anyhow::Result<Vec<u32>> {
    let applied = pg::exclusively(pool, "clickhouse_migrations", || {
        ch::apply_migrations(clickhouse)
    })
    .await??;
    Ok(applied)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let infrastructure = Infrastructure::connect(&settings).await?;
        let mut background = Background::new();
        let metrics = Arc::clone(&infrastructure.metrics);

        let (auth, key_catalog) = auth_service(&infrastructure, &settings).await?;
        let batches = infrastructure.commands_weighing::<IngestBatch>(|event| {
            event
                .as_section()
                .map_or(SMALL_EVENT_BYTES, EventSection::approximate_bytes)
        });
        let ingest = Arc::new(IngestService::new(
            batches,
            Arc::new(pg::PostgresDuplicateIndex::new(infrastructure.pool.clone())),
        ));
        let rate_limits = rate_limit_service(&infrastructure, &settings)?;
        let readiness = Arc::new(readiness(&settings, &infrastructure));
        let read_models = infrastructure.read_model_admin();
        let event_log: Arc<dyn EventLog> = Arc::new(
            pg::PostgresEventLog::new(infrastructure.pool.clone())
                .with_recent(Arc::clone(&infrastructure.recent)),
        );
        let cache = two_level_cache(&infrastructure, &settings);
        let queries = QueryService::new(
            Arc::new(ClickHouseAnalytics::new(infrastructure.clickhouse.clone())),
            Arc::clone(&cache),
        );
        let monitor = Arc::new(ProcessorMonitor::default());

        start_dedup_maintenance(
            &mut background,
            &infrastructure.pool,
            settings.ingest.dedup_window_days,
        )
        .await;
        let horizon = infrastructure.horizon();
        let usage: Arc<dyn UsageStore> =
            Arc::new(pg::PostgresUsage::new(infrastructure.pool.clone()));
        let quotas = parse_quotas(&settings.ingest.daily_quotas)?;
        usage
            .set_quotas(&quotas)
            .await
            .context("recording TENANT_DAILY_QUOTAS")?;
        let refusals = Arc::new(RefusalTally::new(Arc::clone(&usage)));
        spawn_refusal_flush(&mut background, &refusals);
        let tenant_policies = infrastructure.tenant_policies(&settings)?;
        let policies = Arc::new(PolicyService::new(
            infrastructure.commands::<TenantPolicy>(),
            settings.retention.defaults(),
            quotas,
        ));
        spawn_cache_invalidation(
            &mut background,
            &cache,
            settings.cache.invalidation_interval,
        );
        let alerting = Arc::new(pg::PostgresAlerting::new(infrastructure.pool.clone()));
        let alert_rules = Arc::new(AlertRuleService::new(
            infrastructure.commands::<AlertRule>(),
            Arc::clone(&alerting) as _,
            settings.alerting.max_rules_per_tenant,
        ));
        let queries = Arc::new(queries.with_retention(Arc::clone(&policies) as _));
        let alert_queries = Arc::new(
            AlertQueries::new(Arc::new(ClickHouseAlertHistory::new(
                infrastructure.clickhouse.clone(),
            )))
            .with_retention(Arc::clone(&policies) as _),
        );
        let dead_letters = Arc::new(DeadLetters::new(
            Arc::clone(&alerting) as _,
            infrastructure.commands::<DeadLetter>(),
        ));
        let processors = Processors {
            infrastructure: &infrastructure,
            settings: &settings,
            alerting: &alerting,
            key_catalog: &key_catalog,
            tenant_policies: &tenant_policies,
            read_models: &read_models,
            cache: &cache,
        };
        processors
            .start(&mut background, &event_log, &monitor, &horizon)
            .await?;
        start_event_store_maintenance(&mut background, &horizon, &settings).await;
        start_retention_maintenance(&mut background, &infrastructure, &settings)?;
        let live = live_feed(&mut background, &infrastructure, &settings, &event_log);

        let state = AppState {
            ingest,
            auth,
            rate_limits,
            readiness,
            metrics,
            limits: HttpLimits {
                max_batch_events: settings.ingest.max_batch_events,
                max_body_bytes: settings.ingest.max_body_bytes,
                request_timeout: settings.server.request_timeout,
            },
            queries,
            read_models,
            processors: monitor,
            event_log,
            horizon,
            usage,
            policies,
            refusals,
            analytics_storage: Arc::new(ch::ClickHouseRetention::new(
                infrastructure.clickhouse.clone(),
            )),
            operator_tenant: settings.auth.operator_tenant.clone(),
            alert_rules,
            alert_queries,
            dead_letters,
            live: Arc::clone(&live),
            conversions: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
        };
        let listeners = Listeners::bind(&settings, state).await?;
        Ok(Self {
            listener: listeners.http,
            router: listeners.router,
            port: listeners.port,
            grpc: listeners.grpc,
            background,
            shutdown_grace: settings.server.shutdown_grace,
            live,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OTLP/gRPC port, when it is served.
    pub fn otlp_grpc_port(&self) -> Option<u16> {
        let (listener, _) = self.grpc.as_ref()?;
        listener.local_addr().ok().map(|address| address.port())
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish (for up to the
    /// shutdown grace period, after which their connections are closed), then stops the
    /// background tasks (bounded by the grace period again).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let otlp_grpc_port = self.otlp_grpc_port();
        info!(port = self.port, otlp_grpc_port, "listening");
        // Peer addresses: the budget of failed authentications is kept per client address.
        let service = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
        let (stopping, stopped) = watch::channel(false);
        let live = Arc::clone(&self.live);
        tokio::spawn(async move {
            shutdown.await;
            // Live streams never finish by themselves: end them, so the drain waits only
            // for requests that do.
            live.close();
            let _ = stopping.send(true);
            let _ = signalled.send(());
        });
        let when_stopping = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stopping| *stopping).await;
            }
        };
        let http = axum::serve(self.listener, service)
            .with_graceful_shutdown(when_stopping())
            .into_future();
        let grpc = async move {
            match self.grpc {
                Some((listener, router)) => {
                    let service =
                        router.into_make_service_with_connect_info::<std::net::SocketAddr>();
                    axum::serve(listener, service)
                        .with_graceful_shutdown(when_stopping())
                        .await
                }
                None => Ok(()),
            }
        };
        let serve = async { tokio::try_join!(http, grpc).map(|_| ()) };
        // The drain is bounded: a client that never finishes its request (headers sent
        // halfway, a body that stops) would otherwise hold the process past any deadline
        // its supervisor keeps. A request cut off here was not answered, and retrying it
        // is safe (duplicates are recognised).
        let grace = self.shutdown_grace;
        let drain_deadline = async move {
            match on_signal.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        let served = tokio::select! {
            served = serve => served,
            () = drain_deadline => {
                warn!(
                    grace_ms = grace.as_millis() as u64,
                    "requests still in flight after the shutdown grace period; closing their connections"
                );
                Ok(())
            }
        };
        info!("http server stopped; stopping background tasks");
        self.background.shut_down(self.shutdown_grace).await;
        served.context("http server failed")
    }
}

/// The bound HTTP listener with its router, and the OTLP/gRPC one when it is served.
struct Listeners {
    http: TcpListener,
    router: axum::Router,
    port: u16,
    grpc: Option<(TcpListener, axum::Router)>,
}

impl Listeners {
    async fn bind(settings: &Settings, state: AppState) -> anyhow::Result<Self> {
        let grpc = if settings.server.otlp_grpc_enabled {
            let address = format!(
                "{}:{}",
                settings.server.host, settings.server.otlp_grpc_port
            );
            let listener = TcpListener::bind(&address)
                .await
                .with_context(|| format!("cannot listen on {address} (OTLP/gRPC)"))?;
            Some((
                listener,
                telemetry_presentation::grpc::router(state.clone()),
            ))
        } else {
            None
        };
        let router = telemetry_presentation::router(state);
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let http = TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let port = http.local_addr()?.port();
        Ok(Self {
            http,
            router,
            port,
            grpc,
        })
    }
}

/// Authentication: API keys (configured ones bootstrapped) and bearer tokens.
async fn auth_service(
    infrastructure: &Infrastructure,
    settings: &Settings,
) -> anyhow::Result<(Arc<AuthService>, Arc<pg::PostgresApiKeyCatalog>)> {
    let keys = infrastructure.commands::<ApiKey>();
    let directory = Arc::new(CachedApiKeyDirectory::new(
        Arc::clone(&keys),
        settings.auth.api_key_cache_ttl,
    ));
    let key_catalog = Arc::new(pg::PostgresApiKeyCatalog::new(infrastructure.pool.clone()));
    let auth = Arc::new(AuthService::new(
        keys,
        directory,
        Arc::clone(&infrastructure.jwt) as _,
        Arc::clone(&key_catalog) as _,
    ));
    bootstrap_api_keys(&auth, settings).await?;
    Ok((auth, key_catalog))
}

/// Per-tenant request budgets (shared through Redis) and the failed-authentication budget.
fn rate_limit_service(
    infrastructure: &Infrastructure,
    settings: &Settings,
) -> anyhow::Result<Arc<RateLimitService>> {
    let window = settings.rate_limit.window;
    let policy = RateLimitPolicy {
        default: RateLimit {
            max_requests: settings.rate_limit.max_requests,
            window,
        },
        overrides: RateLimitPolicy::parse_overrides(&settings.rate_limit.overrides, window)?,
        failed_auth: match settings.rate_limit.failed_auth_max_requests {
            0 => None,
            max_requests => Some(RateLimit {
                max_requests,
                window,
            }),
        },
    };
    Ok(Arc::new(RateLimitService::new(
        Arc::new(RedisRateLimiter::new(infrastructure.redis.clone())),
        policy,
        Arc::clone(&infrastructure.metrics),
    )))
}

/// The read side's cache: moka in process, Redis shared, generations in Redis.
fn two_level_cache(infrastructure: &Infrastructure, settings: &Settings) -> Arc<TwoLevelCache> {
    Arc::new(TwoLevelCache::new(
        Arc::new(MokaCache::new(
            settings.cache.l1_ttl,
            settings.cache.l1_max_bytes,
        )),
        Arc::new(RedisCache::new(
            infrastructure.redis.clone(),
            settings.cache.l2_ttl,
        )),
        Arc::new(RedisGenerations::new(infrastructure.redis.clone())),
        Arc::clone(&infrastructure.metrics),
    ))
}

/// What the event processors are built from.
struct Processors<'a> {
    infrastructure: &'a Infrastructure,
    settings: &'a Settings,
    alerting: &'a Arc<pg::PostgresAlerting>,
    key_catalog: &'a Arc<pg::PostgresApiKeyCatalog>,
    tenant_policies: &'a Arc<pg::PostgresTenantPolicies>,
    read_models: &'a Arc<ReadModelAdmin>,
    cache: &'a Arc<TwoLevelCache>,
}

impl Processors<'_> {
    /// Starts the notification delivery worker and, unless processors are disabled, every
    /// event processor: the Postgres ones now, the ClickHouse ones once its schema is applied.
    ///
    /// Every instance, processors enabled or not, lists the processors that read telemetry
    /// for the event store's horizon, so the log is never dropped before they have read it,
    /// whichever instances run them.
    async fn start(
        &self,
        background: &mut Background,
        event_log: &Arc<dyn EventLog>,
        monitor: &Arc<ProcessorMonitor>,
        horizon: &Arc<dyn EventStoreHorizon>,
    ) -> anyhow::Result<()> {
        let (infrastructure, settings) = (self.infrastructure, self.settings);
        let metrics = &infrastructure.metrics;
        let queued = Arc::new(Notify::new());
        let (postgres, clickhouse) = (
            postgres_processors(
                infrastructure,
                self.alerting,
                self.key_catalog,
                self.tenant_policies,
                settings,
                &queued,
                metrics,
            ),
            clickhouse_processors(infrastructure, self.read_models, self.cache),
        );
        let readers: Vec<&str> = postgres
            .iter()
            .chain(&clickhouse)
            .filter(|processor| reads_telemetry(processor.as_ref()))
            .map(|processor| processor.name())
            .collect();
        horizon
            .register_readers(&readers)
            .await
            .context("registering the processors that read telemetry")?;
        let (postgres, clickhouse) = if settings.processors.enabled {
            (postgres, clickhouse)
        } else {
            (Vec::new(), Vec::new())
        };
        spawn_delivery_worker(background, self.alerting, settings, queued, metrics)?;
        let runner = Arc::new(
            ProcessorRunner::new(
                Arc::clone(event_log),
                Arc::new(pg::AdvisoryLeases::new(infrastructure.pool.clone())),
                Arc::clone(&infrastructure.committed),
                Arc::clone(monitor),
                RunnerSettings {
                    batch_events: settings.processors.batch_events,
                    poll_interval: settings.processors.poll_interval,
                    coalesce: settings.processors.coalesce,
                    ..RunnerSettings::default()
                },
            )
            .recording_progress(Arc::clone(horizon)),
        );
        for processor in postgres {
            let (runner, stop) = (Arc::clone(&runner), background.stop_signal());
            background.spawn(async move { runner.run(processor, stop).await });
        }
        spawn_clickhouse_and_processors(background, infrastructure, runner, clickhouse);
        Ok(())
    }
}

/// Live updates: the tail of the log handed to connected streams, supervised.
fn live_feed(
    background: &mut Background,
    infrastructure: &Infrastructure,
    settings: &Settings,
    event_log: &Arc<dyn EventLog>,
) -> Arc<LiveFeed> {
    let live = Arc::new(LiveFeed::new(
        Arc::clone(event_log),
        Arc::clone(&infrastructure.committed),
        Arc::new(telemetry_presentation::routes::live::render_live_event),
        LiveSettings {
            max_connections_per_tenant: settings.live.max_connections_per_tenant,
            buffer_events: settings.live.buffer_events,
            max_events_per_second: settings.live.max_events_per_second,
            poll_interval: settings.processors.poll_interval,
            ..LiveSettings::default()
        },
        Arc::clone(&infrastructure.metrics),
    ));
    let tail = Arc::clone(&live);
    background.spawn_supervised("live updates", move |stop| Arc::clone(&tail).run(stop));
    live
}

fn readiness(settings: &Settings, infrastructure: &Infrastructure) -> ReadinessService {
    let checks: Vec<Arc<dyn DependencyCheck>> = vec![
        Arc::new(PostgresCheck::new(infrastructure.pool.clone())),
        Arc::new(ClickHouseCheck::new(infrastructure.clickhouse.clone())),
        Arc::new(RedisCheck::new(infrastructure.redis.clone())),
    ];
    ReadinessService::new(
        checks
            .into_iter()
            .map(|check| {
                let is_required = settings.readiness.requires(check.name());
                (check, is_required)
            })
            .collect(),
        settings.readiness.check_timeout,
    )
}

/// Registers the keys of `API_KEYS` (idempotent). A key that belongs to another tenant stops
/// start-up; a revoked key is skipped with a warning.
async fn bootstrap_api_keys(auth: &AuthService, settings: &Settings) -> anyhow::Result<()> {
    let keys = parse_api_key_list(settings.auth.api_keys.expose())?;
    for (key, tenant) in keys {
        match auth
            .register_key(&tenant, &key, "API_KEYS", "system:bootstrap")
            .await
        {
            Ok(key_id) => info!(tenant_id = %tenant, key_id = %key_id, "api key registered"),
            Err(KeyCommandFailure::Refused(ApiKeyError::Revoked)) => {
                warn!(tenant_id = %tenant, "a key in API_KEYS was revoked; it stays revoked");
            }
            Err(KeyCommandFailure::Refused(ApiKeyError::OwnedByAnotherTenant)) => {
                bail!(
                    "a key in API_KEYS for tenant {tenant} is already registered to another tenant"
                )
            }
            Err(error) => bail!("registering API_KEYS: {error}"),
        }
    }
    Ok(())
}

/// Maintains the deduplication partitions now, so today's exists before the first ingest,
/// and then in the background a few seconds past every full UTC hour: the run just after
/// midnight drops the day that left the window before events of that day, already older
/// than the window, can be claimed in its partition (and forgotten with it) instead of the
/// default partition, which keeps them for the window after their receipt. A failed run is
/// logged and retried the next hour: meanwhile claims for days without a partition go to
/// the default partition, which the next successful run moves into the day's partition.
async fn start_dedup_maintenance(background: &mut Background, pool: &PgPool, window_days: u32) {
    async fn maintain(pool: &PgPool, window_days: u32) {
        match pg::maintain_dedup_partitions(pool, window_days).await {
            Ok(()) => info!(window_days, "deduplication partitions maintained"),
            Err(error) => error!(error = %error, "deduplication partition maintenance failed"),
        }
    }
    maintain(pool, window_days).await;
    let pool = pool.clone();
    background.spawn_hourly(move || {
        let pool = pool.clone();
        async move { maintain(&pool, window_days).await }
    });
}

/// The event store's horizon (`EVENT_STORE_HORIZON_DAYS`; `None` when 0, keep everything).
pub fn event_store_horizon(settings: &Settings) -> Option<Duration> {
    match settings.ingest.event_store_horizon_days {
        0 => None,
        days => Some(Duration::from_secs(u64::from(days) * 86_400)),
    }
}

/// Maintains the event store's partitions now (today's and the next two days' exist before
/// the first ingest) and then a few seconds past every full UTC hour: day partitions past
/// the horizon that every telemetry reader has passed are dropped. A failed run is logged
/// and retried the next hour; meanwhile batches of a day without a partition go to the late
/// partition, which the next run sorts into the day's partition.
async fn start_event_store_maintenance(
    background: &mut Background,
    horizon: &Arc<dyn EventStoreHorizon>,
    settings: &Settings,
) {
    async fn maintain(horizon: &dyn EventStoreHorizon, keep: Option<Duration>) {
        match horizon.maintain(chrono::Utc::now(), keep).await {
            Ok(run) if run.held_back_by.is_empty() => info!(
                dropped_before = ?run.dropped_before,
                "event store partitions maintained"
            ),
            Ok(run) => warn!(
                partition = run.held_partition.as_deref().unwrap_or_default(),
                held_back_by = ?run.held_back_by,
                "event store partition past the horizon kept: processors have not read it yet"
            ),
            Err(error) => error!(error = %error, "event store maintenance failed"),
        }
    }
    let keep = event_store_horizon(settings);
    maintain(horizon.as_ref(), keep).await;
    let horizon = Arc::clone(horizon);
    background.spawn_hourly(move || {
        let horizon = Arc::clone(&horizon);
        async move { maintain(horizon.as_ref(), keep).await }
    });
}

/// The time from `now` to 5 seconds past the next full UTC hour.
fn until_next_hour(now: chrono::DateTime<chrono::Utc>) -> Duration {
    const HOUR_MS: i64 = 3_600_000;
    const PAST_THE_HOUR_MS: i64 = 5_000;
    let now_ms = now.timestamp_millis();
    let next_ms =
        ((now_ms - PAST_THE_HOUR_MS).div_euclid(HOUR_MS) + 1) * HOUR_MS + PAST_THE_HOUR_MS;
    Duration::from_millis(u64::try_from(next_ms - now_ms).unwrap_or(0))
}

/// How many events an `Alert` stream grows by between snapshots. An alert's state is small
/// and each transition is one event, so a snapshot every 20 keeps a load to one row and at
/// most 19 events however long the alert has existed.
const ALERT_SNAPSHOT_EVERY: usize = 20;

/// The event processors whose state is in Postgres (they run from start-up). Adding a
/// processor is adding it here or to `clickhouse_processors`.
fn postgres_processors(
    infrastructure: &Infrastructure,
    alerting: &Arc<pg::PostgresAlerting>,
    key_catalog: &Arc<pg::PostgresApiKeyCatalog>,
    tenant_policies: &Arc<pg::PostgresTenantPolicies>,
    settings: &Settings,
    queued: &Arc<Notify>,
    metrics: &Arc<Metrics>,
) -> Vec<Arc<dyn EventProcessor>> {
    let evaluator = AlertEvaluator::new(
        Arc::clone(alerting) as _,
        Arc::clone(alerting) as _,
        infrastructure.commands_with_snapshots::<Alert>(ALERT_SNAPSHOT_EVERY),
        EvaluatorSettings {
            tick: settings.alerting.tick,
            rules_refresh: settings.alerting.rules_refresh,
            max_series_per_rule: settings.alerting.max_series_per_rule,
            ..EvaluatorSettings::default()
        },
        Arc::clone(metrics),
    );
    vec![
        Arc::new(ApiKeyCatalogProcessor::api_keys(
            Arc::clone(key_catalog) as _
        )),
        Arc::new(TenantPolicyProcessor::tenant_policies(
            Arc::clone(tenant_policies) as _,
        )),
        Arc::new(RuleCatalogProcessor::new(Arc::clone(alerting) as _)),
        Arc::new(evaluator),
        Arc::new(NotificationProcessor::new(
            Arc::clone(alerting) as _,
            Arc::clone(queued),
        )),
    ]
}

/// Delivers queued notifications until the service stops (every instance runs one; they
/// share the queue safely).
fn spawn_delivery_worker(
    background: &mut Background,
    alerting: &Arc<pg::PostgresAlerting>,
    settings: &Settings,
    queued: Arc<Notify>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<()> {
    let alerting_settings = &settings.alerting;
    let sender = HttpWebhookSender::new(
        alerting_settings.webhook_timeout,
        alerting_settings.allow_private_networks,
    )?;
    let worker = DeliveryWorker::new(
        Arc::clone(alerting) as _,
        Arc::new(sender),
        DeliverySettings {
            max_attempts: alerting_settings.max_attempts,
            retry_base: alerting_settings.retry_base,
            retry_max: alerting_settings.retry_max,
            lease: (alerting_settings.webhook_timeout * 4).max(Duration::from_secs(10)),
            keep_delivered: Duration::from_secs(alerting_settings.keep_delivered_hours * 3600),
            keep_dead: Duration::from_secs(alerting_settings.keep_dead_days * 86_400),
            ..DeliverySettings::default()
        },
        queued,
        Arc::clone(metrics),
    );
    let worker = Arc::new(worker);
    background.spawn_supervised("delivery worker", move |stop| {
        let worker = Arc::clone(&worker);
        async move { worker.run(stop).await }
    });
    Ok(())
}

/// The event processors whose read models are in ClickHouse (they start once its schema is
/// applied).
fn clickhouse_processors(
    infrastructure: &Infrastructure,
    read_models: &Arc<ReadModelAdmin>,
    cache: &Arc<TwoLevelCache>,
) -> Vec<Arc<dyn EventProcessor>> {
    let store = ClickHouseReadModel::rollups(infrastructure.clickhouse.clone());
    let invalidation = Arc::clone(cache);
    let rollups = ProjectionProcessor::new(
        ReadModelName::Rollups,
        rollups::filters(),
        rollups::event_rows,
        Arc::new(store) as Arc<dyn ReadModelStore<EventRow>>,
        Arc::clone(read_models),
    )
    .after_write(Arc::new(move |rows: &[EventRow]| {
        invalidation.invalidate(rows.iter().map(SourcedRow::tenant));
    }));
    let audit = ProjectionProcessor::new(
        ReadModelName::Audit,
        audit::filters(),
        audit::audit_entries,
        Arc::new(ClickHouseReadModel::audit(
            infrastructure.clickhouse.clone(),
        )) as Arc<dyn ReadModelStore<AuditEntry>>,
        Arc::clone(read_models),
    );
    let alert_history = ProjectionProcessor::new(
        ReadModelName::AlertHistory,
        alert_history::filters(),
        alert_history::history_rows,
        Arc::new(ClickHouseReadModel::alert_history(
            infrastructure.clickhouse.clone(),
        )) as Arc<dyn ReadModelStore<AlertHistoryRow>>,
        Arc::clone(read_models),
    );
    vec![Arc::new(rollups), Arc::new(audit), Arc::new(alert_history)]
}

fn spawn_cache_invalidation(
    background: &mut Background,
    cache: &Arc<TwoLevelCache>,
    interval: Duration,
) {
    let cache = Arc::clone(cache);
    background.spawn_supervised("cache invalidation", move |stop| {
        let cache = Arc::clone(&cache);
        async move { cache.run_invalidation(interval, stop).await }
    });
}

/// Applies the ClickHouse schema in the background, retrying while ClickHouse is down, then
/// runs the event processors. Ingestion (which needs only Postgres) is available meanwhile.
fn spawn_clickhouse_and_processors(
    background: &mut Background,
    infrastructure: &Infrastructure,
    runner: Arc<ProcessorRunner>,
    processors: Vec<Arc<dyn EventProcessor>>,
) {
    let pool = infrastructure.pool.clone();
    let clickhouse = infrastructure.clickhouse.clone();
    let mut stop = background.stop_signal();
    background.spawn(async move {
        let mut delay = Duration::from_millis(500);
        loop {
            match migrate_clickhouse(&pool, &clickhouse).await {
                Ok(applied) => {
                    info!(
                        ?applied,
                        database = clickhouse.database(),
                        "clickhouse schema up to date"
                    );
                    break;
                }
                Err(error) => warn!(error = %error, "clickhouse schema not applied yet; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        let runs = processors
            .into_iter()
            .map(|processor| runner.run(processor, stop.clone()));
        futures_util::future::join_all(runs).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_runs_five_seconds_past_every_utc_hour() {
        let at = |text: &str| {
            until_next_hour(chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc())
        };
        assert_eq!(at("2026-12-06T23:59:59Z"), Duration::from_secs(6));
        assert_eq!(at("2026-12-07T00:00:03Z"), Duration::from_secs(2));
        assert_eq!(at("2026-12-07T00:00:05Z"), Duration::from_secs(3600));
        assert_eq!(
            at("2026-12-07T00:30:05.5Z"),
            Duration::from_millis(1_799_500)
        );
    }

    #[tokio::test]
    async fn a_supervised_task_that_panics_is_started_again_until_the_service_stops() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let mut background = Background::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        background.spawn_supervised("test task", move |mut stop| {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                assert!(run > 1, "the first run fails");
                let _ = stop.changed().await;
            }
        });
        for _ in 0..50 {
            if runs.load(Ordering::SeqCst) >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // The second run ends on the stop signal, and is not started again.
        background.shut_down(Duration::from_secs(5)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
