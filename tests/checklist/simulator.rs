//! End to end with the HubSpot simulator: deliveries for many portals, signed and batched
//! as HubSpot does, all reach spoke's inbox, and HubSpot's own count of them is 100%.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rstest::rstest;
use spoke_store::testing::TestDb;
use spoke_store::Engine;

use crate::support::*;

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn every_event_the_simulator_delivers_reaches_the_inbox(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let spoke = Spoke::start(db.url(), &[]).await;
    let mut settings = app_settings(25);
    settings.webhook_target_url = Some(public_webhook_url());
    settings.webhook_deliver_to = Some(spoke.url(""));
    settings.time_scale = 1_000.0;
    let sim = start_sim(settings).await;

    let hubspot = sim.client();
    let answer = hubspot
        .activity(&sim::admin::Activity::seeded(1, 3_000))
        .await
        .unwrap();
    let sent: BTreeSet<(i64, i64)> = answer.event_ids.into_iter().collect();
    assert!(
        sent.len() > 2_000,
        "activity produced {} events",
        sent.len()
    );

    let started = Instant::now();
    let ledger = loop {
        let ledger = hubspot.webhook_ledger().await.unwrap();
        let delivered: u64 = ledger["portals"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p["eventsDelivered"].as_u64().unwrap())
            .sum();
        if delivered == sent.len() as u64 {
            break ledger;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "delivered {delivered} of {}",
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let stored: BTreeSet<(i64, i64)> = stored_ids(&db).await.into_iter().collect();
    assert_eq!(
        stored, sent,
        "the inbox holds exactly the events HubSpot sent"
    );
    let portals = ledger["portals"].as_object().unwrap();
    assert_eq!(portals.len(), 25, "every portal had deliveries");
    for (portal, totals) in portals {
        assert_eq!(totals["successRate"], 1.0, "portal {portal}: {totals}");
    }
    sim.stop().await;
}
