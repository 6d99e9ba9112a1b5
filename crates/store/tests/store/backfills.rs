//! Backfills, on SQLite and PostgreSQL: an install asks for one (afresh), a request while
//! one runs adds nothing, one worker leases a portal at a time, a page's records and its
//! cursor are written together (newer wins), the last type done finishes it, a failing one
//! waits for its retry time, and erasing the portal takes it along.

use rstest::rstest;
use spoke_store::testing::{install, TestDb};
use spoke_store::{
    BackfillPage, Engine, MirroredRecord, ObjectId, PortalId, Requested, Store, StoreError,
    SyncLease,
};

const T0: i64 = 1_764_000_000_000;
const PORTAL: PortalId = PortalId(1);

fn contact(id: i64, updated_at: i64, name: &str) -> MirroredRecord {
    MirroredRecord {
        portal_id: PORTAL,
        object_type: "contacts".into(),
        object_id: ObjectId(id),
        state: "live".into(),
        properties: format!(r#"{{"firstname":"{name}"}}"#),
        updated_at,
        fetched_at: T0,
        trace: None,
    }
}

fn lease(holder: &str, until_ms: i64) -> SyncLease<'_> {
    SyncLease {
        holder,
        portal_id: PORTAL,
        until_ms,
    }
}

fn page(records: Vec<MirroredRecord>, next: Option<&str>) -> BackfillPage {
    BackfillPage {
        records,
        next_after: next.map(str::to_owned),
        sinks: vec!["http".into()],
    }
}

async fn name_of(store: &dyn Store, id: i64) -> Option<String> {
    store
        .mirrored(PORTAL, "contacts", ObjectId(id))
        .await
        .unwrap()
        .map(|r| r.properties)
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_install_asks_for_a_backfill_that_one_worker_reads_to_its_end(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    assert!(matches!(
        store.request_backfill(PORTAL, None, T0).await,
        Err(StoreError::NotFound)
    ));
    store
        .record_install(&install(PORTAL), "test", T0)
        .await
        .unwrap();
    assert_eq!(
        store.request_backfill(PORTAL, None, T0 + 1).await.unwrap(),
        Requested::AlreadyRunning,
        "the install's backfill is pending"
    );

    let leased = store
        .lease_backfills("a", T0 + 60_000, T0, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!((leased[0].portal_id, leased[0].started_at), (PORTAL, None));
    assert!(
        store
            .lease_backfills("b", T0 + 60_000, T0 + 1, 10)
            .await
            .unwrap()
            .is_empty(),
        "one worker at a time"
    );
    let types = ["contacts".to_owned(), "deals".to_owned()];
    assert!(store
        .begin_backfill(lease("a", T0 + 60_000), &types, T0)
        .await
        .unwrap());

    // A newer version in the mirror wins over the page's.
    let mut newer = contact(2, T0 + 500, "Newer");
    newer.fetched_at = T0;
    db.settle_holding(
        store.as_ref(),
        "hydrator",
        spoke_store::Settlement {
            records: vec![newer],
            ..Default::default()
        },
        T0,
    )
    .await;
    let first = page(
        vec![contact(1, T0, "Ada"), contact(2, T0, "Old")],
        Some("2"),
    );
    assert!(store
        .write_backfill_page(lease("a", T0 + 60_000), "contacts", &first, T0 + 10)
        .await
        .unwrap());
    assert_eq!(
        name_of(store.as_ref(), 1).await.as_deref(),
        Some(r#"{"firstname":"Ada"}"#)
    );
    assert_eq!(
        name_of(store.as_ref(), 2).await.as_deref(),
        Some(r#"{"firstname":"Newer"}"#)
    );
    assert_eq!(
        db.number("SELECT count(*) FROM sink_deliveries").await,
        1,
        "only the change the mirror accepted is queued"
    );

    // Another worker cannot write; after the lease lapses it takes it, and resumes.
    assert!(!store
        .write_backfill_page(lease("b", T0 + 60_000), "contacts", &first, T0 + 20)
        .await
        .unwrap());
    let taken = store
        .lease_backfills("b", T0 + 200_000, T0 + 60_001, 10)
        .await
        .unwrap();
    assert_eq!(taken[0].started_at, Some(T0), "begun: its types are kept");
    assert!(store
        .begin_backfill(lease("b", T0 + 200_000), &[], T0 + 60_001)
        .await
        .unwrap());
    let (_, progress) = store.backfill(PORTAL).await.unwrap().unwrap();
    let contacts = &progress[0];
    assert_eq!(
        (
            contacts.object_type.as_str(),
            contacts.next_after.as_deref(),
            contacts.read
        ),
        ("contacts", Some("2"), 2)
    );
    assert!(
        !store
            .write_backfill_page(lease("a", T0 + 60_000), "contacts", &first, T0 + 60_002)
            .await
            .unwrap(),
        "the first worker lost its lease"
    );

    let last = page(vec![contact(3, T0, "Grace")], None);
    let b = lease("b", T0 + 200_000);
    assert!(store
        .write_backfill_page(b, "contacts", &last, T0 + 60_010)
        .await
        .unwrap());
    let (backfill, _) = store.backfill(PORTAL).await.unwrap().unwrap();
    assert_eq!(backfill.finished_at, None, "deals are left");
    assert!(store
        .abandon_backfill_type(b, "deals", "the portal did not grant deals", T0 + 60_020)
        .await
        .unwrap());
    let (backfill, progress) = store.backfill(PORTAL).await.unwrap().unwrap();
    assert_eq!(backfill.finished_at, Some(T0 + 60_020));
    assert_eq!(progress[0].done_at, Some(T0 + 60_010));
    assert_eq!(progress[0].read, 3);
    assert_eq!(
        progress[1].error.as_deref(),
        Some("the portal did not grant deals")
    );
    assert!(
        store
            .lease_backfills("c", T0 + 300_000, T0 + 100_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing left to lease"
    );

    // Finished, a request starts a new one, of one type.
    assert_eq!(
        store
            .request_backfill(PORTAL, Some("deals"), T0 + 100_000)
            .await
            .unwrap(),
        Requested::Started
    );
    // The portal's calls are b's until its lease lapses (a page renews it).
    assert!(store
        .lease_backfills("c", T0 + 300_000, T0 + 100_001, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .lease_backfills("c", T0 + 300_000, T0 + 200_001, 10)
        .await
        .unwrap();
    assert_eq!(
        (again[0].only_type.as_deref(), again[0].started_at),
        (Some("deals"), None)
    );

    store.erase(PORTAL, "test", T0 + 100_002).await.unwrap();
    assert!(store.backfill(PORTAL).await.unwrap().is_none());
    assert_eq!(db.number("SELECT count(*) FROM backfill_types").await, 0);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_uninstalled_portal_writes_nothing_and_a_new_install_starts_afresh(
    #[case] engine: Engine,
) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store
        .record_install(&install(PORTAL), "test", T0)
        .await
        .unwrap();
    store
        .lease_backfills("a", T0 + 60_000, T0, 10)
        .await
        .unwrap();
    assert!(store
        .begin_backfill(lease("a", T0 + 60_000), &["contacts".to_owned()], T0)
        .await
        .unwrap());
    store
        .record_uninstall(PORTAL, "test", T0 + 1)
        .await
        .unwrap();
    let one = page(vec![contact(1, T0, "Ada")], Some("1"));
    assert!(
        !store
            .write_backfill_page(lease("a", T0 + 60_000), "contacts", &one, T0 + 2)
            .await
            .unwrap(),
        "an uninstalled portal's page is refused"
    );
    assert_eq!(name_of(store.as_ref(), 1).await, None);
    let (_, types) = store.backfill(PORTAL).await.unwrap().unwrap();
    assert_eq!((types[0].read, types[0].next_after.as_deref()), (0, None));
    store.release_backfill("a", PORTAL, None).await.unwrap();
    assert!(store
        .lease_backfills("b", T0 + 60_000, T0 + 3, 10)
        .await
        .unwrap()
        .is_empty());

    // Installed again, it starts afresh: what changed while it was uninstalled was never
    // notified, and the install may grant other types.
    store
        .record_install(&install(PORTAL), "test", T0 + 4)
        .await
        .unwrap();
    let resumed = store
        .lease_backfills("b", T0 + 120_000, T0 + 60_001, 10)
        .await
        .unwrap();
    assert_eq!(resumed[0].started_at, None);

    // A failing backfill is left alone until its retry time.
    store
        .release_backfill("b", PORTAL, Some(T0 + 90_000))
        .await
        .unwrap();
    assert!(store
        .lease_backfills("b", T0 + 150_000, T0 + 60_002, 10)
        .await
        .unwrap()
        .is_empty());
    let retried = store
        .lease_backfills("b", T0 + 150_000, T0 + 90_000, 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
}
