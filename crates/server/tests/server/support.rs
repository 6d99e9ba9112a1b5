//! What the server's integration tests share: spoke and the HubSpot simulator on one
//! manual clock, wired to each other (OAuth, CRM API, webhook deliveries), and a
//! browser's way through the install.

use std::sync::Arc;
use std::time::Duration;

use hubspot::time::ManualClock;
use hubspot::ClientSecret;
use reqwest::redirect::Policy as Redirects;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
pub use sim::admin::Activity;
use sim::RunningSim;
use spoke_server::config::{Config, InstallConfig, PublicUrl, Role};
use spoke_server::oauth::tokens::TokenService;
use spoke_server::oauth::vault::Keyring;
use spoke_server::{app, App};
use store::testing::TestDb;
use store::{Engine, PortalId, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const CLIENT_ID: &str = "spoke-test-app";
pub const CLIENT_SECRET: &str = "spoke-test-client-secret";
/// HubSpot's access-token lifetime.
pub const TOKEN_TTL: Duration = Duration::from_secs(1_800);
/// Long enough for any access token to expire.
pub const PAST_EXPIRY: Duration = Duration::from_secs(1_801);
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// spoke and the simulator, wired to each other.
pub struct Harness {
    pub db: TestDb,
    pub sim: RunningSim,
    pub spoke: String,
    pub install: InstallConfig,
    pub store: Arc<dyn Store>,
    /// What spoke and the simulator both read the time from.
    pub clock: ManualClock,
    shutdown: CancellationToken,
    /// spoke itself, until [`Harness::stop`].
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// spoke asking for `oauth crm.objects.contacts.read`, so it hydrates contacts.
pub async fn harness(engine: Engine) -> Harness {
    harness_with(engine, "oauth crm.objects.contacts.read", |_| {}).await
}

/// spoke requiring `scopes` (and hydrating what they allow), with `tweak` applied to its
/// configuration; the simulator delivers the portals' webhooks to it.
pub async fn harness_with(
    engine: Engine,
    scopes: &str,
    tweak: impl FnOnce(&mut Config),
) -> Harness {
    harness_with_sim(engine, scopes, |_| {}, tweak).await
}

/// [`harness_with`], with `sim_tweak` applied to the simulator's settings too.
pub async fn harness_with_sim(
    engine: Engine,
    scopes: &str,
    sim_tweak: impl FnOnce(&mut sim::Settings),
    tweak: impl FnOnce(&mut Config),
) -> Harness {
    harness_on(
        ManualClock::starting_now(),
        engine,
        scopes,
        sim_tweak,
        tweak,
    )
    .await
}

/// [`harness_with`] with both clocks starting at `start_ms`: for what depends on the date.
pub async fn harness_at(
    start_ms: i64,
    engine: Engine,
    scopes: &str,
    tweak: impl FnOnce(&mut Config),
) -> Harness {
    harness_on(ManualClock::at(start_ms), engine, scopes, |_| {}, tweak).await
}

async fn harness_on(
    clock: ManualClock,
    engine: Engine,
    scopes: &str,
    sim_tweak: impl FnOnce(&mut sim::Settings),
    tweak: impl FnOnce(&mut Config),
) -> Harness {
    let db = TestDb::new(engine).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // HubSpot wants a host name in redirect URLs (http only for localhost).
    let public_url = PublicUrl::parse(&format!("http://localhost:{port}")).unwrap();
    let mut settings = sim::Settings::defaults();
    settings.portals = 3;
    settings.records = 5;
    settings.client_id = CLIENT_ID.into();
    settings.client_secret = CLIENT_SECRET.into();
    settings.redirect_uris = vec![public_url.join("/oauth/callback")];
    settings.required_scopes = "oauth crm.objects.contacts.read".into();
    settings.access_token_ttl = TOKEN_TTL.as_secs();
    settings.webhook_target_url = Some(public_url.join("/webhooks/hubspot"));
    settings.webhook_deliver_to = Some(format!("http://127.0.0.1:{port}"));
    sim_tweak(&mut settings);
    let sim = sim::start(
        settings,
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        clock.clock(),
    )
    .await
    .unwrap();
    let mut install = InstallConfig::new(
        CLIENT_ID,
        ClientSecret::new(CLIENT_SECRET),
        &sim.base_url(),
        Keyring::parse(&Keyring::generate_entry("k1")).unwrap(),
    );
    install.scopes = scopes.split_whitespace().map(str::to_owned).collect();
    install.optional_scopes = vec!["tickets".into()];
    install.refresh_margin = REFRESH_MARGIN;
    let mut config = Config::new(
        listener.local_addr().unwrap(),
        public_url,
        ClientSecret::new(CLIENT_SECRET),
        db.url(),
    );
    config.database.max_connections = 5;
    let mut config = config.with_install(install.clone());
    // Installs backfill every record the portal has; the tests of backfill turn it on,
    // the others count calls and changes of their own.
    config.hydrator.sync = false;
    tweak(&mut config);
    let spoke = format!("http://127.0.0.1:{port}");
    let app = App::build(config, clock.clock())
        .await
        .expect("spoke builds");
    let shutdown = CancellationToken::new();
    let running = Some(tokio::spawn(app.run(listener, shutdown.clone())));
    let store = db.store().await;
    Harness {
        db,
        sim,
        spoke,
        install,
        store,
        clock,
        shutdown,
        running,
    }
}

impl Harness {
    /// Shuts spoke down as a signal would, and waits until it has (its last monitor counts
    /// flushed).
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            running.await.unwrap().unwrap();
        }
    }

    pub fn first_portal(&self) -> i64 {
        self.sim.sim.world(|w| w.portal_ids().next().unwrap())
    }

    /// The status of a CRM read at the simulator with `access`.
    pub async fn read_contact(&self, access: &SecretString) -> StatusCode {
        let contact = format!(
            "{}/crm/v3/objects/contacts/{}",
            self.sim.base_url(),
            sim::objects::Simulated::id_base(sim::objects::ObjectType::CONTACTS) + 1
        );
        reqwest::Client::new()
            .get(contact)
            .bearer_auth(access.expose_secret())
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Another instance's token service on `store`.
    pub fn instance_on(&self, store: Arc<dyn Store>) -> Arc<TokenService> {
        app::token_service(store, &self.install, self.clock.clock())
    }

    /// Another instance sharing this harness's pool.
    pub fn instance(&self) -> Arc<TokenService> {
        self.instance_on(self.store.clone())
    }

    /// The actions of a portal's audit trail, oldest first.
    pub async fn audit_actions(&self, portal: i64) -> Vec<String> {
        let trail = self.store.audit_trail(PortalId(portal)).await.unwrap();
        trail.into_iter().map(|e| e.action).collect()
    }

    pub async fn refresh_calls(&self) -> u64 {
        self.sim.client().refresh_calls().await.unwrap()
    }
}

/// Sends `request`; its JSON answer, which must be a success.
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    let status = response.status();
    assert!(status.is_success(), "{status}");
    response.json().await.unwrap()
}

/// The admin API's answer at `path` once `ready` holds of it (the flush and evaluation
/// tasks have caught up), or the last one after 10 s, for the caller's assertions to explain.
pub async fn admin_once(
    spoke: &str,
    token: &str,
    path: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let read = || {
        json_of(
            reqwest::Client::new()
                .get(format!("{spoke}/api/v1{path}"))
                .bearer_auth(token),
        )
    };
    for _ in 0..200 {
        let answer = read().await;
        if ready(&answer) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    read().await
}

/// The `name=value` of each cookie a response sets.
pub fn cookies_set(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

/// Signs in to the dashboard with `token` as a browser would (the sign-in form, its CSRF
/// token and login cookie); the answer.
pub async fn dashboard_sign_in(spoke: &str, token: &str) -> reqwest::Response {
    let http = browser();
    let form = http
        .get(format!("{spoke}/dashboard/login"))
        .send()
        .await
        .unwrap();
    let login_cookie = cookies_set(&form).join("; ");
    let page = form.text().await.unwrap();
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form's CSRF token")
        .to_owned();
    http.post(format!("{spoke}/dashboard/login"))
        .header("cookie", login_cookie)
        .form(&[("token", token), ("csrf", &csrf)])
        .send()
        .await
        .unwrap()
}

/// The events in `state` among the inbox's counts per state.
pub fn count(counts: &[(String, i64)], state: &str) -> i64 {
    counts
        .iter()
        .find(|(s, _)| s == state)
        .map_or(0, |(_, n)| *n)
}

/// Signs in to the dashboard as a browser would; the session cookie (`name=value`).
pub async fn dashboard_session(spoke: &str, token: &str) -> String {
    let signed_in = dashboard_sign_in(spoke, token).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    cookies_set(&signed_in)
        .into_iter()
        .find(|c| c.starts_with("spoke_session="))
        .expect("a session cookie")
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Redirects::none())
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::FOUND, "expected a redirect");
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// HubSpot's redirect back to spoke, and the install cookie of the browser that started
/// the install (`name=value`).
pub struct Back {
    pub url: String,
    pub cookie: String,
}

/// `GET /oauth/install` as a browser: HubSpot's authorize URL, and the install cookie.
pub async fn start_install(h: &Harness) -> (String, String) {
    let started = browser()
        .get(format!("{}/oauth/install", h.spoke))
        .send()
        .await
        .unwrap();
    let cookie = cookies_set(&started)
        .into_iter()
        .find(|c| c.starts_with("spoke_install="))
        .expect("an install cookie");
    (location(&started), cookie)
}

/// install → authorize → consent page → decision; returns HubSpot's redirect back to spoke.
pub async fn consent(h: &Harness, portal: i64, decision: &str) -> Back {
    let (authorize, cookie) = start_install(h).await;
    assert!(authorize.starts_with(&h.sim.base_url()), "{authorize}");
    let page = browser()
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"request\" value=\"";
    let start = page.find(marker).expect("a consent form") + marker.len();
    let request = &page[start..start + 32];
    let decided = browser()
        .post(format!("{}/oauth/authorize/decision", h.sim.base_url()))
        .form(&[
            ("request", request),
            ("portal", &portal.to_string()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap();
    Back {
        url: location(&decided),
        cookie,
    }
}

/// Follows HubSpot's redirect to spoke's callback, with `cookie` (`name=value`) if any; the
/// status and page text.
pub async fn callback(url: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = browser().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Follows HubSpot's redirect back in the browser that started the install.
pub async fn come_back(back: &Back) -> (StatusCode, String) {
    callback(&back.url, Some(&back.cookie)).await
}

pub async fn install_portal(h: &Harness, portal: i64) {
    let (status, page) = come_back(&consent(h, portal, "approve").await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&portal.to_string()));
}

/// A configuration for spoke on `listener` and `db`, reached at the listener's address (the
/// URL, returned too).
pub fn config_on(listener: &TcpListener, db: &TestDb) -> (Config, String) {
    let address = listener.local_addr().unwrap();
    let url = format!("http://{address}");
    let config = Config::new(
        address,
        PublicUrl::parse(&url).unwrap(),
        ClientSecret::new(CLIENT_SECRET),
        db.url(),
    );
    (config, url)
}

/// Another spoke instance on the harness's database and clock, as another process would
/// be (its own pool, its own holder), in the worker role, with `tweak` applied to its
/// configuration; its URL, and what stops it.
pub async fn start_worker(
    h: &Harness,
    tweak: impl FnOnce(&mut Config),
) -> (String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mut config, url) = config_on(&listener, &h.db);
    config = config.with_install(h.install.clone());
    config.role = Role::Worker;
    config.hydrator.sync = false;
    tweak(&mut config);
    let worker = App::build(config, h.clock.clock()).await.unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(worker.run(listener, stop.clone()));
    (url, stop)
}

/// Record changes at the simulator and waiting for spoke to settle them.
impl Harness {
    /// Random record changes at the simulator, chosen by the activity's seed (printed, so a
    /// failing test names it); how many events.
    pub async fn activity(&self, activity: Activity) -> usize {
        // Every change gets its own millisecond, as HubSpot's changes would.
        self.clock.advance(Duration::from_secs(1));
        let answer = self.sim.client().activity(&activity).await.unwrap();
        eprintln!(
            "simulator activity {activity:?}: seed {}, {} events",
            answer.seed, answer.events
        );
        answer.events
    }

    /// What HubSpot saw of its webhook deliveries.
    pub async fn webhook_ledger(&self) -> Value {
        self.sim.client().webhook_ledger().await.unwrap()
    }

    /// Waits until the monitor's flush task has stored a count of every delivery HubSpot
    /// made (reads show flushed counts only).
    pub async fn counts_flushed(&self) {
        for _ in 0..200 {
            let ledger = self.webhook_ledger().await;
            let attempts: i64 = ledger["portals"]
                .as_object()
                .unwrap()
                .values()
                .map(|p| p["attempts"].as_i64().unwrap())
                .sum();
            let stored = self
                .store
                .webhook_totals(store::Scope::App, 0)
                .await
                .unwrap();
            if stored.attempts == attempts {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "deliveries never all counted: {}",
            self.webhook_ledger().await
        );
    }

    /// The simulator's count of each portal's CRM calls.
    pub async fn crm_ledger(&self) -> Value {
        self.sim.client().crm_ledger().await.unwrap()
    }

    pub async fn set_faults(&self, faults: Value) {
        self.sim.client().set_faults(&faults).await.unwrap();
    }

    /// A record change at the simulator (`method` on the portal's `objects/{path}`); how
    /// many events it sends.
    pub async fn change(
        &self,
        method: reqwest::Method,
        portal: i64,
        path: &str,
        body: Value,
    ) -> usize {
        self.clock.advance(Duration::from_secs(1));
        let answer = self.sim.client().objects(method, portal, path, &body).await;
        answer.unwrap()["events"].as_u64().unwrap() as usize
    }

    /// Waits until the inbox holds `events` and `done` says the queue is where it should be.
    pub async fn settle(&self, events: usize, done: impl Fn(&[(String, i64)]) -> bool) {
        for _ in 0..1_000 {
            let counts = self.store.queue_counts().await.unwrap();
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            if total as usize == events && done(&counts) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the queue never settled: {:?} (expected {events} events)",
            self.store.queue_counts().await.unwrap()
        );
    }
}
