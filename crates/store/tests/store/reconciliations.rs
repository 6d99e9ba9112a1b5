//! Reconciliation's schedule and drift report, on SQLite and PostgreSQL: installed portals
//! are scheduled within the interval, a request makes one due now (and adds nothing while
//! one runs), one worker leases a portal at a time, repairs are written newer-wins, and a
//! run's findings are kept per type until the next.

use rstest::rstest;
use spoke_store::testing::{install, TestDb};
use spoke_store::{
    Engine, Gone, GoneRecord, MirroredRecord, ObjectId, PortalId, ReconciledType, Repairs,
    Requested, StoreError, SyncLease,
};

const T0: i64 = 1_764_000_000_000;
const DAY: i64 = 86_400_000;
const PORTAL: PortalId = PortalId(1_234);

fn lease(holder: &str) -> SyncLease<'_> {
    SyncLease {
        holder,
        portal_id: PORTAL,
        until_ms: T0 + 60_000,
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn portals_are_scheduled_leased_once_and_their_findings_kept(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    assert!(matches!(
        store.request_reconciliation(PORTAL, T0).await,
        Err(StoreError::NotFound)
    ));
    store
        .record_install(&install(PORTAL), "test", T0)
        .await
        .unwrap();
    assert_eq!(store.schedule_reconciliations(DAY, T0).await.unwrap(), 1);
    assert_eq!(
        store.schedule_reconciliations(DAY, T0).await.unwrap(),
        0,
        "once"
    );
    let due = T0 + 1_234 % DAY;
    assert!(store
        .lease_reconciliations("a", T0 + 60_000, due - 1, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(
        store
            .lease_reconciliations("a", T0 + 60_000, due, 10)
            .await
            .unwrap()
            .is_empty(),
        "not while the install's backfill runs"
    );
    // The backfill finds nothing to read, and is done at once.
    store
        .lease_backfills("a", T0 + 60_000, T0, 10)
        .await
        .unwrap();
    assert!(store.begin_backfill(lease("a"), &[], T0).await.unwrap());
    assert_eq!(
        store
            .lease_reconciliations("a", T0 + 60_000, due, 10)
            .await
            .unwrap(),
        [PORTAL]
    );
    assert!(
        store
            .lease_reconciliations("b", T0 + 60_000, due, 10)
            .await
            .unwrap()
            .is_empty(),
        "one worker at a time"
    );
    assert_eq!(
        store.request_reconciliation(PORTAL, due).await.unwrap(),
        Requested::AlreadyRunning
    );

    let record = MirroredRecord {
        portal_id: PORTAL,
        object_type: "contacts".into(),
        object_id: ObjectId(7),
        state: "live".into(),
        properties: r#"{"firstname":"Ada"}"#.into(),
        updated_at: T0,
        fetched_at: T0,
        trace: None,
    };
    let gone = GoneRecord {
        portal_id: PORTAL,
        object_type: "contacts".into(),
        object_id: ObjectId(8),
        gone: Gone::Deleted,
        at_ms: T0,
        trace: None,
    };
    let repairs = Repairs {
        records: vec![record],
        gone: vec![gone],
        sinks: vec!["http".into()],
    };
    assert!(!store.write_repairs(lease("b"), &repairs, T0).await.unwrap());
    assert!(store.write_repairs(lease("a"), &repairs, T0).await.unwrap());
    assert_eq!(
        store.live_ids(PORTAL, "contacts").await.unwrap(),
        [ObjectId(7)]
    );
    assert_eq!(db.number("SELECT count(*) FROM sink_deliveries").await, 2);

    let found = ReconciledType {
        object_type: "contacts".into(),
        watermark: T0 - 1,
        started_at: T0,
        finished_at: T0 + 5,
        missing: 1,
        stale: 0,
        deleted_unannounced: 1,
        repaired: 2,
        error: None,
    };
    assert!(store
        .finish_reconciliation(lease("a"), std::slice::from_ref(&found), T0 + DAY, T0 + 6)
        .await
        .unwrap());
    assert_eq!(
        store.reconciled_types(PORTAL).await.unwrap(),
        std::slice::from_ref(&found)
    );
    assert!(store
        .lease_reconciliations("b", T0 + 60_000, T0 + 1, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.request_reconciliation(PORTAL, T0 + 2).await.unwrap(),
        Requested::Started
    );
    // The portal's calls are still a's (its lease on them runs): a runs it again.
    assert_eq!(
        store
            .lease_reconciliations("a", T0 + 60_000, T0 + 2, 10)
            .await
            .unwrap(),
        [PORTAL]
    );
    let later = ReconciledType {
        missing: 0,
        repaired: 0,
        ..found
    };
    assert!(store
        .finish_reconciliation(lease("a"), std::slice::from_ref(&later), T0 + DAY, T0 + 7)
        .await
        .unwrap());
    assert_eq!(store.reconciled_types(PORTAL).await.unwrap(), [later]);

    store.erase(PORTAL, "test", T0 + 3).await.unwrap();
    assert!(store.reconciled_types(PORTAL).await.unwrap().is_empty());
    assert_eq!(db.number("SELECT count(*) FROM reconciliations").await, 0);
}
