//! Webhook deliveries as HubSpot makes them: signed v1 and v3 so spoke's verifier accepts
//! them, batches of at most 100, the per-portal concurrency limit, the timeout, retries on
//! the (time-scaled) schedule with rising `attemptNumber`, and a ledger that agrees.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use hubspot::signature::{Policy, SignatureHeaders, SignatureVersion, Unverified};
use hubspot::ClientSecret;
use spoke_sim::admin::Activity;

use crate::support::*;

async fn activity(sim: &spoke_sim::RunningSim, activity: Activity) -> usize {
    sim.client().activity(&activity).await.unwrap().events
}

fn totals(sim: &spoke_sim::RunningSim, portal: i64) -> spoke_sim::ledger::PortalTotals {
    sim.sim
        .dispatcher()
        .ledger(|l| l.totals().get(&portal).cloned().unwrap_or_default())
}

fn ok(_: usize) -> StatusCode {
    StatusCode::OK
}

#[tokio::test]
async fn deliveries_carry_v1_and_v3_signatures_that_spokes_verifier_accepts() {
    let receiver = Receiver::start(ok, Duration::ZERO).await;
    let sim = sim(delivering_to(&receiver)).await;
    let portal = first_portal(&sim);
    let queued = activity(&sim, Activity::seeded(1, 30).in_portals(&[portal])).await;
    assert_eq!(queued, 30);
    eventually(Duration::from_secs(10), || {
        totals(&sim, portal).events_delivered == 30
    })
    .await;

    let secret = ClientSecret::new(SECRET);
    for request in receiver.requests() {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let v3 = SignatureHeaders {
            v3: header("x-hubspot-signature-v3"),
            timestamp: header("x-hubspot-request-timestamp"),
            ..Default::default()
        };
        let verified = Unverified::new("POST", TARGET, v3, &request.body).verify(
            &secret,
            Policy::default(),
            hubspot::time::Clock::system().now_ms(),
        );
        assert_eq!(verified.map(|v| v.version()), Ok(SignatureVersion::V3));
        let v1 = SignatureHeaders {
            legacy: header("x-hubspot-signature"),
            legacy_version: header("x-hubspot-signature-version"),
            ..Default::default()
        };
        let verified = Unverified::new("POST", TARGET, v1, &request.body).verify(
            &secret,
            Policy {
                accept_legacy: true,
            },
            0,
        );
        assert_eq!(verified.map(|v| v.version()), Ok(SignatureVersion::V1));
        for event in request.events() {
            assert_eq!(event["portalId"], portal);
            assert_eq!(event["attemptNumber"], 0);
            assert!(event["subscriptionType"]
                .as_str()
                .unwrap()
                .ends_with(".propertyChange"));
        }
    }
}

#[tokio::test]
async fn batches_hold_at_most_100_events_within_the_concurrency_limit() {
    let receiver = Receiver::start(ok, Duration::from_millis(100)).await;
    let mut settings = delivering_to(&receiver);
    settings.webhook_max_concurrent = 3;
    let sim = sim(settings).await;
    let portal = first_portal(&sim);
    let queued = activity(&sim, Activity::seeded(2, 1_000).in_portals(&[portal])).await;
    eventually(Duration::from_secs(20), || {
        totals(&sim, portal).events_delivered == queued as u64
    })
    .await;

    let requests = receiver.requests();
    let mut ids = BTreeSet::new();
    for request in &requests {
        let events = request.events();
        assert!(
            !events.is_empty() && events.len() <= 100,
            "a batch of {}",
            events.len()
        );
        ids.extend(events.iter().map(|e| e["eventId"].as_i64().unwrap()));
    }
    assert_eq!(ids.len(), queued, "every event delivered exactly once");
    assert!(requests.len() >= queued.div_ceil(100));
    let peak = receiver
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(peak <= 3, "{peak} requests in flight for one portal");
    assert!(peak >= 2, "deliveries run concurrently");
}

#[tokio::test]
async fn a_failing_receiver_gets_every_retry_on_the_scaled_schedule() {
    let receiver = Receiver::start(|_| StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    let mut settings = delivering_to(&receiver);
    settings.time_scale = 60_000.0; // 21.3 hours of retries in 1.3 s
    let delays = settings.retry_delays.clone();
    let (scale, jitter) = (settings.time_scale, settings.retry_jitter);
    let sim = sim(settings).await;
    let portal = first_portal(&sim);
    assert_eq!(
        activity(&sim, Activity::seeded(3, 1).in_portals(&[portal])).await,
        1
    );
    eventually(Duration::from_secs(20), || {
        totals(&sim, portal).events_given_up == 1
    })
    .await;

    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        1 + delays.len(),
        "the first attempt and {} retries",
        delays.len()
    );
    let attempts: Vec<i64> = requests
        .iter()
        .map(|r| r.events()[0]["attemptNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, (0..=delays.len() as i64).collect::<Vec<_>>());
    let event_ids: BTreeSet<i64> = requests
        .iter()
        .map(|r| r.events()[0]["eventId"].as_i64().unwrap())
        .collect();
    assert_eq!(event_ids.len(), 1, "the same event each time");
    for (i, pair) in requests.windows(2).enumerate() {
        let gap = pair[1].at.duration_since(pair[0].at).as_secs_f64();
        let planned = delays[i] / scale;
        assert!(
            gap >= planned * (1.0 - jitter) - 0.002,
            "retry {i}: {gap:.4} s after the last, planned {planned:.4} s"
        );
        assert!(
            gap <= planned * (1.0 + jitter) + 0.5,
            "retry {i}: {gap:.4} s after the last, planned {planned:.4} s"
        );
    }
    let t = totals(&sim, portal);
    assert_eq!((t.attempts, t.failures, t.successes), (11, 11, 0));
    assert_eq!(t.error_statuses.get(&500), Some(&11));
    assert_eq!(t.success_rate, Some(0.0));
}

#[tokio::test]
async fn the_ledger_counts_what_hubspot_would_and_retries_until_delivered() {
    let receiver = Receiver::start(
        |n| {
            if n < 2 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        },
        Duration::ZERO,
    )
    .await;
    let mut settings = delivering_to(&receiver);
    settings.time_scale = 60_000.0;
    let sim = sim(settings).await;
    let portal = first_portal(&sim);
    activity(&sim, Activity::seeded(5, 1).in_portals(&[portal])).await;
    eventually(Duration::from_secs(10), || {
        totals(&sim, portal).events_delivered == 1
    })
    .await;

    let t = totals(&sim, portal);
    assert_eq!(
        (
            t.attempts,
            t.successes,
            t.failures,
            t.events_retried,
            t.events_given_up
        ),
        (3, 1, 2, 2, 0)
    );
    assert_eq!(t.success_rate, Some(1.0 / 3.0));
    let attempts: Vec<i64> = receiver
        .requests()
        .iter()
        .map(|r| r.events()[0]["attemptNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [0, 1, 2]);
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_fails_the_attempt() {
    let receiver = Receiver::start(ok, Duration::from_millis(400)).await;
    let mut settings = delivering_to(&receiver);
    settings.webhook_timeout_ms = 100;
    settings.retry_delays = vec![];
    let sim = sim(settings).await;
    let portal = first_portal(&sim);
    activity(&sim, Activity::seeded(6, 1).in_portals(&[portal])).await;
    eventually(Duration::from_secs(10), || {
        totals(&sim, portal).events_given_up == 1
    })
    .await;
    let t = totals(&sim, portal);
    assert_eq!((t.attempts, t.timeouts, t.successes), (1, 1, 0));
}
