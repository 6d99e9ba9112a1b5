//! spoke-sim: a HubSpot that runs on this machine, for spoke's tests, demo and benchmarks.
//!
//! - [`crm`]: the CRM API v3 for six object types, with HubSpot's rate limits and errors,
//!   and a [`crm_ledger`] of every call (the ground truth of a portal's API use).
//! - [`dispatcher`]: signed webhook deliveries with HubSpot's batching, concurrency,
//!   timeout and retries, and a [`ledger`] of every attempt (the ground truth).
//! - [`oauth`]: the authorize page with its consent step, the token endpoints (v1, v3 and
//!   date-versioned), token information, revocation and the app-uninstall API.
//! - [`admin`]: `/_sim/…`, to change records (which yields webhook events), issue tokens,
//!   uninstall portals, set faults and read the ledger.
//!
//! Portals and records come from a seed and cost nothing until they change ([`world`]).
//! [`start`] runs it all on a listener, in a test or behind `spoke-sim serve`.
#![forbid(unsafe_code)]

pub mod admin;
mod association_api;
mod caller;
pub mod client;
pub mod crm;
pub mod crm_ledger;
mod definitions;
pub mod dispatcher;
mod errors;
pub mod faults;
pub mod ledger;
pub mod oauth;
pub mod objects;
pub mod ratelimit;
mod rendering;
pub mod search;
pub mod settings;
pub mod tokens;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubspot::time::Clock;
use hubspot::ClientSecret;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::dispatcher::{Dispatcher, Schedule, Target};
use crate::faults::{ActiveFaults, Faults};
use crate::ratelimit::{Exceeded, RateLimiter, Usage};
pub use crate::settings::Settings;
use crate::tokens::{Grant, TokenPair, TokenProblem, Tokens};
use crate::world::{Shape, WebhookEvent, World};

/// Everything the simulator knows, shared by its handlers and tasks.
#[derive(Debug)]
pub struct Sim {
    world: Mutex<World>,
    tokens: Mutex<Tokens>,
    limiter: Mutex<RateLimiter>,
    /// The search API's own limit, per portal.
    search_limiter: Mutex<RateLimiter>,
    faults: Mutex<ActiveFaults>,
    /// Draws which calls an error rate fails, and how, from the settings' seed.
    faults_rng: Mutex<rand::rngs::StdRng>,
    dispatcher: Dispatcher,
    consent: Mutex<Option<oauth::AutoConsent>>,
    pending: Mutex<std::collections::HashMap<String, oauth::Authorization>>,
    app: oauth::App,
    crm_ledger: Mutex<crm_ledger::CrmLedger>,
    /// Refresh-token grants received, successful or not: what single-flight is judged by.
    refresh_calls: std::sync::atomic::AtomicU64,
    /// What token lifetimes, signature timestamps and record times are measured by; tests
    /// share a manual one with spoke to jump ahead without sleeping.
    clock: Clock,
}

pub type SharedSim = Arc<Sim>;

impl Sim {
    pub fn new(settings: &Settings, clock: Clock) -> Self {
        let world = World::new(Shape {
            seed: settings.seed,
            app_id: settings.app_id,
            first_portal: settings.first_portal,
            portals: settings.portals,
            records_per_type: settings.records,
            limits: settings.limits(),
        });
        let target = Target {
            target_url: settings.webhook_target_url.clone(),
            deliver_to: settings.webhook_deliver_to.clone(),
            max_concurrent: settings.webhook_max_concurrent,
        };
        let schedule = Schedule {
            retry_delays: settings
                .retry_delays
                .iter()
                .map(|s| Duration::from_secs_f64(*s))
                .collect(),
            time_scale: settings.time_scale,
            jitter: settings.retry_jitter,
            timeout: Duration::from_millis(settings.webhook_timeout_ms),
            seed: settings.seed,
        };
        Self {
            world: Mutex::new(world),
            tokens: Mutex::default(),
            limiter: Mutex::default(),
            search_limiter: Mutex::default(),
            faults: Mutex::new(ActiveFaults::new(Faults::default())),
            faults_rng: Mutex::new(rand::SeedableRng::seed_from_u64(settings.seed)),
            dispatcher: Dispatcher::new(
                ClientSecret::new(settings.client_secret.clone()),
                target,
                schedule,
                clock.clone(),
            ),
            consent: Mutex::new(None),
            pending: Mutex::default(),
            app: oauth::App::from_settings(settings),
            crm_ledger: Mutex::default(),
            refresh_calls: std::sync::atomic::AtomicU64::new(0),
            clock,
        }
    }

    /// A draw for the injected faults, from the seeded generator.
    pub fn fault_draw<T>(&self, draw: impl FnOnce(&mut rand::rngs::StdRng) -> T) -> T {
        draw(&mut self.faults_rng.lock().expect("faults rng lock"))
    }

    /// Now, by the simulator's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Reads or changes the world under its lock (never held across an await).
    pub fn world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().expect("world lock"))
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// How many refresh-token grants the token endpoint has received.
    pub fn refresh_calls(&self) -> u64 {
        self.refresh_calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Reads or changes the CRM API's ledger under its lock.
    pub fn crm_ledger<T>(&self, f: impl FnOnce(&mut crm_ledger::CrmLedger) -> T) -> T {
        f(&mut self.crm_ledger.lock().expect("crm ledger lock"))
    }

    /// Reads or changes the issued credentials under their lock.
    pub fn tokens<T>(&self, f: impl FnOnce(&mut Tokens) -> T) -> T {
        f(&mut self.tokens.lock().expect("tokens lock"))
    }

    /// A fresh token pair with the app's scopes for an installed portal, as the token
    /// endpoint would issue it after an install.
    pub fn issue_tokens(&self, portal: i64) -> Option<TokenPair> {
        self.world(|w| w.portal(portal)).filter(|p| p.installed)?;
        let grant = Grant::for_portal(portal, self.app.scopes.clone());
        Some(self.tokens(|t| t.issue(grant, self.app.access_token_ttl_s, self.now_ms())))
    }

    pub fn revoke_tokens(&self, portal: i64, access_too: bool) -> usize {
        self.tokens(|t| t.revoke_portal(portal, access_too))
    }

    /// Marks a portal uninstalled and revokes all its tokens, as HubSpot does.
    pub fn uninstall(&self, portal: i64) -> Result<(), world::ChangeError> {
        self.world(|w| w.update_portal(portal, |p| p.installed = false))?;
        self.revoke_tokens(portal, true);
        Ok(())
    }

    /// The grant behind a bearer token of an installed portal.
    fn caller(&self, token: &str) -> Result<Grant, TokenProblem> {
        let grant =
            self.tokens(|t| t.access_grant(token, self.now_ms()).map(|(g, _)| g.clone()))?;
        match self.world(|w| w.portal(grant.portal)) {
            Some(p) if p.installed => Ok(grant),
            _ => Err(TokenProblem::Unknown),
        }
    }

    /// Queues webhook events; those of portals that no longer have the app are dropped,
    /// since HubSpot sends nothing to an uninstalled app.
    pub fn emit(&self, events: Vec<WebhookEvent>) -> usize {
        let events: Vec<WebhookEvent> = self.world(|w| {
            events
                .into_iter()
                .filter(|e| w.portal(e.portal_id).is_some_and(|p| p.installed))
                .collect()
        });
        let faults = self.faults();
        let lost = faults.faults.lost_webhooks.clamp(0.0, 1.0);
        let (events, lost): (Vec<WebhookEvent>, Vec<WebhookEvent>) =
            events.into_iter().partition(|e| {
                !faults.applies_to(e.portal_id)
                    || lost == 0.0
                    || self.fault_draw(rand::Rng::random::<f64>) >= lost
            });
        for event in &lost {
            self.dispatcher.lost(event.portal_id, 1);
        }
        let queued = events.len();
        self.dispatcher.enqueue(events);
        queued
    }

    fn admit(&self, portal: i64) -> Result<Usage, (Exceeded, Usage)> {
        let limits = self
            .world(|w| w.portal(portal))
            .map(|p| p.limits)
            .unwrap_or_default();
        let day = (self.now_ms() / 86_400_000) as u64;
        self.limiter
            .lock()
            .expect("limiter lock")
            .admit(portal, limits, Instant::now(), day)
    }

    /// Whether a search of `portal` is within the search API's limit; counts it if so.
    fn admit_search(&self, portal: i64) -> bool {
        let limits = crate::ratelimit::Limits {
            max: crate::search::SEARCHES_PER_SECOND,
            window_ms: 1_000,
            daily: None,
        };
        self.search_limiter
            .lock()
            .expect("search limiter lock")
            .admit(portal, limits, Instant::now(), 0)
            .is_ok()
    }

    pub fn faults(&self) -> ActiveFaults {
        self.faults.lock().expect("faults lock").clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().expect("faults lock") = ActiveFaults::new(faults);
    }
}

/// A simulator running on a listener.
#[derive(Debug)]
pub struct RunningSim {
    pub addr: SocketAddr,
    pub sim: SharedSim,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl RunningSim {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this simulator's `/_sim/` API.
    pub fn client(&self) -> client::SimClient {
        client::SimClient::new(&self.base_url())
    }

    /// Stops serving and delivering.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}

/// Starts the HTTP server, the dispatcher and (if configured) the activity stream.
pub async fn start(
    settings: Settings,
    listener: TcpListener,
    clock: Clock,
) -> anyhow::Result<RunningSim> {
    let sim: SharedSim = Arc::new(Sim::new(&settings, clock));
    let shutdown = CancellationToken::new();
    tokio::spawn(sim.dispatcher.clone().run(shutdown.clone()));
    if settings.activity_rate > 0.0 {
        tokio::spawn(admin::stream_activity(
            sim.clone(),
            settings.activity_rate,
            settings.seed,
            shutdown.clone(),
        ));
    }
    let more_crm = definitions::routes().merge(association_api::routes());
    let app = crm::routes(sim.clone(), more_crm)
        .merge(oauth::routes(sim.clone()))
        .merge(admin::routes(sim.clone()));
    let addr = listener.local_addr()?;
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }
    });
    Ok(RunningSim {
        addr,
        sim,
        shutdown,
        server,
    })
}
