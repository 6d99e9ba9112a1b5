//! Hydration rounds against their leases: a round that HubSpot slows down stops calling
//! before its claim could lapse, so two workers never call HubSpot for one portal at once.

use std::time::Duration;

use serde_json::json;
use spoke_server::config::Role;
use store::Engine;

use crate::support::*;

/// spoke hydrates contacts.
const SCOPES: &str = "oauth crm.objects.contacts.read";

/// A round starts no call after half its claim's lease, so a round slower than the lease
/// never lets a second worker call HubSpot for the same portal at the same time (two
/// callers on one rate limit): two workers, a slow simulator, and a clock running 50 times
/// faster than real time, so each 400 ms call takes 20 s of it and a round of eight calls
/// would outlast its 120 s lease.
#[tokio::test]
async fn a_round_slower_than_its_lease_stops_calling_before_another_worker_takes_over() {
    let h = harness_with_sim(
        Engine::Sqlite,
        SCOPES,
        |sim| sim.records = 1_000,
        |config| config.role = Role::Receiver,
    )
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let activity = Activity {
        changes: 1_500,
        portals: vec![portal],
        objects: vec!["contacts".into()],
        seed: Some(19),
    };
    let events = h.activity(activity).await;
    h.settle(events, |c| count(c, "pending") == events as i64)
        .await;
    h.set_faults(json!({ "latencyMs": 400 })).await;
    let workers = [
        start_worker(&h, |_| {}).await,
        start_worker(&h, |_| {}).await,
    ];
    let clock = h.clock.clone();
    let fast = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            clock.advance(Duration::from_secs(5));
        }
    });
    h.settle(events, |c| count(c, "pending") == 0).await;
    fast.abort();
    for (_, stop) in workers {
        stop.cancel();
    }

    let ledger = h.crm_ledger().await;
    let calls = &ledger["portals"][portal.to_string()];
    assert!(
        calls["calls"]["batchRead"]["200"].as_u64().unwrap() >= 8,
        "{ledger}"
    );
    assert_eq!(calls["maxInFlight"], 1, "one caller at a time: {ledger}");
    let counts = h.store.queue_counts().await.unwrap();
    assert_eq!(count(&counts, "dead"), 0, "{counts:?}");
    let attempts =
        h.db.number("SELECT count(*) FROM inbox_queue WHERE attempts > 0")
            .await;
    assert_eq!(attempts, 0, "a round out of time counts no failed attempt");
}
