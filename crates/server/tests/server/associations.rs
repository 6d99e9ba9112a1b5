//! The association mirror: association changes (both sides, added and removed) read each
//! record's associations to the other type from HubSpot's associations API, in batches;
//! records read through the admin API carry them; deletions take them along.

use reqwest::Method;
use rstest::rstest;
use serde_json::{json, Value};
use sim::objects::Simulated;
use store::{Engine, ObjectId, PortalId};

use crate::hydrator::{settled, SCOPES};
use crate::support::*;

const TOKEN: &str = "association-operator-token-for-tests";

use hubspot::crm::ObjectType;
use spoke_server::config::OperatorToken;

/// Associates two records at the simulator, as the app would; how many events it sends.
async fn associate(
    h: &Harness,
    portal: i64,
    (from, from_id): (ObjectType, i64),
    (to, to_id): (ObjectType, i64),
) -> usize {
    let path = format!("{from}/{from_id}/associations/{to}/{to_id}");
    h.change(Method::PUT, portal, &path, json!({})).await
}

/// What the mirror holds of a record's associations: (other type, id, type ids).
async fn held(h: &Harness, portal: i64, object: &str, id: i64) -> Vec<(String, i64, Vec<i64>)> {
    h.store
        .associations_of(PortalId(portal), object, &[ObjectId(id)])
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            let kinds: Value = serde_json::from_str(&a.kinds).unwrap();
            let ids = kinds
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["typeId"].as_i64().unwrap())
                .collect();
            (a.to_type, a.to_id.0, ids)
        })
        .collect()
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn association_changes_keep_the_association_mirror_as_hubspot_has_it(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |config| {
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
    })
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let contact = ObjectType::CONTACTS.id_base() + 3;
    let deals = [1, 2, 3].map(|i| ObjectType::DEALS.id_base() + i);
    let mut events = h
        .change(
            Method::PATCH,
            portal,
            &format!("contacts/{contact}"),
            json!({ "properties": { "firstname": "Ada" } }),
        )
        .await;
    for deal in deals {
        events += associate(
            &h,
            portal,
            (ObjectType::CONTACTS, contact),
            (ObjectType::DEALS, deal),
        )
        .await;
    }
    assert_eq!(
        events,
        1 + 2 * deals.len(),
        "each side of each association notifies"
    );
    h.settle(events, settled).await;

    let expected: Vec<_> = deals
        .iter()
        .map(|d| ("deals".to_owned(), *d, vec![4]))
        .collect();
    assert_eq!(held(&h, portal, "contacts", contact).await, expected);
    for deal in deals {
        assert_eq!(
            held(&h, portal, "deals", deal).await,
            [("contacts".to_owned(), contact, vec![3])]
        );
    }
    let ledger = h.crm_ledger().await;
    let reads = ledger["portals"][portal.to_string()]["calls"]["associationsBatchRead"]["200"]
        .as_u64()
        .unwrap();
    assert!(
        reads <= 6,
        "association reads are batched per type pair: {ledger}"
    );

    // The record as the admin API shows it carries them.
    let record = admin_once(
        &h.spoke,
        TOKEN,
        &format!("/records/{portal}/contacts/{contact}"),
        |r| r["associations"].is_object(),
    )
    .await;
    let listed: Vec<i64> = record["associations"]["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, deals);
    assert_eq!(
        record["associations"]["deals"][0]["types"][0]["category"],
        "HUBSPOT_DEFINED"
    );

    // Removed: both sides read again.
    events += h
        .change(
            Method::DELETE,
            portal,
            &format!("deals/{}/associations/contacts/{contact}", deals[0]),
            json!({}),
        )
        .await;
    h.settle(events, settled).await;
    assert_eq!(held(&h, portal, "contacts", contact).await, expected[1..]);
    assert_eq!(held(&h, portal, "deals", deals[0]).await, []);

    // A deleted record takes its associations along, both ways.
    events += h
        .change(
            Method::DELETE,
            portal,
            &format!("deals/{}", deals[1]),
            json!({}),
        )
        .await;
    h.settle(events, settled).await;
    assert_eq!(held(&h, portal, "deals", deals[1]).await, []);
    assert_eq!(held(&h, portal, "contacts", contact).await, expected[2..]);
}

/// A merge gives the winner the loser's associations, with no association change to say
/// so: spoke reads the winner's and the other sides' again.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_merge_carries_the_losers_associations_to_the_winner(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |_| {}).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let contact = ObjectType::CONTACTS.id_base() + 3;
    let deal = ObjectType::DEALS.id_base() + 3;
    let mut events = associate(
        &h,
        portal,
        (ObjectType::CONTACTS, contact),
        (ObjectType::DEALS, deal),
    )
    .await;
    // Calls have generic events only, and a contact's legacy ones name no calls: this
    // association is held from the call's side alone.
    let call = ObjectType::CALLS.id_base() + 2;
    events += associate(
        &h,
        portal,
        (ObjectType::CALLS, call),
        (ObjectType::CONTACTS, contact),
    )
    .await;
    h.settle(events, settled).await;
    assert_eq!(held(&h, portal, "calls", call).await.len(), 1);
    assert_eq!(
        held(&h, portal, "contacts", contact).await.len(),
        1,
        "deals only"
    );
    let winner = ObjectType::CONTACTS.id_base() + 1;
    events += h
        .change(
            Method::POST,
            portal,
            &format!("contacts/{winner}/merge"),
            json!({ "mergedObjectId": contact }),
        )
        .await;
    h.settle(events, settled).await;
    assert_eq!(held(&h, portal, "contacts", contact).await, []);
    let winners: Vec<(String, i64)> = held(&h, portal, "contacts", winner)
        .await
        .into_iter()
        .map(|(to, id, _)| (to, id))
        .collect();
    assert_eq!(
        winners,
        [("calls".to_owned(), call), ("deals".to_owned(), deal)]
    );
    assert_eq!(
        held(&h, portal, "deals", deal).await,
        [("contacts".to_owned(), winner, vec![3])]
    );
    let call_side = held(&h, portal, "calls", call).await;
    assert_eq!(call_side.len(), 1);
    assert_eq!(
        (call_side[0].0.as_str(), call_side[0].1),
        ("contacts", winner)
    );
}

/// HubSpot restores a record's associations with it, without an association change: spoke
/// reads the restored record's, then the other sides'.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_restored_record_gets_its_associations_back(#[case] engine: Engine) {
    let h = harness_with(engine, SCOPES, |_| {}).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let contact = ObjectType::CONTACTS.id_base() + 2;
    let deal = ObjectType::DEALS.id_base() + 2;
    let path = format!("contacts/{contact}");
    let mut events = associate(
        &h,
        portal,
        (ObjectType::CONTACTS, contact),
        (ObjectType::DEALS, deal),
    )
    .await;
    events += h.change(Method::DELETE, portal, &path, json!({})).await;
    h.settle(events, settled).await;
    assert_eq!(held(&h, portal, "contacts", contact).await, []);
    assert_eq!(held(&h, portal, "deals", deal).await, []);

    events += h
        .change(Method::POST, portal, &format!("{path}/restore"), json!({}))
        .await;
    h.settle(events, settled).await;
    assert_eq!(
        held(&h, portal, "contacts", contact).await,
        [("deals".to_owned(), deal, vec![4])]
    );
    assert_eq!(
        held(&h, portal, "deals", deal).await,
        [("contacts".to_owned(), contact, vec![3])]
    );
}
