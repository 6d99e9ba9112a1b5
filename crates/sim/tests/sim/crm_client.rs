//! spoke's CRM client (`hubspot::crm`) against the simulator, at each API version: what it
//! reads, what per-id errors leave out, and the kind each refusal is classified as.

use hubspot::crm::{CrmClient, ObjectType, Record, MAX_BATCH};
use hubspot::failure::Kind;
use hubspot::version::ApiVersion;
use rstest::rstest;
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use spoke_sim::objects::Simulated;

use crate::support::*;

/// A record's properties, parsed: the client keeps them as HubSpot sent them.
fn properties(record: &Record) -> Map<String, Value> {
    serde_json::from_str(record.properties.as_json()).expect("an object")
}

async fn client_and_token(
    sim: &spoke_sim::RunningSim,
    portal: i64,
    version: ApiVersion,
) -> (CrmClient, SecretString) {
    (
        CrmClient::new(&sim.base_url(), version),
        SecretString::from(token(sim, portal).await),
    )
}

/// Whichever way the version reports per-id errors (a `207`, or a `200` from `2026-09`),
/// the same ids are found and missing, and the call is made at that version's path.
#[rstest]
#[case::v3(ApiVersion::V3, 207)]
#[case::dated_2026_03(ApiVersion::V2026_03, 207)]
#[case::dated_2026_09(ApiVersion::V2026_09, 200)]
#[tokio::test]
async fn a_batch_read_returns_every_record_once_and_names_the_missing_ids(
    #[case] version: ApiVersion,
    #[case] partial_status: u16,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal, version).await;
    let base = ObjectType::CONTACTS.id_base();
    let mut ids: Vec<i64> = (1..=40).map(|i| base + i).collect();
    ids.extend([base + 3, base + 3, base + 999_999]);

    let read = crm
        .batch_read(&token, ObjectType::CONTACTS, &ids, &["email".into()])
        .await
        .expect("per-id errors are a success");
    assert_eq!(read.status, partial_status);

    let mut got: Vec<i64> = read.records.iter().map(|r| r.id).collect();
    got.sort_unstable();
    assert_eq!(got, (1..=40).map(|i| base + i).collect::<Vec<_>>());
    assert_eq!(read.missing, [base + 999_999]);
    let expected = sim
        .sim
        .world(|w| w.record(portal, ObjectType::CONTACTS, base + 5));
    let record = read.records.iter().find(|r| r.id == base + 5).unwrap();
    assert_eq!(
        properties(record)["email"],
        json!(expected.unwrap().properties["email"])
    );
    assert!(record.updated_at > 0 && !record.archived);
    let limit = read.rate_limit.expect("rate-limit headers");
    assert_eq!(
        (limit.max, limit.remaining),
        (110, 109),
        "this call counted"
    );

    let ledger = sim.client().crm_ledger().await.unwrap();
    let calls = &ledger["portals"][portal.to_string()];
    assert_eq!(
        calls["calls"]["batchRead"][partial_status.to_string()],
        1,
        "{ledger}"
    );
    assert_eq!(calls["versions"], json!({ version.as_str(): 1 }));
    assert_eq!(
        (
            &calls["recordsReturned"],
            &calls["maxInWindow"],
            &calls["rateLimited"]
        ),
        (&json!(40), &json!(1), &json!(0))
    );
}

#[rstest]
#[tokio::test]
async fn read_one_finds_a_record_and_a_missing_one_is_not_found(
    #[values(ApiVersion::V3, ApiVersion::V2026_03, ApiVersion::V2026_09)] version: ApiVersion,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal, version).await;
    let id = ObjectType::DEALS.id_base() + 2;

    let (record, limit) = crm
        .read(&token, ObjectType::DEALS, id, &["dealname".into()])
        .await
        .unwrap();
    assert_eq!(record.id, id);
    assert!(properties(&record).contains_key("dealname"));
    assert!(limit.is_some());

    let missing = crm
        .read(&token, ObjectType::DEALS, id + 999_999, &[])
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), Kind::NotFound);
}

/// `2026-09` answers a property the record leaves empty with `null`: the client keeps it,
/// apart from a property the type does not have, which is absent. Older versions leave
/// both out.
#[rstest]
#[case::v3(ApiVersion::V3, None)]
#[case::dated_2026_09(ApiVersion::V2026_09, Some(Value::Null))]
#[tokio::test]
async fn an_empty_property_is_null_from_2026_09(
    #[case] version: ApiVersion,
    #[case] phone: Option<Value>,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal, version).await;
    let without_phone = contact_without_phone(&sim, portal);
    let asked = [
        "phone".to_owned(),
        "email".to_owned(),
        "nosuchproperty".to_owned(),
    ];
    let read = crm
        .batch_read(&token, ObjectType::CONTACTS, &[without_phone], &asked)
        .await
        .unwrap();
    let properties = properties(&read.records[0]);
    assert_eq!(properties.get("phone"), phone.as_ref());
    assert!(properties["email"].is_string());
    assert!(!properties.contains_key("nosuchproperty"));
}

#[tokio::test]
async fn refusals_are_classified_for_the_caller() {
    let mut narrow = settings();
    narrow.scopes = "oauth crm.objects.contacts.read".into();
    let sim = sim(narrow).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal, ApiVersion::V2026_03).await;
    let ids = [ObjectType::DEALS.id_base() + 1];

    let no_scope = crm
        .batch_read(&token, ObjectType::DEALS, &ids, &[])
        .await
        .unwrap_err();
    assert_eq!(no_scope.kind(), Kind::MissingScopes);

    let forged = SecretString::from("not-a-token".to_owned());
    let unauthorized = crm
        .batch_read(&forged, ObjectType::CONTACTS, &ids, &[])
        .await
        .unwrap_err();
    assert_eq!(unauthorized.kind(), Kind::Unauthorized);

    sim.client()
        .set_faults(&json!({"burst429Ms": 60_000}))
        .await
        .unwrap();
    let contacts = [ObjectType::CONTACTS.id_base() + 1];
    let limited = crm
        .batch_read(&token, ObjectType::CONTACTS, &contacts, &[])
        .await
        .unwrap_err();
    assert_eq!(limited.kind(), Kind::RateLimited);
    assert_eq!(limited.policy_name(), Some("TEN_SECONDLY_ROLLING"));

    sim.client()
        .set_faults(&json!({"errorRate": 1.0}))
        .await
        .unwrap();
    let failed = crm
        .batch_read(&token, ObjectType::CONTACTS, &contacts, &[])
        .await
        .unwrap_err();
    assert_eq!(failed.kind(), Kind::Transient);
    assert!(failed.is_transient());
}

#[tokio::test]
#[should_panic(expected = "at most 100 ids a batch")]
async fn more_than_a_batch_of_ids_is_a_programming_error() {
    let crm = CrmClient::new("http://127.0.0.1:9", ApiVersion::V2026_03);
    let ids: Vec<i64> = (0..=MAX_BATCH as i64).collect();
    let token = SecretString::from("t".to_owned());
    let _ = crm
        .batch_read(&token, ObjectType::CONTACTS, &ids, &[])
        .await;
}

/// A `307` from the API is its answer, never followed: the token and body do not travel
/// to wherever it points.
#[tokio::test]
async fn a_redirect_is_never_followed_with_the_token() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = axum::Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { "stolen" }
    });
    let elsewhere_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/steal", elsewhere_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(elsewhere_listener, elsewhere).await });
    let redirecting = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, target)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirecting).await });

    let read = CrmClient::new(&base, ApiVersion::V2026_03)
        .batch_read(
            &SecretString::from("an-access-token".to_owned()),
            ObjectType::CONTACTS,
            &[1],
            &[],
        )
        .await;
    assert!(read.is_err(), "a 307 is not a batch answer");
    let alerts = hubspot::outbound::client(std::time::Duration::from_secs(5));
    let answer = alerts.post(format!("{base}/hook")).send().await.unwrap();
    assert_eq!(answer.status(), 307, "handed back, not followed");
    assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0);
}

/// The client lists a type's properties at each version, as the simulator defines them.
#[rstest]
#[tokio::test]
async fn property_names_are_every_property_of_the_type(
    #[values(ApiVersion::V3, ApiVersion::V2026_03, ApiVersion::V2026_09)] version: ApiVersion,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal, version).await;
    let (mut names, limit) = crm
        .property_names(&token, ObjectType::CONTACTS)
        .await
        .unwrap();
    names.sort_unstable();
    assert_eq!(names, ObjectType::CONTACTS.property_names());
    assert!(limit.is_some(), "a call counted like any other");
    let ledger = sim.client().crm_ledger().await.unwrap();
    let calls = &ledger["portals"][portal.to_string()]["calls"]["properties"];
    assert_eq!(calls["200"], 1, "{ledger}");
}
