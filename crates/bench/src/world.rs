//! `spoke-bench world`: the simulator with every one of its portals installed in a
//! database, for benchmarks of a `spoke serve` process whose hydrator reads real records
//! (`scripts/bench.sh serve`). It prints one JSON line (the simulator's URL and its portal
//! ids) and serves until it is stopped.

use anyhow::Context;
use hubspot::crm::CrmClient;
use hubspot::time::Clock;
use hubspot::ClientSecret;
use secrecy::SecretString;
use serde_json::json;
use server::config::InstallConfig;
use server::monitor::tally::Tally;
use server::oauth::vault::Keyring;
use server::workers::hydrator::Hydrator;
use sim::RunningSim;
use store::{Install, PortalId, Store};

/// The app both sides are configured as.
pub const CLIENT_ID: &str = "bench-app";
pub const CLIENT_SECRET: &str = "bench-client-secret";
/// What every portal grants: contacts, the object the load's events name.
pub const SCOPES: &str = "oauth crm.objects.contacts.read";

#[derive(Debug, Clone, clap::Args)]
pub struct WorldArgs {
    /// A database URL as `SPOKE_DATABASE_URL` takes it (migrated first).
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 100)]
    portals: u32,
    /// Contacts per portal.
    #[arg(long, default_value_t = 1_000)]
    records: u32,
    /// The keys `spoke serve` opens tokens with (`SPOKE_TOKEN_KEYS`).
    #[arg(long, env = "BENCH_TOKEN_KEYS")]
    token_keys: String,
}

/// The simulator for `portals` portals of `records` contacts each, HubSpot's limits on.
pub async fn start_sim(portals: u32, records: u32) -> anyhow::Result<RunningSim> {
    let mut settings = sim::Settings::defaults();
    settings.portals = portals;
    settings.records = records;
    settings.client_id = CLIENT_ID.into();
    settings.client_secret = CLIENT_SECRET.into();
    start_sim_with(settings).await
}

pub async fn start_sim_with(settings: sim::Settings) -> anyhow::Result<RunningSim> {
    sim::start(
        settings,
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        Clock::system(),
    )
    .await
}

/// Records an install of every simulated portal, with tokens the simulator issued sealed
/// by `keys`, as the install flow would.
pub async fn install_every_portal(
    sim: &RunningSim,
    store: &dyn Store,
    keys: &Keyring,
) -> anyhow::Result<()> {
    let now = Clock::system().now_ms();
    for portal in sim.sim.world(|w| w.portal_ids().collect::<Vec<_>>()) {
        let pair = sim
            .sim
            .issue_tokens(portal)
            .context("an installed portal")?;
        let tokens = keys.seal_pair(
            PortalId(portal),
            &SecretString::from(pair.access_token),
            &SecretString::from(pair.refresh_token),
            now,
            now + i64::try_from(pair.expires_in)? * 1000,
        );
        let install = Install {
            portal_id: PortalId(portal),
            hub_domain: None,
            app_id: None,
            scopes: pair.scopes,
            installer_id: None,
            installer_email: None,
            tokens,
        };
        store.record_install(&install, "bench", now).await?;
    }
    Ok(())
}

pub async fn run(args: WorldArgs) -> anyhow::Result<()> {
    let sim = start_sim(args.portals, args.records).await?;
    let store = store::connect(
        &SecretString::from(args.database_url.clone()),
        &store::ConnectOptions::default(),
    )
    .await?;
    store.migrate().await?;
    install_every_portal(&sim, store.as_ref(), &Keyring::parse(&args.token_keys)?).await?;
    // Closed before `spoke serve` starts: only spoke writes to the database while measured.
    drop(store);
    let first = sim
        .sim
        .world(|w| w.portal_ids().next())
        .context("a portal")?;
    println!(
        "{}",
        json!({"sim": sim.base_url(), "first_portal": first, "portals": args.portals})
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// A migrated store at `database_url` and a hydrator reading the simulator for an app with
/// `scopes`, as `spoke serve` builds them (`tweak` narrows its settings); and the keys its
/// tokens are sealed with, for [`install_every_portal`].
pub async fn store_and_hydrator(
    sim: &RunningSim,
    database_url: &str,
    scopes: &str,
    tweak: impl FnOnce(&mut server::config::HydratorConfig),
) -> anyhow::Result<(std::sync::Arc<dyn Store>, Keyring, std::sync::Arc<Hydrator>)> {
    let store = store::connect(
        &SecretString::from(database_url.to_owned()),
        &store::ConnectOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let keys = Keyring::parse(&Keyring::generate_entry("bench"))?;
    let mut install = InstallConfig::new(
        CLIENT_ID,
        ClientSecret::new(CLIENT_SECRET),
        &sim.base_url(),
        keys.clone(),
    );
    install.scopes = scopes.split_whitespace().map(str::to_owned).collect();
    let tokens = server::app::token_service(store.clone(), &install, Clock::system());
    let mut config = server::config::HydratorConfig::for_scopes(&install.scopes, &[]);
    tweak(&mut config);
    let hydrator = std::sync::Arc::new(Hydrator::new(
        store.clone(),
        tokens,
        CrmClient::new(&sim.base_url(), install.api_version),
        config,
        Vec::new(),
        std::sync::Arc::new(Tally::new(Clock::system())),
        Clock::system(),
    ));
    Ok((store, keys, hydrator))
}

/// A simulated webhook event as the receiver stores it.
pub fn new_event(e: &sim::world::WebhookEvent) -> store::NewEvent {
    store::NewEvent {
        key: store::EventKey {
            portal_id: PortalId(e.portal_id),
            subscription_id: e.subscription_id,
            event_id: e.event_id,
            object_id: store::ObjectId(e.object_id),
            occurred_at: e.occurred_at,
        },
        subscription_type: e.subscription_type.clone(),
        app_id: None,
        attempt_number: 0,
        payload: serde_json::to_string(e).expect("events serialise"),
        trace_context: None,
    }
}
