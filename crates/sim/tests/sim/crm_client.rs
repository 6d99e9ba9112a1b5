//! spoke's CRM client (`hubspot::crm`) against the simulator: what it reads, what a `207`
//! leaves out, and the kind each refusal is classified as.

use hubspot::crm::{CrmClient, ObjectType, MAX_BATCH};
use hubspot::failure::Kind;
use secrecy::SecretString;
use serde_json::json;
use spoke_sim::objects::Simulated;

use crate::support::*;

async fn client_and_token(sim: &spoke_sim::RunningSim, portal: i64) -> (CrmClient, SecretString) {
    (
        CrmClient::new(&sim.base_url()),
        SecretString::from(token(sim, portal).await),
    )
}

#[tokio::test]
async fn a_batch_read_returns_every_record_once_and_names_the_missing_ids() {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal).await;
    let base = ObjectType::Contacts.id_base();
    let mut ids: Vec<i64> = (1..=40).map(|i| base + i).collect();
    ids.extend([base + 3, base + 3, base + 999_999]);

    let read = crm
        .batch_read(&token, ObjectType::Contacts, &ids, &["email".into()])
        .await
        .expect("a 207 is a success");

    let mut got: Vec<i64> = read.records.iter().map(|r| r.id).collect();
    got.sort_unstable();
    assert_eq!(got, (1..=40).map(|i| base + i).collect::<Vec<_>>());
    assert_eq!(read.missing, [base + 999_999]);
    let expected = sim
        .sim
        .world(|w| w.record(portal, ObjectType::Contacts, base + 5));
    let record = read.records.iter().find(|r| r.id == base + 5).unwrap();
    assert_eq!(
        record.properties["email"],
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
    assert_eq!(calls["calls"]["batchRead"]["207"], 1, "{ledger}");
    assert_eq!(
        (
            &calls["recordsReturned"],
            &calls["maxInWindow"],
            &calls["rateLimited"]
        ),
        (&json!(40), &json!(1), &json!(0))
    );
}

#[tokio::test]
async fn read_one_finds_a_record_and_a_missing_one_is_not_found() {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal).await;
    let id = ObjectType::Deals.id_base() + 2;

    let (record, limit) = crm
        .read(&token, ObjectType::Deals, id, &["dealname".into()])
        .await
        .unwrap();
    assert_eq!(record.id, id);
    assert!(record.properties.contains_key("dealname"));
    assert!(limit.is_some());

    let missing = crm
        .read(&token, ObjectType::Deals, id + 999_999, &[])
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), Kind::NotFound);
}

#[tokio::test]
async fn refusals_are_classified_for_the_caller() {
    let mut narrow = settings();
    narrow.scopes = "oauth crm.objects.contacts.read".into();
    let sim = sim(narrow).await;
    let portal = first_portal(&sim);
    let (crm, token) = client_and_token(&sim, portal).await;
    let ids = [ObjectType::Deals.id_base() + 1];

    let no_scope = crm
        .batch_read(&token, ObjectType::Deals, &ids, &[])
        .await
        .unwrap_err();
    assert_eq!(no_scope.kind(), Kind::MissingScopes);

    let forged = SecretString::from("not-a-token".to_owned());
    let unauthorized = crm
        .batch_read(&forged, ObjectType::Contacts, &ids, &[])
        .await
        .unwrap_err();
    assert_eq!(unauthorized.kind(), Kind::Unauthorized);

    sim.client()
        .set_faults(&json!({"burst429Ms": 60_000}))
        .await
        .unwrap();
    let contacts = [ObjectType::Contacts.id_base() + 1];
    let limited = crm
        .batch_read(&token, ObjectType::Contacts, &contacts, &[])
        .await
        .unwrap_err();
    assert_eq!(limited.kind(), Kind::RateLimited);
    assert_eq!(limited.policy_name(), Some("TEN_SECONDLY_ROLLING"));

    sim.client()
        .set_faults(&json!({"errorRate": 1.0}))
        .await
        .unwrap();
    let failed = crm
        .batch_read(&token, ObjectType::Contacts, &contacts, &[])
        .await
        .unwrap_err();
    assert_eq!(failed.kind(), Kind::Transient);
    assert!(failed.is_transient());
}

#[tokio::test]
#[should_panic(expected = "at most 100 ids a batch")]
async fn more_than_a_batch_of_ids_is_a_programming_error() {
    let crm = CrmClient::new("http://127.0.0.1:9");
    let ids: Vec<i64> = (0..=MAX_BATCH as i64).collect();
    let token = SecretString::from("t".to_owned());
    let _ = crm
        .batch_read(&token, ObjectType::Contacts, &ids, &[])
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

    let read = CrmClient::new(&base)
        .batch_read(
            &SecretString::from("an-access-token".to_owned()),
            ObjectType::Contacts,
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
