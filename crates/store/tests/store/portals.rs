//! Portals conformance: every scenario runs on SQLite and on PostgreSQL.

use rstest::rstest;
use spoke_store::testing::TestDb;
use spoke_store::{
    Engine, EventKey, Install, NewEvent, ObjectId, PortalId, PortalState, SealedTokens, StoreError,
};

const T0: i64 = 1_764_000_000_000;

fn sealed(key: &str, tag: u8, expires: i64) -> SealedTokens {
    SealedTokens {
        key_id: key.into(),
        access: vec![tag; 40],
        refresh: vec![tag + 1; 40],
        issued_at: expires - 1_800_000,
        access_expires_at: expires,
    }
}

fn install(portal_id: i64, tokens: SealedTokens) -> Install {
    Install {
        portal_id: PortalId(portal_id),
        hub_domain: Some(format!("portal-{portal_id}.example.com")),
        app_id: Some(42),
        scopes: vec!["oauth".into(), "crm.objects.contacts.read".into()],
        installer_id: Some(7),
        installer_email: Some("ada@example.com".into()),
        tokens,
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_install_then_a_reinstall_replaces_tokens_and_is_audited(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;

    assert!(!store
        .record_install(&install(5, sealed("k1", 1, T0 + 1_800_000)), "user:7", T0)
        .await
        .unwrap());
    assert!(store
        .record_install(
            &install(5, sealed("k1", 9, T0 + 3_600_000)),
            "user:7",
            T0 + 1
        )
        .await
        .unwrap());

    let portal = store.portal(PortalId(5)).await.unwrap().expect("stored");
    assert_eq!(portal.state, PortalState::Installed);
    assert_eq!(portal.scopes, vec!["oauth", "crm.objects.contacts.read"]);
    assert_eq!(
        (portal.installed_at, portal.access_expires_at),
        (T0 + 1, Some(T0 + 3_600_000))
    );
    assert_eq!(
        store.tokens(PortalId(5)).await.unwrap(),
        Some(sealed("k1", 9, T0 + 3_600_000))
    );
    let actions: Vec<String> = store
        .audit_trail(PortalId(5))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["installed", "reinstalled"]);
    assert_eq!(store.portals().await.unwrap().len(), 1);
    assert!(store.portal(PortalId(6)).await.unwrap().is_none());
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_refresh_lease_is_exclusive_until_released_or_expired(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store
        .record_install(&install(5, sealed("k1", 1, T0)), "user:7", T0)
        .await
        .unwrap();

    assert!(store
        .lease_refresh(PortalId(5), "a", T0 + 10_000, T0)
        .await
        .unwrap());
    assert!(
        !store
            .lease_refresh(PortalId(5), "b", T0 + 10_000, T0 + 1)
            .await
            .unwrap(),
        "held by a"
    );
    assert!(
        store
            .lease_refresh(PortalId(5), "a", T0 + 20_000, T0 + 2)
            .await
            .unwrap(),
        "a may extend its own"
    );
    store.refresh_failed(PortalId(5), "a").await.unwrap();
    assert!(
        store
            .lease_refresh(PortalId(5), "b", T0 + 10_000, T0 + 3)
            .await
            .unwrap(),
        "released"
    );
    assert!(
        store
            .lease_refresh(PortalId(5), "c", T0 + 30_000, T0 + 10_000)
            .await
            .unwrap(),
        "b's lease ran out"
    );

    store
        .store_refreshed(PortalId(5), "b", &sealed("k1", 3, T0 + 99))
        .await
        .unwrap();
    assert_eq!(
        store
            .tokens(PortalId(5))
            .await
            .unwrap()
            .unwrap()
            .access_expires_at,
        T0,
        "b no longer held the lease"
    );
    store
        .store_refreshed(PortalId(5), "c", &sealed("k1", 3, T0 + 99))
        .await
        .unwrap();
    assert_eq!(
        store.tokens(PortalId(5)).await.unwrap(),
        Some(sealed("k1", 3, T0 + 99))
    );
    assert!(
        store
            .lease_refresh(PortalId(5), "d", T0 + 40_000, T0 + 10_002)
            .await
            .unwrap(),
        "storing released the lease"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn needs_reauth_drops_tokens_until_a_reinstall_clears_it(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store
        .record_install(&install(5, sealed("k1", 1, T0)), "user:7", T0)
        .await
        .unwrap();

    store
        .mark_needs_reauth(PortalId(5), "BAD_REFRESH_TOKEN", T0 + 1)
        .await
        .unwrap();
    let portal = store.portal(PortalId(5)).await.unwrap().unwrap();
    assert_eq!(
        (portal.state, portal.reauth_reason.as_deref()),
        (PortalState::NeedsReauth, Some("BAD_REFRESH_TOKEN"))
    );
    assert!(store.tokens(PortalId(5)).await.unwrap().is_none());
    assert!(matches!(
        store.mark_needs_reauth(PortalId(99), "x", T0).await,
        Err(StoreError::NotFound)
    ));

    store
        .record_install(&install(5, sealed("k1", 2, T0 + 5)), "user:7", T0 + 2)
        .await
        .unwrap();
    let portal = store.portal(PortalId(5)).await.unwrap().unwrap();
    assert_eq!(
        (portal.state, portal.reauth_reason),
        (PortalState::Installed, None)
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn uninstall_keeps_the_record_and_erase_removes_everything_but_the_audit(
    #[case] engine: Engine,
) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store
        .record_install(&install(5, sealed("k1", 1, T0)), "user:7", T0)
        .await
        .unwrap();
    store
        .record_install(&install(6, sealed("k1", 1, T0)), "user:7", T0)
        .await
        .unwrap();
    let event = |portal_id, event_id| NewEvent {
        key: EventKey {
            portal_id,
            subscription_id: 1,
            event_id,
            object_id: ObjectId(1),
            occurred_at: 1,
        },
        subscription_type: "contact.creation".into(),
        app_id: None,
        attempt_number: 0,
        payload: "{}".into(),
        trace_context: None,
    };
    store
        .append(
            &[vec![
                event(PortalId(5), 1),
                event(PortalId(5), 2),
                event(PortalId(6), 3),
            ]],
            T0,
        )
        .await
        .unwrap();

    store
        .record_uninstall(PortalId(5), "operator", T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        store.portal(PortalId(5)).await.unwrap().unwrap().state,
        PortalState::Uninstalled
    );
    assert!(store.tokens(PortalId(5)).await.unwrap().is_none());

    store.erase(PortalId(5), "operator", T0 + 2).await.unwrap();
    assert!(store.portal(PortalId(5)).await.unwrap().is_none());
    let left: Vec<i64> = db
        .inbox_keys()
        .await
        .iter()
        .map(|k| k.portal_id.0)
        .collect();
    assert_eq!(left, [6], "only the other portal's events remain");
    let trail: Vec<(String, String)> = store
        .audit_trail(PortalId(5))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.detail))
        .collect();
    assert_eq!(
        trail.last().unwrap(),
        &("erased".to_owned(), "2 events".to_owned())
    );
    assert!(matches!(
        store.erase(PortalId(5), "operator", T0 + 3).await,
        Err(StoreError::NotFound)
    ));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn expiring_tokens_and_resealing_find_the_right_portals(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store
        .record_install(&install(1, sealed("old", 1, T0 + 1_000)), "u", T0)
        .await
        .unwrap();
    store
        .record_install(&install(2, sealed("new", 1, T0 + 9_000)), "u", T0)
        .await
        .unwrap();
    store
        .record_install(&install(3, sealed("old", 1, T0 + 2_000)), "u", T0)
        .await
        .unwrap();
    store.mark_needs_reauth(PortalId(3), "x", T0).await.unwrap();

    assert_eq!(
        store.expiring_before(T0 + 5_000).await.unwrap(),
        [PortalId(1)]
    );
    let stale = store.sealed_with_other_keys("new", 10).await.unwrap();
    assert_eq!(
        stale.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [PortalId(1)]
    );

    assert!(store
        .reseal(PortalId(1), "old", &sealed("new", 5, T0 + 1_000))
        .await
        .unwrap());
    assert!(
        !store
            .reseal(PortalId(1), "old", &sealed("new", 6, T0 + 1_000))
            .await
            .unwrap(),
        "already resealed"
    );
    assert_eq!(
        store.tokens(PortalId(1)).await.unwrap(),
        Some(sealed("new", 5, T0 + 1_000))
    );
    assert!(store
        .sealed_with_other_keys("new", 10)
        .await
        .unwrap()
        .is_empty());
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_install_state_works_once(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    assert!(store
        .use_install_state("n1", T0 + 600_000, T0)
        .await
        .unwrap());
    assert!(
        !store
            .use_install_state("n1", T0 + 600_000, T0 + 1)
            .await
            .unwrap(),
        "a replay"
    );
    assert!(store
        .use_install_state("n2", T0 + 600_000, T0 + 1)
        .await
        .unwrap());
}

/// A signed-out session stays revoked until its cookie would have expired, then is
/// forgotten (by the next sign-out).
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_signed_out_session_is_revoked_until_it_would_have_expired(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    assert!(!store.session_revoked("s1").await.unwrap());
    store.revoke_session("s1", T0 + 1_000, T0).await.unwrap();
    store.revoke_session("s1", T0 + 1_000, T0).await.unwrap();
    assert!(store.session_revoked("s1").await.unwrap());
    assert!(!store.session_revoked("s2").await.unwrap());
    store
        .revoke_session("s2", T0 + 9_000, T0 + 2_000)
        .await
        .unwrap();
    assert!(
        !store.session_revoked("s1").await.unwrap(),
        "expired, forgotten"
    );
    assert!(store.session_revoked("s2").await.unwrap());
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_portal_state_this_build_does_not_know_is_refused_not_read_as_uninstalled(
    #[case] engine: Engine,
) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    store
        .record_install(&install(5, sealed("k1", 1, T0 + 1_800_000)), "user:7", T0)
        .await
        .unwrap();

    db.execute("UPDATE portals SET state = 'paused' WHERE portal_id = 5")
        .await;

    let error = store
        .portal(PortalId(5))
        .await
        .expect_err("an unknown state");
    assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "unexpected value in the database: unknown portal state `paused`"
    );
    assert!(store.portals().await.is_err(), "the listing refuses it too");
}
