//! `GET /metrics` against a running spoke and the simulator: what it reports agrees with
//! the store, the admin API and what was sent, and README.md lists exactly the metrics it
//! exposes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use rstest::rstest;
use serde_json::json;
use sim::objects::Simulated;
use spoke_server::config::{HttpSinkConfig, OperatorToken};
use spoke_server::workers::sinks::signing::SigningSecret;
use store::Engine;

use crate::support::*;

const TOKEN: &str = "a-test-operator-token-0123";

/// The scrape: content type, then every sample (`name{labels}` → value) and every family
/// with its type.
async fn scrape(h: &Harness) -> (BTreeMap<String, f64>, BTreeMap<String, String>) {
    let response = reqwest::get(format!("{}/metrics", h.spoke)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut samples = BTreeMap::new();
    let mut families = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') {
            let (name, value) = line.rsplit_once(' ').unwrap();
            samples.insert(name.to_owned(), value.parse().unwrap());
        }
    }
    (samples, families)
}

fn sample(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn metrics_agree_with_the_store_and_what_was_sent(#[case] engine: Engine) {
    let h = harness_with(engine, "oauth crm.objects.contacts.read", |config| {
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
        config.table_counts_every = Duration::from_millis(50);
    })
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let mut events = 0;
    for round in 0..3 {
        events += h
            .activity(Activity::seeded(40 + round, 30).in_portals(&[portal]))
            .await;
    }
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;
    let forged = reqwest::Client::new()
        .post(format!("{}/webhooks/hubspot", h.spoke))
        .header("x-hubspot-signature-v3", "forged")
        .header("x-hubspot-request-timestamp", "1")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // The tables' counts are read in the background: wait for a read after the settle.
    let counts: BTreeMap<String, i64> = h.store.queue_counts().await.unwrap().into_iter().collect();
    let inbox = |samples: &BTreeMap<String, f64>, state: &str| {
        sample(
            samples,
            &format!(r#"spoke_inbox_events{{state="{state}"}}"#),
        )
    };
    let mut samples = scrape(&h).await.0;
    for _ in 0..200 {
        if counts.iter().all(|(s, n)| inbox(&samples, s) == *n as f64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        samples = scrape(&h).await.0;
    }
    let ok = sample(&samples, r#"spoke_webhook_deliveries_total{outcome="ok"}"#);
    assert!(ok >= 3.0, "{samples:?}");
    assert_eq!(
        sample(
            &samples,
            r#"spoke_webhook_deliveries_total{outcome="unauthorized"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&samples, "spoke_webhook_ack_seconds_count"),
        ok + 1.0,
        "every answer timed"
    );
    assert_eq!(
        sample(&samples, r#"spoke_webhook_events_total{outcome="stored"}"#),
        events as f64
    );
    for (state, count) in &counts {
        let name = format!(r#"spoke_inbox_events{{state="{state}"}}"#);
        assert_eq!(sample(&samples, &name), *count as f64, "{name}");
    }
    assert_eq!(
        sample(&samples, "spoke_hydration_freshness_seconds_count"),
        counts["done"] as f64,
        "each finished event's freshness"
    );
    let stats = json_of(
        reqwest::Client::new()
            .get(format!("{}/api/v1/stats", h.spoke))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(
        sample(&samples, r#"spoke_crm_calls_total{status="200"}"#),
        stats["crmCalls"]["200"].as_f64().unwrap()
    );
    assert_eq!(
        sample(&samples, r#"spoke_records{state="live"}"#),
        stats["records"]["live"].as_f64().unwrap()
    );
    assert_eq!(
        sample(&samples, "spoke_record_cache_entries"),
        stats["recordCache"]["entries"].as_f64().unwrap()
    );

    // Expired tokens are refreshed on the next call: counted by outcome.
    h.clock.advance(PAST_EXPIRY);
    let contact = hubspot::crm::ObjectType::CONTACTS.id_base() + 1;
    events += h
        .change(
            reqwest::Method::PATCH,
            portal,
            &format!("contacts/{contact}"),
            json!({ "properties": { "firstname": "Ada" } }),
        )
        .await;
    h.settle(events, |c| !c.iter().any(|(s, _)| s == "pending"))
        .await;
    let (samples, _) = scrape(&h).await;
    assert!(
        sample(
            &samples,
            r#"spoke_token_refreshes_total{outcome="refreshed"}"#
        ) >= 1.0
    );
}

/// The README's metrics table, by name and type.
fn documented() -> BTreeMap<String, String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let table = readme
        .split("<!-- metrics:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- metrics:end -->").next())
        .expect("README.md has a metrics table");
    table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), cells.get(2)?.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn the_readme_lists_every_metric_and_no_other() {
    // With a sink configured and backfill on, so their series are there too (nothing is
    // sent to the sink, and no portal installs).
    let h = harness_with(
        Engine::Sqlite,
        "oauth crm.objects.contacts.read",
        |config| {
            config.hydrator.sync = true;
            config.sinks.http = Some(HttpSinkConfig {
                url: spoke_server::config::SecretUrl::parse_http("http://127.0.0.1:9/hooks")
                    .unwrap(),
                secret: SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            });
        },
    )
    .await;
    let (_, families) = scrape(&h).await;
    let exposed: BTreeMap<String, String> = families.into_iter().collect();
    assert_eq!(documented(), exposed);
    let names: BTreeSet<&String> = exposed.keys().collect();
    assert!(names.iter().all(|n| n.starts_with("spoke_")), "{names:?}");
}

/// A scrape reads no table: with the inbox, the mirror and the sinks' queue locked against
/// readers, `/metrics` still answers at once, from the counts read in the background.
#[tokio::test]
async fn a_scrape_reads_no_table() {
    use sqlx::Connection;

    let h = harness_with(Engine::Postgres, "oauth crm.objects.contacts.read", |_| {}).await;
    let mut c = sqlx::PgConnection::connect(h.db.url()).await.unwrap();
    // The app's own workers take these tables in their own orders (a stored event queues
    // itself by trigger; pruning goes the other way), so taking all four may meet one of them
    // in a deadlock that PostgreSQL breaks by aborting either side: start again until ours
    // holds them.
    let tx = loop {
        let mut tx = c.begin().await.unwrap();
        let locked = sqlx::query(
            "LOCK TABLE inbox_events, inbox_queue, records, sink_deliveries \
             IN ACCESS EXCLUSIVE MODE",
        )
        .execute(&mut *tx)
        .await;
        match locked {
            Ok(_) => break tx,
            Err(e) if is_deadlock(&e) => tx.rollback().await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    };
    let scraped = tokio::time::timeout(Duration::from_secs(2), scrape(&h)).await;
    tx.rollback().await.unwrap();
    let (samples, _) = scraped.expect("a scrape does not wait for the tables");
    assert!(samples.contains_key(r#"spoke_inbox_events{state="pending"}"#));
}

fn is_deadlock(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "40P01")
}

/// With `SPOKE_METRICS_LISTEN`, `/metrics` is served on its own address only: a port that
/// only Prometheus reaches, while the public one answers `404`.
#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    use hubspot::time::ManualClock;
    use spoke_server::App;
    use store::testing::TestDb;
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    let db = TestDb::new(Engine::Sqlite).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mut config, public) = config_on(&listener, &db);
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = App::build(config, ManualClock::starting_now().clock())
        .await
        .unwrap();
    let metrics = format!("http://{}/metrics", app.metrics_address().expect("bound"));
    let stop = CancellationToken::new();
    tokio::spawn(app.run(listener, stop.clone()));

    let apart = reqwest::get(&metrics).await.unwrap();
    assert_eq!(apart.status(), StatusCode::OK);
    assert!(apart
        .text()
        .await
        .unwrap()
        .contains("spoke_webhook_deliveries"));
    let public_metrics = reqwest::get(format!("{public}/metrics")).await.unwrap();
    assert_eq!(public_metrics.status(), StatusCode::NOT_FOUND);
    let health = reqwest::get(format!("{public}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    stop.cancel();
}
