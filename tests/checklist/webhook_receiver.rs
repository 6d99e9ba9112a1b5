//! Checklist items for the webhook receiver: signatures, replay window, fast
//! acknowledgement, idempotency, and the status of every kind of bad input.

use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{json, Value};
use spoke_store::testing::TestDb;
use spoke_store::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

async fn sqlite_spoke(settings: &[(&str, &str)]) -> (TestDb, Spoke) {
    let db = TestDb::new(Engine::Sqlite).await;
    let spoke = Spoke::start(db.url(), settings).await;
    (db, spoke)
}

async fn error_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("JSON error body");
    body["error"].as_str().expect("error text").to_owned()
}

#[tokio::test]
async fn webhook_signature_v3_is_verified_and_forgeries_are_refused() {
    let (db, spoke) = sqlite_spoke(&[]).await;
    let genuine = batch(62515, 3);
    let body = serde_json::to_vec(&genuine).unwrap();
    let ts = now_ms().to_string();
    let sign = |uri: &str, body: &[u8], secret: &str| {
        hubspot::signature::sign_v3(&hubspot::ClientSecret::new(secret), "POST", uri, body, &ts)
    };
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("62515", "99999")
        .into_bytes();
    let forgeries = [
        (
            "wrong secret",
            sign(&public_webhook_url(), &body, "not-the-secret"),
            body.clone(),
        ),
        (
            "wrong URI",
            sign("https://attacker.test/webhooks/hubspot", &body, SECRET),
            body.clone(),
        ),
        (
            "tampered body",
            sign(&public_webhook_url(), &body, SECRET),
            tampered,
        ),
        ("garbage", "bm90IGEgc2lnbmF0dXJl".to_owned(), body.clone()),
    ];
    for (what, signature, sent) in forgeries {
        let response = spoke
            .post_with(
                sent,
                &[
                    ("X-HubSpot-Signature-v3", &signature),
                    ("X-HubSpot-Request-Timestamp", &ts),
                ],
            )
            .await;
        assert_eq!(response.status(), 401, "{what}");
        let error = error_of(response).await;
        assert!(
            !error.contains(&sign(&public_webhook_url(), &body, SECRET)),
            "{what}: echoes the expected signature"
        );
    }
    assert!(stored_ids(&db).await.is_empty(), "nothing forged is stored");

    let response = spoke.deliver(&genuine).await;
    assert_eq!(response.status(), 200);
    assert_eq!(stored_ids(&db).await, ids(&genuine));
}

#[tokio::test]
async fn deliveries_without_signature_headers_are_refused() {
    let (db, spoke) = sqlite_spoke(&[]).await;
    let body = serde_json::to_vec(&batch(1, 1)).unwrap();

    assert_eq!(spoke.post_with(body.clone(), &[]).await.status(), 401);
    let without_timestamp = spoke
        .post_with(body, &[("X-HubSpot-Signature-v3", "AAAA")])
        .await;
    assert_eq!(without_timestamp.status(), 401);
    assert!(stored_ids(&db).await.is_empty());
}

#[tokio::test]
async fn stale_future_and_malformed_timestamps_are_refused() {
    let (db, spoke) = sqlite_spoke(&[]).await;
    let body = serde_json::to_vec(&batch(1, 1)).unwrap();
    let six_minutes = 6 * 60 * 1000;

    assert_eq!(
        spoke
            .post_signed_at(&body, now_ms() - six_minutes)
            .await
            .status(),
        401,
        "stale"
    );
    assert_eq!(
        spoke
            .post_signed_at(&body, now_ms() + six_minutes)
            .await
            .status(),
        401,
        "from the future"
    );
    let malformed = spoke
        .post_with(
            body.clone(),
            &[
                ("X-HubSpot-Signature-v3", "AAAA"),
                ("X-HubSpot-Request-Timestamp", "1e12"),
            ],
        )
        .await;
    assert_eq!(malformed.status(), 401, "malformed");
    assert!(stored_ids(&db).await.is_empty());
    assert_eq!(
        spoke
            .post_signed_at(&body, now_ms() - 60_000)
            .await
            .status(),
        200,
        "a minute old is fine"
    );
}

#[tokio::test]
async fn legacy_v1_signatures_are_refused_unless_enabled() {
    let (strict_db, strict) = sqlite_spoke(&[]).await;
    let (legacy_db, legacy) = sqlite_spoke(&[("SPOKE_WEBHOOK_LEGACY_SIGNATURES", "true")]).await;
    let events = batch(7, 2);

    assert_eq!(strict.deliver_v1(&events).await.status(), 401);
    assert_eq!(legacy.deliver_v1(&events).await.status(), 200);
    assert!(stored_ids(&strict_db).await.is_empty());
    assert_eq!(stored_ids(&legacy_db).await, ids(&events));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_batch_of_100_events_is_acknowledged_well_under_5_seconds(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let spoke = Spoke::start(db.url(), &[]).await;
    let events = batch(62515, 100);

    let started = Instant::now();
    let response = spoke.deliver(&events).await;
    let elapsed = started.elapsed();

    assert_eq!(response.status(), 200);
    // HubSpot counts anything over 5 s as a failure; half of that is the contract here.
    assert!(
        elapsed < Duration::from_millis(2500),
        "acknowledged after {elapsed:?}"
    );
    assert_eq!(stored_ids(&db).await, ids(&events));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_redelivery_with_a_higher_attempt_number_is_handled_idempotently(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let spoke = Spoke::start(db.url(), &[]).await;
    let id = next_event_id();
    let companion = next_event_id();
    let shared_id_other_object = {
        let mut e = event(62515, id, 0);
        e["objectId"] = json!(42);
        e
    };

    let first = spoke
        .deliver(&[event(62515, id, 0), event(62515, companion, 0)])
        .await;
    let retry = spoke
        .deliver(&[event(62515, id, 1), shared_id_other_object])
        .await;

    assert_eq!(first.status(), 200);
    assert_eq!(retry.status(), 200);
    let ack: Value = retry.json().await.unwrap();
    assert_eq!(ack, json!({"stored": 1, "duplicates": 1}));
    assert_eq!(
        stored_ids(&db).await,
        vec![(62515, id), (62515, companion), (62515, id)]
    );
    assert_eq!(db.inbox_column("attempt_number").await, vec!["0", "0", "0"]);
}

#[tokio::test]
async fn a_body_that_is_not_an_array_of_events_gets_400() {
    let (db, spoke) = sqlite_spoke(&[]).await;
    let bodies: [&[u8]; 6] = [
        b"{\"eventId\":1}",
        b"not json",
        b"[1,2]",
        br#"[{"eventId":1,"subscriptionType":"contact.creation"}]"#,
        br#"[{"portalId":1,"subscriptionType":"contact.creation"}]"#,
        br#"[{"portalId":1,"eventId":1}]"#,
    ];
    for body in bodies {
        let response = spoke.post_signed_at(body, now_ms()).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        assert!(error_of(response).await.starts_with("malformed payload"));
    }
    assert!(stored_ids(&db).await.is_empty());
}

/// Sends raw HTTP and returns the status line of the answer.
async fn raw_status(spoke: &Spoke, head: &str, body_part: &[u8]) -> String {
    let mut stream = TcpStream::connect(spoke.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body_part).await.unwrap();
    let mut answer = vec![0; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("spoke answers without waiting for the rest of the body")
        .unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_before_it_is_read() {
    let (db, spoke) = sqlite_spoke(&[("SPOKE_WEBHOOK_MAX_BODY", "64KiB")]).await;
    // Signature headers that pass the checks made before the body is read (present, a
    // fresh timestamp): the size is what is refused. (Without them the answer is `401`,
    // from the headers alone.)
    let signed = format!(
        "X-HubSpot-Signature-v3: c2lnbmF0dXJl\r\nX-HubSpot-Request-Timestamp: {}\r\n",
        now_ms()
    );

    // Declares 2 MiB but sends 10 bytes: spoke must answer without waiting for the rest.
    let declared = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{signed}Content-Length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    assert_eq!(
        raw_status(&spoke, &declared, b"[{\"a\":1},").await,
        "HTTP/1.1 413 Payload Too Large"
    );

    // A chunked body with no length is cut off as soon as it passes the limit.
    let chunked = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\n{signed}Transfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = vec![b' '; 70 * 1024];
    let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
    body.extend_from_slice(&chunk);
    body.extend_from_slice(b"\r\n");
    assert_eq!(
        raw_status(&spoke, &chunked, &body).await,
        "HTTP/1.1 413 Payload Too Large"
    );

    let within = spoke.deliver(&batch(1, 100)).await;
    assert_eq!(
        within.status(),
        200,
        "a full 100-event batch fits in 64 KiB"
    );
    assert_eq!(stored_ids(&db).await.len(), 100);
}

#[tokio::test]
async fn a_full_backlog_gets_503_so_hubspot_retries_later() {
    let (db, spoke) = sqlite_spoke(&[("SPOKE_INBOX_MAX_BACKLOG", "5")]).await;

    assert_eq!(spoke.deliver(&batch(1, 5)).await.status(), 200);
    let refused = spoke.deliver(&batch(1, 1)).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        error_of(refused).await,
        "temporarily unavailable: inbox backlog is full"
    );
    assert_eq!(stored_ids(&db).await.len(), 5);
}

#[tokio::test]
async fn health_and_readiness_endpoints_answer() {
    let (_db, spoke) = sqlite_spoke(&[]).await;
    let health = spoke.http.get(spoke.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = spoke.http.get(spoke.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn the_client_secret_never_reaches_logs_or_responses() {
    let (_db, spoke) = sqlite_spoke(&[("SPOKE_LOG", "trace")]).await;
    let events = batch(1, 2);
    assert_eq!(spoke.deliver(&events).await.status(), 200);
    let forged = spoke
        .post_with(
            serde_json::to_vec(&events).unwrap(),
            &[
                ("X-HubSpot-Signature-v3", "AAAA"),
                ("X-HubSpot-Request-Timestamp", &now_ms().to_string()),
            ],
        )
        .await;
    let error = error_of(forged).await;

    let logs = spoke.logs();
    assert!(logs.contains("listening"), "the log was captured");
    assert!(!logs.contains(SECRET), "the client secret is in the logs");
    assert!(!error.contains(SECRET));
}

#[tokio::test]
async fn request_logs_name_the_route_template_never_the_raw_path() {
    let (_db, spoke) = sqlite_spoke(&[("SPOKE_LOG", "debug")]).await;
    assert_eq!(spoke.deliver(&batch(1, 1)).await.status(), 200);
    let unknown = spoke
        .http
        .get(spoke.url("/portals/918273645/records"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let finished = spoke
        .log_entries(
            |entry| {
                entry["message"] == "finished processing request"
                    && entry["span"]["route"] != "/readyz"
            },
            2,
        )
        .await;
    let routes: Vec<&str> = finished
        .iter()
        .filter_map(|entry| entry["span"]["route"].as_str())
        .collect();
    assert_eq!(routes, ["/webhooks/hubspot", "unmatched"]);
    assert!(
        !spoke.logs().contains("918273645"),
        "a raw path reached the logs"
    );
}
