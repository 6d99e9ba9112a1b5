//! The admin API over real HTTP, on SQLite and PostgreSQL: refused without the operator
//! token, and the mirror, dead letters, quarantine and stats as JSON; and the receiver and
//! worker roles, which the stats tell apart.

use std::time::Duration;

use hubspot::crm::ObjectType;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{json, Value};
use sim::objects::Simulated;
use spoke_server::config::{OperatorToken, Role};
use store::{Engine, ObjectId, PortalId};

use crate::support::*;

const TOKEN: &str = "operator-token-for-the-tests";

async fn admin_harness(engine: Engine) -> Harness {
    harness_with(engine, "oauth crm.objects.contacts.read", |config| {
        config.hydrator.max_attempts = 1;
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
        config.monitor.flush_every = Duration::from_millis(50);
        config.monitor.evaluate_every = Duration::from_millis(50);
    })
    .await
}

impl Harness {
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request =
            reqwest::Client::new().request(method, format!("{}/api/v1{path}", self.spoke));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.api(reqwest::Method::GET, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn the_admin_api_needs_the_operator_token(#[case] engine: Engine) {
    let h = admin_harness(engine).await;
    for token in [None, Some("operator-token-for-the-testz"), Some("")] {
        let (status, body) = h.api(reqwest::Method::GET, "/stats", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body, json!({ "error": "operator token required" }));
    }
    let (status, _) = h
        .api(reqwest::Method::POST, "/dead-letters/replay", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let closed = harness(engine).await;
    let (status, _) = closed
        .api(reqwest::Method::GET, "/stats", Some(TOKEN))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no token configured: nothing opens it"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn records_dead_letters_quarantine_and_stats_as_json(#[case] engine: Engine) {
    let h = admin_harness(engine).await;
    let portals: Vec<i64> = h.sim.sim.world(|w| w.portal_ids().collect());
    let (portal, stranger) = (portals[0], portals[1]);
    install_portal(&h, portal).await;
    let id = ObjectType::CONTACTS.id_base() + 1;
    let patch = |name: &str| json!({ "properties": { "firstname": name } });
    let path = format!("contacts/{id}");
    let mut events = h
        .change(reqwest::Method::PATCH, portal, &path, patch("Ada"))
        .await;
    events += h
        .change(reqwest::Method::PATCH, stranger, &path, patch("Bob"))
        .await;
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;

    let record = h.get(&format!("/records/{portal}/contacts/{id}")).await;
    assert_eq!(
        (
            &record["state"],
            &record["properties"]["firstname"],
            &record["objectId"]
        ),
        (&json!("live"), &json!("Ada"), &json!(id))
    );
    // Times are RFC 3339 in UTC to the millisecond.
    let ms = |at: &Value| {
        chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert!(
        ms(&record["fetchedAt"]) >= ms(&record["updatedAt"]),
        "{record}"
    );

    // A late event that the held record already reflects costs no call: the cache answers.
    let calls = |ledger: Value| ledger["portals"][portal.to_string()]["calls"].clone();
    let before = calls(h.crm_ledger().await);
    let late = store::NewEvent {
        key: store::EventKey {
            portal_id: PortalId(portal),
            subscription_id: 1,
            event_id: 424_242,
            object_id: ObjectId(id),
            occurred_at: ms(&record["updatedAt"]),
        },
        subscription_type: "contact.propertyChange".into(),
        app_id: None,
        attempt_number: 0,
        payload: "{}".into(),
        trace_context: None,
    };
    h.store
        .append(&[vec![late]], h.clock.now_ms())
        .await
        .unwrap();
    events += 1;
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;
    assert_eq!(calls(h.crm_ledger().await), before, "no call for it");
    let cache = &h.get("/stats").await["recordCache"];
    assert!(cache["hits"].as_u64().unwrap() >= 1, "{cache}");
    assert!(cache["entries"].as_u64().unwrap() >= 1, "{cache}");
    let (status, missing) = h
        .api(
            reqwest::Method::GET,
            &format!("/records/{portal}/contacts/1"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(
        (status, missing),
        (
            StatusCode::NOT_FOUND,
            json!({ "error": "no such record in the mirror" })
        )
    );
    let (status, _) = h
        .api(
            reqwest::Method::GET,
            &format!("/records/{portal}/contact/{id}"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let held = h.get("/quarantine").await;
    assert_eq!(held["quarantined"][0]["portalId"], stranger, "{held}");
    assert_eq!(
        held["quarantined"][0]["reason"],
        "the portal has not installed the app"
    );

    // A failing read becomes a dead letter (one attempt allowed), then replays through the API.
    h.set_faults(json!({ "errorRate": 1.0 })).await;
    events += h
        .change(reqwest::Method::PATCH, portal, &path, patch("Grace"))
        .await;
    h.settle(events, |c| c.iter().any(|(s, n)| s == "dead" && *n == 1))
        .await;
    let dead = h.get(&format!("/dead-letters?portal={portal}")).await;
    let letter = &dead["deadLetters"][0];
    assert_eq!(
        (&letter["attempts"], &letter["reason"]),
        (&json!(1), &json!("failed 1 times"))
    );
    let stats = h.get("/stats").await;
    assert_eq!(
        (&stats["deadLetters"], &stats["quarantined"]),
        (&json!(1), &json!(1)),
        "{stats}"
    );
    assert_eq!(stats["recordsMirrored"], 1, "{stats}");
    assert!(stats["crmCalls"]["200"].as_u64().unwrap() >= 1, "{stats}");
    assert!(
        stats["crmCalls"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with('5')),
        "{stats}"
    );

    h.set_faults(json!({})).await;
    let path = format!("/dead-letters/{}/replay", letter["id"]);
    let (status, replayed) = h.api(reqwest::Method::POST, &path, Some(TOKEN)).await;
    assert_eq!(
        (status, replayed),
        (StatusCode::OK, json!({ "replayed": 1 }))
    );
    let (_, again) = h
        .api(reqwest::Method::POST, "/dead-letters/replay", Some(TOKEN))
        .await;
    assert_eq!(again, json!({ "replayed": 0 }), "replay is idempotent");
    h.settle(events, |c| {
        !c.iter().any(|(s, _)| s == "pending" || s == "dead")
    })
    .await;
    let record = h.get(&format!("/records/{portal}/contacts/{id}")).await;
    assert_eq!(record["properties"]["firstname"], "Grace");
}

/// A portal's view says what the mirror holds of it by type, which events are kept
/// unhandled and why, and which properties are read; so does its dashboard page.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_portals_view_shows_its_mirror_by_type(#[case] engine: Engine) {
    let h = admin_harness(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let events = h
        .activity(Activity::seeded(9, 60).in_portals(&[portal]))
        .await;
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;
    let view = h.get(&format!("/portals/{portal}")).await;

    // Contacts and the engagements its scope reads, and tickets of the harness's optional
    // scope; no deals.
    let held = |object: &str| {
        format!(
            "SELECT count(*) FROM records WHERE portal_id = {portal} AND object_type = '{object}'"
        )
    };
    let shown = view["records"].as_array().unwrap();
    let distinct =
        format!("SELECT count(DISTINCT object_type) FROM records WHERE portal_id = {portal}");
    assert_eq!(shown.len() as i64, h.db.number(&distinct).await, "{view}");
    for held_type in shown {
        let object = held_type["objectType"].as_str().unwrap();
        assert_eq!(held_type["state"], "live");
        assert_eq!(
            held_type["records"],
            h.db.number(&held(object)).await,
            "{object}"
        );
    }
    let types: Vec<&str> = shown
        .iter()
        .map(|t| t["objectType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"contacts") && types.contains(&"tickets"),
        "{view}"
    );
    assert!(!types.contains(&"deals"), "{view}");
    let engagements = [
        "calls",
        "emails",
        "meetings",
        "notes",
        "tasks",
        "communications",
        "postal_mail",
    ];
    assert!(
        types.iter().any(|t| engagements.contains(t)),
        "read with the contacts scope: {view}"
    );
    let unhandled = view["unhandled"].as_array().unwrap();
    let kept: i64 = unhandled
        .iter()
        .map(|k| k["events"].as_i64().unwrap())
        .sum();
    let counts = h.store.queue_counts().await.unwrap();
    assert_eq!(kept, count(&counts, "unhandled"), "{view}");
    // Changes of types the harness's scopes cannot read (deals, products, quotes, …).
    assert!(!unhandled.is_empty(), "{view}");
    for kind in unhandled {
        let reason = kind["reason"].as_str().unwrap();
        assert!(
            reason.contains(" are not hydrated (SPOKE_HYDRATOR_OBJECTS; read with `"),
            "{kind}"
        );
    }
    let properties = &view["properties"];
    assert_eq!(properties[0]["objectType"], "contacts");
    assert_eq!(properties[0]["every"], true);
    assert_eq!(
        properties[0]["properties"].as_array().unwrap().len(),
        ObjectType::CONTACTS.property_names().len()
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
    assert!(page.contains(r#"id="mirror""#), "{page}");
    assert!(page.contains(&format!(
        "every property ({} listed)",
        ObjectType::CONTACTS.property_names().len()
    )));
    let first_reason = unhandled[0]["reason"].as_str().unwrap();
    assert!(page.contains(first_reason), "{first_reason}");
}

/// A type's records page by id: every record once, whether the type is named by path
/// name or type id; a cursor that is not one is refused.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_types_records_are_listed_a_page_at_a_time(#[case] engine: Engine) {
    let h = admin_harness(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let events = h
        .activity(
            Activity::seeded(5, 40)
                .in_portals(&[portal])
                .of(&[ObjectType::CONTACTS]),
        )
        .await;
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;
    let held =
        h.db.number(&format!(
            "SELECT count(*) FROM records WHERE portal_id = {portal} AND object_type = 'contacts'"
        ))
        .await;
    assert!(held > 2, "{held} contacts: more than a page");

    let (mut ids, mut after, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let cursor = after
            .as_ref()
            .map_or(String::new(), |a| format!("&after={a}"));
        let page = h
            .get(&format!("/records/{portal}/0-1?limit=2{cursor}"))
            .await;
        pages += 1;
        let records = page["records"].as_array().unwrap();
        assert!(records.len() <= 2, "{page}");
        for record in records {
            assert_eq!(record["objectType"], "contacts");
            assert_eq!(record["state"], "live");
            assert!(record["properties"]["email"].is_string(), "{record}");
            ids.push(record["objectId"].as_i64().unwrap());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "by id, each once: {ids:?}"
    );
    assert_eq!(ids.len() as i64, held);
    assert_eq!(pages, (held + 1) / 2);
    let by_name = h
        .get(&format!("/records/{portal}/contacts?limit=1000"))
        .await;
    assert_eq!(by_name["records"].as_array().unwrap().len() as i64, held);
    assert_eq!(by_name["next"], Value::Null);

    for bad in ["contacts?after=x", "contact", "contacts?limit=-1"] {
        let (status, _) = h
            .api(
                reqwest::Method::GET,
                &format!("/records/{portal}/{bad}"),
                Some(TOKEN),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_receiver_and_a_worker_split_the_work(#[case] engine: Engine) {
    let h = harness_with(engine, "oauth crm.objects.contacts.read", |config| {
        config.role = Role::Receiver;
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
    })
    .await;
    let (worker_url, stop) = start_worker(&h, |config| {
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
    })
    .await;

    let webhook = reqwest::Client::new()
        .post(format!("{worker_url}/webhooks/hubspot"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(
        webhook.status(),
        StatusCode::NOT_FOUND,
        "a worker receives nothing"
    );
    let ready = reqwest::get(format!("{worker_url}/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let id = ObjectType::CONTACTS.id_base() + 2;
    let events = h
        .change(
            reqwest::Method::PATCH,
            portal,
            &format!("contacts/{id}"),
            json!({ "properties": { "firstname": "Split" } }),
        )
        .await;
    h.settle(events, |c| c == [("done".to_owned(), events as i64)])
        .await;

    let receiver_stats = h.get("/stats").await;
    assert_eq!(
        receiver_stats["crmCalls"],
        json!({}),
        "the receiver called no CRM API"
    );
    let stats_url = format!("{worker_url}/api/v1/stats");
    let worker_stats = json_of(reqwest::Client::new().get(stats_url).bearer_auth(TOKEN)).await;
    assert_eq!(
        worker_stats["crmCalls"]["200"], 2,
        "the contact's properties listed, the contact read: {worker_stats}"
    );
    stop.cancel();
}

/// `GET /api/v1/portals` lists every portal's standing, most at risk first, with search,
/// a state filter and pages; `GET /api/v1/portals/{id}` is one portal's view.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn portals_are_listed_by_risk_and_each_has_a_view(#[case] engine: Engine) {
    let h = admin_harness(engine).await;
    let portals: Vec<i64> = h.sim.sim.world(|w| w.portal_ids().collect());
    for portal in &portals[..2] {
        install_portal(&h, *portal).await;
    }
    let events = h
        .activity(Activity::seeded(2, 10).in_portals(&portals[..2]))
        .await;
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;
    // The second portal's event is dead (one attempt allowed, HubSpot failing).
    h.set_faults(json!({ "errorRate": 1.0, "portals": [portals[1]] }))
        .await;
    let id = ObjectType::CONTACTS.id_base() + 2;
    let events = events
        + h.change(
            reqwest::Method::PATCH,
            portals[1],
            &format!("contacts/{id}"),
            json!({ "properties": { "firstname": "Eve" } }),
        )
        .await;
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;
    h.set_faults(json!({})).await;
    h.counts_flushed().await;

    // The list is refreshed by each evaluation: wait for one that saw the dead letter.
    let list = admin_once(&h.spoke, TOKEN, "/portals", |list| {
        let first = &list["portals"][0];
        list["total"] == 2
            && first["deadLetters"] == 1
            && first["combined"]["attempts"].as_i64() > Some(0)
    })
    .await;
    assert_eq!(list["total"], 2, "{list}");
    let ids: Vec<i64> = list["portals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["portalId"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [portals[1], portals[0]],
        "the one with a dead letter first: {list}"
    );
    let risky = &list["portals"][0];
    assert_eq!(risky["deadLetters"], 1, "{risky}");
    assert_eq!(risky["state"], "installed");
    assert!(
        risky["combined"]["attempts"].as_i64().unwrap() > 0,
        "{risky}"
    );
    assert!(risky.get("accessToken").is_none() && !risky.to_string().contains("token\":\""));

    let found = h.get(&format!("/portals?q={}", portals[0])).await;
    assert_eq!(found["total"], 1);
    let by_domain = h.get("/portals?q=PORTAL-").await;
    assert_eq!(
        by_domain["total"], 2,
        "domains match without regard to case"
    );
    assert_eq!(h.get("/portals?state=needs_reauth").await["total"], 0);
    assert_eq!(
        h.get("/portals?state=installed&page=9").await["page"],
        1,
        "clamped"
    );
    let (status, body) = h
        .api(reqwest::Method::GET, "/portals?state=sideways", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let view = h.get(&format!("/portals/{}", portals[1])).await;
    assert_eq!(view["portalId"], portals[1]);
    assert!(view["hubDomain"].as_str().unwrap().contains("example.com"));
    assert_eq!(view["deadLetters"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["standing"]["deadLetters"], 1);
    assert!(view["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "installed"));
    let (status, body) = h
        .api(reqwest::Method::GET, "/portals/424242", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "spoke does not know this portal");
}

/// The OpenAPI document the server serves (without the token: it holds nothing) is the
/// one committed in `docs/`, and documents every route of the admin API.
#[tokio::test]
async fn the_openapi_document_served_is_the_one_committed() {
    let h = admin_harness(Engine::Sqlite).await;
    let served =
        json_of(reqwest::Client::new().get(format!("{}/api/v1/openapi.json", h.spoke))).await;
    let committed: Value =
        serde_json::from_str(include_str!("../../../../docs/admin-api.json")).unwrap();
    assert!(
        served == committed,
        "docs/admin-api.json is out of date: cargo run -p spoke-server -- openapi > docs/admin-api.json"
    );
    assert_eq!(served["openapi"], "3.1.0");
    for path in [
        "/api/v1/monitor",
        "/api/v1/portals/{portal_id}",
        "/api/v1/stats",
    ] {
        assert!(
            served["paths"][path]["get"].is_object(),
            "{path} documented"
        );
    }
    assert_eq!(served["security"], json!([{ "operator": [] }]));
}
