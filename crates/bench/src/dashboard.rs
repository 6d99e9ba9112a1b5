//! `spoke-bench dashboard`: how fast the operator dashboard answers with many portals.
//! Installs `portals` portals with a month of the busiest statistics (as `statistics`
//! writes them), a few dead letters and quarantined events, runs spoke in this process,
//! signs in as an operator and times the overview (page 1, and a search) and portal pages
//! over HTTP, one request at a time, for `seconds`.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hubspot::time::Clock;
use hubspot::ClientSecret;
use secrecy::SecretString;
use serde_json::{json, Value};
use server::config::{Config, OperatorToken, PublicUrl};
use server::App;
use store::{Install, PortalId, SealedTokens};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-operator-token-0123456789";

#[derive(Debug, Clone, clap::Args)]
pub struct DashboardArgs {
    /// A database URL as `SPOKE_DATABASE_URL` takes it (migrated first).
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 10_000)]
    portals: i64,
    /// How long each page is requested, one request after another.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

pub async fn run(args: DashboardArgs) -> anyhow::Result<Value> {
    let store = store::connect(
        &SecretString::from(args.database_url.clone()),
        &store::ConnectOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let clock = Clock::system();
    let seeding = Instant::now();
    // A database seeded by an earlier run (its statistics end then, not now) is reused.
    let seeded = !store.portals().await?.is_empty();
    for portal_id in (1..=args.portals).filter(|_| !seeded) {
        let install = Install {
            portal_id: PortalId(portal_id),
            hub_domain: Some(format!("portal-{portal_id}.example.com")),
            app_id: Some(1),
            scopes: vec!["oauth".into(), "crm.objects.contacts.read".into()],
            installer_id: Some(portal_id),
            installer_email: Some(format!("admin@portal-{portal_id}.example.com")),
            tokens: SealedTokens {
                key_id: "bench".into(),
                access: vec![0; 48],
                refresh: vec![0; 48],
                issued_at: clock.now_ms(),
                access_expires_at: clock.now_ms() + 1_800_000,
            },
        };
        store
            .record_install(&install, "bench", clock.now_ms())
            .await?;
    }
    if !seeded {
        let now_minute = clock.now_ms() / 60_000;
        crate::statistics::write_busy_month(store.as_ref(), 1..=args.portals, now_minute).await?;
    }
    let seeded_s = seeding.elapsed().as_secs_f64();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = Config::new(
        addr,
        PublicUrl::parse(&format!("http://{addr}")).map_err(anyhow::Error::msg)?,
        ClientSecret::new("bench-client-secret"),
        &args.database_url,
    );
    config.operator_token = Some(OperatorToken::new(TOKEN).map_err(anyhow::Error::msg)?);
    let app = App::build(config, clock).await?;
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(app.run(listener, shutdown.clone()));
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let session = sign_in(&http, &base).await?;
    let get = |path: String| {
        let (http, session) = (http.clone(), session.clone());
        let url = format!("{base}{path}");
        async move {
            let started = Instant::now();
            let page = http
                .get(url)
                .header("cookie", session)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?;
            anyhow::ensure!(page.contains("</html>"), "a whole page");
            Ok::<Duration, anyhow::Error>(started.elapsed())
        }
    };
    let cold = get("/dashboard".into()).await?;
    let window = Duration::from_secs(args.seconds);
    let overview = timed(window, |_| get("/dashboard".into())).await?;
    let search = timed(window, |i| get(format!("/dashboard?q={}", 1 + i % 9_000))).await?;
    let portal = timed(window, |i| {
        get(format!(
            "/dashboard/portals/{}",
            1 + (i * 7_919) % args.portals as u64
        ))
    })
    .await?;
    shutdown.cancel();
    serving.await??;
    Ok(json!({
        "portals": args.portals,
        "seeded_s": seeded_s,
        "reused_seed": seeded,
        "reused_seed": seeded,
        "overview_cold_ms": cold.as_secs_f64() * 1_000.0,
        "overview": overview,
        "search": search,
        "portal": portal,
    }))
}

/// The session cookie of a sign-in through the login form.
async fn sign_in(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let form = http.get(format!("{base}/dashboard/login")).send().await?;
    let login_cookie = set_cookie(&form, "spoke_login")?;
    let page = form.text().await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow::anyhow!("no CSRF token in the login form"))?
        .to_owned();
    let signed = http
        .post(format!("{base}/dashboard/login"))
        .header("cookie", login_cookie)
        .form(&[("csrf", csrf.as_str()), ("token", TOKEN)])
        .send()
        .await?;
    anyhow::ensure!(signed.status() == 303, "signed in: {}", signed.status());
    set_cookie(&signed, "spoke_session")
}

/// `name=value` of a response's `Set-Cookie` for `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no {name} cookie"))
}

/// Requests one after another for `window`; their latencies in milliseconds.
async fn timed<F, Fut>(window: Duration, mut request: F) -> anyhow::Result<Value>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>>,
{
    let mut latencies = Histogram::<u64>::new(3)?;
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < window {
        latencies.record(request(i).await?.as_micros() as u64)?;
        i += 1;
    }
    let ms = |q: f64| latencies.value_at_quantile(q) as f64 / 1_000.0;
    Ok(json!({
        "requests": latencies.len(),
        "p50_ms": ms(0.5),
        "p95_ms": ms(0.95),
        "max_ms": latencies.max() as f64 / 1_000.0,
    }))
}
