//! The receiver on its own, over a real inbox: its replay window is measured by the clock
//! spoke is given, so the test moves time instead of waiting for it.

use std::sync::Arc;
use std::time::Duration;

use hubspot::signature::{sign_v3, SignatureError, SignatureHeaders};
use hubspot::time::{Clock, ManualClock};
use hubspot::ClientSecret;
use spoke_server::config::{PublicUrl, WebhookConfig};
use spoke_server::webhooks::group_commit::{Backlog, Ingest};
use spoke_server::webhooks::receiver::{ReceiveError, Receiver};
use store::testing::TestDb;
use store::Engine;

const BODY: &[u8] = br#"[{"eventId":1,"portalId":7,"subscriptionId":2,"objectId":3,"occurredAt":5,"subscriptionType":"contact.creation"}]"#;

#[tokio::test]
async fn the_replay_window_is_measured_by_the_injected_clock() {
    let db = TestDb::new(Engine::Sqlite).await;
    let (ingest, writer) = Ingest::start(
        db.store().await,
        Arc::new(Backlog::new(1_000)),
        Clock::system(),
    );
    let clock = ManualClock::at(1_735_689_600_000);
    let secret = ClientSecret::new("webhook-test-secret");
    let receiver = Receiver::new(
        &WebhookConfig::default(),
        PublicUrl::parse("https://hooks.spoke.test").unwrap(),
        secret.clone(),
        clock.clock(),
        ingest,
    );
    let signed_at = clock.now_ms().to_string();
    let signature = sign_v3(
        &secret,
        "POST",
        "https://hooks.spoke.test/webhooks/hubspot",
        BODY,
        &signed_at,
    );
    let headers = SignatureHeaders {
        v3: Some(&signature),
        timestamp: Some(&signed_at),
        ..Default::default()
    };

    clock.advance(Duration::from_secs(4 * 60));
    let outcome = receiver
        .receive("POST", "/webhooks/hubspot", headers, BODY, None)
        .await
        .result
        .expect("four minutes old is inside HubSpot's window");
    assert_eq!(outcome.stored, 1);

    clock.advance(Duration::from_secs(2 * 60));
    let late = receiver
        .receive("POST", "/webhooks/hubspot", headers, BODY, None)
        .await
        .result;
    assert!(
        matches!(late, Err(ReceiveError::Signature(SignatureError::Stale))),
        "{late:?}"
    );
    assert_eq!(db.inbox_keys().await.len(), 1, "nothing stale was stored");
    writer.finish().await;
}

/// A delivery without a signature, or with a stale timestamp, is refused from its headers
/// alone: the `401` comes while the body it announced has not been sent at all.
#[tokio::test]
async fn a_delivery_is_refused_on_its_headers_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = crate::support::harness(Engine::Sqlite).await;
    let address = h.spoke.trim_start_matches("http://");
    let stale = (h.clock.now_ms() - 6 * 60 * 1_000).to_string();
    for extra in [
        String::new(),
        format!("X-HubSpot-Signature-v3: AAAA\r\nX-HubSpot-Request-Timestamp: {stale}\r\n"),
    ] {
        let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /webhooks/hubspot HTTP/1.1\r\nHost: {address}\r\n\
            Content-Type: application/json\r\nContent-Length: 100000\r\n{extra}\r\n"
        );
        connection.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 64];
        // A guard against a hang, not a speed target: without the check the server would
        // wait for a body that never comes.
        let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut answer))
            .await
            .expect("answered before the body arrived")
            .unwrap();
        let status_line = String::from_utf8_lossy(&answer[..read]).into_owned();
        assert!(
            status_line.starts_with("HTTP/1.1 401"),
            "{extra:?}: {status_line}"
        );
    }
    assert!(h.db.inbox_keys().await.is_empty());
}

/// Slow clients cannot hold the receiver: with two thousand connections open, half sending
/// part of their headers and half nothing, a signed delivery still gets its `200`, and
/// each slow connection is closed once its header time is up.
#[tokio::test]
async fn half_open_connections_neither_block_a_delivery_nor_stay_open() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SLOW: usize = 2_000;
    let h = crate::support::harness_with(Engine::Sqlite, "oauth", |config| {
        config.http.header_read = Duration::from_secs(2);
    })
    .await;
    let address = h.spoke.trim_start_matches("http://").to_owned();
    let mut slow = Vec::with_capacity(SLOW);
    for n in 0..SLOW {
        let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
        // Half send part of their headers, half nothing at all.
        if n % 2 == 0 {
            connection
                .write_all(b"POST /webhooks/hubspot HTTP/1.1\r\nHost: spoke\r\n")
                .await
                .unwrap();
        }
        slow.push(connection);
    }

    let signed_at = h.clock.now_ms().to_string();
    let uri = format!(
        "http://localhost:{}/webhooks/hubspot",
        address.rsplit(':').next().unwrap()
    );
    let secret = ClientSecret::new(crate::support::CLIENT_SECRET);
    let signature = sign_v3(&secret, "POST", &uri, BODY, &signed_at);
    let delivery = reqwest::Client::new()
        .post(format!("{}/webhooks/hubspot", h.spoke))
        .header("content-type", "application/json")
        .header("x-hubspot-signature-v3", signature)
        .header("x-hubspot-request-timestamp", signed_at)
        .body(BODY)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered beside the slow connections");
    assert_eq!(delivery.status(), 200);

    for mut connection in slow {
        let mut rest = [0u8; 256];
        // A guard against a hang: each is closed two seconds after it stalled.
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match connection.read(&mut rest).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled connection stayed open");
    }
}
