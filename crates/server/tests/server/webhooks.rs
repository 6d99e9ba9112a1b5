//! The receiver on its own, over a real inbox: its replay window is measured by the clock
//! spoke is given, so the test moves time instead of waiting for it.

use std::sync::Arc;
use std::time::Duration;

use hubspot::signature::{sign_v3, SignatureError, SignatureHeaders};
use hubspot::time::ManualClock;
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
    let (ingest, writer) = Ingest::start(db.store().await, Arc::new(Backlog::new(1_000)));
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
