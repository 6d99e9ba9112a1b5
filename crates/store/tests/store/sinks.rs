//! Sink queue conformance: every scenario runs on SQLite and PostgreSQL.

use std::sync::Arc;

use rstest::rstest;
use spoke_store::testing::TestDb;
use spoke_store::{
    DeadDeliveries, Delivery, DeliveryClaim, DeliveryOutcome, Engine, ErasedRecord, Gone,
    GoneRecord, MirroredRecord, ObjectId, PortalId, Replay, Retry, Settlement, Store,
};

const T0: i64 = 1_764_000_000_000;
const LEASE: i64 = 60_000;
const SINKS: [&str; 2] = ["http", "nats"];

fn record(object_id: i64, updated_at: i64, name: &str) -> MirroredRecord {
    MirroredRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        object_id: ObjectId(object_id),
        state: "live".into(),
        properties: format!(r#"{{"firstname":"{name}"}}"#),
        updated_at,
        fetched_at: T0,
        trace: None,
    }
}

/// Settles `records` and `gone` with both sinks configured.
async fn settle(
    db: &TestDb,
    store: &dyn Store,
    records: Vec<MirroredRecord>,
    gone: Vec<GoneRecord>,
) {
    let settlement = Settlement {
        records,
        gone,
        sinks: SINKS.map(String::from).to_vec(),
        ..Settlement::default()
    };
    db.settle_holding(store, "hydrator", settlement, T0).await;
}

async fn empty_store(engine: Engine) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    (db, store)
}

async fn claim(store: &dyn Store, sink: &str, holder: &str, now_ms: i64) -> Vec<Delivery> {
    store
        .claim_deliveries(&DeliveryClaim {
            sink,
            holder,
            until_ms: now_ms + LEASE,
            now_ms,
            limit: 100,
        })
        .await
        .unwrap()
}

fn versions(deliveries: &[Delivery]) -> Vec<(i64, i64)> {
    deliveries
        .iter()
        .map(|d| (d.object_id.0, d.version))
        .collect()
}

fn ids(deliveries: &[Delivery]) -> Vec<i64> {
    deliveries.iter().map(|d| d.id).collect()
}

async fn deliver(store: &dyn Store, holder: &str, deliveries: &[Delivery]) {
    let outcome = DeliveryOutcome {
        delivered: ids(deliveries),
        ..DeliveryOutcome::default()
    };
    store.settle_deliveries(holder, &outcome, T0).await.unwrap();
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn each_accepted_change_is_queued_once_per_sink_and_a_stale_one_not_at_all(
    #[case] engine: Engine,
) {
    let (db, store) = empty_store(engine).await;
    settle(&db, store.as_ref(), vec![record(42, T0 + 5, "Ada")], vec![]).await;
    // Older than what the mirror holds: the mirror refuses it, so no sink sees it.
    settle(&db, store.as_ref(), vec![record(42, T0 + 1, "Old")], vec![]).await;

    for sink in SINKS {
        let claimed = claim(store.as_ref(), sink, "d", T0).await;
        assert_eq!(versions(&claimed), [(42, T0 + 5)], "{sink}");
        assert_eq!(claimed[0].record_state, "live");
        assert!(claimed[0].properties.contains("Ada"));
    }
    // Without sinks nothing is queued.
    let plain = Settlement {
        records: vec![record(7, T0 + 5, "Grace")],
        ..Settlement::default()
    };
    db.settle_holding(store.as_ref(), "hydrator", plain, T0)
        .await;
    assert!(claim(store.as_ref(), "http", "e", T0).await.is_empty());
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_sink_sees_one_objects_changes_in_order_and_another_sink_is_not_held_up(
    #[case] engine: Engine,
) {
    let (db, store) = empty_store(engine).await;
    settle(&db, store.as_ref(), vec![record(42, T0 + 1, "Ada")], vec![]).await;
    let deletion = GoneRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        object_id: ObjectId(42),
        gone: Gone::Deleted,
        at_ms: T0 + 2,
        trace: None,
    };
    settle(
        &db,
        store.as_ref(),
        vec![record(7, T0 + 1, "Grace")],
        vec![deletion],
    )
    .await;

    // One object's older change is pending: its newer one waits; other objects go.
    let first = claim(store.as_ref(), "http", "d", T0).await;
    assert_eq!(versions(&first), [(42, T0 + 1), (7, T0 + 1)]);
    assert!(claim(store.as_ref(), "http", "d2", T0).await.is_empty());

    // A failed attempt keeps the order: the deletion still waits behind its retry.
    let retry = Retry {
        ids: vec![first[0].id],
        due_ms: T0 + 1_000,
        error: Some("503 from the endpoint".into()),
    };
    let outcome = DeliveryOutcome {
        delivered: vec![first[1].id],
        retries: vec![retry],
        ..DeliveryOutcome::default()
    };
    store.settle_deliveries("d", &outcome, T0).await.unwrap();
    assert!(claim(store.as_ref(), "http", "d", T0 + 999)
        .await
        .is_empty());
    let again = claim(store.as_ref(), "http", "d", T0 + 1_000).await;
    assert_eq!(
        (versions(&again), again[0].attempts),
        (vec![(42, T0 + 1)], 1)
    );
    deliver(store.as_ref(), "d", &again).await;
    let last = claim(store.as_ref(), "http", "d", T0 + 1_000).await;
    assert_eq!(versions(&last), [(42, T0 + 2)]);
    assert_eq!(last[0].record_state, "deleted");

    // The other sink was never held up by the first one's failure.
    let nats = claim(store.as_ref(), "nats", "n", T0).await;
    assert_eq!(versions(&nats), [(42, T0 + 1), (7, T0 + 1)]);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_crashed_dispatchers_claims_lapse_and_only_the_holder_settles(#[case] engine: Engine) {
    let (db, store) = empty_store(engine).await;
    settle(&db, store.as_ref(), vec![record(42, T0 + 1, "Ada")], vec![]).await;
    let taken = claim(store.as_ref(), "http", "crashed", T0).await;
    assert_eq!(taken.len(), 1);
    assert!(claim(store.as_ref(), "http", "other", T0 + LEASE - 1)
        .await
        .is_empty());

    let retaken = claim(store.as_ref(), "http", "other", T0 + LEASE).await;
    assert_eq!(
        ids(&retaken),
        ids(&taken),
        "the same row, so the same message id"
    );
    deliver(store.as_ref(), "crashed", &taken).await;
    let counts = store.delivery_counts().await.unwrap();
    assert!(
        counts.iter().all(|c| c.state == "pending"),
        "a lapsed holder settles nothing: {counts:?}"
    );
    deliver(store.as_ref(), "other", &retaken).await;
    let http: Vec<(String, i64)> = store
        .delivery_counts()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.sink == "http")
        .map(|c| (c.state, c.count))
        .collect();
    assert_eq!(http, [("done".to_owned(), 1)]);
}

/// Claims the HTTP sink's due deliveries and makes them dead letters; what was claimed.
async fn kill_http_delivery(store: &dyn Store) -> Vec<Delivery> {
    let taken = claim(store, "http", "d", T0).await;
    let outcome = DeliveryOutcome {
        dead: vec![DeadDeliveries {
            ids: ids(&taken),
            error: "the endpoint answered 500".into(),
        }],
        ..DeliveryOutcome::default()
    };
    store.settle_deliveries("d", &outcome, T0).await.unwrap();
    taken
}

/// A dead letter replayed after a newer version of its record went out is superseded, not
/// sent last; reading the same version again queues nothing twice.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_replayed_dead_letter_never_goes_out_stale(#[case] engine: Engine) {
    let (db, store) = empty_store(engine).await;
    settle(&db, store.as_ref(), vec![record(42, T0 + 1, "Ada")], vec![]).await;
    kill_http_delivery(store.as_ref()).await;
    settle(
        &db,
        store.as_ref(),
        vec![record(42, T0 + 2, "Ada L.")],
        vec![],
    )
    .await;
    let newer = claim(store.as_ref(), "http", "d", T0).await;
    assert_eq!(versions(&newer), [(42, T0 + 2)]);
    let delivered = DeliveryOutcome {
        delivered: ids(&newer),
        ..DeliveryOutcome::default()
    };
    store.settle_deliveries("d", &delivered, T0).await.unwrap();

    let replayed = store
        .replay_deliveries(Some("http"), Replay::All)
        .await
        .unwrap();
    assert_eq!(replayed, 1, "superseded by the version delivered since");
    assert!(claim(store.as_ref(), "http", "d", T0 + 1).await.is_empty());
    assert!(store
        .dead_deliveries(Some("http"), None, 10)
        .await
        .unwrap()
        .is_empty());

    settle(
        &db,
        store.as_ref(),
        vec![record(42, T0 + 2, "Ada L.")],
        vec![],
    )
    .await;
    assert!(
        claim(store.as_ref(), "http", "d", T0 + 2).await.is_empty(),
        "the same version is not queued twice"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn dead_deliveries_are_listed_per_sink_and_replay_once(#[case] engine: Engine) {
    let (db, store) = empty_store(engine).await;
    settle(&db, store.as_ref(), vec![record(42, T0 + 1, "Ada")], vec![]).await;
    let taken = kill_http_delivery(store.as_ref()).await;

    let dead = store.dead_deliveries(None, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].sink.as_str(), dead[0].object_id, dead[0].attempts),
        ("http", ObjectId(42), 1)
    );
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("the endpoint answered 500")
    );
    assert!(store
        .dead_deliveries(Some("nats"), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .dead_deliveries(None, Some(PortalId(2)), 10)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        store
            .replay_deliveries(Some("nats"), Replay::All)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_deliveries(Some("http"), Replay::One(dead[0].id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .replay_deliveries(None, Replay::Portal(PortalId(1)))
            .await
            .unwrap(),
        0,
        "replaying again finds nothing"
    );
    let again = claim(store.as_ref(), "http", "d", T0).await;
    assert_eq!((ids(&again), again[0].attempts), (ids(&taken), 0));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_privacy_deletion_empties_every_queued_copy_and_queues_the_erase(#[case] engine: Engine) {
    let (db, store) = empty_store(engine).await;
    settle(&db, store.as_ref(), vec![record(42, T0 + 1, "Ada")], vec![]).await;
    settle(
        &db,
        store.as_ref(),
        vec![record(42, T0 + 2, "Ada L.")],
        vec![],
    )
    .await;
    // The NATS sink has the first change in flight when the erase arrives.
    let in_flight = claim(store.as_ref(), "nats", "n", T0).await;
    let erased = ErasedRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        singular: Some("contact".into()),
        type_id: "0-1".into(),
        object_id: ObjectId(42),
        trace: None,
    };
    let settlement = Settlement {
        erased: vec![erased],
        sinks: SINKS.map(String::from).to_vec(),
        ..Settlement::default()
    };
    db.settle_holding(store.as_ref(), "hydrator", settlement, T0 + 10)
        .await;

    let properties = db.column("sink_deliveries", "properties").await;
    assert!(
        properties.iter().all(|p| p == "{}"),
        "no queued copy keeps the contact: {properties:?}"
    );
    let http = claim(store.as_ref(), "http", "d", T0 + 10).await;
    assert_eq!(versions(&http), [(42, T0 + 10)], "only the erase is sent");
    assert_eq!(http[0].record_state, "erased");
    // The change in flight finishes first; then the erase follows it.
    assert!(claim(store.as_ref(), "nats", "n2", T0 + 10)
        .await
        .is_empty());
    deliver(store.as_ref(), "n", &in_flight).await;
    let nats = claim(store.as_ref(), "nats", "n", T0 + 10).await;
    assert_eq!(nats[0].record_state, "erased");
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn pruning_removes_delivered_rows_and_keeps_dead_ones(#[case] engine: Engine) {
    let (db, store) = empty_store(engine).await;
    settle(
        &db,
        store.as_ref(),
        vec![record(42, T0 + 1, "Ada"), record(7, T0 + 1, "Grace")],
        vec![],
    )
    .await;
    let taken = claim(store.as_ref(), "http", "d", T0).await;
    let outcome = DeliveryOutcome {
        delivered: vec![taken[0].id],
        dead: vec![DeadDeliveries {
            ids: vec![taken[1].id],
            error: "refused".into(),
        }],
        ..DeliveryOutcome::default()
    };
    store.settle_deliveries("d", &outcome, T0).await.unwrap();
    assert_eq!(store.prune_deliveries(T0, 100).await.unwrap(), 0);
    assert_eq!(store.prune_deliveries(T0 + 1, 100).await.unwrap(), 1);
    assert_eq!(
        store.dead_deliveries(None, None, 10).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn concurrent_dispatchers_on_postgres_never_claim_the_same_delivery() {
    let (db, store) = empty_store(Engine::Postgres).await;
    let records = (0..300).map(|id| record(id, T0 + 1, "x")).collect();
    settle(&db, store.as_ref(), records, vec![]).await;
    let claims = (0..4).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let holder = format!("d{n}");
            let mut mine = Vec::new();
            loop {
                let taken = claim(store.as_ref(), "http", &holder, T0).await;
                if taken.is_empty() {
                    return mine;
                }
                mine.extend(ids(&taken));
            }
        })
    });
    let mut all: Vec<i64> = Vec::new();
    for claim in claims {
        all.extend(claim.await.unwrap());
    }
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        (claimed, all.len()),
        (300, 300),
        "each delivery claimed once"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_trace_context_travels_with_each_change_to_every_sink(#[case] engine: Engine) {
    let (db, store) = empty_store(engine).await;
    let fetched = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let deleted = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let traced = MirroredRecord {
        trace: Some(fetched.into()),
        ..record(42, T0 + 5, "Ada")
    };
    let gone = GoneRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        object_id: ObjectId(43),
        gone: Gone::Deleted,
        at_ms: T0 + 6,
        trace: Some(deleted.into()),
    };
    settle(
        &db,
        store.as_ref(),
        vec![traced, record(44, T0, "Untraced")],
        vec![gone],
    )
    .await;

    for sink in SINKS {
        let traces: Vec<(i64, Option<String>)> = claim(store.as_ref(), sink, "d", T0)
            .await
            .into_iter()
            .map(|d| (d.object_id.0, d.trace_context))
            .collect();
        assert_eq!(
            traces,
            [
                (42, Some(fetched.to_owned())),
                (44, None),
                (43, Some(deleted.to_owned()))
            ],
            "{sink}"
        );
    }
}
