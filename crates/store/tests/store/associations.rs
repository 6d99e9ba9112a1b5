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
