//! The hydrator end to end, on SQLite and PostgreSQL: the simulator changes records and
//! delivers signed webhooks to spoke's receiver; spoke's hydrator turns them into records
//! in its mirror, which the tests compare with the simulator's own. spoke and the simulator
//! share a manual clock, so retry waits pass by advancing it.

use std::time::Duration;

use hubspot::crm::ObjectType;
use rstest::rstest;
use serde_json::{json, Value};
use sim::objects::Simulated;
use spoke_server::workers::hydrator::types::TypeSelection;
use spoke_server::workers::retention::Retention;
use store::{Engine, ObjectId, PortalId, Replay, SetAside};

use crate::support::*;

/// spoke hydrates contacts and deals; the other four types stay unhandled.
pub(crate) const SCOPES: &str = "oauth crm.objects.contacts.read crm.objects.deals.read";
pub(crate) const HYDRATED: [ObjectType; 2] = [ObjectType::CONTACTS, ObjectType::DEALS];

impl Harness {
    /// Contact `id` of `portal` as the mirror holds it.
    pub(crate) async fn contact(&self, portal: i64, id: i64) -> Option<store::MirroredRecord> {
        self.store
            .mirrored(PortalId(portal), "contacts", ObjectId(id))
            .await
            .unwrap()
    }

    /// The one dead letter of `portal`, once its retries are used up (the clock moves on
    /// past their backoffs until nothing is pending; bounded), alone in a list for the
    /// caller's assertions.
    async fn the_dead_letter(&self, portal: i64) -> Vec<store::SetAsideEvent> {
        for _ in 0..200 {
            let counts = self.store.queue_counts().await.unwrap();
            let count = |state: &str| counts.iter().find(|(s, _)| s == state).map(|c| c.1);
            if count("dead") == Some(1) && count("pending").is_none() {
                break;
            }
            self.clock.advance(Duration::from_secs(60));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let dead = self
            .store
            .dead_events(Some(PortalId(portal)), 10)
            .await
            .unwrap();
        assert_eq!(dead.len(), 1, "{:?}", self.store.queue_counts().await);
        dead
    }

    /// Every hydrated event's record in the mirror is the simulator's latest version.
    pub(crate) async fn assert_mirror_matches_the_simulator(&self, portal: i64) {
        self.assert_mirror_matches_the_simulator_for(portal, &HYDRATED)
            .await;
    }

    /// Every record of `types` the portal's events name is mirrored as the simulator has it.
    pub(crate) async fn assert_mirror_matches_the_simulator_for(
        &self,
        portal: i64,
        types: &[ObjectType],
    ) {
        let mut checked = 0;
        for key in self.db.inbox_keys().await {
            let Some(object) = types
                .iter()
                .copied()
                .find(|o| (o.id_base()..o.id_base() + 10_000_000_000).contains(&key.object_id.0))
            else {
                continue;
            };
            if key.portal_id != PortalId(portal) {
                continue;
            }
            let truth = self
                .sim
                .sim
                .world(|w| w.record(portal, object, key.object_id.0))
                .expect("the simulator has it");
            let held = self
                .store
                .mirrored(PortalId(portal), &object.path_name(), key.object_id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{object:?} {} not mirrored", key.object_id));
            let properties: Value = serde_json::from_str(&held.properties).unwrap();
            assert_eq!(held.state, "live");
            assert_eq!(held.updated_at, truth.updated_at, "the latest version");
            for name in object.default_properties() {
                assert_eq!(
                    properties.get(*name).and_then(Value::as_str),
                    truth.properties.get(*name).map(String::as_str),
                    "{object:?} {} {name}",
                    key.object_id
                );
            }
            checked += 1;
        }
        assert!(checked > 0, "some hydrated events were checked");
    }
}

pub(crate) fn settled(counts: &[(String, i64)]) -> bool {
    count(counts, "pending") == 0
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn every_event_ends_as_the_latest_record_unhandled_or_quarantined(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |_| {}).await;
    let portals: Vec<i64> = h.sim.sim.world(|w| w.portal_ids().collect());
    install_portal(&h, portals[0]).await;
    install_portal(&h, portals[1]).await;

    let mut events = 0;
    for round in 0..3 {
        events += h
            .activity(Activity::seeded(30 + round, 60).in_portals(&portals))
            .await;
    }
    h.settle(events, settled).await;

    h.assert_mirror_matches_the_simulator(portals[0]).await;
    h.assert_mirror_matches_the_simulator(portals[1]).await;
    let quarantined = h
        .store
        .set_aside_events(SetAside::Quarantined, None, 1_000)
        .await
        .unwrap();
    assert!(!quarantined.is_empty());
    assert!(quarantined
        .iter()
        .all(|e| e.portal_id == PortalId(portals[2])
            && e.reason.as_deref() == Some("the portal has not installed the app")));
    let unhandled = h
        .store
        .set_aside_events(SetAside::Unhandled, None, 1_000)
        .await
        .unwrap();
    assert!(!unhandled.is_empty(), "companies, tickets, … are kept");
    assert!(unhandled.iter().all(|e| e
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("not hydrated"))));

    // Within the limit, never refused, far fewer calls than events (collapsed, batched).
    let ledger = h.crm_ledger().await;
    let hydrated = h.store.queue_counts().await.unwrap();
    let done = count(&hydrated, "done");
    let mut reads = 0;
    for portal in &portals[..2] {
        let calls = &ledger["portals"][portal.to_string()];
        assert!(calls["maxInWindow"].as_u64().unwrap() <= 100, "{ledger}");
        assert_eq!(calls["rateLimited"], 0, "{ledger}");
        reads += calls["calls"]["batchRead"]["200"].as_i64().unwrap_or(0);
    }
    assert!(reads > 0 && reads < done, "{reads} reads for {done} events");

    // The third portal's install turns its quarantined events into records.
    install_portal(&h, portals[2]).await;
    h.settle(events, |c| settled(c) && count(c, "quarantined") == 0)
        .await;
    h.assert_mirror_matches_the_simulator(portals[2]).await;
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn failing_reads_retry_then_dead_letter_then_replay_to_success(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |config| config.hydrator.max_attempts = 2).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    h.set_faults(json!({ "errorRate": 1.0 })).await;
    let id = ObjectType::CONTACTS.id_base() + 1;
    h.change(
        reqwest::Method::PATCH,
        portal,
        &format!("contacts/{id}"),
        json!({ "properties": { "firstname": "Grace" } }),
    )
    .await;

    // First attempt fails; the retry is due within the backoff, which the clock skips.
    h.settle(1, |_| true).await;
    let dead = h.the_dead_letter(portal).await;
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].reason.as_deref(), Some("failed 2 times"));
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("HubSpot answered HTTP 5")),
        "{:?}",
        dead[0].last_error
    );
    assert!(h.contact(portal, id).await.is_none());

    h.set_faults(json!({})).await;
    assert_eq!(
        h.store
            .replay_events(Replay::Portal(PortalId(portal)))
            .await
            .unwrap(),
        1
    );
    h.settle(1, |c| c == [("done".to_owned(), 1)]).await;
    let record = h.contact(portal, id).await.expect("mirrored");
    assert!(record.properties.contains("Grace"), "{}", record.properties);
    assert_eq!(
        h.store.replay_events(Replay::All).await.unwrap(),
        0,
        "nothing left to replay"
    );
}

/// A batch read's per-id error of any category but not-found, or no word at all about an
/// id, is a failed read of that record: retried, then a dead letter, never a deletion.
#[rstest]
#[case::error_on_sqlite(Engine::Sqlite, json!({ "batchErrorRate": 1.0, "batchErrorCategory": "INTERNAL_ERROR" }), "INTERNAL_ERROR")]
#[case::error_on_postgres(Engine::Postgres, json!({ "batchErrorRate": 1.0, "batchErrorCategory": "INTERNAL_ERROR" }), "INTERNAL_ERROR")]
#[case::no_answer_on_sqlite(Engine::Sqlite, json!({ "batchOmitRate": 1.0 }), "NO_ANSWER")]
#[case::no_answer_on_postgres(Engine::Postgres, json!({ "batchOmitRate": 1.0 }), "NO_ANSWER")]
#[tokio::test]
async fn a_record_hubspot_did_not_read_is_retried_and_never_marked_deleted(
    #[case] engine: Engine,
    #[case] faults: Value,
    #[case] category: &str,
) {
    let h = harness_with(engine, SCOPES, |config| config.hydrator.max_attempts = 2).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let id = ObjectType::CONTACTS.id_base() + 1;
    let path = format!("contacts/{id}");
    let rename = |name: &'static str| {
        h.change(
            reqwest::Method::PATCH,
            portal,
            &path,
            json!({ "properties": { "firstname": name } }),
        )
    };
    rename("Ada").await;
    h.settle(1, |c| c == [("done".to_owned(), 1)]).await;

    h.set_faults(faults).await;
    rename("Grace").await;
    h.settle(2, |_| true).await;
    let dead = h.the_dead_letter(portal).await;
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(category)),
        "{:?}",
        dead[0].last_error
    );
    let held = h.contact(portal, id).await.expect("still mirrored");
    assert_eq!(held.state, "live", "not a deletion");
    assert!(held.properties.contains("Ada"), "{}", held.properties);

    h.set_faults(json!({})).await;
    h.store
        .replay_events(Replay::Portal(PortalId(portal)))
        .await
        .unwrap();
    h.settle(2, |c| c == [("done".to_owned(), 2)]).await;
    let held = h.contact(portal, id).await.expect("mirrored");
    assert!(held.properties.contains("Grace"), "{}", held.properties);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_429_pauses_only_its_portal_until_the_window_frees(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |_| {}).await;
    let portals: Vec<i64> = h.sim.sim.world(|w| w.portal_ids().collect());
    let (limited, free) = (portals[0], portals[1]);
    install_portal(&h, limited).await;
    install_portal(&h, free).await;
    h.set_faults(json!({ "burst429Ms": 600_000, "portals": [limited] }))
        .await;
    let contact = format!("contacts/{}", ObjectType::CONTACTS.id_base() + 1);
    for portal in [limited, free] {
        let body = json!({ "properties": { "lastname": "L1" } });
        h.change(reqwest::Method::PATCH, portal, &contact, body)
            .await;
    }

    // The free portal's event is done while the limited one waits, unfailed.
    h.settle(2, |c| count(c, "done") == 1).await;
    let id = ObjectType::CONTACTS.id_base() + 1;
    assert!(h
        .store
        .mirrored(PortalId(free), "contacts", ObjectId(id))
        .await
        .unwrap()
        .is_some());
    assert!(h
        .store
        .mirrored(PortalId(limited), "contacts", ObjectId(id))
        .await
        .unwrap()
        .is_none());
    // The simulator delivers the two portals' events independently, in either order.
    let mut states =
        h.db.event_column("portal_id || ':' || state || ':' || attempts")
            .await;
    states.sort_unstable_by_key(|s| s.starts_with(&free.to_string()));
    assert_eq!(
        states,
        [format!("{limited}:pending:0"), format!("{free}:done:0")],
        "the limited portal's event waits, and a rate-limit wait is no failed attempt"
    );

    h.set_faults(json!({})).await;
    h.clock.advance(Duration::from_secs(12));
    h.settle(2, |c| count(c, "done") == 2).await;
    assert!(h
        .store
        .mirrored(PortalId(limited), "contacts", ObjectId(id))
        .await
        .unwrap()
        .is_some());
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn deletions_merges_and_privacy_deletions_get_the_handling_they_mean(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |_| {}).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let contact = |n: i64| ObjectType::CONTACTS.id_base() + n;
    let deal = ObjectType::DEALS.id_base() + 1;
    let edits = [(1, "Ada"), (2, "Grace"), (3, "Edsger")];
    for (n, name) in edits {
        h.change(
            reqwest::Method::PATCH,
            portal,
            &format!("contacts/{}", contact(n)),
            json!({ "properties": { "firstname": name } }),
        )
        .await;
    }
    h.change(
        reqwest::Method::PATCH,
        portal,
        &format!("deals/{deal}"),
        json!({ "properties": { "dealname": "Big" } }),
    )
    .await;
    h.settle(4, |c| c == [("done".to_owned(), 4)]).await;

    let mut events = 4;
    events += h
        .change(
            reqwest::Method::DELETE,
            portal,
            &format!("deals/{deal}"),
            json!({}),
        )
        .await;
    events += h
        .change(
            reqwest::Method::POST,
            portal,
            &format!("contacts/{}/merge", contact(1)),
            json!({ "mergedObjectId": contact(2) }),
        )
        .await;
    events += h
        .change(
            reqwest::Method::POST,
            portal,
            &format!("contacts/{}/gdpr-delete", contact(3)),
            json!({}),
        )
        .await;
    h.settle(events, settled).await;

    let state = |object: &'static str, id: i64| {
        let store = h.store.clone();
        async move {
            store
                .mirrored(PortalId(portal), object, ObjectId(id))
                .await
                .unwrap()
                .map(|r| r.state)
        }
    };
    assert_eq!(state("deals", deal).await.as_deref(), Some("deleted"));
    assert_eq!(state("contacts", contact(1)).await.as_deref(), Some("live"));
    assert_eq!(
        state("contacts", contact(2)).await.as_deref(),
        Some("merged")
    );
    let erased = h
        .store
        .mirrored(PortalId(portal), "contacts", ObjectId(contact(3)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (erased.state.as_str(), erased.properties.as_str()),
        ("erased", "{}"),
        "a tombstone without a property of the contact"
    );
    let payloads = h.db.inbox_column("payload").await;
    assert!(
        !payloads.iter().any(|p| p.contains("Edsger")),
        "no stored payload carries the erased contact's data: {payloads:?}"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn finished_events_are_pruned_after_the_retention_and_dead_letters_stay(
    #[case] engine: Engine,
) {
    let h = harness_with(engine, SCOPES, |config| config.hydrator.max_attempts = 1).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let mut events = h
        .activity(Activity::seeded(5, 20).in_portals(&[portal]))
        .await;
    h.settle(events, settled).await;
    h.set_faults(json!({ "errorRate": 1.0 })).await;
    let id = ObjectType::CONTACTS.id_base() + 3;
    events += h
        .change(
            reqwest::Method::PATCH,
            portal,
            &format!("contacts/{id}"),
            json!({ "properties": { "firstname": "Kept" } }),
        )
        .await;
    h.settle(events, |c| count(c, "dead") == 1).await;

    let retention = Retention::new(
        h.store.clone(),
        Duration::from_secs(7 * 86_400),
        h.clock.clock(),
    );
    assert_eq!(
        retention.prune_once().await.unwrap(),
        0,
        "nothing is a week old yet"
    );
    h.clock.advance(Duration::from_secs(7 * 86_400 + 60));
    assert_eq!(retention.prune_once().await.unwrap() as usize, events - 1);
    assert_eq!(
        h.store.queue_counts().await.unwrap(),
        [("dead".to_owned(), 1)]
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn expired_tokens_are_refreshed_and_a_revoked_install_waits_for_the_next(
    #[case] engine: Engine,
) {
    let h = harness_with(engine, SCOPES, |_| {}).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let id = ObjectType::CONTACTS.id_base() + 4;
    let path = format!("contacts/{id}");
    let patch = |name: &str| json!({ "properties": { "firstname": name } });

    // Past the access token's lifetime: the hydrator refreshes before it reads.
    let refreshes = h.refresh_calls().await;
    h.clock.advance(PAST_EXPIRY);
    let mut events = h
        .change(reqwest::Method::PATCH, portal, &path, patch("Later"))
        .await;
    h.settle(events, |c| c == [("done".to_owned(), events as i64)])
        .await;
    assert!(
        h.refresh_calls().await > refreshes,
        "the token was refreshed"
    );
    let record = h.contact(portal, id).await.expect("mirrored");
    assert!(record.properties.contains("Later"));

    // The customer removes the app: the refresh is refused, the portal needs to install
    // again, and its events wait in quarantine until it does.
    h.sim.client().revoke(portal).await.unwrap();
    h.clock.advance(PAST_EXPIRY);
    events += h
        .change(reqwest::Method::PATCH, portal, &path, patch("Waiting"))
        .await;
    h.settle(events, |c| count(c, "quarantined") == 1).await;
    let held = h
        .store
        .set_aside_events(SetAside::Quarantined, Some(PortalId(portal)), 10)
        .await
        .unwrap();
    assert_eq!(
        held[0].reason.as_deref(),
        Some("the portal must install the app again")
    );
    assert_eq!(
        h.store
            .portal(PortalId(portal))
            .await
            .unwrap()
            .unwrap()
            .state,
        store::PortalState::NeedsReauth
    );

    install_portal(&h, portal).await;
    h.settle(events, |c| c == [("done".to_owned(), events as i64)])
        .await;
    let record = h.contact(portal, id).await.expect("mirrored");
    assert!(
        record.properties.contains("Waiting"),
        "{}",
        record.properties
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_403_missing_scopes_stops_calls_for_that_type_in_that_portal(#[case] engine: Engine) {
    // spoke asks for contacts only but is told to hydrate deals too, and its record of the
    // portal claims the deals scope: HubSpot (the simulator) answers 403 MISSING_SCOPES.
    let h = harness_with(engine, "oauth crm.objects.contacts.read", |config| {
        config.hydrator.objects = TypeSelection::parse("contacts deals").expect("types");
    })
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    h.db.execute(&format!(
        "UPDATE portals SET scopes = 'oauth crm.objects.contacts.read crm.objects.deals.read' \
         WHERE portal_id = {portal}"
    ))
    .await;
    let deal = |n: i64| {
        (
            format!("deals/{}", ObjectType::DEALS.id_base() + n),
            json!({ "properties": { "dealname": format!("D{n}") } }),
        )
    };
    // The first call for deals, the listing of their properties, is the one refused.
    let refused = |ledger: &Value| {
        ledger["portals"][portal.to_string()]["calls"]["properties"]["403"].clone()
    };

    let (path, body) = deal(1);
    let mut events = h.change(reqwest::Method::PATCH, portal, &path, body).await;
    h.settle(events, |c| count(c, "quarantined") == 1).await;
    assert_eq!(refused(&h.crm_ledger().await), 1);
    let (path, body) = deal(2);
    events += h.change(reqwest::Method::PATCH, portal, &path, body).await;
    let contact = format!("contacts/{}", ObjectType::CONTACTS.id_base() + 1);
    events += h
        .change(
            reqwest::Method::PATCH,
            portal,
            &contact,
            json!({ "properties": { "lastname": "Kept" } }),
        )
        .await;
    h.settle(events, |c| {
        count(c, "quarantined") == 2 && count(c, "done") == 1
    })
    .await;

    assert_eq!(
        refused(&h.crm_ledger().await),
        1,
        "no second call for deals"
    );
    let held = h
        .store
        .set_aside_events(SetAside::Quarantined, Some(PortalId(portal)), 10)
        .await
        .unwrap();
    assert!(held.iter().all(|e| e.reason.as_deref()
        == Some("HubSpot refused: the portal did not grant `crm.objects.deals.read` (no calls until it installs again)")), "{held:?}");
    assert!(
        h.store
            .mirrored(
                PortalId(portal),
                "contacts",
                ObjectId(ObjectType::CONTACTS.id_base() + 1)
            )
            .await
            .unwrap()
            .is_some(),
        "other types go on"
    );
}
