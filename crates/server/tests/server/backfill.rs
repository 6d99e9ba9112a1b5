//! Backfill: a portal installed with records it had before holds all of them in the
//! mirror, as HubSpot has them, read page by page within its limit (no `429`); live changes
//! during the backfill win when newer; a backfill stopped half-way resumes from its cursor
//! on another instance; the admin API shows its progress and takes requests for more.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{json, Value};
use sim::objects::{value_of, Simulated};
use spoke_server::config::OperatorToken;
use spoke_server::workers::hydrator::properties::PropertySelection;
use spoke_server::workers::hydrator::types::TypeSelection;
use store::{Engine, ObjectId, PortalId};

use crate::hydrator::{settled, HYDRATED, SCOPES};
use crate::support::*;
use hubspot::crm::ObjectType;

pub(crate) const TOKEN: &str = "backfill-operator-token-for-tests";
/// Records of each type every simulated portal has before it installs: three pages.
pub(crate) const SEEDED: u32 = 230;

pub(crate) async fn backfilling(engine: Engine) -> Harness {
    harness_with_sim(
        engine,
        SCOPES,
        |sim| sim.records = SEEDED,
        |config| {
            sync_on(config);
            config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
        },
    )
    .await
}

/// Sync on, for the types the backfill tests hydrate.
fn sync_on(config: &mut spoke_server::config::Config) {
    config.hydrator.sync = true;
    config.hydrator.objects = TypeSelection::parse(BACKFILLED).unwrap();
    // Contacts' 308 properties make a page a megabyte, slow in a debug build when every
    // test runs at once; deals read all of theirs.
    config.hydrator.properties =
        PropertySelection::parse(&format!("contacts={CONTACT_PROPERTIES}")).unwrap();
}

/// The types the backfill tests hydrate (the contacts scope would read the engagements
/// too: ten types, slow in a debug build when every test runs at once).
const BACKFILLED: &str = "contacts deals";

/// The contact properties the backfill tests read.
const CONTACT_PROPERTIES: &str = "email,firstname,lastname,phone,lifecyclestage";

impl Harness {
    /// Waits until the portal's backfill is finished (bounded), and gives the admin API's
    /// report of it.
    pub(crate) async fn backfilled(&self, portal: i64) -> Value {
        for _ in 0..4_500 {
            let done = self
                .store
                .backfill(PortalId(portal))
                .await
                .unwrap()
                .is_some_and(|(b, _)| b.finished_at.is_some());
            if done {
                return self.sync_report(portal).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the backfill never finished: {}",
            self.sync_report(portal).await
        );
    }

    pub(crate) async fn sync_report(&self, portal: i64) -> Value {
        admin_once(
            &self.spoke,
            TOKEN,
            &format!("/portals/{portal}/sync"),
            |_| true,
        )
        .await
    }

    /// Every live record of `types` at the simulator is in the mirror at its version, with
    /// the simulator's value of every property the mirror holds; and the mirror holds no
    /// other.
    pub(crate) async fn assert_mirror_is_the_simulator(&self, portal: i64, types: &[ObjectType]) {
        for &object in types {
            let truth = self
                .sim
                .sim
                .world(|w| w.list(portal, object, 0, 100_000, false));
            let held: Vec<store::MirroredRecord> = self
                .store
                .mirrored_page(PortalId(portal), &object.path_name(), None, 100_000)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.state == "live")
                .collect();
            assert_eq!(
                held.iter().map(|r| r.object_id.0).collect::<Vec<_>>(),
                truth.iter().map(|r| r.id).collect::<Vec<_>>(),
                "{object}: the same records"
            );
            for (held, truth) in held.iter().zip(&truth) {
                assert_eq!(
                    (held.state.as_str(), held.updated_at),
                    ("live", truth.updated_at)
                );
                let properties: Value = serde_json::from_str(&held.properties).unwrap();
                let properties = properties.as_object().unwrap();
                let least = if object == ObjectType::CONTACTS {
                    3
                } else {
                    10
                };
                assert!(
                    properties.len() > least,
                    "every property read: {properties:?}"
                );
                for (name, value) in properties {
                    assert_eq!(
                        value.as_str().map(str::to_owned),
                        value_of(truth, object, name),
                        "{object} {} {name}",
                        truth.id
                    );
                }
            }
        }
    }

    /// The types a finished backfill read, from its report.
    pub(crate) fn types_of(report: &Value) -> Vec<ObjectType> {
        let objects = report["backfill"]["objects"].as_object().unwrap();
        objects
            .keys()
            .map(|t| ObjectType::from_path(t).unwrap())
            .collect()
    }

    /// The simulator's count of the portal's calls by class and status, and its `429`s.
    pub(crate) async fn calls(&self, portal: i64) -> Value {
        self.crm_ledger().await["portals"][portal.to_string()].clone()
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_install_backfills_every_record_the_portal_had_within_its_limit(#[case] engine: Engine) {
    let h = backfilling(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let report = h.backfilled(portal).await;
    let types = Harness::types_of(&report);
    assert!(HYDRATED.iter().all(|t| types.contains(t)), "{report}");
    h.assert_mirror_is_the_simulator(portal, &types).await;

    let backfill = &report["backfill"];
    assert_eq!(backfill["state"], "finished", "{report}");
    for object in &types {
        let progress = &backfill["objects"][object.path_name().as_ref()];
        assert_eq!(progress["read"], SEEDED, "{report}");
        assert_eq!(progress["total"], SEEDED, "HubSpot's count: {report}");
        assert_eq!(
            (progress["done"].clone(), progress["error"].clone()),
            (json!(true), Value::Null)
        );
    }
    let calls = h.calls(portal).await;
    assert_eq!(calls["rateLimited"], 0, "{calls}");
    assert_eq!(backfill["secondsLeft"], 0.0, "{report}");
    assert_eq!(
        calls["calls"]["search"]["200"],
        json!(types.len()),
        "one count a type: {calls}"
    );
    assert_eq!(
        calls["calls"]["list"]["200"],
        json!(types.len() * 3),
        "three pages a type, each read once: {calls}"
    );
    let page = browser()
        .get(format!("{}/dashboard/portals/{portal}", h.spoke))
        .header("cookie", dashboard_session(&h.spoke, TOKEN).await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = page
        .split(r#"id="backfill-types""#)
        .nth(1)
        .expect("the backfill's table");
    for object in &types {
        let row = format!(
            "<td>{object}</td>\n    <td><progress value=\"1\" max=\"1\"></progress></td>\n    <td class=\"num\">{SEEDED} of {SEEDED}</td>"
        );
        assert!(rows.contains(&row), "{object}: {rows}");
    }
    let others = h.first_portal() + 1;
    assert!(
        h.store
            .mirrored_page(PortalId(others), "contacts", None, 1)
            .await
            .unwrap()
            .is_empty(),
        "a portal that did not install is not read"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn changes_during_a_backfill_win_when_newer_and_an_operator_asks_for_another(
    #[case] engine: Engine,
) {
    let h = backfilling(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    // Records at the end of the list change while the backfill reads the first pages: the
    // webhook's read and the page's, whichever comes first, leave HubSpot's latest.
    let last = ObjectType::CONTACTS.id_base() + i64::from(SEEDED);
    let mut events = 0;
    for (id, name) in [(last, "Ada"), (last - 1, "Grace")] {
        events += h
            .change(
                Method::PATCH,
                portal,
                &format!("contacts/{id}"),
                json!({ "properties": { "firstname": name } }),
            )
            .await;
    }
    let deleted = ObjectType::DEALS.id_base() + 7;
    events += h
        .change(
            Method::DELETE,
            portal,
            &format!("deals/{deleted}"),
            json!({}),
        )
        .await;
    h.settle(events, settled).await;
    let types = Harness::types_of(&h.backfilled(portal).await);
    h.assert_mirror_is_the_simulator(portal, &types).await;
    let firstname = |record: store::MirroredRecord| {
        let properties: Value = serde_json::from_str(&record.properties).unwrap();
        properties["firstname"].as_str().map(str::to_owned)
    };
    assert_eq!(
        h.contact(portal, last).await.and_then(firstname).as_deref(),
        Some("Ada")
    );
    let gone = h
        .store
        .mirrored(PortalId(portal), "deals", ObjectId(deleted))
        .await
        .unwrap()
        .expect("the deletion is mirrored");
    assert_eq!(
        gone.state, "deleted",
        "a page read before the deletion does not bring it back"
    );

    // Asked for again, one type: read again from its first page, nothing changes.
    let post = |path: String| {
        reqwest::Client::new()
            .post(format!("{}/api/v1{path}", h.spoke))
            .bearer_auth(TOKEN)
            .send()
    };
    let answer = post(format!("/portals/{portal}/backfill?type=0-3"))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({ "backfill": "started" })
    );
    let again = post(format!("/portals/{portal}/backfill")).await.unwrap();
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({ "backfill": "alreadyRunning" })
    );
    for (path, status) in [
        (
            format!("/portals/{portal}/backfill?type=contact"),
            StatusCode::BAD_REQUEST,
        ),
        ("/portals/42/backfill".to_owned(), StatusCode::NOT_FOUND),
    ] {
        assert_eq!(post(path.clone()).await.unwrap().status(), status, "{path}");
    }
    let report = h.backfilled(portal).await;
    let objects = report["backfill"]["objects"].as_object().unwrap();
    assert_eq!(objects.keys().collect::<Vec<_>>(), ["deals"], "{report}");
    assert_eq!(
        objects["deals"]["read"],
        SEEDED - 1,
        "the deleted deal is not listed"
    );
    assert_eq!(report["backfill"]["onlyType"], "deals");
    h.assert_mirror_is_the_simulator(portal, &types).await;
    let still = h
        .store
        .mirrored(PortalId(portal), "deals", ObjectId(deleted))
        .await
        .unwrap();
    assert_eq!(still.map(|r| r.state).as_deref(), Some("deleted"));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_backfill_stopped_half_way_resumes_from_its_cursor_on_another_instance(
    #[case] engine: Engine,
) {
    let mut h = backfilling(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    for _ in 0..1_000 {
        let backfill = h.store.backfill(PortalId(portal)).await.unwrap();
        if backfill.is_some_and(|(_, types)| types.iter().any(|t| t.read > 0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.stop().await;
    let (_, types) = h.store.backfill(PortalId(portal)).await.unwrap().unwrap();
    let read_before: i64 = types.iter().map(|t| t.read).sum();
    let all = i64::from(SEEDED) * types.len() as i64;
    assert!(read_before > 0 && read_before < all, "{types:?}");

    // The stopped instance's lease on the portal's calls lapses first, as a crashed
    // one's would.
    let lease = spoke_server::config::HydratorConfig::DEFAULT_CLAIM_SECONDS;
    h.clock.advance(Duration::from_secs(lease + 1));
    let (_, stop) = start_worker(&h, sync_on).await;
    for _ in 0..4_500 {
        let finished = h
            .store
            .backfill(PortalId(portal))
            .await
            .unwrap()
            .unwrap()
            .0
            .finished_at;
        if finished.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let (backfill, types) = h.store.backfill(PortalId(portal)).await.unwrap().unwrap();
    assert!(backfill.finished_at.is_some(), "{types:?}");
    let objects: Vec<ObjectType> = types
        .iter()
        .map(|t| ObjectType::from_path(&t.object_type).unwrap())
        .collect();
    h.assert_mirror_is_the_simulator(portal, &objects).await;
    let pages = objects.len() as u64 * 3;
    let listed = h.calls(portal).await["calls"]["list"]["200"]
        .as_u64()
        .unwrap();
    assert!(
        (pages..=pages + 1).contains(&listed),
        "resumed from the cursor: at most the page in flight read again, {listed} calls"
    );
    assert!(
        types.iter().all(|t| t.read == i64::from(SEEDED)),
        "{types:?}"
    );
}

#[tokio::test]
async fn properties_too_many_for_a_list_url_are_read_in_batches_of_the_ids_listed() {
    let h = harness_with_sim(
        Engine::Sqlite,
        SCOPES,
        |sim| sim.records = SEEDED,
        |config| {
            config.hydrator.sync = true;
            config.hydrator.objects = TypeSelection::parse(BACKFILLED).unwrap();
            config.hydrator.list_url_bytes = 1_000;
            config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
        },
    )
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let types = Harness::types_of(&h.backfilled(portal).await);
    h.assert_mirror_is_the_simulator(portal, &types).await;
    let calls = h.calls(portal).await;
    let pages = json!(types.len() * 3);
    assert_eq!(calls["calls"]["list"]["200"], pages, "{calls}");
    assert_eq!(
        calls["calls"]["batchRead"]["200"], pages,
        "each page's ids read with every property: {calls}"
    );
}
