//! HubSpot's per-portal rolling window: the documented headers on every answer, the 429
//! body with its `policyName` past the limit, recovery as the window rolls, and other
//! portals unaffected.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use spoke_sim::objects::{ObjectType, Simulated};

use crate::support::*;

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_burst_over_the_limit_gets_429_and_the_window_recovers() {
    let mut s = settings();
    s.rate_limit = 5;
    s.rate_window_ms = 600;
    let sim = sim(s).await;
    let portal = first_portal(&sim);
    let auth = format!("Bearer {}", token(&sim, portal).await);
    let http = reqwest::Client::new();
    let url = format!(
        "{}/crm/v3/objects/contacts/{}",
        sim.base_url(),
        ObjectType::CONTACTS.id_base() + 1
    );

    for remaining in (0..5).rev() {
        let ok = http
            .get(&url)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(header(&ok, "x-hubspot-ratelimit-max"), Some(5));
        assert_eq!(
            header(&ok, "x-hubspot-ratelimit-interval-milliseconds"),
            Some(600)
        );
        assert_eq!(
            header(&ok, "x-hubspot-ratelimit-remaining"),
            Some(remaining)
        );
        assert!(
            ok.headers().get("x-hubspot-ratelimit-daily").is_none(),
            "OAuth apps get no daily headers"
        );
    }
    let limited = http
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "x-hubspot-ratelimit-remaining"), Some(0));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(
        (body["policyName"].as_str(), body["errorType"].as_str()),
        (Some("TEN_SECONDLY_ROLLING"), Some("RATE_LIMIT"))
    );
    assert!(body["correlationId"].is_string());

    let other_portal = portal + 1;
    let other = format!("Bearer {}", token(&sim, other_portal).await);
    assert_eq!(
        http.get(&url)
            .header("authorization", other)
            .fetch_status()
            .await,
        StatusCode::OK,
        "another portal is not limited"
    );

    tokio::time::sleep(Duration::from_millis(650)).await; // the whole window rolls by
    let recovered = http
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(recovered.status(), StatusCode::OK);
    assert_eq!(header(&recovered, "x-hubspot-ratelimit-remaining"), Some(4));
}

#[tokio::test]
async fn a_daily_limit_sends_the_daily_headers_and_policy() {
    let mut s = settings();
    s.daily_limit = Some(2);
    let sim = sim(s).await;
    let portal = first_portal(&sim);
    let auth = format!("Bearer {}", token(&sim, portal).await);
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v3/objects/deals?limit=1", sim.base_url());
    let first = http
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&first, "x-hubspot-ratelimit-daily"), Some(2));
    assert_eq!(
        header(&first, "x-hubspot-ratelimit-daily-remaining"),
        Some(1)
    );
    http.get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    let refused: Value = http
        .get(&url)
        .header("authorization", &auth)
        .fetch_json()
        .await;
    assert_eq!(refused["policyName"], json!("DAILY"));
}

#[tokio::test]
async fn injected_429_bursts_and_errors_switch_on_and_off_at_run_time() {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let auth = format!("Bearer {}", token(&sim, portal).await);
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v3/objects/products?limit=1", sim.base_url());
    let hubspot = sim.client();

    hubspot
        .set_faults(&json!({"burst429Ms": 60_000}))
        .await
        .unwrap();
    assert_eq!(
        http.get(&url)
            .header("authorization", &auth)
            .fetch_status()
            .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    hubspot
        .set_faults(&json!({"errorRate": 1.0}))
        .await
        .unwrap();
    assert!(http
        .get(&url)
        .header("authorization", &auth)
        .fetch_status()
        .await
        .is_server_error());
    hubspot
        .set_faults(&json!({"errorRate": 1.0, "portals": [portal + 1]}))
        .await
        .unwrap();
    assert_eq!(
        http.get(&url)
            .header("authorization", &auth)
            .fetch_status()
            .await,
        StatusCode::OK,
        "faults aimed elsewhere"
    );
    hubspot.set_faults(&json!({})).await.unwrap();
    assert_eq!(
        http.get(&url)
            .header("authorization", &auth)
            .fetch_status()
            .await,
        StatusCode::OK
    );
}
