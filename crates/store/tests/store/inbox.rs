//! Inbox conformance: every scenario runs on SQLite and on PostgreSQL.

use rstest::rstest;
use secrecy::SecretString;
use spoke_store::testing::TestDb;
use spoke_store::{
    connect, AppendOutcome, ConnectOptions, Engine, EventKey, NewEvent, ObjectId, PortalId,
    StoreError,
};

fn event(portal_id: i64, event_id: i64, object_id: i64, attempt: i32) -> NewEvent {
    NewEvent {
        key: EventKey {
            portal_id: PortalId(portal_id),
            subscription_id: 7,
            event_id,
            object_id: ObjectId(object_id),
            occurred_at: 1_735_689_600_000,
        },
        subscription_type: "contact.propertyChange".into(),
        app_id: Some(54321),
        attempt_number: attempt,
        payload: format!(
            r#"{{"eventId":{event_id},"portalId":{portal_id},"objectId":{object_id},"attemptNumber":{attempt}}}"#
        ),
        trace_context: None,
    }
}

fn outcome(stored: u32, duplicates: u32) -> AppendOutcome {
    AppendOutcome { stored, duplicates }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_redelivered_event_is_counted_and_not_stored_again(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;

    let first = store
        .append(&[vec![event(1, 10, 100, 0), event(1, 11, 101, 0)]], 0)
        .await
        .unwrap();
    let retry = store
        .append(&[vec![event(1, 10, 100, 1)]], 0)
        .await
        .unwrap();

    assert_eq!(first, vec![outcome(2, 0)]);
    assert_eq!(retry, vec![outcome(0, 1)]);
    assert_eq!(db.inbox_keys().await.len(), 2);
    assert_eq!(
        db.inbox_column("attempt_number").await,
        vec!["0", "0"],
        "the first delivery's row is kept"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn distinct_events_sharing_an_event_id_are_both_kept(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;

    let other_object = event(1, 10, 200, 0);
    let other_portal = event(2, 10, 100, 0);
    let mut later = event(1, 10, 100, 0);
    later.key.occurred_at += 1;
    let outcomes = store
        .append(
            &[vec![
                event(1, 10, 100, 0),
                other_object,
                other_portal,
                later,
            ]],
            0,
        )
        .await
        .unwrap();

    assert_eq!(outcomes, vec![outcome(4, 0)]);
    assert_eq!(db.inbox_keys().await.len(), 4);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn one_append_carries_many_deliveries_and_attributes_each_outcome(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store.append(&[vec![event(1, 1, 1, 0)]], 0).await.unwrap();

    let outcomes = store
        .append(
            &[
                vec![event(1, 1, 1, 1), event(1, 2, 2, 0)],
                vec![event(1, 2, 2, 1), event(1, 3, 3, 0)],
                vec![],
                vec![event(3, 9, 9, 0)],
            ],
            0,
        )
        .await
        .unwrap();

    assert_eq!(
        outcomes,
        vec![outcome(1, 1), outcome(1, 1), outcome(0, 0), outcome(1, 0)]
    );
    let keys: Vec<(i64, i64)> = db
        .inbox_keys()
        .await
        .iter()
        .map(|k| (k.portal_id.0, k.event_id))
        .collect();
    assert_eq!(keys, vec![(1, 1), (1, 2), (1, 3), (3, 9)]);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn stored_events_keep_their_exact_payload_and_count_as_pending(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    assert_eq!(store.backlog_count().await.unwrap(), 0);

    let mut e = event(5, 6, 7, 0);
    let raw = r#"{"eventId":6, "portalId":5,"brandNew":{"nested":[1,"ü", 12345678901234567890]}}"#;
    e.payload = raw.into();
    store
        .append(&[vec![e, event(5, 8, 9, 0)]], 0)
        .await
        .unwrap();

    assert_eq!(store.backlog_count().await.unwrap(), 2);
    assert_eq!(
        db.inbox_column("payload").await[0],
        raw,
        "stored byte for byte"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn readiness_requires_every_migration(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = connect(
        &SecretString::from(db.url().to_owned()),
        &ConnectOptions::default(),
    )
    .await
    .unwrap();

    assert!(matches!(
        store.ready().await,
        Err(StoreError::MigrationsPending)
    ));
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
    store.migrate().await.expect("migrating twice is a no-op");
}

#[tokio::test]
async fn an_unknown_url_scheme_is_a_configuration_error() {
    let err = connect(
        &SecretString::from("mysql://user:hunter2@db/x".to_owned()),
        &ConnectOptions::default(),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, StoreError::Config(_)));
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn both_engines_have_the_same_migrations() {
    let names = |engine: &str| {
        let dir = format!("{}/../../migrations/{engine}", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
}
