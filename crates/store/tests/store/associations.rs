//! The association mirror, on SQLite and PostgreSQL: a read replaces what was held of its
//! record and type (a paged one only adds), changes are queued for the sinks, unchanged
//! ones are not, and a record gone takes its associations along both ways.

use rstest::rstest;
use spoke_store::testing::TestDb;
use spoke_store::{
    AssociationSet, Engine, Gone, GoneRecord, ObjectId, PortalId, Settlement, Store,
};

const T0: i64 = 1_764_000_000_000;
const KIND: &str = r#"[{"category":"HUBSPOT_DEFINED","typeId":279}]"#;

fn read(from: i64, to: &[i64], complete: bool, at: i64) -> AssociationSet {
    AssociationSet {
        portal_id: PortalId(1),
        from_type: "contacts".into(),
        from_id: ObjectId(from),
        to_type: "companies".into(),
        associated: to
            .iter()
            .map(|id| (ObjectId(*id), KIND.to_owned()))
            .collect(),
        complete,
        read_at: at,
        trace: None,
    }
}

async fn settle(db: &TestDb, store: &dyn Store, settlement: Settlement) {
    let settlement = Settlement {
        sinks: vec!["http".into()],
        ..settlement
    };
    db.settle_holding(store, "w", settlement, T0).await;
}

async fn held(store: &dyn Store, from: i64) -> Vec<i64> {
    store
        .associations_of(PortalId(1), "contacts", &[ObjectId(from)])
        .await
        .unwrap()
        .iter()
        .map(|a| a.to_id.0)
        .collect()
}

async fn queued(db: &TestDb, state: &str) -> i64 {
    db.number(&format!(
        "SELECT count(*) FROM sink_deliveries WHERE record_state = '{state}'"
    ))
    .await
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_read_replaces_what_was_held_and_queues_only_changes(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let with = |sets| Settlement {
        associations: sets,
        ..Settlement::default()
    };
    settle(
        &db,
        store.as_ref(),
        with(vec![read(7, &[10, 11], true, T0)]),
    )
    .await;
    assert_eq!(held(store.as_ref(), 7).await, [10, 11]);
    assert_eq!(queued(&db, "associated").await, 2);

    // The same answer again changes nothing, and queues nothing.
    settle(
        &db,
        store.as_ref(),
        with(vec![read(7, &[10, 11], true, T0 + 1)]),
    )
    .await;
    assert_eq!(queued(&db, "associated").await, 2);

    // A complete answer without 10 removes it; a paged one adds 12 and keeps 11.
    settle(
        &db,
        store.as_ref(),
        with(vec![read(7, &[11], true, T0 + 2)]),
    )
    .await;
    assert_eq!(held(store.as_ref(), 7).await, [11]);
    assert_eq!(queued(&db, "dissociated").await, 1);
    settle(
        &db,
        store.as_ref(),
        with(vec![read(7, &[12], false, T0 + 3)]),
    )
    .await;
    assert_eq!(held(store.as_ref(), 7).await, [11, 12]);

    // The company's side, then the contact deleted: both directions go.
    let back = AssociationSet {
        from_type: "companies".into(),
        from_id: ObjectId(11),
        to_type: "contacts".into(),
        associated: vec![(ObjectId(7), KIND.into())],
        ..read(0, &[], true, T0 + 4)
    };
    settle(&db, store.as_ref(), with(vec![back])).await;
    let deleted = GoneRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        object_id: ObjectId(7),
        gone: Gone::Deleted,
        at_ms: T0 + 5,
        trace: None,
    };
    let gone = Settlement {
        gone: vec![deleted],
        ..Settlement::default()
    };
    settle(&db, store.as_ref(), gone).await;
    assert_eq!(held(store.as_ref(), 7).await, Vec::<i64>::new());
    let company_side = store
        .associations_of(PortalId(1), "companies", &[ObjectId(11)])
        .await
        .unwrap();
    assert!(company_side.is_empty(), "{company_side:?}");

    // Erasing the portal covers the association mirror.
    settle(
        &db,
        store.as_ref(),
        with(vec![read(8, &[10], true, T0 + 6)]),
    )
    .await;
    store.erase(PortalId(1), "operator", T0).await.unwrap();
    assert_eq!(db.number("SELECT count(*) FROM associations").await, 0);
}

/// A dead delivery replayed is superseded only by a newer change of the same thing: a
/// record's own, or the same association's; not by the record's association changes, which
/// are versioned by spoke's clock, nor by another association of the record.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn association_deliveries_supersede_only_their_own_dead_letters(#[case] engine: Engine) {
    use spoke_store::{DeadDeliveries, DeliveryClaim, DeliveryOutcome, MirroredRecord, Replay};
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let claim = |now_ms| DeliveryClaim {
        sink: "http",
        holder: "d",
        until_ms: now_ms + 60_000,
        now_ms,
        limit: 100,
    };
    let record = MirroredRecord {
        portal_id: PortalId(1),
        object_type: "contacts".into(),
        object_id: ObjectId(7),
        state: "live".into(),
        properties: r#"{"firstname":"Ada"}"#.into(),
        updated_at: T0 + 1,
        fetched_at: T0,
        trace: None,
    };
    let first = Settlement {
        records: vec![record],
        associations: vec![read(7, &[10], true, T0 + 2)],
        ..Settlement::default()
    };
    settle(&db, store.as_ref(), first).await;
    let taken = store.claim_deliveries(&claim(T0)).await.unwrap();
    assert_eq!(taken.len(), 1, "one at a time per record: {taken:?}");
    let dead = DeliveryOutcome {
        dead: vec![DeadDeliveries {
            ids: taken.iter().map(|d| d.id).collect(),
            error: "500".into(),
        }],
        ..DeliveryOutcome::default()
    };
    store.settle_deliveries("d", &dead, T0).await.unwrap();
    // The association to 10 goes out, then one to 11 is read and goes out too.
    let mut delivered = Vec::new();
    for round in 0..2 {
        if round == 1 {
            let later = Settlement {
                associations: vec![read(7, &[10, 11], true, T0 + 3)],
                ..Settlement::default()
            };
            settle(&db, store.as_ref(), later).await;
        }
        let taken = store.claim_deliveries(&claim(T0)).await.unwrap();
        delivered.extend(taken.iter().map(|d| d.record_state.clone()));
        let done = DeliveryOutcome {
            delivered: taken.iter().map(|d| d.id).collect(),
            ..DeliveryOutcome::default()
        };
        store.settle_deliveries("d", &done, T0).await.unwrap();
    }
    assert_eq!(delivered, ["associated", "associated"]);

    store
        .replay_deliveries(Some("http"), Replay::All)
        .await
        .unwrap();
    let again = store.claim_deliveries(&claim(T0 + 1)).await.unwrap();
    let states: Vec<&str> = again.iter().map(|d| d.record_state.as_str()).collect();
    assert_eq!(
        states,
        ["live"],
        "the record's own change is not superseded by associations"
    );
}
