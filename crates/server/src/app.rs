//! Boot and lifecycle: connect and migrate, start the group-commit writer, the token
//! refresher, the hydrator, backfill, reconciliation and the sinks' dispatchers, serve,
//! and shut down without losing anything acknowledged.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hubspot::crm::CrmClient;
use hubspot::oauth::OAuthClient;
use hubspot::time::Clock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use secrecy::ExposeSecret;
use store::{ConnectOptions, Engine, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, Instrument};

use crate::config::{Config, DatabaseConfig, HttpLimits, InstallConfig, MonitorConfig};
use crate::dashboard::session::Dashboard;
use crate::http::serve::serve;
use crate::http::{self, AppState};
use crate::metrics::{Metrics, SinkOutcome};
use crate::monitor::alerts::Alerts;
use crate::monitor::evaluation::Evaluation;
use crate::monitor::standings::Standings;
use crate::monitor::tally::Tally;
use crate::oauth::install::InstallFlow;
use crate::oauth::tokens::TokenService;
use crate::webhooks::group_commit::{Backlog, Ingest, Writer, BACKLOG_REFRESH};
use crate::webhooks::receiver::Receiver;
use crate::workers::hydrator::Hydrator;
use crate::workers::retention::Retention;
use crate::workers::sinks::{self, dispatcher::Dispatcher};
use crate::workers::sync::backfill::Backfiller;
use crate::workers::sync::reconcile::Reconciler;

/// A built application, ready to [`run`](App::run) on a listener.
#[derive(Debug)]
pub struct App {
    router: Router,
    /// `/metrics` on a listener of its own, when `SPOKE_METRICS_LISTEN` names one.
    metrics_apart: Option<(TcpListener, Router)>,
    store: Arc<dyn Store>,
    backlog: Arc<Backlog>,
    writer: Writer,
    tokens: Option<Arc<TokenService>>,
    hydrator: Option<Arc<Hydrator>>,
    /// Backfill and reconciliation, where this process runs them.
    sync: Option<(Arc<Backfiller>, Arc<Reconciler>)>,
    dispatchers: Vec<Arc<Dispatcher>>,
    retention: Option<Retention>,
    tally: Arc<Tally>,
    /// Evaluated on every instance while the monitor is on: each serves the admin API and
    /// the dashboard, which show the alerts of the last evaluation. Instances running the
    /// workers announce each change, once across them (`AlertStates`); receivers only show.
    alerts: Option<Arc<Alerts>>,
    /// Refreshed by each evaluation of the alerts, from the same read.
    standings: Arc<Standings>,
    /// Its tables' counts are read in the background, never by a scrape.
    metrics: Arc<Metrics>,
    table_counts_every: Duration,
    http_limits: HttpLimits,
    monitor: MonitorConfig,
    clock: Clock,
}

/// A dispatcher for each configured sink, sharing the sinks' attempt counters.
async fn dispatchers(
    config: &Config,
    store: &Arc<dyn Store>,
    clock: &Clock,
    attempts: &Family<SinkOutcome, Counter>,
) -> anyhow::Result<Vec<Arc<Dispatcher>>> {
    Ok(sinks::configured(&config.sinks, clock.clone())
        .await?
        .into_iter()
        .map(|sink| {
            Arc::new(Dispatcher::new(
                store.clone(),
                sink,
                config.sinks.max_attempts,
                config.hydrator.claim_lease,
                clock.clone(),
                attempts.clone(),
            ))
        })
        .collect())
}

/// Group commits in flight at once: SQLite has one writer, so one; on PostgreSQL the
/// configured few overlap, so one commit's wait on the server is not the receiver's
/// (`scripts/bench.sh ingest`).
fn overlapping_commits(config: &Config) -> usize {
    match Engine::of_url(config.database.url.expose_secret()) {
        Ok(Engine::Postgres) => config.webhooks.commits_in_flight,
        _ => 1,
    }
}

/// The receiver's group commits, with the backlog they admit against read once.
async fn start_ingest(
    store: &Arc<dyn Store>,
    config: &Config,
    clock: &Clock,
) -> (Arc<Backlog>, Ingest, Writer) {
    let backlog = Arc::new(Backlog::new(config.webhooks.inbox_max_backlog));
    backlog.refresh(store.as_ref()).await;
    let (ingest, writer) = Ingest::start_overlapping(
        store.clone(),
        backlog.clone(),
        overlapping_commits(config),
        clock.clone(),
    );
    (backlog, ingest, writer)
}

/// The token service of an install configuration.
pub fn token_service(
    store: Arc<dyn Store>,
    install: &InstallConfig,
    clock: Clock,
) -> Arc<TokenService> {
    let oauth = OAuthClient::new(install.oauth.clone());
    Arc::new(TokenService::new(
        store,
        oauth,
        install.keys.clone(),
        install.refresh_margin,
        clock,
    ))
}

/// Whether opening a database may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// `serve` and `migrate`: a new SQLite file is created and migrated.
    CreateIfMissing,
    /// Operator commands: a database that is not there is an error naming the path, never
    /// an empty new one.
    Existing,
}

/// Connects to the configured database and applies pending migrations.
pub async fn open_store(database: &DatabaseConfig, open: Open) -> anyhow::Result<Arc<dyn Store>> {
    let options = ConnectOptions {
        max_connections: database.max_connections,
        create_if_missing: open == Open::CreateIfMissing,
        ..ConnectOptions::default()
    };
    let store = store::connect(&database.url, &options)
        .await
        .context("SPOKE_DATABASE_URL: cannot open the database")?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    Ok(store)
}

/// Every instance evaluates alerts, for its own pages; those running the workers announce.
fn alerts(config: &Config) -> Arc<Alerts> {
    let alerts = Alerts::new(config.monitor.levels, config.monitor.alert_webhook.clone());
    Arc::new(if config.role.works() {
        alerts
    } else {
        alerts.without_announcing()
    })
}

/// The sync workers sharing `hydrator`'s reads and limits, their metrics registered.
fn sync_workers(
    config: &Config,
    hydrator: &Arc<Hydrator>,
    store: &Arc<dyn Store>,
    clock: &Clock,
    metrics: &mut Metrics,
) -> (Arc<Backfiller>, Arc<Reconciler>) {
    let backfiller = Arc::new(Backfiller::new(
        store.clone(),
        hydrator.clone(),
        clock.clone(),
    ));
    backfiller.register_metrics(metrics.registry());
    let every = config.hydrator.reconcile_every;
    let reconciler = Arc::new(Reconciler::new(
        store.clone(),
        hydrator.clone(),
        every,
        clock.clone(),
    ));
    reconciler.register_metrics(metrics.registry());
    (backfiller, reconciler)
}

fn hydrator(
    config: &Config,
    install: &InstallConfig,
    store: &Arc<dyn Store>,
    tokens: Arc<TokenService>,
    tally: &Arc<Tally>,
    clock: &Clock,
) -> Arc<Hydrator> {
    Arc::new(Hydrator::new(
        store.clone(),
        tokens,
        CrmClient::new(&install.oauth.api_base, install.api_version),
        config.hydrator.clone(),
        config.sinks.names(),
        tally.clone(),
        clock.clone(),
    ))
}

impl App {
    /// Opens the store and wires every component to `clock`.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<Self> {
        let store = open_store(&config.database, Open::CreateIfMissing).await?;
        let (backlog, ingest, writer) = start_ingest(&store, &config, &clock).await;
        let tokens = config
            .install
            .as_ref()
            .map(|install| token_service(store.clone(), install, clock.clone()));
        let install = config
            .install
            .as_ref()
            .zip(tokens.clone())
            .map(|(install, tokens)| {
                Arc::new(InstallFlow::new(install, &config.public_url, tokens))
            });
        let tally = Arc::new(Tally::with_counting(clock.clone(), !config.monitor.off));
        let alerts = alerts(&config);
        let standings = Arc::new(Standings::default());
        let hydrator = config
            .install
            .as_ref()
            .zip(tokens.clone())
            .map(|(install, tokens)| hydrator(&config, install, &store, tokens, &tally, &clock));
        let mut metrics = Metrics::new(config.sinks.names());
        let sink_attempts = metrics.sink_attempts();
        let dispatchers = if config.role.works() {
            dispatchers(&config, &store, &clock, &sink_attempts).await?
        } else {
            Vec::new()
        };
        if let Some(tokens) = &tokens {
            tokens.register_metrics(metrics.registry());
        }
        if let Some(hydrator) = &hydrator {
            hydrator.register_metrics(metrics.registry());
        }
        let sync = hydrator
            .as_ref()
            .filter(|_| config.role.works() && config.hydrator.sync)
            .map(|hydrator| sync_workers(&config, hydrator, &store, &clock, &mut metrics));
        let receiver = Receiver::new(
            &config.webhooks,
            config.public_url.clone(),
            config.client_secret,
            clock.clone(),
            ingest,
        );
        receiver.metrics.register(metrics.registry());
        let metrics = Arc::new(metrics);
        let role = config.role;
        let dashboard = config
            .operator_token
            .as_ref()
            .map(|token| Arc::new(Dashboard::new(token, &config.public_url)));
        let retention = role
            .works()
            .then(|| Retention::new(store.clone(), config.hydrator.retention, clock.clone()));
        let state = AppState {
            store: store.clone(),
            receiver: Arc::new(receiver),
            install,
            hydrator: hydrator.clone(),
            operator_token: config.operator_token.map(Arc::new),
            metrics: metrics.clone(),
            tally: tally.clone(),
            alerts: alerts.clone(),
            standings: standings.clone(),
            dashboard,
            crm_version: config.install.as_ref().map(|i| i.api_version),
            tokens: tokens.clone(),
            clock: clock.clone(),
        };
        let metrics_apart = match config.metrics_listen {
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("SPOKE_METRICS_LISTEN: cannot listen on {address}"))?;
                Some((listener, http::metrics_router(state.clone())))
            }
            None => None,
        };
        let router = http::router(state, role, metrics_apart.is_some());
        Ok(Self {
            router,
            metrics_apart,
            store,
            backlog,
            writer,
            tokens: tokens.filter(|_| role.works()),
            hydrator: hydrator.filter(|_| role.works()),
            sync,
            dispatchers,
            retention,
            tally,
            alerts: (!config.monitor.off).then_some(alerts),
            standings,
            metrics,
            table_counts_every: config.table_counts_every,
            http_limits: config.http,
            monitor: config.monitor,
            clock,
        })
    }

    /// Where `/metrics` is served apart (`SPOKE_METRICS_LISTEN`), once bound.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        let (listener, _) = self.metrics_apart.as_ref()?;
        listener.local_addr().ok()
    }

    /// Serves until `shutdown` is cancelled; then finishes in-flight requests, commits what
    /// is queued (everything answered `200` is on disk) and stops background work.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let tasks = TaskTracker::new();
        tasks.spawn(
            refresh_backlog(self.store.clone(), self.backlog.clone(), shutdown.clone())
                .instrument(tracing::info_span!("backlog")),
        );
        if let Some(tokens) = self.tokens.clone() {
            tasks.spawn(
                tokens
                    .run_refresher(shutdown.clone())
                    .instrument(tracing::info_span!("token_refresher")),
            );
        }
        if let Some(retention) = self.retention {
            tasks.spawn(
                retention
                    .run(shutdown.clone())
                    .instrument(tracing::info_span!("retention")),
            );
        }
        if let Some(hydrator) = self.hydrator.clone() {
            tasks.spawn(
                hydrator
                    .run(shutdown.clone())
                    .instrument(tracing::info_span!("hydrator")),
            );
        }
        if let Some((backfiller, reconciler)) = self.sync.clone() {
            tasks.spawn(
                backfiller
                    .run(shutdown.clone())
                    .instrument(tracing::info_span!("backfill")),
            );
            tasks.spawn(
                reconciler
                    .run(shutdown.clone())
                    .instrument(tracing::info_span!("reconcile")),
            );
        }
        tasks.spawn({
            let (tally, store, shutdown) =
                (self.tally.clone(), self.store.clone(), shutdown.clone());
            let every = self.monitor.flush_every;
            async move { tally.run(store.as_ref(), every, shutdown).await }
                .instrument(tracing::info_span!("monitor"))
        });
        tasks.spawn({
            let (metrics, store, shutdown) =
                (self.metrics.clone(), self.store.clone(), shutdown.clone());
            let every = self.table_counts_every;
            async move { metrics.run(store.as_ref(), every, shutdown).await }
                .instrument(tracing::info_span!("metrics"))
        });
        if let Some(alerts) = self.alerts.clone() {
            let evaluation = Evaluation {
                alerts,
                standings: self.standings.clone(),
                store: self.store.clone(),
                clock: self.clock.clone(),
            };
            tasks.spawn(
                evaluation
                    .run(self.monitor.evaluate_every, shutdown.clone())
                    .instrument(tracing::info_span!("alerts")),
            );
        }
        for dispatcher in &self.dispatchers {
            tasks.spawn(
                dispatcher
                    .clone()
                    .run(shutdown.clone())
                    .instrument(tracing::info_span!("sink")),
            );
        }
        if let Some((listener, router)) = self.metrics_apart {
            info!(addr = %listener.local_addr()?, "metrics listening");
            let (limits, shutdown) = (self.http_limits, shutdown.clone());
            tasks.spawn(serve(listener, router, limits, shutdown));
        }
        let addr = listener.local_addr()?;
        info!(addr = %addr, "listening");
        serve(listener, self.router, self.http_limits, shutdown.clone()).await;
        self.writer.finish().await;
        tasks.close();
        tasks.wait().await;
        // Requests and workers have stopped: the last counts go to the store.
        if let Err(error) = self.tally.flush(self.store.as_ref()).await {
            tracing::warn!(error = %crate::telemetry::Chain(&error), "the last monitor counts were not stored");
        }
        info!("stopped");
        Ok(())
    }
}

async fn refresh_backlog(
    store: Arc<dyn Store>,
    backlog: Arc<Backlog>,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(BACKLOG_REFRESH);
    every.tick().await;
    while shutdown.run_until_cancelled(every.tick()).await.is_some() {
        backlog.refresh(store.as_ref()).await;
    }
}
