//! Checklist items for hydration against the real binary: no event a worker took is lost
//! when the worker is killed mid-batch (its claims lapse and another process takes them,
//! and the NATS sink holds each change once); two worker processes on one PostgreSQL
//! hydrate each event once and keep each portal's rate limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use hubspot::crm::ObjectType;
use rstest::rstest;
use serde_json::{json, Value};
use server::oauth::vault::Keyring;
use sim::admin::Activity;
use sim::dispatcher::Target;
use sim::RunningSim;
use spoke_store::testing::TestDb;
use spoke_store::{Engine, Store};

use crate::otlp::{self, Collector};
use crate::support::*;

/// How long a claim lasts in these tests, so a restarted spoke need not wait two minutes.
const CLAIM_SECONDS: &str = "2";
const NATS: &str = "nats://127.0.0.1:4222";
const HYDRATED: [ObjectType; 2] = [ObjectType::CONTACTS, ObjectType::DEALS];

async fn queue(store: &dyn Store) -> Vec<(String, i64)> {
    store.queue_counts().await.unwrap()
}

fn count(counts: &[(String, i64)], state: &str) -> i64 {
    counts
        .iter()
        .find(|(s, _)| s == state)
        .map_or(0, |(_, n)| *n)
}

/// The simulator, and the settings that point spoke at it and at a NATS stream of the
/// test's own.
struct Rig {
    sim: RunningSim,
    settings: Vec<(&'static str, String)>,
    stream: String,
}

impl Rig {
    async fn start(portals: u32, records: u32) -> Self {
        let mut settings = app_settings(portals);
        settings.records = records;
        settings.webhook_target_url = Some(public_webhook_url());
        let sim = start_sim(settings).await;
        let unique = uuid_like();
        let hubspot = sim.base_url();
        let settings = vec![
            ("SPOKE_HUBSPOT_CLIENT_ID", "checklist-app".to_owned()),
            ("SPOKE_HUBSPOT_API_BASE", hubspot.clone()),
            ("SPOKE_HUBSPOT_AUTH_BASE", hubspot),
            (
                "SPOKE_HUBSPOT_SCOPES",
                "oauth crm.objects.contacts.read crm.objects.deals.read".to_owned(),
            ),
            ("SPOKE_TOKEN_KEYS", Keyring::generate_entry("k1")),
            ("SPOKE_HYDRATOR_CLAIM_SECONDS", CLAIM_SECONDS.to_owned()),
            ("SPOKE_NATS_URL", NATS.to_owned()),
            ("SPOKE_NATS_SUBJECT", format!("checklist.{unique}")),
            ("SPOKE_NATS_STREAM", format!("CHECKLIST_{unique}")),
        ];
        Self {
            sim,
            settings,
            stream: format!("CHECKLIST_{unique}"),
        }
    }

    /// spoke on `db` with these settings and `role`.
    async fn spoke(&self, db: &TestDb, role: &str) -> Spoke {
        self.spoke_with(db, role, &[]).await
    }

    async fn spoke_with(&self, db: &TestDb, role: &str, extra: &[(&str, &str)]) -> Spoke {
        let mut settings: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        settings.push(("SPOKE_ROLE", role));
        settings.extend_from_slice(extra);
        Spoke::start(db.url(), &settings).await
    }

    /// The simulator delivers its webhooks to `spoke`.
    async fn deliver_to(&self, spoke: &Spoke) {
        self.deliver_via(&spoke.url("")).await;
    }

    /// The simulator delivers its webhooks to `base` (a spoke, or a load balancer).
    async fn deliver_via(&self, base: &str) {
        let target = Target {
            target_url: Some(public_webhook_url()),
            deliver_to: Some(base.to_owned()),
            max_concurrent: 10,
        };
        self.sim.client().set_target(&target).await.unwrap();
    }

    /// Random record changes chosen by `seed`; how many events they send.
    async fn activity(&self, seed: u64, changes: u32) -> i64 {
        self.activity_of(Activity::seeded(seed, changes)).await
    }

    async fn activity_of(&self, activity: Activity) -> i64 {
        let answer = self.sim.client().activity(&activity).await.unwrap();
        answer.events as i64
    }

    async fn crm_ledger(&self) -> Value {
        self.sim.client().crm_ledger().await.unwrap()
    }

    /// Waits (up to `within`) until the inbox holds `events` and none is pending; then
    /// every one finished, none dead or quarantined, the mirror holds each record's latest
    /// version and JetStream each change once.
    async fn assert_every_event_hydrated_once(
        &self,
        db: &TestDb,
        store: &dyn Store,
        events: i64,
        within: Duration,
    ) {
        let started = Instant::now();
        loop {
            let counts = queue(store).await;
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            if total == events && count(&counts, "pending") == 0 {
                break;
            }
            assert!(
                started.elapsed() < within,
                "the workers never finished: {counts:?} of {events}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let counts = queue(store).await;
        assert_eq!(
            count(&counts, "done") + count(&counts, "unhandled"),
            events,
            "{counts:?}"
        );
        self.assert_mirror_is_latest(db, store).await;
        self.assert_each_change_in_the_stream_once(db, store).await;
    }

    /// Every hydrated event's record in the mirror is the simulator's latest version.
    async fn assert_mirror_is_latest(&self, db: &TestDb, store: &dyn Store) {
        let mut checked = 0;
        for key in db.inbox_keys().await {
            let Some(object) = HYDRATED.into_iter().find(|o| {
                sim::objects::Simulated::id_base(*o) / 10_000_000_000
                    == key.object_id.0 / 10_000_000_000
            }) else {
                continue;
            };
            let truth = self
                .sim
                .sim
                .world(|w| w.record(key.portal_id.0, object, key.object_id.0))
                .expect("the simulator has it");
            let held = store
                .mirrored(key.portal_id, &object.path_name(), key.object_id)
                .await
                .unwrap()
                .expect("mirrored");
            assert_eq!(held.updated_at, truth.updated_at, "the latest version");
            checked += 1;
        }
        assert!(checked > 0);
    }

    /// JetStream holds each change the mirror accepted exactly once, by message id, and
    /// spoke queued each change once (a change fetched twice would be queued twice).
    async fn assert_each_change_in_the_stream_once(&self, db: &TestDb, store: &dyn Store) {
        let started = Instant::now();
        while store
            .delivery_counts()
            .await
            .unwrap()
            .iter()
            .any(|c| c.state != "done")
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "sink deliveries never finished: {:?}",
                store.delivery_counts().await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let queued = db.number("SELECT count(*) FROM sink_deliveries").await;
        let changes = db
            .number(
                "SELECT count(*) FROM (SELECT DISTINCT portal_id, object_type, object_id, \
                 version, record_state FROM sink_deliveries) AS c",
            )
            .await;
        assert!(queued > 0);
        assert_eq!(queued, changes, "no change was hydrated twice");
        let js = jetstream::new(async_nats::connect(NATS).await.unwrap());
        let mut stream = js.get_stream(&self.stream).await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().state.messages,
            changes as u64,
            "each change once in the stream, redeliveries dropped"
        );
        js.delete_stream(&self.stream).await.unwrap();
    }
}

/// A name part no other run uses.
fn uuid_like() -> String {
    format!("{}{}", std::process::id(), next_event_id())
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_worker_killed_mid_batch_loses_nothing_and_its_claims_are_taken_again(
    #[case] engine: Engine,
) {
    let db = TestDb::new(engine).await;
    let rig = Rig::start(1, 50).await;
    let spoke = rig.spoke(&db, "all").await;
    let portal = rig.sim.sim.world(|w| w.portal_ids().next().unwrap());
    install_through_oauth(&spoke, &rig.sim.base_url(), portal).await;
    rig.deliver_to(&spoke).await;
    // Every CRM read takes a while, so the kill lands while a batch is held.
    let faults = rig.sim.client();
    faults
        .set_faults(&json!({ "latencyMs": 1_500 }))
        .await
        .unwrap();
    let events = rig.activity(1, 200).await;

    let store = db.store().await;
    let started = Instant::now();
    loop {
        let claimed = db
            .event_column("CASE WHEN claimed_by IS NULL THEN '' ELSE state END")
            .await;
        let total: i64 = queue(store.as_ref()).await.iter().map(|(_, n)| n).sum();
        if total == events && claimed.iter().any(|s| s == "pending") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing was claimed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    spoke.kill_9().await;
    assert!(
        count(&queue(store.as_ref()).await, "pending") > 0,
        "killed mid-batch"
    );

    faults.set_faults(&json!({})).await.unwrap();
    let _restarted = rig.spoke(&db, "all").await;
    let started = Instant::now();
    while count(&queue(store.as_ref()).await, "pending") > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the killed worker's events were not taken again: {:?}",
            queue(store.as_ref()).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let counts = queue(store.as_ref()).await;
    assert_eq!(
        count(&counts, "done") + count(&counts, "unhandled"),
        events,
        "every event finished, none dead or quarantined: {counts:?}"
    );
    rig.assert_mirror_is_latest(&db, store.as_ref()).await;
    rig.assert_each_change_in_the_stream_once(&db, store.as_ref())
        .await;
}

/// Calls per portal per 10 s for the two workers: low enough that both calling for one
/// portal would show in the ledger.
const LIMIT: &str = "3";

#[tokio::test]
async fn two_worker_processes_on_one_postgres_hydrate_each_event_once_within_each_limit() {
    let db = TestDb::new(Engine::Postgres).await;
    let rig = Rig::start(4, 300).await;
    let receiver = rig.spoke(&db, "receiver").await;
    let portals: Vec<i64> = rig.sim.sim.world(|w| w.portal_ids().collect());
    for portal in &portals {
        install_through_oauth(&receiver, &rig.sim.base_url(), *portal).await;
    }
    rig.deliver_to(&receiver).await;
    // Contacts and deals only: at 3 calls per 10 s, the types the contacts scope also
    // reads (engagements, each with a property listing and reads of its own) would take
    // minutes.
    let hydrated = [ObjectType::CONTACTS, ObjectType::DEALS];
    let mut events = rig
        .activity_of(Activity::seeded(2, 3_000).of(&hydrated))
        .await;
    // A portal's calls stay within one worker's limiter only while a lease outlasts two
    // rate-limit windows: a round starts no call after half its lease, so the next
    // holder's first call comes a whole window after the last one's (README, "Roles").
    let limit = [
        ("SPOKE_HYDRATOR_RATE_LIMIT", LIMIT),
        ("SPOKE_HYDRATOR_CLAIM_SECONDS", "20"),
    ];
    let workers = [
        rig.spoke_with(&db, "worker", &limit).await,
        rig.spoke_with(&db, "worker", &limit).await,
    ];
    events += rig
        .activity_of(Activity::seeded(3, 3_000).of(&hydrated))
        .await;

    let store = db.store().await;
    rig.assert_every_event_hydrated_once(&db, store.as_ref(), events, Duration::from_secs(90))
        .await;
    let ledger = rig.crm_ledger().await;
    for portal in &portals {
        let calls = &ledger["portals"][portal.to_string()];
        assert_eq!(calls["rateLimited"], 0, "{ledger}");
        // Batch reads for events, list calls for the install's backfill.
        let made = |class: &str| calls["calls"][class]["200"].as_u64().unwrap_or(0);
        assert!(
            made("batchRead") + made("list") > 3,
            "more calls than one window allows: {ledger}"
        );
        assert!(
            calls["maxInWindow"].as_u64().unwrap() <= LIMIT.parse().unwrap(),
            "spoke's own limit held across both workers: {ledger}"
        );
    }
    drop(workers);
}

/// A spoke's count of deliveries it answered `2xx` in time, from its `/metrics`.
async fn deliveries_answered(spoke: &Spoke) -> u64 {
    let metrics = reqwest::get(spoke.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find(|l| l.starts_with("spoke_webhook_deliveries_total{outcome=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Deploy (issue 12), the production shape without containers: two receivers behind a
/// round-robin balancer and two workers on one PostgreSQL, the simulator streaming to the
/// balancer; one worker is killed mid-stream and started again. Every event is hydrated
/// once, JetStream holds each change once, and no portal saw more calls in a window than
/// spoke allows itself.
#[tokio::test]
async fn two_receivers_and_two_workers_on_one_postgres_lose_nothing_when_a_worker_restarts() {
    let db = TestDb::new(Engine::Postgres).await;
    let rig = Rig::start(4, 300).await;
    let receivers = [
        rig.spoke(&db, "receiver").await,
        rig.spoke(&db, "receiver").await,
    ];
    let balancer = Proxy::balancing(receivers.iter().map(|r| r.addr).collect()).await;
    let portals: Vec<i64> = rig.sim.sim.world(|w| w.portal_ids().collect());
    for (i, portal) in portals.iter().enumerate() {
        install_through_oauth(&receivers[i % 2], &rig.sim.base_url(), *portal).await;
    }
    rig.deliver_via(&format!("http://{}", balancer.addr)).await;
    // A portal's calls stay within one worker's limiter only while a lease outlasts two
    // rate-limit windows: a round starts no call after half its lease, so the next
    // holder's first call comes a whole window after the last one's (README, "Roles").
    let limit = [
        ("SPOKE_HYDRATOR_RATE_LIMIT", LIMIT),
        ("SPOKE_HYDRATOR_CLAIM_SECONDS", "20"),
    ];
    let mut workers = vec![
        rig.spoke_with(&db, "worker", &limit).await,
        rig.spoke_with(&db, "worker", &limit).await,
    ];
    // Contacts and deals only, as in the test above (3 calls per 10 s).
    let hydrated = [ObjectType::CONTACTS, ObjectType::DEALS];
    let mut events = rig
        .activity_of(Activity::seeded(4, 2_000).of(&hydrated))
        .await;

    let store = db.store().await;
    let started = Instant::now();
    while count(&queue(store.as_ref()).await, "done") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing hydrated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers.remove(0).kill_9().await;
    events += rig
        .activity_of(Activity::seeded(5, 2_000).of(&hydrated))
        .await;
    workers.push(rig.spoke_with(&db, "worker", &limit).await);

    rig.assert_every_event_hydrated_once(&db, store.as_ref(), events, Duration::from_secs(120))
        .await;
    let ledger = rig.crm_ledger().await;
    for portal in &portals {
        let calls = &ledger["portals"][portal.to_string()];
        assert_eq!(calls["rateLimited"], 0, "{ledger}");
        assert!(
            calls["maxInWindow"].as_u64().unwrap() <= LIMIT.parse().unwrap(),
            "spoke's own limit held across the workers and the restart: {ledger}"
        );
    }
    for receiver in &receivers {
        assert!(
            deliveries_answered(receiver).await > 0,
            "the balancer spread deliveries over both receivers"
        );
    }
}

/// A sink endpoint that takes every delivery and keeps the `traceparent` each came with.
async fn traced_http_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/changes",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let keep = keep.clone();
            async move {
                let traceparent = headers.get("traceparent").map(|v| v.to_str().unwrap());
                keep.lock()
                    .unwrap()
                    .push(traceparent.unwrap_or("").to_owned());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/changes", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Traces (issue: certification monitor): one trace per delivery from its receipt through
/// the inbox to the CRM call that hydrated its events and each sink's delivery, exported
/// over OTLP, every span naming its portal.
#[tokio::test]
async fn each_change_is_one_trace_from_receipt_to_the_crm_call_and_every_sink() {
    let db = TestDb::new(Engine::Sqlite).await;
    let rig = Rig::start(1, 50).await;
    let collector = Collector::start().await;
    let (sink_url, sink_traces) = traced_http_sink().await;
    let traced = [
        ("SPOKE_OTLP_ENDPOINT", collector.endpoint.as_str()),
        ("SPOKE_SINK_HTTP_URL", sink_url.as_str()),
        (
            "SPOKE_SINK_HTTP_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
    ];
    let spoke = rig.spoke_with(&db, "all", &traced).await;
    let portal = rig.sim.sim.world(|w| w.portal_ids().next().unwrap());
    install_through_oauth(&spoke, &rig.sim.base_url(), portal).await;
    rig.deliver_to(&spoke).await;
    let events = rig.activity(6, 20).await;

    let store = db.store().await;
    let started = Instant::now();
    loop {
        let counts = queue(store.as_ref()).await;
        let settled: i64 = counts.iter().map(|(_, n)| n).sum();
        let deliveries = store.delivery_counts().await.unwrap();
        if settled == events
            && count(&counts, "pending") == 0
            && !deliveries.is_empty()
            && deliveries.iter().all(|c| c.state == "done")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not hydrated and delivered: {counts:?} {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = db.number("SELECT count(*) FROM sink_deliveries").await;
    assert!(
        spoke.terminate().await.success(),
        "a clean shutdown sends what is buffered"
    );

    let spans = collector.spans();
    let by_id: std::collections::HashMap<&str, &otlp::Span> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let named = |name: &'static str| spans.iter().filter(move |s| s.name == name);
    let parent = |span: &otlp::Span| -> &otlp::Span {
        let parent = by_id
            .get(span.parent_span_id.as_str())
            .unwrap_or_else(|| panic!("{}'s parent was exported: {span:?}", span.name));
        assert_eq!(parent.trace_id, span.trace_id, "one trace: {span:?}");
        parent
    };
    for span in &spans {
        assert_eq!(span.int("portal_id"), Some(portal), "portal on {span:?}");
    }
    for receipt in named("webhook.receive") {
        assert!(
            receipt.parent_span_id.is_empty(),
            "a receipt starts its trace"
        );
        assert_eq!(receipt.int("http.status_code"), Some(200), "{receipt:?}");
    }
    assert!(named("hydrate").count() > 0, "{spans:#?}");
    for read in named("hydrate") {
        assert_eq!(parent(read).name, "webhook.receive");
    }
    assert!(named("crm.batch_read").count() > 0);
    for call in named("crm.batch_read") {
        assert_eq!(parent(call).name, "hydrate");
        assert_eq!(call.int("http.status_code"), Some(200));
    }
    for call in named("crm.list") {
        assert_eq!(parent(call).name, "backfill.page");
    }
    let deliveries: Vec<&otlp::Span> = named("sink.deliver").collect();
    assert_eq!(deliveries.len() as i64, delivered, "one span per delivery");
    for sink in ["http", "nats"] {
        assert!(
            deliveries.iter().any(|d| d.text("sink") == Some(sink)),
            "{sink}"
        );
    }
    for delivery in &deliveries {
        // A fetched record continues its read's trace; a deletion, its receipt's; a
        // record the install's backfill read, its page's.
        let from = parent(delivery);
        assert!(
            ["hydrate", "webhook.receive", "backfill.page"].contains(&from.name.as_str()),
            "{from:?}"
        );
    }
    // The HTTP sink's receiver was told the trace: each request names its delivery's span.
    for traceparent in sink_traces.lock().unwrap().iter() {
        let span_id = traceparent.split('-').nth(2).expect("a traceparent");
        let span = by_id.get(span_id).expect("the delivery's span");
        assert_eq!(
            (span.name.as_str(), span.text("sink")),
            ("sink.deliver", Some("http"))
        );
    }
}
