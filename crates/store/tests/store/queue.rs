//! Work queue and record mirror conformance: every scenario runs on SQLite and PostgreSQL.

use rstest::rstest;
use spoke_store::testing::TestDb;
use spoke_store::{
    ClaimRequest, Engine, ErasedRecord, EventKey, Gone, GoneRecord, Install, MirroredRecord,
    NewEvent, ObjectId, PortalId, Replay, SetAside, Settlement, Store,
};

const T0: i64 = 1_764_000_000_000;
const LEASE: i64 = 60_000;

fn event(portal_id: i64, event_id: i64) -> NewEvent {
    NewEvent {
        key: EventKey {
            portal_id: PortalId(portal_id),
            subscription_id: 1,
            event_id,
            object_id: ObjectId(1_000 + event_id),
            occurred_at: T0,
        },
        subscription_type: "contact.creation".into(),
        app_id: None,
        attempt_number: 0,
        payload: format!(r#"{{"eventId":{event_id}}}"#),
        trace_context: None,
    }
}

async fn store_with(engine: Engine, events: Vec<NewEvent>) -> (TestDb, std::sync::Arc<dyn Store>) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store.append(&[events], T0).await.unwrap();
    (db, store)
}

fn request(holder: &str, now_ms: i64) -> ClaimRequest<'_> {
    ClaimRequest {
        holder,
        until_ms: now_ms + LEASE,
        now_ms,
        portals: 10,
        after_portal: None,
        per_portal: 5,
        round_events: u32::MAX,
    }
}

fn ids(claimed: &[spoke_store::Claimed]) -> Vec<i64> {
    claimed.iter().map(|c| c.id).collect()
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_claim_takes_a_few_from_every_portal_so_a_big_backlog_delays_no_one(
    #[case] engine: Engine,
) {
    let mut events: Vec<NewEvent> = (0..50).map(|i| event(1, i)).collect();
    events.extend([event(2, 100), event(2, 101)]);
    let (_db, store) = store_with(engine, events).await;

    let claimed = store.claim(&request("w1", T0)).await.unwrap();

    let per_portal = |portal: i64| {
        claimed
            .iter()
            .filter(|c| c.key.portal_id == PortalId(portal))
            .count()
    };
    assert_eq!((per_portal(1), per_portal(2)), (5, 2));
    let first = claimed
        .iter()
        .find(|c| c.key.portal_id == PortalId(1))
        .unwrap();
    assert_eq!(first.key.event_id, 0, "oldest first");
    assert_eq!(first.payload, r#"{"eventId":0}"#);

    let mut next = request("w1", T0);
    next.after_portal = Some(PortalId(1));
    next.portals = 1;
    let round_robin = store.claim(&next).await.unwrap();
    assert!(
        round_robin.is_empty(),
        "portal 2's events are all claimed: {round_robin:?}"
    );
    next.after_portal = Some(PortalId(2));
    let wrapped = store.claim(&next).await.unwrap();
    assert_eq!(wrapped.len(), 5, "wraps around to portal 1");
    assert!(wrapped.iter().all(|c| c.key.portal_id == PortalId(1)));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_crashed_workers_claims_expire_and_only_the_holder_finishes(#[case] engine: Engine) {
    let (_db, store) = store_with(engine, (0..3).map(|i| event(1, i)).collect()).await;
    let crashed = store.claim(&request("crashed", T0)).await.unwrap();
    assert_eq!(crashed.len(), 3);
    assert!(store
        .claim(&request("w2", T0 + 1))
        .await
        .unwrap()
        .is_empty());

    let taken = store.claim(&request("w2", T0 + LEASE)).await.unwrap();
    assert_eq!(ids(&taken), ids(&crashed), "expired claims are taken again");
    store
        .finish("crashed", &ids(&crashed), T0 + LEASE)
        .await
        .unwrap();
    assert_eq!(counts(store.as_ref()).await, [("pending".into(), 3)]);

    store.finish("w2", &ids(&taken), T0 + LEASE).await.unwrap();
    assert_eq!(counts(store.as_ref()).await, [("done".into(), 3)]);
    assert_eq!(store.backlog_count().await.unwrap(), 0);
}

async fn counts(store: &dyn Store) -> Vec<(String, i64)> {
    store.queue_counts().await.unwrap()
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_retry_waits_until_due_and_counts_only_failures(#[case] engine: Engine) {
    let (_db, store) = store_with(engine, vec![event(1, 0)]).await;
    let claimed = store.claim(&request("w", T0)).await.unwrap();

    store
        .retry("w", &ids(&claimed), T0 + 5_000, Some("HTTP 503"))
        .await
        .unwrap();
    assert!(store
        .claim(&request("w", T0 + 4_999))
        .await
        .unwrap()
        .is_empty());
    let again = store.claim(&request("w", T0 + 5_000)).await.unwrap();
    assert_eq!(again[0].attempts, 1);

    store
        .retry("w", &ids(&again), T0 + 6_000, None)
        .await
        .unwrap();
    let waited = store.claim(&request("w", T0 + 6_000)).await.unwrap();
    assert_eq!(waited[0].attempts, 1, "a rate-limit wait is no failure");
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn dead_letters_are_listed_with_their_reason_and_replay_once(#[case] engine: Engine) {
    let (_db, store) = store_with(engine, vec![event(1, 0), event(2, 1)]).await;
    let claimed = store.claim(&request("w", T0)).await.unwrap();
    store
        .set_aside(
            "w",
            &ids(&claimed),
            SetAside::Dead,
            "attempts used up",
            Some("HTTP 502"),
            T0,
        )
        .await
        .unwrap();

    let dead = store.dead_events(Some(PortalId(2)), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].reason.as_deref(), dead[0].last_error.as_deref()),
        (Some("attempts used up"), Some("HTTP 502"))
    );
    assert_eq!(
        store
            .replay_events(Replay::Portal(PortalId(2)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .replay_events(Replay::Portal(PortalId(2)))
            .await
            .unwrap(),
        0,
        "idempotent"
    );
    let other_portal = Replay::OneOf {
        id: claimed[0].id,
        portal: PortalId(claimed[0].key.portal_id.0 + 1),
    };
    assert_eq!(
        store.replay_events(other_portal).await.unwrap(),
        0,
        "not its portal"
    );
    assert_eq!(
        store
            .replay_events(Replay::One(claimed[0].id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.replay_events(Replay::All).await.unwrap(), 0);
    let replayed = store.claim(&request("w", T0)).await.unwrap();
    assert_eq!(replayed.len(), 2);
    assert!(replayed.iter().all(|c| c.attempts == 0));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_install_turns_its_quarantined_events_into_work(#[case] engine: Engine) {
    let (_db, store) = store_with(engine, vec![event(5, 0), event(6, 1)]).await;
    let claimed = store.claim(&request("w", T0)).await.unwrap();
    store
        .set_aside(
            "w",
            &ids(&claimed),
            SetAside::Quarantined,
            "portal not installed",
            None,
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .set_aside_events(SetAside::Quarantined, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.backlog_count().await.unwrap(),
        0,
        "one portal's quarantine never holds up the others' deliveries"
    );

    store.record_install(&install(5), "user", T0).await.unwrap();

    let released = store.claim(&request("w", T0)).await.unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].key.portal_id, PortalId(5));
    let still = store
        .set_aside_events(SetAside::Quarantined, None, 10)
        .await
        .unwrap();
    assert_eq!(
        still.iter().map(|e| e.portal_id).collect::<Vec<_>>(),
        [PortalId(6)]
    );
}

fn install(portal_id: i64) -> Install {
    spoke_store::testing::install(PortalId(portal_id))
}

#[tokio::test]
async fn concurrent_workers_on_postgres_never_claim_the_same_event() {
    let (db, _) = store_with(
        Engine::Postgres,
        (0..400).map(|i| event(i % 4, i)).collect(),
    )
    .await;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let url = db.url().to_owned();
            tokio::spawn(async move {
                let store = spoke_store::connect(
                    &secrecy::SecretString::from(url),
                    &spoke_store::ConnectOptions::default(),
                )
                .await
                .unwrap();
                let holder = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let mut ask = request(&holder, T0);
                    ask.per_portal = 7;
                    let claimed = store.claim(&ask).await.unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(ids(&claimed));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((claimed, all.len()), (400, 400), "each event claimed once");
}

async fn store_records(db: &TestDb, store: &dyn Store, records: Vec<MirroredRecord>) {
    let settlement = Settlement {
        records,
        ..Settlement::default()
    };
    db.settle_holding(store, "w", settlement, T0).await;
}

/// Contact `id` of portal 1 deleted as of `at_ms`.
async fn mark_gone(db: &TestDb, store: &dyn Store, id: i64, at_ms: i64) {
    let gone = GoneRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        object_id: ObjectId(id),
        gone: Gone::Deleted,
        at_ms,
        trace: None,
    };
    let settlement = Settlement {
        gone: vec![gone],
        ..Settlement::default()
    };
    db.settle_holding(store, "w", settlement, T0).await;
}

fn record(updated_at: i64, name: &str) -> MirroredRecord {
    MirroredRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        object_id: ObjectId(42),
        state: "live".into(),
        properties: format!(r#"{{"firstname":"{name}"}}"#),
        updated_at,
        fetched_at: T0,
        trace: None,
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn the_mirror_keeps_the_newest_version_and_marks_deletions(#[case] engine: Engine) {
    let (db, store) = store_with(engine, vec![]).await;
    store_records(&db, store.as_ref(), vec![record(T0 + 2, "new")]).await;
    store_records(&db, store.as_ref(), vec![record(T0 + 1, "late")]).await;
    let held = store
        .mirrored(PortalId(1), "contacts", ObjectId(42))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (held.properties.as_str(), held.state.as_str()),
        (r#"{"firstname":"new"}"#, "live"),
        "an older version never overwrites"
    );
    assert_eq!(
        store
            .last_modified(PortalId(1), "contacts", &[ObjectId(42), ObjectId(43)])
            .await
            .unwrap(),
        [(ObjectId(42), T0 + 2)].into_iter().collect()
    );

    mark_gone(&db, store.as_ref(), 42, T0 + 1).await;
    assert_eq!(
        store
            .mirrored(PortalId(1), "contacts", ObjectId(42))
            .await
            .unwrap()
            .unwrap()
            .state,
        "live",
        "a deletion older than the record does not count"
    );
    mark_gone(&db, store.as_ref(), 42, T0 + 3).await;
    let deleted = store
        .mirrored(PortalId(1), "contacts", ObjectId(42))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (deleted.state.as_str(), deleted.updated_at),
        ("deleted", T0 + 3)
    );
    assert_eq!(deleted.properties, "{}", "a tombstone keeps no properties");
    assert!(store
        .mirrored(PortalId(1), "contacts", ObjectId(7))
        .await
        .unwrap()
        .is_none());

    store.record_install(&install(1), "user", T0).await.unwrap();
    store.erase(PortalId(1), "operator", T0).await.unwrap();
    assert!(
        store
            .mirrored(PortalId(1), "contacts", ObjectId(42))
            .await
            .unwrap()
            .is_none(),
        "erase covers the mirror"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn erasing_a_record_leaves_no_copy_of_it(#[case] engine: Engine) {
    let mut change = event(1, 42);
    change.subscription_type = "contact.propertyChange".into();
    change.payload = r#"{"eventId":42,"propertyValue":"ada@example.com"}"#.into();
    let mut deal = event(1, 43);
    deal.key.object_id = ObjectId(1_042);
    deal.subscription_type = "deal.creation".into();
    // Generic events name their type by id: the contact's is emptied, the deal's kept.
    let generic = |event_id: i64, type_id: &str, email: &str| {
        let mut generic = event(1, event_id);
        generic.key.object_id = ObjectId(1_042);
        generic.subscription_type = "object.propertyChange".into();
        generic.payload = format!(
            r#"{{"eventId":{event_id},"objectTypeId":"{type_id}","propertyValue":"{email}"}}"#
        );
        generic
    };
    let events = vec![
        change,
        deal,
        generic(44, "0-1", "grace@example.com"),
        generic(45, "0-3", "deal@example.com"),
    ];
    let (db, store) = store_with(engine, events).await;
    let mut contact = record(T0, "Ada");
    contact.object_id = ObjectId(1_042);
    store_records(&db, store.as_ref(), vec![contact]).await;

    let erased = ErasedRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        singular: Some("contact".into()),
        type_id: "0-1".into(),
        object_id: ObjectId(1_042),
        trace: None,
    };
    let settlement = Settlement {
        erased: vec![erased],
        ..Settlement::default()
    };
    db.settle_holding(store.as_ref(), "w", settlement, T0).await;

    let tombstone = store
        .mirrored(PortalId(1), "contacts", ObjectId(1_042))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (tombstone.state.as_str(), tombstone.properties.as_str()),
        ("erased", "{}")
    );
    mark_gone(&db, store.as_ref(), 1_042, T0 + 9).await;
    store_records(&db, store.as_ref(), vec![contact_again()]).await;
    let after = store
        .mirrored(PortalId(1), "contacts", ObjectId(1_042))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.state.as_str(), after.properties.as_str()),
        ("erased", "{}"),
        "never deleted or restored after an erase"
    );
    let payloads = db.inbox_column("payload").await;
    assert!(
        !payloads
            .iter()
            .any(|p| p.contains("ada@example.com") || p.contains("grace@example.com")),
        "{payloads:?}"
    );
    assert!(payloads.iter().any(|p| p.contains("deal@example.com")));
    // Besides the four events the settling worker held, the contact's two pending events
    // are done and the deal's two untouched.
    assert_eq!(
        store.queue_counts().await.unwrap(),
        [("done".into(), 4 + 2), ("pending".into(), 2)],
    );
}

fn contact_again() -> MirroredRecord {
    let mut again = record(T0 + 10, "Ada");
    again.object_id = ObjectId(1_042);
    again
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn one_holder_at_a_time_hydrates_a_portal(#[case] engine: Engine) {
    let mut events: Vec<NewEvent> = (0..10).map(|i| event(1, i)).collect();
    events.push(event(2, 100));
    let (_db, store) = store_with(engine, events).await;
    let mut first = request("a", T0);
    first.portals = 1;
    let a = store.claim(&first).await.unwrap();
    assert!(a.iter().all(|c| c.key.portal_id == PortalId(1)));

    let b = store.claim(&request("b", T0 + 1)).await.unwrap();
    assert_eq!(
        b.iter().map(|c| c.key.portal_id).collect::<Vec<_>>(),
        [PortalId(2)],
        "portal 1 is a's until its lease lapses"
    );
    let renewed = store.claim(&request("a", T0 + 2)).await.unwrap();
    assert_eq!(renewed.len(), 5, "its holder takes more of portal 1");

    let after = store.claim(&request("b", T0 + 2 + LEASE)).await.unwrap();
    assert!(
        after.iter().any(|c| c.key.portal_id == PortalId(1)),
        "a lapsed lease passes on"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn pruning_removes_finished_events_and_keeps_what_needs_an_operator(#[case] engine: Engine) {
    let (_db, store) = store_with(engine, (0..7).map(|i| event(i, i)).collect()).await;
    // Portal 4 is installed (its quarantined event may yet be served); portal 6 never was.
    store.record_install(&install(4), "test", T0).await.unwrap();
    let claimed = ids(&store.claim(&request("w", T0)).await.unwrap());
    store.finish("w", &claimed[0..2], T0).await.unwrap();
    store
        .set_aside(
            "w",
            &claimed[2..3],
            SetAside::Unhandled,
            "not hydrated",
            None,
            T0,
        )
        .await
        .unwrap();
    store
        .set_aside(
            "w",
            &claimed[3..4],
            SetAside::Dead,
            "failed",
            Some("503"),
            T0,
        )
        .await
        .unwrap();
    store
        .set_aside(
            "w",
            &claimed[4..5],
            SetAside::Quarantined,
            "not installed",
            None,
            T0,
        )
        .await
        .unwrap();
    store.finish("w", &claimed[5..6], T0 + 10).await.unwrap();
    store
        .set_aside(
            "w",
            &claimed[6..7],
            SetAside::Quarantined,
            "not installed",
            None,
            T0,
        )
        .await
        .unwrap();

    // Received after the cut: kept, although done.
    store.append(&[vec![event(7, 7)]], T0 + 10).await.unwrap();
    let late = ids(&store.claim(&request("w", T0 + 10)).await.unwrap());
    store.finish("w", &late, T0 + 10).await.unwrap();

    // Done events go by when they were received (the one finished late too), set-aside
    // ones by when they were set aside.
    assert_eq!(
        store.prune_finished(T0 + 1, 2).await.unwrap(),
        2,
        "a batch at a time"
    );
    assert_eq!(store.prune_finished(T0 + 1, 2).await.unwrap(), 2);
    assert_eq!(store.prune_finished(T0 + 1, 2).await.unwrap(), 1);
    assert_eq!(store.prune_finished(T0 + 1, 2).await.unwrap(), 0);
    assert_eq!(
        store.queue_counts().await.unwrap(),
        [
            ("dead".into(), 1),
            ("done".into(), 1),
            ("quarantined".into(), 1)
        ],
        "dead letters, an installed portal's quarantine and the recent stay"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_round_is_shared_among_the_portals_with_work(#[case] engine: Engine) {
    let mut events: Vec<NewEvent> = (0..20).map(|i| event(1, i)).collect();
    events.extend((20..40).map(|i| event(2, i)));
    let (_db, store) = store_with(engine, events).await;
    let mut ask = request("w", T0);
    ask.per_portal = 100;
    ask.round_events = 12;
    let shared = store.claim(&ask).await.unwrap();
    let of = |portal: i64| {
        shared
            .iter()
            .filter(|c| c.key.portal_id == PortalId(portal))
            .count()
    };
    assert_eq!((of(1), of(2)), (6, 6), "two portals share the round");

    let mut alone = request("w", T0);
    alone.portals = 1;
    alone.per_portal = 100;
    alone.round_events = 12;
    assert_eq!(
        store.claim(&alone).await.unwrap().len(),
        12,
        "one portal gets it all"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn the_worker_gets_the_trace_context_each_event_was_received_in(#[case] engine: Engine) {
    let receipt = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = NewEvent {
        trace_context: Some(receipt.into()),
        ..event(1, 1)
    };
    let (_db, store) = store_with(engine, vec![traced, event(1, 2)]).await;

    let claimed = store.claim(&request("w", T0)).await.unwrap();
    let traces: Vec<Option<&str>> = claimed.iter().map(|c| c.trace_context.as_deref()).collect();
    assert_eq!(traces, [Some(receipt), None]);
}

/// A round in flight when its portal was erased writes nothing of it afterwards, and
/// monitor counts gathered before the erase do not bring its statistics back; installing
/// again starts afresh.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn after_an_erase_nothing_in_flight_brings_the_portal_back(#[case] engine: Engine) {
    use spoke_store::{Scope, WebhookCounts};

    let (db, store) = store_with(engine, vec![event(5, 0)]).await;
    store.record_install(&install(5), "test", T0).await.unwrap();
    let claimed = store.claim(&request("w", T0)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    store.erase(PortalId(5), "operator", T0 + 1).await.unwrap();

    let mut contact = record(T0, "Ada");
    contact.portal_id = PortalId(5);
    let late_round = Settlement {
        finished: ids(&claimed),
        records: vec![contact],
        sinks: vec!["http".into()],
        ..Settlement::default()
    };
    store.settle("w", &late_round, T0 + 2).await.unwrap();
    let deliveries = |portal: Scope| WebhookCounts {
        scope: portal,
        minute: 100,
        attempts: 3,
        successes: 3,
        ..WebhookCounts::default()
    };
    let counts = [
        deliveries(Scope::Portal(PortalId(5))),
        deliveries(Scope::App),
    ];
    let flush = || store.add_counts(&counts, &[], &[]);
    flush().await.unwrap();

    for table in [
        "records",
        "sink_deliveries",
        "inbox_events",
        "inbox_queue",
        "webhook_minutes",
    ] {
        let left = db
            .number(&format!("SELECT count(*) FROM {table} WHERE portal_id = 5"))
            .await;
        assert_eq!(left, 0, "{table} holds nothing of the erased portal");
    }
    let app = store.webhook_totals(Scope::App, 0).await.unwrap();
    assert_eq!(app.attempts, 3, "the app's counts still count");

    store
        .record_install(&install(5), "test", T0 + 3)
        .await
        .unwrap();
    flush().await.unwrap();
    let portal = store
        .webhook_totals(Scope::Portal(PortalId(5)), 0)
        .await
        .unwrap();
    assert_eq!(portal.attempts, 3, "an install starts afresh");
}

/// A round settling after its portal was uninstalled writes no fetched record, but still
/// applies a privacy deletion: the portal's data is still here, and it is owed.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn after_an_uninstall_only_privacy_deletions_are_written(#[case] engine: Engine) {
    let (_db, store) = store_with(engine, vec![event(8, 0)]).await;
    store.record_install(&install(8), "test", T0).await.unwrap();
    let claimed = store.claim(&request("w", T0)).await.unwrap();
    store
        .record_uninstall(PortalId(8), "hubspot", T0 + 1)
        .await
        .unwrap();
    let mut fetched = record(T0, "Ada");
    fetched.portal_id = PortalId(8);
    let erased = ErasedRecord {
        portal_id: PortalId(8),
        object_type: "contacts".into(),
        singular: Some("contact".into()),
        type_id: "0-1".into(),
        object_id: ObjectId(7),
        trace: None,
    };
    let late_round = Settlement {
        finished: ids(&claimed),
        records: vec![fetched],
        erased: vec![erased],
        ..Settlement::default()
    };
    store.settle("w", &late_round, T0 + 2).await.unwrap();
    let mirrored = |id| store.mirrored(PortalId(8), "contacts", ObjectId(id));
    assert!(mirrored(42).await.unwrap().is_none(), "no fetched record");
    assert_eq!(
        mirrored(7).await.unwrap().map(|r| r.state),
        Some("erased".to_owned())
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_event_stored_by_the_previous_release_is_queued_too(#[case] engine: Engine) {
    // A receiver of the release before the queue, during a rolling upgrade, stores events
    // with a plain insert and knows nothing of `inbox_queue`.
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    db.execute(
        "INSERT INTO inbox_events (portal_id, subscription_id, event_id, object_id, \
         occurred_at, subscription_type, attempt_number, payload) \
         VALUES (3, 1, 1, 7, 1, 'contact.creation', 0, '{}')",
    )
    .await;
    let claimed = store.claim(&request("w", T0)).await.unwrap();
    assert_eq!(claimed.len(), 1, "hydrated like any other");
    assert_eq!(claimed[0].key.object_id, ObjectId(7));
}

/// PostgreSQL only: SQLite keeps no planner statistics unless asked. A burst fills the queue
/// long before autovacuum's next look (once a minute); the store analyzes it itself, so
/// the queue's statements are planned for what it holds.
#[tokio::test]
async fn a_burst_into_the_queue_gets_it_analyzed_within_seconds() {
    let db = TestDb::new(Engine::Postgres).await;
    let store = db.store().await;
    // Autovacuum's analyze would reset what this store looks at: it is off for this
    // table, so the store alone can analyze it.
    db.execute("ALTER TABLE inbox_queue SET (autovacuum_enabled = false)")
        .await;
    let events: Vec<NewEvent> = (0..5_000).map(|i| event(1 + i % 50, i)).collect();
    store.append(&[events], T0).await.unwrap();
    let analyzed = "SELECT analyze_count FROM pg_stat_user_tables \
        WHERE relid = to_regclass('inbox_queue')";
    for _ in 0..300 {
        if db.number(analyzed).await > 0 {
            let counted = "SELECT reltuples::bigint FROM pg_class \
                WHERE oid = to_regclass('inbox_queue')";
            assert_eq!(db.number(counted).await, 5_000);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("inbox_queue was not analyzed within 30 s of the burst");
}
