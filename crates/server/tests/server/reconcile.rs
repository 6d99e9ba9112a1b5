//! Reconciliation: changes whose notifications HubSpot never delivered (lost, or never
//! sent) are found and repaired on request, so the mirror converges to the simulator, with
//! no `429` from the search API's own limit; the drift report says what was found.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{json, Value};
use sim::objects::Simulated;
use store::{Engine, ObjectId, PortalId};

use crate::backfill::{backfilling, TOKEN};
use crate::hydrator::settled;
use crate::support::*;
use hubspot::crm::ObjectType;

impl Harness {
    /// Waits until a reconciliation of the portal has been recorded (bounded).
    async fn reconciled(&self, portal: i64) -> Value {
        for _ in 0..4_500 {
            let report = self.sync_report(portal).await;
            if !report["reconciliation"].is_null() {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no reconciliation ran: {}", self.sync_report(portal).await);
    }

    async fn post_admin(&self, path: &str) -> (StatusCode, Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/api/v1{path}", self.spoke))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.json().await.unwrap_or(Value::Null))
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_reconciliation_repairs_what_notifications_never_said(#[case] engine: Engine) {
    let h = backfilling(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let types = Harness::types_of(&h.backfilled(portal).await);

    // HubSpot announces none of these: two changed contacts (one notification lost, one
    // never sent), a new contact and a deleted deal.
    let contact = |i: i64| ObjectType::CONTACTS.id_base() + i;
    let quiet = |path: String| format!("{path}?webhooks=false");
    h.set_faults(json!({ "lostWebhooks": 1.0 })).await;
    let lost = h
        .change(
            Method::PATCH,
            portal,
            &format!("contacts/{}", contact(5)),
            json!({ "properties": { "firstname": "Lost" } }),
        )
        .await;
    assert_eq!(lost, 0, "HubSpot delivers nothing");
    h.set_faults(json!({})).await;
    let ledger = h.webhook_ledger().await;
    assert!(
        ledger["portals"][portal.to_string()]["eventsLost"]
            .as_u64()
            .unwrap()
            > 0
    );
    let mut events = h
        .change(
            Method::PATCH,
            portal,
            &quiet(format!("contacts/{}", contact(6))),
            json!({ "properties": { "firstname": "Unsent" } }),
        )
        .await;
    events += h
        .change(
            Method::POST,
            portal,
            &quiet("contacts".to_owned()),
            json!({ "properties": { "firstname": "New" } }),
        )
        .await;
    let deal = ObjectType::DEALS.id_base() + 9;
    events += h
        .change(
            Method::DELETE,
            portal,
            &quiet(format!("deals/{deal}")),
            json!({}),
        )
        .await;
    assert_eq!(events, 0, "none announced");
    // One change announced as usual, so the run also meets what hydration already did.
    let announced = h
        .change(
            Method::PATCH,
            portal,
            &format!("contacts/{}", contact(7)),
            json!({ "properties": { "firstname": "Told" } }),
        )
        .await;
    h.settle(announced, settled).await;

    assert_eq!(
        h.post_admin(&format!("/portals/{portal}/reconcile")).await,
        (StatusCode::ACCEPTED, json!({ "reconciliation": "started" }))
    );
    assert_eq!(
        h.post_admin("/portals/42/reconcile").await.0,
        StatusCode::NOT_FOUND
    );
    let report = h.reconciled(portal).await;
    h.assert_mirror_is_the_simulator(portal, &types).await;
    let gone = h
        .store
        .mirrored(PortalId(portal), "deals", ObjectId(deal))
        .await
        .unwrap()
        .map(|r| r.state);
    assert_eq!(gone.as_deref(), Some("deleted"));

    let drift = &report["reconciliation"]["drift"];
    let of = |object: &str, kind: &str| drift[object][kind].as_i64().unwrap();
    assert_eq!(
        (of("contacts", "missing"), of("contacts", "stale")),
        (1, 2),
        "{report}"
    );
    assert_eq!(of("deals", "deletedUnannounced"), 1, "{report}");
    assert_eq!(
        of("contacts", "repaired") + of("deals", "repaired"),
        4,
        "{report}"
    );
    assert!(
        types
            .iter()
            .all(|t| drift[t.path_name().as_ref()]["error"].is_null()),
        "{report}"
    );
    let calls = h.calls(portal).await;
    assert_eq!(calls["rateLimited"], 0, "{calls}");
    assert!(
        calls["calls"]["search"]["200"].as_u64().unwrap() >= types.len() as u64,
        "{calls}"
    );

    // Nothing left: the next run finds no drift.
    assert_eq!(
        h.post_admin(&format!("/portals/{portal}/reconcile"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let first_run = report["reconciliation"]["lastRun"].clone();
    for _ in 0..4_500 {
        let again = h.sync_report(portal).await;
        if again["reconciliation"]["lastRun"] != first_run {
            let drift = &again["reconciliation"]["drift"];
            for object in &types {
                let d = &drift[object.path_name().as_ref()];
                assert_eq!(
                    (
                        d["missing"].clone(),
                        d["stale"].clone(),
                        d["deletedUnannounced"].clone()
                    ),
                    (json!(0), json!(0), json!(0)),
                    "{again}"
                );
            }
            return;
        }
        h.clock.advance(Duration::from_millis(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the second run was not recorded");
}
