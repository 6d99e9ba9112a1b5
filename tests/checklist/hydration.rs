//! Checklist items for hydration against the real binary: no event a worker took is lost
//! when the worker is killed mid-batch; its claims lapse and another process takes them.

use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::json;
use server::oauth::vault::Keyring;
use spoke_store::testing::TestDb;
use spoke_store::{Engine, Store};

use crate::support::*;

/// How long a claim lasts in this test, so the restarted spoke need not wait two minutes.
const CLAIM_SECONDS: &str = "2";

async fn queue(store: &dyn Store) -> Vec<(String, i64)> {
    store.queue_counts().await.unwrap()
}

fn count(counts: &[(String, i64)], state: &str) -> i64 {
    counts
        .iter()
        .find(|(s, _)| s == state)
        .map_or(0, |(_, n)| *n)
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_worker_killed_mid_batch_loses_nothing_and_its_claims_are_taken_again(
    #[case] engine: Engine,
) {
    let db = TestDb::new(engine).await;
    let mut settings = sim::Settings::defaults();
    settings.portals = 1;
    settings.records = 50;
    settings.client_id = "checklist-app".into();
    settings.client_secret = SECRET.into();
    settings.webhook_target_url = Some(public_webhook_url());
    let sim = sim::start(
        settings,
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        hubspot::time::Clock::system(),
    )
    .await
    .unwrap();
    let key = Keyring::generate_entry("k1");
    let hubspot = sim.base_url();
    let env = [
        ("SPOKE_HUBSPOT_CLIENT_ID", "checklist-app"),
        ("SPOKE_HUBSPOT_API_BASE", hubspot.as_str()),
        ("SPOKE_HUBSPOT_AUTH_BASE", hubspot.as_str()),
        (
            "SPOKE_HUBSPOT_SCOPES",
            "oauth crm.objects.contacts.read crm.objects.deals.read",
        ),
        ("SPOKE_TOKEN_KEYS", key.as_str()),
        ("SPOKE_HYDRATOR_CLAIM_SECONDS", CLAIM_SECONDS),
    ];
    let spoke = Spoke::start(db.url(), &env).await;
    let portal = sim.sim.world(|w| w.portal_ids().next().unwrap());
    install_through_oauth(&spoke, &hubspot, portal).await;
    let http = reqwest::Client::new();
    let deliver_to = json!({
        "targetUrl": public_webhook_url(),
        "deliverTo": spoke.url(""),
        "maxConcurrent": 10,
    });
    http.put(format!("{hubspot}/_sim/webhooks/target"))
        .json(&deliver_to)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // Every CRM read takes a while, so the kill lands while a batch is held.
    http.put(format!("{hubspot}/_sim/faults"))
        .json(&json!({ "latencyMs": 1_500 }))
        .send()
        .await
        .unwrap();
    let answer: serde_json::Value = http
        .post(format!("{hubspot}/_sim/activity"))
        .json(&json!({ "changes": 200 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = answer["events"].as_i64().unwrap();

    let store = db.store().await;
    let started = Instant::now();
    loop {
        let claimed = db
            .inbox_column("CASE WHEN claimed_by IS NULL THEN '' ELSE state END")
            .await;
        let total: i64 = queue(store.as_ref()).await.iter().map(|(_, n)| n).sum();
        if total == events && claimed.iter().any(|s| s == "pending") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing was claimed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    spoke.kill_9().await;
    assert!(
        count(&queue(store.as_ref()).await, "pending") > 0,
        "killed mid-batch"
    );

    http.put(format!("{hubspot}/_sim/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let _restarted = Spoke::start(db.url(), &env).await;
    let started = Instant::now();
    while count(&queue(store.as_ref()).await, "pending") > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the killed worker's events were not taken again: {:?}",
            queue(store.as_ref()).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let counts = queue(store.as_ref()).await;
    assert_eq!(
        count(&counts, "done") + count(&counts, "unhandled"),
        events,
        "every event finished, none dead or quarantined: {counts:?}"
    );
    for key in db.inbox_keys().await {
        let Some(object) = [
            hubspot::crm::ObjectType::Contacts,
            hubspot::crm::ObjectType::Deals,
        ]
        .into_iter()
        .find(|o| {
            sim::objects::Simulated::id_base(*o) / 10_000_000_000 == key.object_id / 10_000_000_000
        }) else {
            continue;
        };
        let truth = sim
            .sim
            .world(|w| w.record(portal, object, key.object_id))
            .expect("the simulator has it");
        let held = store
            .mirrored(portal, object.plural(), key.object_id)
            .await
            .unwrap()
            .expect("mirrored");
        assert_eq!(held.updated_at, truth.updated_at, "the latest version");
    }
}
