//! The pre-flight checklist item "success rate monitoring per portal in place", against the
//! real binary: the simulator delivers to three portals while spoke is stopped for a while
//! (HubSpot's attempts fail out of its sight, and come back as retries with a higher
//! `attemptNumber`), and spoke's monitor reports the webhook success rate as the
//! simulator's ledger computes it, with the unseen attempts estimated: app-wide within
//! 2 points, each portal within 5 (a portal's estimate rests on fewer requests).

use std::time::{Duration, Instant};

use serde_json::Value;
use server::oauth::vault::Keyring;
use sim::admin::Activity;
use sim::client::SimClient;
use sim::dispatcher::Target;
use spoke_store::testing::TestDb;
use spoke_store::Engine;

use crate::support::*;

const TOKEN: &str = "a-checklist-operator-token";

async fn point_at(sim: &SimClient, spoke: &Spoke) {
    let target = Target {
        target_url: Some(public_webhook_url()),
        deliver_to: Some(spoke.url("")),
        max_concurrent: 10,
    };
    sim.set_target(&target).await.unwrap();
}

/// Record changes at the simulator for `run`, a few every 25 ms: many small deliveries, so
/// the estimate rests on many requests. Each round's changes follow from `seed`; how many
/// rounds fit is the clock's (the scenario is about time: an outage shorter than HubSpot's
/// first retry).
async fn activity(sim: &SimClient, seed: u64, run: Duration) {
    let started = Instant::now();
    for round in 0.. {
        if started.elapsed() >= run {
            break;
        }
        sim.activity(&Activity::seeded(seed + round, 3))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn success_rate_monitoring_per_portal_in_place() {
    let db = TestDb::new(Engine::Sqlite).await;
    let mut settings = app_settings(3);
    settings.records = 50;
    settings.webhook_target_url = Some(public_webhook_url());
    // HubSpot's retry schedule, 10 times faster: the first retry after 6 s (HubSpot's
    // minute), then 12 s, …
    settings.time_scale = 10.0;
    let sim = start_sim(settings).await;
    let hubspot = sim.base_url();
    let client = sim.client();
    let key = Keyring::generate_entry("k1");
    let env = [
        ("SPOKE_HUBSPOT_CLIENT_ID", "checklist-app"),
        ("SPOKE_HUBSPOT_API_BASE", hubspot.as_str()),
        ("SPOKE_HUBSPOT_AUTH_BASE", hubspot.as_str()),
        ("SPOKE_HUBSPOT_SCOPES", "oauth crm.objects.contacts.read"),
        ("SPOKE_TOKEN_KEYS", key.as_str()),
        ("SPOKE_OPERATOR_TOKEN", TOKEN),
    ];
    let spoke = Spoke::start(db.url(), &env).await;
    let portals: Vec<i64> = sim.sim.world(|w| w.portal_ids().collect());
    for portal in &portals {
        install_through_oauth(&spoke, &hubspot, *portal).await;
    }
    point_at(&client, &spoke).await;
    activity(&client, 1_000, Duration::from_secs(3)).await;

    // spoke stops (its last counts flushed) for less than HubSpot's first retry delay, as
    // a restart or a short outage would; HubSpot keeps sending and failing.
    assert!(spoke.terminate().await.success());
    activity(&client, 2_000, Duration::from_secs(2)).await;
    let spoke = Spoke::start(db.url(), &env).await;
    point_at(&client, &spoke).await;
    activity(&client, 3_000, Duration::from_secs(3)).await;

    // Every retry delivered.
    let started = Instant::now();
    let truth = loop {
        let ledger = client.webhook_ledger().await.unwrap();
        if ledger["queue"]["queued"] == 0 && ledger["queue"]["inFlightRequests"] == 0 {
            break ledger;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{ledger}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let get = |path: String| {
        let request = spoke.http.get(spoke.url(&path)).bearer_auth(TOKEN);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let (mut attempts, mut successes) = (0, 0);
    for portal in &portals {
        let truth = &truth["portals"][portal.to_string()];
        let failed = truth["connectionFailures"].as_i64().unwrap();
        assert!(
            failed > 0,
            "HubSpot's attempts failed while spoke was down: {truth}"
        );
        // Reports show the counts spoke has flushed (every 5 s): wait for the last ones.
        let flushed = Instant::now();
        let report = loop {
            let report = get(format!("/api/v1/portals/{portal}/monitor")).await;
            if report["webhooks"]["24h"]["successes"] == truth["successes"]
                || flushed.elapsed() > Duration::from_secs(30)
            {
                break report;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let day = &report["webhooks"]["24h"];
        let rate = day["rate"].as_f64().unwrap();
        let expected = truth["successRate"].as_f64().unwrap();
        assert!(
            (rate - expected).abs() <= 0.05,
            "portal {portal}: spoke {rate:.4} ({day}) vs the ledger {expected:.4} ({truth})"
        );
        assert_eq!(
            day["successes"], truth["successes"],
            "spoke saw every success"
        );
        assert!(day["estimatedAttempts"].as_i64().unwrap() > 0, "{day}");
        attempts += truth["attempts"].as_i64().unwrap();
        successes += truth["successes"].as_i64().unwrap();
    }
    let app = get("/api/v1/monitor".to_owned()).await;
    let day = &app["webhooks"]["24h"];
    let expected = successes as f64 / attempts as f64;
    let rate = day["rate"].as_f64().unwrap();
    assert!(
        (rate - expected).abs() <= 0.02,
        "app-wide: spoke {rate:.4} ({day}) vs the ledger {expected:.4}"
    );
}
