//! The certification monitor against the simulator's ledgers, on SQLite and PostgreSQL:
//! with the database locked for longer than spoke's acknowledgement budget (so it answers
//! `503` and HubSpot retries) and a `429` burst on the CRM API, each portal's webhook
//! success rate is the one the simulator's webhook ledger computes, and its API error
//! share the one the CRM ledger shows; an alert fires, and resolves once the bad day has
//! passed, each change posted to a Slack-compatible webhook.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{json, Value};
use sim::objects::{ObjectType, Simulated};
use spoke_server::config::{OperatorToken, SecretUrl};
use store::testing::TestDb;
use store::Engine;

use crate::support::*;

const TOKEN: &str = "a-test-operator-token-0123";

/// A Slack-compatible incoming webhook: the texts posted to it.
async fn slack() -> (SecretUrl, Arc<Mutex<Vec<String>>>) {
    let texts = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = texts.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| async move {
            seen.lock()
                .unwrap()
                .push(body["text"].as_str().unwrap().to_owned());
            "ok"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (SecretUrl::parse_http(&url).unwrap(), texts)
}

/// Whether the alert webhook receives a text that `wanted` holds of within 10 s.
async fn posted_once(posted: &Mutex<Vec<String>>, wanted: impl Fn(&str) -> bool) -> bool {
    for _ in 0..200 {
        if posted.lock().unwrap().iter().any(|t| wanted(t)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Flushes and evaluations every 50 ms, so a test waits for them by polling.
fn monitor_often(config: &mut spoke_server::config::Config) {
    config.monitor.flush_every = Duration::from_millis(50);
    config.monitor.evaluate_every = Duration::from_millis(50);
}

impl Harness {
    async fn monitor(&self, path: &str) -> Value {
        json_of(
            reqwest::Client::new()
                .get(format!("{}/api/v1{path}", self.spoke))
                .bearer_auth(TOKEN),
        )
        .await
    }

    async fn monitor_once(&self, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
        admin_once(&self.spoke, TOKEN, path, ready).await
    }

    /// Waits until the simulator has nothing queued or in flight and spoke's queue is
    /// settled, moving the clock on now and then for retries spoke scheduled.
    async fn deliveries_done(&self) {
        for round in 0..600 {
            if round % 10 == 9 {
                self.clock.advance(Duration::from_secs(1));
            }
            let ledger = self.webhook_ledger().await;
            let queue = &ledger["queue"];
            let pending = self.store.queue_counts().await.unwrap();
            if queue["queued"] == 0
                && queue["inFlightRequests"] == 0
                && !pending.iter().any(|(s, n)| s == "pending" && *n > 0)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("deliveries never finished: {}", self.webhook_ledger().await);
    }
}

/// Holds the inbox's table locked for `hold`, so spoke's commits wait past their budget;
/// says on `locked` once it holds the lock.
async fn lock_the_inbox(
    db: &TestDb,
    engine: Engine,
    hold: Duration,
    locked: tokio::sync::oneshot::Sender<()>,
) {
    use sqlx::Connection;
    match engine {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .unwrap();
            let _ = locked.send(());
            tokio::time::sleep(hold).await;
            sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(db.url()).await.unwrap();
            let mut tx = c.begin().await.unwrap();
            sqlx::query("LOCK TABLE inbox_events IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            let _ = locked.send(());
            tokio::time::sleep(hold).await;
            tx.rollback().await.unwrap();
        }
    }
}

fn rate(window: &Value) -> f64 {
    window["rate"].as_f64().expect("a rate")
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn each_portals_rates_are_the_ledgers_and_an_alert_fires_then_resolves(
    #[case] engine: Engine,
) {
    let (hook, posted) = slack().await;
    let h = harness_with_sim(
        engine,
        "oauth crm.objects.contacts.read",
        // Retries after 60 ms rather than a minute.
        |sim| sim.time_scale = 1_000.0,
        |config| {
            config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
            config.monitor.alert_webhook = Some(hook);
            monitor_often(config);
        },
    )
    .await;
    let portals: Vec<i64> = h.sim.sim.world(|w| w.portal_ids().take(2).collect());
    install_portal(&h, portals[0]).await;
    install_portal(&h, portals[1]).await;
    // The portal list is kept for a minute between requests; the evaluations keep it current.
    let listed = h.monitor_once("/portals", |list| list["total"] == 2).await;
    assert_eq!(listed["total"], 2, "{listed}");
    for round in 0..3 {
        h.activity(Activity::seeded(20 + round, 20).in_portals(&portals))
            .await;
    }
    h.deliveries_done().await;

    // The database is away longer than spoke's 4 s budget: deliveries get 503, HubSpot
    // retries them, and they succeed once it is back.
    let (locked, held) = tokio::sync::oneshot::channel();
    let lock = lock_the_inbox(&h.db, engine, Duration::from_millis(4_500), locked);
    let changes = async {
        held.await.unwrap();
        h.activity(Activity::seeded(8, 40).in_portals(&portals))
            .await;
    };
    tokio::join!(lock, changes);
    h.deliveries_done().await;

    // A 429 burst on the API for the first portal, while its records change.
    h.set_faults(json!({ "burst429Ms": 1_500, "portals": [portals[0]] }))
        .await;
    let contact = |n: i64| ObjectType::CONTACTS.id_base() + n;
    for n in 1..=3 {
        h.change(
            reqwest::Method::PATCH,
            portals[0],
            &format!("contacts/{}", contact(n)),
            json!({ "properties": { "firstname": format!("n{n}") } }),
        )
        .await;
    }
    h.deliveries_done().await;
    // The hydrator waits out the pause (the clock is spoke's and the simulator's).
    for _ in 0..40 {
        h.clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.set_faults(json!({})).await;
    h.deliveries_done().await;

    let ledger = h.webhook_ledger().await;
    let crm = h.crm_ledger().await;
    let mut failures_seen = 0;
    let listed_attempts = |list: &Value, portal: i64| {
        list["portals"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["portalId"] == portal))
            .map(|s| s["webhooks"]["attempts"].clone())
    };
    // Each evaluation refreshes the list from the sums it read anyway: it shows the day
    // well before the minute is up.
    let list = h
        .monitor_once("/portals", |list| {
            portals.iter().all(|p| {
                listed_attempts(list, *p)
                    == Some(ledger["portals"][p.to_string()]["attempts"].clone())
            })
        })
        .await;
    for portal in &portals {
        let truth = &ledger["portals"][portal.to_string()];
        assert_eq!(
            listed_attempts(&list, *portal),
            Some(truth["attempts"].clone()),
            "{list} vs {truth}"
        );
        // The ledger's calls by spoke's endpoint class and status.
        let calls = &crm["portals"][portal.to_string()]["calls"];
        let classes = [
            ("batchRead", "crm.batch_read@2026-03"),
            ("properties", "crm.properties@2026-03"),
        ];
        let mut by_status: Vec<(String, u16, i64)> = classes
            .iter()
            .flat_map(|(sim_class, class)| {
                calls[sim_class]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(s, n)| ((*class).to_owned(), s.parse().unwrap(), n.as_i64().unwrap()))
            })
            .collect();
        by_status.sort();
        let total: i64 = by_status.iter().map(|(_, _, n)| n).sum();
        let report = h
            .monitor_once(&format!("/portals/{portal}/monitor"), |r| {
                r["webhooks"]["24h"]["attempts"] == truth["attempts"]
                    && r["api"]["24h"]["attempts"] == total
            })
            .await;
        let day = &report["webhooks"]["24h"];
        assert_eq!(day["attempts"], truth["attempts"], "{report} vs {truth}");
        assert_eq!(day["successes"], truth["successes"], "{report} vs {truth}");
        assert!(
            (rate(day) - truth["successRate"].as_f64().unwrap()).abs() <= 0.005,
            "within half a point of the ledger"
        );
        failures_seen += truth["failures"].as_i64().unwrap();

        let errors: i64 = by_status
            .iter()
            .filter(|(_, s, _)| !(200..300).contains(s))
            .map(|(_, _, n)| n)
            .sum();
        let api = &report["api"]["24h"];
        assert_eq!(api["attempts"], total, "{report} vs {crm}");
        assert_eq!(api["successes"], total - errors, "{report} vs {crm}");
        // The day's calls by endpoint class and status are the ledger's.
        let mut by_day: Vec<(String, u16, i64)> = report["apiCallsByDay"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["endpoint"].as_str().unwrap().to_owned(),
                    row["status"].as_u64().unwrap() as u16,
                    row["calls"].as_i64().unwrap(),
                )
            })
            .collect();
        by_day.sort();
        assert_eq!(by_day, by_status, "{report} vs {crm}");
        let series = report["series"].as_array().unwrap();
        assert!(!series.is_empty());
    }
    assert!(failures_seen > 0, "the lock made deliveries fail: {ledger}");
    assert!(
        crm["portals"][portals[0].to_string()]["rateLimited"]
            .as_i64()
            .unwrap()
            > 0,
        "the burst was felt: {crm}"
    );

    let app_wide_webhooks = |a: &Value| a["portalId"].is_null() && a["about"] == "webhooks";
    let app = h
        .monitor_once("/monitor", |r| {
            r["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(app_wide_webhooks)
        })
        .await;
    let day = &app["webhooks"]["24h"];
    assert_eq!(day["estimatedAttempts"], 0, "spoke saw every attempt");
    let alerts = app["alerts"].as_array().unwrap();
    let app_wide = alerts
        .iter()
        .find(|a| app_wide_webhooks(a))
        .unwrap_or_else(|| panic!("an app-wide webhook alert: {app}"));
    assert!(["warning", "critical"].contains(&app_wide["level"].as_str().unwrap()));
    assert!(app_wide["since"].is_string());
    // The evaluation shows an alert, then posts it: wait for the post.
    let fired = posted_once(&posted, |t| {
        t.starts_with("spoke fired:") && t.contains("app-wide webhooks")
    })
    .await;
    assert!(fired, "{:?}", posted.lock().unwrap());

    // A day later the failures have left the window: the alert resolves.
    h.clock.advance(Duration::from_secs(25 * 3_600));
    let later = h
        .monitor_once("/monitor", |r| r["alerts"] == json!([]))
        .await;
    assert_eq!(later["alerts"], json!([]), "{later}");
    let resolved = posted_once(&posted, |t| {
        t.starts_with("spoke resolved:") && t.contains("app-wide webhooks")
    })
    .await;
    assert!(resolved, "{:?}", posted.lock().unwrap());
    // Every alert that fired (the portal's too) resolves in the same evaluation, its posts
    // sent one after another: wait for the last before counting.
    let settled = || {
        let posts = posted.lock().unwrap();
        let of = |kind: &str| posts.iter().filter(|t| t.starts_with(kind)).count();
        of("spoke resolved:") == of("spoke fired:")
    };
    for _ in 0..200 {
        if settled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled(), "{:?}", posted.lock().unwrap());
    let resolved = posted.lock().unwrap().clone();
    // Ten more evaluations (50 ms apart here) find nothing new to announce.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = h.monitor("/monitor").await;
    assert_eq!(again["alerts"], json!([]));
    assert_eq!(
        posted.lock().unwrap().len(),
        resolved.len(),
        "nothing announced twice"
    );
    assert_eq!(later["webhooks"]["24h"]["rate"], Value::Null);
    assert_eq!(
        later["webhooks"]["30d"]["attempts"],
        app["webhooks"]["30d"]["attempts"]
    );
}

/// `SPOKE_MONITOR=off` (for measuring what the monitor costs): deliveries and CRM calls
/// are not counted, and the monitor's endpoints say it is off.
#[tokio::test]
async fn with_the_monitor_off_nothing_is_counted_and_its_endpoints_say_so() {
    let mut h = harness_with(
        Engine::Sqlite,
        "oauth crm.objects.contacts.read",
        |config| {
            config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
            config.monitor.off = true;
            monitor_often(config);
        },
    )
    .await;
    let portals: Vec<i64> = h.sim.sim.world(|w| w.portal_ids().take(1).collect());
    install_portal(&h, portals[0]).await;
    // Contacts only: the portal granted no other type, and without a contact among the
    // changes the hydrator would rightly make no call.
    let contacts = Activity::seeded(9, 10)
        .in_portals(&portals)
        .of(&[ObjectType::CONTACTS]);
    assert!(h.activity(contacts).await > 0);
    h.deliveries_done().await;
    // Deliveries were answered and the hydrator called HubSpot: there was something to count.
    let called = |ledger: Value| ledger["portals"][portals[0].to_string()]["calls"].is_object();
    for _ in 0..200 {
        if called(h.crm_ledger().await) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(called(h.crm_ledger().await), "{}", h.crm_ledger().await);
    assert!(
        h.webhook_ledger().await["portals"][portals[0].to_string()]["attempts"].as_i64() > Some(0)
    );

    for path in [
        "/monitor".to_owned(),
        format!("/portals/{}/monitor", portals[0]),
    ] {
        let answer = reqwest::Client::new()
            .get(format!("{}/api/v1{path}", h.spoke))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(
            body["error"],
            "the certification monitor is off (SPOKE_MONITOR=off)"
        );
    }
    // spoke stops as on a signal: a counting monitor flushes its last counts.
    h.stop().await;
    let counted = h.db.number("SELECT count(*) FROM webhook_minutes").await
        + h.db.number("SELECT count(*) FROM api_minutes").await;
    assert_eq!(counted, 0);
}

/// Several instances evaluate the same counts: each change is posted once, and an
/// instance that starts while an alert holds does not post it again.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn instances_sharing_a_database_announce_each_alert_change_once(#[case] engine: Engine) {
    use spoke_server::monitor::alerts::Alerts;
    use spoke_server::monitor::levels::AlertLevels;
    use spoke_server::monitor::sums::PortalSums;
    use store::{Scope, WebhookCounts};

    let (hook, posted) = slack().await;
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let now_ms = 1_800_000_000_000;
    let minute = now_ms / 60_000;
    let deliveries = |attempts, successes| WebhookCounts {
        scope: Scope::App,
        minute,
        attempts,
        successes,
        unavailable: attempts - successes,
        ..WebhookCounts::default()
    };
    let instance = || Alerts::new(AlertLevels::default(), Some(hook.clone()));
    // 90 of 100 answered: critical, app-wide, for webhooks and for all activity.
    store
        .add_counts(&[deliveries(100, 90)], &[], &[])
        .await
        .unwrap();
    let (a, b) = (instance(), instance());
    let sums = PortalSums::read(store.as_ref(), now_ms).await.unwrap();
    a.evaluate(store.as_ref(), &sums, now_ms).await.unwrap();
    b.evaluate(store.as_ref(), &sums, now_ms).await.unwrap();
    instance()
        .evaluate(store.as_ref(), &sums, now_ms)
        .await
        .unwrap();
    assert_eq!(a.active().len(), 2);
    assert_eq!(b.active(), a.active(), "each instance knows the alerts");
    let fired = posted.lock().unwrap().clone();
    assert_eq!(fired.len(), 2, "one post per alert: {fired:?}");
    assert!(fired
        .iter()
        .all(|t| t.starts_with("spoke fired: critical app-wide")));

    // The day recovers: 10,000 more answered.
    store
        .add_counts(&[deliveries(10_000, 10_000)], &[], &[])
        .await
        .unwrap();
    let sums = PortalSums::read(store.as_ref(), now_ms).await.unwrap();
    b.evaluate(store.as_ref(), &sums, now_ms).await.unwrap();
    a.evaluate(store.as_ref(), &sums, now_ms).await.unwrap();
    let all = posted.lock().unwrap().clone();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(
        all[2..].iter().all(|t| t.starts_with("spoke resolved:")),
        "{all:?}"
    );
    assert!(a.active().is_empty() && b.active().is_empty());
}

/// What the monitor has written: its statistics and its record of alert changes.
async fn monitor_rows(db: &TestDb) -> [i64; 4] {
    [
        db.number("SELECT CAST(coalesce(sum(attempts), 0) AS BIGINT) FROM webhook_minutes")
            .await,
        db.number("SELECT CAST(coalesce(sum(calls), 0) AS BIGINT) FROM api_minutes")
            .await,
        db.number("SELECT count(*) FROM api_calls_daily").await,
        db.number("SELECT count(*) FROM alert_states").await,
    ]
}

/// Reading is not writing: with counts gathered but not flushed, and the store holding a
/// failure rate an evaluation would alert on, every GET of the admin API and the dashboard
/// leaves the statistics, the alert states and the alert webhook as they were. The flush
/// and evaluation tasks (an hour apart here) are the only writers.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_get_never_flushes_counts_nor_evaluates_alerts(#[case] engine: Engine) {
    use store::{Scope, WebhookCounts};

    let (hook, posted) = slack().await;
    let h = harness_with(engine, "oauth crm.objects.contacts.read", |config| {
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
        config.monitor.alert_webhook = Some(hook);
        config.monitor.flush_every = Duration::from_secs(3_600);
        config.monitor.evaluate_every = Duration::from_secs(3_600);
    })
    .await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let contacts = Activity::seeded(50, 10)
        .in_portals(&[portal])
        .of(&[ObjectType::CONTACTS]);
    assert!(h.activity(contacts).await > 0);
    h.deliveries_done().await;
    // 90 of 100 answered, app-wide, this minute: an evaluation now would fire.
    let minute = h.clock.now_ms() / 60_000;
    h.store
        .add_counts(
            &[WebhookCounts {
                scope: Scope::App,
                minute,
                attempts: 100,
                successes: 90,
                unavailable: 10,
                ..WebhookCounts::default()
            }],
            &[],
            &[],
        )
        .await
        .unwrap();
    let before = monitor_rows(&h.db).await;

    let admin = [
        "/monitor".to_owned(),
        format!("/portals/{portal}/monitor"),
        "/portals".to_owned(),
        format!("/portals/{portal}"),
        "/stats".to_owned(),
        "/dead-letters".to_owned(),
        "/quarantine".to_owned(),
    ];
    for path in &admin {
        h.monitor(path).await;
    }
    let session = dashboard_session(&h.spoke, TOKEN).await;
    for path in [
        "/dashboard".to_owned(),
        format!("/dashboard/portals/{portal}"),
    ] {
        let page = browser()
            .get(format!("{}{path}", h.spoke))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
    }

    assert_eq!(monitor_rows(&h.db).await, before, "a GET wrote");
    assert_eq!(h.monitor("/monitor").await["alerts"], json!([]));
    assert!(
        posted.lock().unwrap().is_empty(),
        "a GET announced an alert"
    );
}

/// Deliveries anyone could send (here forged) are counted apart: the rates leave them out,
/// and many of them in an hour raise the refusals alert alone.
#[tokio::test]
async fn forgeries_stay_out_of_the_rates_and_raise_only_the_refusals_alert() {
    let h = harness_with(
        Engine::Sqlite,
        "oauth crm.objects.contacts.read",
        |config| {
            config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
            monitor_often(config);
        },
    )
    .await;
    let forgeries = 12;
    for _ in 0..forgeries {
        let refused = reqwest::Client::new()
            .post(format!("{}/webhooks/hubspot", h.spoke))
            .header("X-HubSpot-Signature-v3", "bm90IGEgc2lnbmF0dXJl")
            .header("X-HubSpot-Request-Timestamp", h.clock.now_ms().to_string())
            .body(r#"[{"eventId":1,"portalId":62515,"subscriptionType":"contact.creation"}]"#)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let refusals = |r: &Value| {
        r["alerts"]
            .as_array()
            .and_then(|all| all.iter().find(|a| a["about"] == "refusals"))
            .cloned()
    };
    let report = h
        .monitor_once("/monitor", |r| {
            r["refused"]["1h"] == forgeries && refusals(r).is_some()
        })
        .await;
    assert_eq!(report["refused"]["24h"], forgeries, "{report}");
    assert_eq!(report["webhooks"]["24h"]["attempts"], 0, "not attempts");
    assert_eq!(report["webhooks"]["24h"]["rate"], Value::Null);
    let alert = refusals(&report).unwrap_or_else(|| panic!("a refusals alert: {report}"));
    assert_eq!(
        alert["level"], "warning",
        "strangers posting to an app HubSpot has not called today: {alert}"
    );
    assert_eq!(
        report["alerts"].as_array().unwrap().len(),
        1,
        "no rate alert: {report}"
    );
}
