//! What the hydrator reads, and at which version: every CRM call at the configured API
//! version, every property a portal defines (or those configured), and generic events
//! (`object.*`) handled as the legacy ones of the type they name.

use std::time::Duration;

use hubspot::crm::{ObjectType, CUSTOM_READ_SCOPE};
use hubspot::version::ApiVersion;
use rstest::rstest;
use serde_json::{json, Value};
use sim::objects::{value_of, Simulated, CARS};
use sim::world::Subscription;
use spoke_server::workers::hydrator::properties::PropertySelection;
use store::{Engine, ObjectId, PortalId, SetAside};

use crate::hydrator::{settled, HYDRATED, SCOPES};
use crate::support::*;

/// Every CRM call is made at the configured API version: the simulator sees only that
/// version's paths, the mirror ends as HubSpot has the records, and the monitor counts the
/// calls under the version.
#[rstest]
#[tokio::test]
async fn every_crm_call_is_made_at_the_configured_version(
    #[values(ApiVersion::V3, ApiVersion::V2026_09)] version: ApiVersion,
) {
    let h = harness_with(Engine::Sqlite, SCOPES, |config| {
        config.install.as_mut().expect("an app").api_version = version;
        config.monitor.flush_every = Duration::from_millis(50);
    })
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let events = h
        .activity(Activity::seeded(11, 40).in_portals(&[portal]))
        .await;
    h.settle(events, settled).await;
    h.assert_mirror_matches_the_simulator(portal).await;

    let ledger = h.crm_ledger().await;
    let versions = &ledger["portals"][portal.to_string()]["versions"];
    let calls = versions[version.as_str()].as_u64().unwrap_or(0);
    assert!(calls > 0, "{ledger}");
    assert_eq!(versions.as_object().unwrap().len(), 1, "{ledger}");
    let rows = |only: &str| format!("SELECT count(*) FROM api_calls_daily WHERE endpoint {only}");
    let counted = rows(&format!("= 'crm.batch_read@{version}'"));
    for _ in 0..500 {
        if h.db.number(&counted).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        h.db.number(&counted).await > 0,
        "the monitor counts the version"
    );
    let other = rows(&format!(
        "NOT IN ('crm.batch_read@{version}', 'crm.properties@{version}')"
    ));
    assert_eq!(h.db.number(&other).await, 0);
}

/// Records are mirrored with every property the portal defines (a few hundred on contacts),
/// as HubSpot has them, the list read once per portal and type; `SPOKE_HYDRATOR_PROPERTIES`
/// narrows a type to the properties it names.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn records_hold_every_property_unless_their_type_is_narrowed(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |config| {
        config.hydrator.properties = PropertySelection::parse("deals=dealname,amount").unwrap();
    })
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let mut events = 0;
    for round in 0..3 {
        events += h
            .activity(
                Activity::seeded(60 + round, 30)
                    .in_portals(&[portal])
                    .of(&HYDRATED),
            )
            .await;
        h.settle(events, settled).await;
    }

    let every = ObjectType::CONTACTS.property_names();
    let (mut contacts, mut deals) = (0, 0);
    for key in h.db.inbox_keys().await {
        let id = key.object_id;
        if let Some(held) = h.contact(portal, id.0).await {
            let truth = h
                .sim
                .sim
                .world(|w| w.record(portal, ObjectType::CONTACTS, id.0))
                .unwrap();
            let properties: Value = serde_json::from_str(&held.properties).unwrap();
            for name in &every {
                assert_eq!(
                    properties.get(name).and_then(Value::as_str),
                    value_of(&truth, ObjectType::CONTACTS, name).as_deref(),
                    "contact {id} {name}"
                );
            }
            assert!(properties.as_object().unwrap().len() > 150, "{properties}");
            contacts += 1;
        }
        let deal = h
            .store
            .mirrored(PortalId(portal), "deals", id)
            .await
            .unwrap();
        if let Some(deal) = deal {
            let properties: Value = serde_json::from_str(&deal.properties).unwrap();
            let mut names: Vec<&String> = properties.as_object().unwrap().keys().collect();
            names.sort();
            assert_eq!(
                names,
                [
                    "amount",
                    "createdate",
                    "dealname",
                    "hs_lastmodifieddate",
                    "hs_object_id"
                ],
                "the named ones, and the three HubSpot always returns"
            );
            deals += 1;
        }
    }
    assert!(
        contacts > 0 && deals > 0,
        "{contacts} contacts, {deals} deals"
    );
    let ledger = h.crm_ledger().await;
    let listed = &ledger["portals"][portal.to_string()]["calls"]["properties"];
    assert_eq!(
        listed,
        &json!({ "200": 1 }),
        "contacts' list, once: {ledger}"
    );
}

/// Apps on HubSpot's current platform subscribe to generic events (`object.*`, the type in
/// `objectTypeId`): they are hydrated as the legacy ones are, and a privacy deletion
/// through one leaves no copy of the record.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn generic_events_are_hydrated_and_erased_like_legacy_ones(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |_| {}).await;
    h.sim.sim.world(|w| {
        let generic = w
            .subscriptions()
            .iter()
            .map(Subscription::generic)
            .collect();
        w.set_subscriptions(generic);
    });
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let mut events = h
        .activity(Activity::seeded(17, 40).in_portals(&[portal]))
        .await;
    h.settle(events, settled).await;
    h.assert_mirror_matches_the_simulator(portal).await;
    let kinds = h.db.inbox_column("subscription_type").await;
    assert!(kinds.iter().all(|k| k.starts_with("object.")), "{kinds:?}");
    let unhandled = h
        .store
        .set_aside_events(SetAside::Unhandled, None, 1_000)
        .await
        .unwrap();
    assert!(
        unhandled.iter().all(|e| e
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("(SPOKE_HYDRATOR_OBJECTS;"))),
        "only the types spoke does not hydrate: {unhandled:?}"
    );

    let contact = ObjectType::CONTACTS.id_base() + 2;
    events += h
        .change(
            reqwest::Method::PATCH,
            portal,
            &format!("contacts/{contact}"),
            json!({ "properties": { "firstname": "Hedwig" } }),
        )
        .await;
    h.settle(events, settled).await;
    events += h
        .change(
            reqwest::Method::POST,
            portal,
            &format!("contacts/{contact}/gdpr-delete"),
            json!({}),
        )
        .await;
    h.settle(events, settled).await;
    let erased = h.contact(portal, contact).await.expect("a tombstone");
    assert_eq!(
        (erased.state.as_str(), erased.properties.as_str()),
        ("erased", "{}")
    );
    let payloads = h.db.inbox_column("payload").await;
    assert!(
        !payloads.iter().any(|p| p.contains("Hedwig")),
        "{payloads:?}"
    );
}

/// A portal's custom object is hydrated like any type once the schemas API says the portal
/// defines it (one listing for every event of the type); an event naming a custom object
/// the portal does not define is kept unhandled, with no read of it and no second listing.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_custom_object_is_hydrated_once_the_portal_is_seen_to_define_it(#[case] engine: Engine) {
    let h = harness_with(engine, &format!("{SCOPES} {CUSTOM_READ_SCOPE}"), |_| {}).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let mut events = h
        .activity(Activity::seeded(23, 40).in_portals(&[portal]).of(&[CARS]))
        .await;
    h.settle(events, settled).await;
    h.assert_mirror_matches_the_simulator_for(portal, &[CARS])
        .await;
    let cars = h
        .store
        .mirrored_page(PortalId(portal), &CARS.path_name(), None, 1_000)
        .await
        .unwrap();
    assert!(!cars.is_empty());
    let calls = |ledger: &Value| ledger["portals"][portal.to_string()]["calls"].clone();
    let ledger = h.crm_ledger().await;
    assert_eq!(calls(&ledger)["schemas"], json!({ "200": 1 }), "{ledger}");

    let unknown = |event_id: i64| store::NewEvent {
        key: store::EventKey {
            portal_id: PortalId(portal),
            subscription_id: 9,
            event_id,
            object_id: ObjectId(5),
            occurred_at: h.clock.now_ms(),
        },
        subscription_type: "object.creation".into(),
        app_id: None,
        attempt_number: 0,
        payload: format!(
            r#"{{"eventId":{event_id},"portalId":{portal},"subscriptionType":"object.creation","objectId":5,"objectTypeId":"2-1"}}"#
        ),
        trace_context: None,
    };
    for event_id in [900_001, 900_002] {
        h.store
            .append(&[vec![unknown(event_id)]], h.clock.now_ms())
            .await
            .unwrap();
        events += 1;
        h.settle(events, settled).await;
    }
    let unhandled = h
        .store
        .set_aside_events(SetAside::Unhandled, None, 1_000)
        .await
        .unwrap();
    let reasons: Vec<_> = unhandled
        .iter()
        .filter_map(|e| e.reason.as_deref())
        .collect();
    assert_eq!(
        reasons, ["the portal defines no custom object 2-1"; 2],
        "{unhandled:?}"
    );
    let after = h.crm_ledger().await;
    assert_eq!(
        calls(&after)["schemas"],
        json!({ "200": 2 }),
        "listed again once for the type it lacked, not for each event: {after}"
    );
    assert_eq!(calls(&after)["batchRead"], calls(&ledger)["batchRead"]);
}
