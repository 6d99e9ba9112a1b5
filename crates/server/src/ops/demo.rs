//! `spoke demo`: the whole system on one machine with one command. The HubSpot simulator
//! and spoke start on a temporary SQLite database; portals are installed through the real
//! OAuth flow (authorize, consent, callback, code exchange); then the simulator streams
//! signed webhooks, which spoke verifies, stores and hydrates into the record mirror, with
//! a line of counts every few seconds. Stops on Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hubspot::time::Clock;
use hubspot::ClientSecret;
use store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::app::{self, Open};
use crate::cli::DemoArgs;
use crate::config::{Config, DatabaseConfig, InstallConfig, OperatorToken, PublicUrl};
use crate::monitor::rates::{windows, Window};
use crate::monitor::tally::minute_of;
use crate::oauth::vault::Keyring;
use crate::App;

const CLIENT_ID: &str = "spoke-demo";
const SCOPES: &str =
    "oauth crm.objects.contacts.read crm.objects.companies.read crm.objects.deals.read";
/// Granted by every simulated portal, so each type the simulator streams is hydrated.
const OPTIONAL_SCOPES: &str = "tickets e-commerce crm.objects.quotes.read crm.objects.custom.read";

/// Runs the demo until `shutdown`.
pub async fn run(args: DemoArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let data = tempfile::tempdir().context("a temporary directory for the demo database")?;
    let database_url = format!("sqlite://{}/spoke.db", data.path().display());
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let port = listener.local_addr()?.port();
    // HubSpot requires a host name in redirect URLs; http is allowed for localhost.
    let public_url =
        PublicUrl::parse(&format!("http://localhost:{port}")).map_err(anyhow::Error::msg)?;
    let client_secret = format!("demo-{}", uuid::Uuid::new_v4().simple());

    let simulator = start_simulator(&args, &public_url, &client_secret, port).await?;

    let client_secret = ClientSecret::new(client_secret);
    let mut install = InstallConfig::new(
        CLIENT_ID,
        client_secret.clone(),
        &simulator.base_url(),
        Keyring::parse(&Keyring::generate_entry("demo"))?,
    );
    install.scopes = SCOPES.split_whitespace().map(str::to_owned).collect();
    install.optional_scopes = OPTIONAL_SCOPES
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let config = Config::new(
        listener.local_addr()?,
        public_url,
        client_secret,
        database_url.clone(),
    )
    .with_install(install);
    let operator_token = demo_operator_token()?;
    let config = Config {
        operator_token: Some(operator_token.clone()),
        ..config
    };
    let app = App::build(config, Clock::system()).await?;
    let serving = tokio::spawn(app.run(listener, shutdown.clone()));

    let spoke_url = format!("http://127.0.0.1:{port}");
    let portals: Vec<i64> = simulator.sim.world(|w| w.portal_ids().collect());
    for portal in &portals {
        install_through_oauth(&spoke_url, &simulator.base_url(), *portal)
            .await
            .with_context(|| format!("installing portal {portal}"))?;
    }
    // Named in the log, so a run's stream of changes can be had again.
    let activity_seed: u64 = rand::random();
    tokio::spawn(sim::admin::stream_activity(
        simulator.sim.clone(),
        args.activity_rate,
        activity_seed,
        shutdown.clone(),
    ));
    let store = app::open_store(&DatabaseConfig::new(database_url.clone()), Open::Existing).await?;
    tokio::spawn(report_progress(store, shutdown.clone()));

    info!(
        spoke_url,
        simulator_url = simulator.base_url(),
        database_url,
        portals = portals.len(),
        activity_seed,
        "demo ready"
    );
    println!(
        "\nspoke demo is running ({} portals installed through OAuth, {} changes/s streaming in)\n\
         \n  dashboard        {spoke_url}/dashboard   (sign in with the operator token: {token})\
         \n  spoke            {spoke_url}   (/healthz, /readyz, /oauth/install)\
         \n  HubSpot (sim)    {sim}   (/_sim/webhooks/ledger: deliveries as HubSpot counts them)\
         \n  database         {database_url}\
         \n  portals          spoke portals list --database-url {database_url}\
         \n  records          spoke records get PORTAL contacts ID --database-url {database_url}\
         \n  admin API        {spoke_url}/api/v1/stats   (Authorization: Bearer {token})\
         \n  monitor          {spoke_url}/api/v1/monitor   (success rates against HubSpot's 95%, alerts)\
         \n  metrics          {spoke_url}/metrics\
         \n\nEvents are hydrated into the record mirror; a line of counts and success rates follows every few seconds.\nCtrl-C stops.\n",
        portals.len(),
        args.activity_rate,
        sim = simulator.base_url(),
        token = operator_token.reveal(),
    );
    serving.await.context("spoke stopped")??;
    simulator.stop().await;
    drop(data);
    Ok(())
}

/// The simulated HubSpot: the demo's portals, its app's OAuth settings, and webhooks sent
/// to spoke at 60 times real time.
async fn start_simulator(
    args: &DemoArgs,
    public_url: &PublicUrl,
    client_secret: &str,
    port: u16,
) -> anyhow::Result<sim::RunningSim> {
    let mut settings = sim::Settings::defaults();
    settings.portals = args.portals;
    settings.client_id = CLIENT_ID.into();
    settings.client_secret = client_secret.to_owned();
    settings.scopes = SCOPES.into();
    settings.redirect_uris = vec![public_url.join("/oauth/callback")];
    settings.webhook_target_url = Some(public_url.join("/webhooks/hubspot"));
    settings.webhook_deliver_to = Some(format!("http://127.0.0.1:{port}"));
    settings.time_scale = 60.0;
    let listener = TcpListener::bind(&args.sim_listen)
        .await
        .context("simulator listener")?;
    sim::start(settings, listener, Clock::system()).await
}

/// `SPOKE_OPERATOR_TOKEN` when set, or a fresh one: the demo prints it so the admin API
/// can be tried at once.
fn demo_operator_token() -> anyhow::Result<OperatorToken> {
    let token = std::env::var("SPOKE_OPERATOR_TOKEN")
        .unwrap_or_else(|_| format!("demo-{}", uuid::Uuid::new_v4().simple()));
    OperatorToken::new(token).map_err(|e| anyhow::anyhow!("SPOKE_OPERATOR_TOKEN: {e}"))
}

/// How often the demo prints what the hydrator has done.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// Logs the inbox by state, the records mirrored and the last hour's success rates (as
/// percentages; none before the first flush), until `shutdown`.
async fn report_progress(store: Arc<dyn Store>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    ticks.tick().await;
    while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
        let (Ok(inbox), Ok(records)) = (store.queue_counts().await, store.record_counts().await)
        else {
            continue;
        };
        let count = |state: &str| {
            inbox
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n)
        };
        let mirrored: i64 = records.iter().map(|(_, n)| n).sum();
        let minute = minute_of(Clock::system().now_ms());
        let Ok(rates) = windows(store.as_ref(), store::Scope::App, minute).await else {
            continue;
        };
        let percent = |w: Window| w.rate().map(|r| (r * 1_000.0).round() / 10.0);
        info!(
            webhook_success_pct = percent(rates.webhooks[0]),
            api_success_pct = percent(rates.api[0]),
            activity_success_pct = percent(rates.combined(0)),
            hydrated = count("done"),
            pending = count("pending"),
            unhandled = count("unhandled"),
            quarantined = count("quarantined"),
            dead = count("dead"),
            records = mirrored,
            "hydration progress"
        );
    }
}

/// What a browser does: spoke's install link, HubSpot's consent (answered in advance for
/// this portal), back to spoke's callback.
async fn install_through_oauth(spoke_url: &str, sim_url: &str, portal: i64) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    sim::client::SimClient::new(sim_url)
        .consent(portal, true)
        .await?;
    let location = |r: &reqwest::Response| -> anyhow::Result<String> {
        Ok(r.headers()
            .get("location")
            .context("a redirect")?
            .to_str()?
            .to_owned())
    };
    let started = http
        .get(format!("{spoke_url}/oauth/install"))
        .send()
        .await?;
    // The install cookie, which the browser brings back to the callback.
    let cookie = started
        .headers()
        .get("set-cookie")
        .context("an install cookie")?
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let authorize = location(&started)?;
    let back = location(&http.get(&authorize).send().await?)?;
    let query = back.split_once('?').context("a callback with a code")?.1;
    http.get(format!("{spoke_url}/oauth/callback?{query}"))
        .header("cookie", cookie)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
