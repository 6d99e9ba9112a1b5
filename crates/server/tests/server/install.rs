//! The install flow and token vault against the HubSpot simulator, over real HTTP, on
//! SQLite and PostgreSQL: a browser's install, every failure path, single-flight refresh
//! (in one instance and across two), a revoked refresh token, and uninstall and erase.
//!
//! spoke and the simulator share a manual clock, so tokens have HubSpot's real 30-minute
//! lifetime and tests jump past it instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use rstest::rstest;
use secrecy::ExposeSecret;
use serde_json::json;
use spoke_server::oauth::removal;
use spoke_server::oauth::tokens::{TokenError, TokenService};
use store::{Engine, PortalId, PortalState};

use crate::support::*;

/// Everything the database holds for the portal's tokens, as text, wherever it lives.
async fn raw_database_text(h: &Harness) -> String {
    match h.db.engine {
        Engine::Sqlite => {
            let path =
                h.db.url()
                    .trim_start_matches("sqlite://")
                    .split('?')
                    .next()
                    .unwrap()
                    .to_owned();
            let mut all = Vec::new();
            for file in [path.clone(), format!("{path}-wal")] {
                all.extend(std::fs::read(file).unwrap_or_default());
            }
            String::from_utf8_lossy(&all).into_owned()
        }
        Engine::Postgres => {
            h.db.inbox_column("'x'").await.join("") + &postgres_tokens_text(h).await
        }
    }
}

async fn postgres_tokens_text(h: &Harness) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(h.db.url()).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar("SELECT row_to_json(t)::text FROM portal_tokens t")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.join("\n")
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_browser_install_stores_the_portal_with_sealed_tokens(#[case] engine: Engine) {
    let h = harness(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;

    let stored = h
        .store
        .portal(PortalId(portal))
        .await
        .unwrap()
        .expect("portal stored");
    assert_eq!(stored.state, PortalState::Installed);
    assert_eq!(
        stored.scopes,
        ["oauth", "crm.objects.contacts.read", "tickets"]
    );
    assert_eq!(
        stored.hub_domain.as_deref(),
        Some(format!("portal-{portal}.example.com").as_str())
    );
    assert!(stored.installer_email.is_some());

    let tokens = h.instance();
    let access = tokens.token_for(PortalId(portal)).await.unwrap();
    let sealed = h.store.tokens(PortalId(portal)).await.unwrap().unwrap();
    let open = h.install.keys.open_pair(PortalId(portal), &sealed).unwrap();
    assert_eq!(
        h.read_contact(&access).await,
        StatusCode::OK,
        "the stored token works at HubSpot"
    );

    let raw = raw_database_text(&h).await;
    assert!(
        !raw.contains(open.access.expose_secret()),
        "access token in plain text"
    );
    assert!(
        !raw.contains(open.refresh.expose_secret()),
        "refresh token in plain text"
    );
    let trail = h.store.audit_trail(PortalId(portal)).await.unwrap();
    assert_eq!(
        trail.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["installed"]
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn failed_installs_show_a_4xx_page_and_store_nothing(#[case] engine: Engine) {
    let h = harness(engine).await;
    let portal = h.first_portal();

    let (status, page) = come_back(&consent(&h, portal, "deny").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("cancelled"), "{page}");
    // Anyone can send a link with words of their own: the page never shows them.
    let phishing = format!(
        "{}/oauth/callback?error=access_denied&error_description=Call+555-0100+to+restore+access",
        h.spoke
    );
    let (status, page) = callback(&phishing, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("cancelled") && !page.contains("555"),
        "{page}"
    );

    let forged = format!("{}/oauth/callback?code=abc&state=Zm9yZ2Vk.c2ln", h.spoke);
    assert_eq!(callback(&forged, None).await.0, StatusCode::BAD_REQUEST);
    let no_state = format!("{}/oauth/callback?code=abc", h.spoke);
    assert_eq!(callback(&no_state, None).await.0, StatusCode::BAD_REQUEST);

    // A genuine state with a code HubSpot never issued.
    let (authorize, cookie) = start_install(&h).await;
    let state = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mut bad_code = url::Url::parse(&format!("{}/oauth/callback", h.spoke)).unwrap();
    bad_code
        .query_pairs_mut()
        .append_pair("code", "never-issued")
        .append_pair("state", &state);
    let (status, page) = callback(bad_code.as_str(), Some(&cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("did not accept"), "{page}");
    assert!(
        h.store.portals().await.unwrap().is_empty(),
        "nothing stored"
    );

    // A genuine callback in a browser that did not start the install (no install cookie,
    // or another install's) is refused before the state is spent or the code exchanged:
    // the right browser can still complete it afterwards.
    let genuine = consent(&h, portal, "approve").await;
    let (_, another_browsers) = start_install(&h).await;
    for cookie in [None, Some(another_browsers.as_str())] {
        let (status, page) = callback(&genuine.url, cookie).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cookie:?}");
        assert!(page.contains("another browser"), "{page}");
    }
    assert!(h.store.portals().await.unwrap().is_empty());

    // The same callback twice: the second is a replay.
    assert_eq!(come_back(&genuine).await.0, StatusCode::OK);
    let (status, page) = come_back(&genuine).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("already used"), "{page}");
    assert_eq!(
        h.store.audit_trail(PortalId(portal)).await.unwrap().len(),
        1
    );
}

/// `calls` concurrent `token_for` calls spread over `instances`; the distinct tokens handed out.
async fn concurrent_tokens(
    instances: &[Arc<TokenService>],
    portal: i64,
    calls: usize,
) -> std::collections::BTreeSet<String> {
    let callers: Vec<_> = (0..calls)
        .map(|i| {
            let tokens = instances[i % instances.len()].clone();
            tokio::spawn(async move {
                tokens
                    .token_for(PortalId(portal))
                    .await
                    .map(|t| t.expose_secret().to_owned())
            })
        })
        .collect();
    let mut handed_out = std::collections::BTreeSet::new();
    for caller in callers {
        handed_out.insert(caller.await.unwrap().expect("a token"));
    }
    handed_out
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_thousand_concurrent_callers_of_an_expired_token_cause_one_refresh(
    #[case] engine: Engine,
) {
    let h = harness(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    h.clock.advance(PAST_EXPIRY);
    let refreshes_before = h.refresh_calls().await;

    let handed_out = concurrent_tokens(&[h.instance()], portal, 1_000).await;

    assert_eq!(
        h.refresh_calls().await - refreshes_before,
        1,
        "exactly one refresh at HubSpot"
    );
    assert_eq!(handed_out.len(), 1, "every caller got the refreshed token");
}

#[tokio::test]
async fn two_instances_on_one_postgres_refresh_once() {
    let h = harness(Engine::Postgres).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    h.clock.advance(PAST_EXPIRY);
    let before = h.refresh_calls().await;

    // Two instances as two processes would be: their own pools, their own lease holders.
    let a = h.instance_on(h.db.store().await);
    let b = h.instance_on(h.db.store().await);
    let handed_out = concurrent_tokens(&[a, b], portal, 1_000).await;
    assert_eq!(h.refresh_calls().await - before, 1);
    assert_eq!(handed_out.len(), 1);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_revoked_refresh_token_means_needs_reauth_until_reinstalled(#[case] engine: Engine) {
    let h = harness(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    h.sim.client().revoke(portal).await.unwrap();
    h.clock.advance(PAST_EXPIRY);

    let tokens = h.instance();
    assert!(
        matches!(tokens.token_for(PortalId(portal)).await, Err(TokenError::NeedsReauth(p)) if p == PortalId(portal))
    );
    let stored = h.store.portal(PortalId(portal)).await.unwrap().unwrap();
    assert_eq!(stored.state, PortalState::NeedsReauth);
    assert!(
        matches!(
            tokens.token_for(PortalId(portal)).await,
            Err(TokenError::NeedsReauth(_))
        ),
        "stays so"
    );

    install_portal(&h, portal).await;
    assert_eq!(
        h.store
            .portal(PortalId(portal))
            .await
            .unwrap()
            .unwrap()
            .state,
        PortalState::Installed
    );
    assert!(tokens.token_for(PortalId(portal)).await.is_ok());
    let actions = h.audit_actions(portal).await;
    assert_eq!(actions, ["installed", "needs_reauth", "reinstalled"]);
}

/// 48 rounds of the refresher, each after 1,600 s (the token has 200 s left, inside the
/// 300 s margin): a day of 30-minute tokens without one of them expiring.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn the_refresher_keeps_tokens_valid_for_a_simulated_day(#[case] engine: Engine) {
    let h = harness(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let before = h.refresh_calls().await;
    let tokens = h.instance();
    for round in 1..=48 {
        h.clock.advance(TOKEN_TTL - Duration::from_secs(200));
        let sealed = h
            .store
            .tokens(PortalId(portal))
            .await
            .unwrap()
            .expect("tokens kept");
        assert!(
            sealed.access_expires_at > h.clock.now_ms(),
            "the stored token expired before round {round}"
        );
        tokens.refresh_due().await;
        assert_eq!(
            h.refresh_calls().await - before,
            round,
            "one refresh in round {round}"
        );
    }
    let access = tokens.token_for(PortalId(portal)).await.unwrap();
    assert_eq!(
        h.read_contact(&access).await,
        StatusCode::OK,
        "still a working token after a simulated day"
    );
    assert_eq!(
        h.store
            .portal(PortalId(portal))
            .await
            .unwrap()
            .unwrap()
            .state,
        PortalState::Installed
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn uninstall_removes_the_app_at_hubspot_and_erase_forgets_the_portal(#[case] engine: Engine) {
    let h = harness(engine).await;
    let portal = h.first_portal();
    install_portal(&h, portal).await;
    let tokens = h.instance();

    removal::uninstall(h.store.as_ref(), &tokens, PortalId(portal), "operator:test")
        .await
        .unwrap();
    let at_hubspot = h.sim.client().portal(portal).await.unwrap();
    assert_eq!(
        at_hubspot["installed"],
        json!(false),
        "HubSpot's app-uninstall API was called"
    );
    assert_eq!(
        h.store
            .portal(PortalId(portal))
            .await
            .unwrap()
            .unwrap()
            .state,
        PortalState::Uninstalled
    );
    assert!(h.store.tokens(PortalId(portal)).await.unwrap().is_none());

    removal::erase(
        h.store.as_ref(),
        PortalId(portal),
        "operator:test",
        h.clock.now_ms(),
    )
    .await
    .unwrap();
    assert!(h.store.portal(PortalId(portal)).await.unwrap().is_none());
    let actions = h.audit_actions(portal).await;
    assert_eq!(actions, ["installed", "uninstalled", "erased"]);
    assert!(removal::erase(
        h.store.as_ref(),
        PortalId(portal),
        "operator:test",
        h.clock.now_ms()
    )
    .await
    .is_err());
}

/// One address cannot drive the install endpoints in a loop: past its burst it gets `429`
/// with the seconds to wait, before any state is issued or any callback looked at. (Each
/// check allows for a refill or two while the requests are sent: one a second.)
#[tokio::test]
async fn the_install_endpoints_hold_each_address_to_a_rate() {
    use spoke_server::oauth::throttle::BURST;

    let h = harness(Engine::Sqlite).await;
    let get = |path: &'static str| browser().get(format!("{}{path}", h.spoke)).send();
    let mut admitted = 0;
    let mut held = None;
    for _ in 0..BURST + 20 {
        let answer = get("/oauth/install").await.unwrap();
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            held = Some(answer);
            break;
        }
        assert_eq!(answer.status(), StatusCode::FOUND);
        admitted += 1;
    }
    assert!(admitted >= BURST, "{admitted} admitted");
    let held = held.expect("held past the burst");
    assert!(
        held.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(cookies_set(&held).is_empty(), "no state issued");
    let mut callbacks = Vec::new();
    for _ in 0..5 {
        callbacks.push(
            get("/oauth/callback?code=x&state=y")
                .await
                .unwrap()
                .status(),
        );
    }
    assert!(
        callbacks.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{callbacks:?}"
    );
}
