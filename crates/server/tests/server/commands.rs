//! The operator commands on both engines: `keys rotate` and `portals list/show/erase`, and
//! how they open a database.

use hubspot::time::Clock;
use rstest::rstest;
use secrecy::{ExposeSecret, SecretString};
use spoke_server::app::{self, Open};
use spoke_server::config::DatabaseConfig;
use spoke_server::oauth::vault::Keyring;
use spoke_server::ops::{dead_letters, keys, portals, records};
use store::testing::TestDb;
use store::{Engine, Install, ObjectId, PortalId};

fn install(keys: &Keyring, portal_id: i64) -> Install {
    let token = |kind: &str| SecretString::from(format!("{kind}-token-of-{portal_id}"));
    Install {
        portal_id: PortalId(portal_id),
        hub_domain: None,
        app_id: Some(1),
        scopes: vec!["oauth".into()],
        installer_id: Some(9),
        installer_email: Some("ops@example.com".into()),
        tokens: keys.seal_pair(
            PortalId(portal_id),
            &token("access"),
            &token("refresh"),
            1_899_999_000_000,
            1_900_000_000_000,
        ),
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn rotate_reseals_every_token_so_the_old_key_can_go(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (old, new) = (
        Keyring::generate_entry("old"),
        Keyring::generate_entry("new"),
    );
    let old_ring = Keyring::parse(&old).unwrap();
    for portal in 1..=250 {
        store
            .record_install(&install(&old_ring, portal), "test", 0)
            .await
            .unwrap();
    }

    let both = Keyring::parse(&format!("{new},{old}")).unwrap();
    let report = keys::rotate(store.as_ref(), &both, &Clock::system())
        .await
        .unwrap();
    assert!(report.starts_with("250 portals"), "{report}");
    assert!(
        keys::rotate(store.as_ref(), &both, &Clock::system())
            .await
            .unwrap()
            .starts_with("0 portals"),
        "idempotent"
    );

    let only_new = Keyring::parse(&new).unwrap();
    for portal in [1, 125, 250] {
        let sealed = store.tokens(PortalId(portal)).await.unwrap().unwrap();
        assert_eq!(sealed.key_id, "new");
        let open = only_new.open_pair(PortalId(portal), &sealed).unwrap();
        assert_eq!(
            open.refresh.expose_secret(),
            &format!("refresh-token-of-{portal}")
        );
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn list_and_show_print_state_and_audit_but_never_tokens(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let keys = Keyring::parse(&Keyring::generate_entry("k1")).unwrap();
    store
        .record_install(&install(&keys, 77), "hubspot-user:9", 0)
        .await
        .unwrap();
    store
        .mark_needs_reauth(PortalId(78), "x", 0)
        .await
        .expect_err("unknown portal");

    let listed = portals::list(store.as_ref()).await.unwrap();
    assert!(
        listed.contains("77\tinstalled\t2030-03-17T17:46:40.000Z\toauth"),
        "{listed}"
    );
    let shown = portals::show(store.as_ref(), PortalId(77)).await.unwrap();
    assert!(
        shown.contains("ops@example.com")
            && shown.contains("installed")
            && shown.contains("hubspot-user:9"),
        "{shown}"
    );
    for output in [&listed, &shown] {
        assert!(!output.contains("token-of-77"), "a token was printed");
    }
    assert!(portals::show(store.as_ref(), PortalId(78)).await.is_err());
    assert!(
        portals::erase(store.as_ref(), &Clock::system(), PortalId(77), false)
            .await
            .is_err(),
        "erase needs --yes"
    );
    portals::erase(store.as_ref(), &Clock::system(), PortalId(77), true)
        .await
        .unwrap();
    assert!(portals::list(store.as_ref()).await.unwrap().lines().count() == 1);
}

#[tokio::test]
async fn operator_commands_refuse_a_missing_sqlite_database_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo").join("spoke.db");
    let database = DatabaseConfig::new(format!("sqlite://{}", path.display()));

    let error = app::open_store(&database, Open::Existing)
        .await
        .expect_err("no database there");

    let message = format!("{error:#}");
    assert!(
        message.contains(&path.display().to_string()),
        "names the path: {message}"
    );
    assert!(!path.parent().unwrap().exists(), "nothing was created");
    app::open_store(&database, Open::CreateIfMissing)
        .await
        .expect("serve and migrate still create it");
    assert!(path.exists());
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn dead_letters_are_listed_and_replayed_and_records_shown(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let event = store::NewEvent {
        key: store::EventKey {
            portal_id: PortalId(77),
            subscription_id: 1,
            event_id: 1,
            object_id: ObjectId(501),
            occurred_at: 1_900_000_000_000,
        },
        subscription_type: "contact.creation".into(),
        app_id: None,
        attempt_number: 0,
        payload: "{}".into(),
        trace_context: None,
    };
    store.append(&[vec![event]], 0).await.unwrap();
    let claimed = store
        .claim(&store::ClaimRequest {
            holder: "w",
            until_ms: 1,
            now_ms: 0,
            portals: 1,
            after_portal: None,
            per_portal: 1,
            round_events: u32::MAX,
        })
        .await
        .unwrap();
    store
        .set_aside(
            "w",
            &[claimed[0].id],
            store::SetAside::Dead,
            "failed 8 times",
            Some("HubSpot answered HTTP 503 (no code)"),
            0,
        )
        .await
        .unwrap();

    let listed = dead_letters::list(store.as_ref(), Some(PortalId(77)), None, 10)
        .await
        .unwrap();
    assert!(
        listed.contains(
            "\t-\t77\t501\tcontact.creation\t1\tfailed 8 times\tHubSpot answered HTTP 503"
        ),
        "{listed}"
    );
    assert!(
        dead_letters::which(None, None, false).is_err(),
        "one choice is required"
    );
    let all = dead_letters::which(None, None, true).unwrap();
    assert_eq!(
        dead_letters::replay(store.as_ref(), all, None)
            .await
            .unwrap(),
        "1 dead letters back in the queue\n"
    );
    assert_eq!(
        dead_letters::replay(store.as_ref(), all, None)
            .await
            .unwrap(),
        "0 dead letters back in the queue\n"
    );

    let fetched = store::Settlement {
        records: vec![store::MirroredRecord {
            portal_id: PortalId(77),
            object_type: "contacts".into(),
            object_id: ObjectId(501),
            state: "live".into(),
            properties: r#"{"email":"ada@example.com"}"#.into(),
            updated_at: 1_900_000_000_000,
            fetched_at: 1_900_000_000_500,
            trace: None,
        }],
        ..store::Settlement::default()
    };
    db.settle_holding(store.as_ref(), "w", fetched, 0).await;
    let shown = records::get(store.as_ref(), PortalId(77), "0-1", ObjectId(501))
        .await
        .unwrap();
    assert!(
        shown.contains("state:           live") && shown.contains("ada@example.com"),
        "{shown}"
    );
    assert!(shown.contains("2030-03-17T17:46:40.000Z"), "{shown}");
    assert!(
        records::get(store.as_ref(), PortalId(77), "contact", ObjectId(501))
            .await
            .is_err()
    );
    assert!(
        records::get(store.as_ref(), PortalId(77), "contacts", ObjectId(502))
            .await
            .is_err()
    );
}
