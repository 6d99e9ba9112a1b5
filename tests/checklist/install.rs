//! Checklist items for the install flow, against the real binaries' logs: OAuth secrets
//! stay out of them (tokens "managed and refreshed without user involvement", and never
//! exposed), even at TRACE through an install, a refresh and an uninstall.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use server::oauth::vault::Keyring;
use spoke_store::testing::TestDb;
use spoke_store::{Engine, PortalId};

use crate::support::*;

#[tokio::test]
async fn no_token_secret_or_key_reaches_the_logs_at_trace_level() {
    let db = TestDb::new(Engine::Sqlite).await;
    let mut settings = app_settings(2);
    settings.access_token_ttl = 2;
    let sim = start_sim(settings).await;
    let key = Keyring::generate_entry("k1");
    let hubspot = sim.base_url();
    let env = [
        ("SPOKE_LOG", "trace"),
        ("SPOKE_HUBSPOT_CLIENT_ID", "checklist-app"),
        ("SPOKE_HUBSPOT_API_BASE", hubspot.as_str()),
        ("SPOKE_HUBSPOT_AUTH_BASE", hubspot.as_str()),
        ("SPOKE_TOKEN_KEYS", key.as_str()),
        ("SPOKE_TOKEN_REFRESH_MARGIN", "1"),
    ];
    let spoke = Spoke::start(db.url(), &env).await;
    let portal = sim.sim.world(|w| w.portal_ids().next().unwrap());
    install_through_oauth(&spoke, &sim.base_url(), portal).await;

    // Collect every token spoke holds while the refresher renews the 2-second tokens.
    let keys = Keyring::parse(&key).unwrap();
    let store = db.store().await;
    let mut seen = BTreeSet::new();
    let started = Instant::now();
    while sim.sim.refresh_calls() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the refresher did not run"
        );
        if let Some(sealed) = store.tokens(PortalId(portal)).await.unwrap() {
            let open = keys.open_pair(PortalId(portal), &sealed).unwrap();
            seen.insert(open.access.expose_secret().to_owned());
            seen.insert(open.refresh.expose_secret().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sealed = store
        .tokens(PortalId(portal))
        .await
        .unwrap()
        .expect("tokens");
    let open = keys.open_pair(PortalId(portal), &sealed).unwrap();
    seen.insert(open.access.expose_secret().to_owned());

    let uninstall = spoke_command(db.url(), &env)
        .args(["portals", "uninstall", &portal.to_string()])
        .output()
        .await
        .unwrap();
    assert!(
        uninstall.status.success(),
        "{}",
        String::from_utf8_lossy(&uninstall.stderr)
    );
    let portal_state = sim.client().portal(portal).await.unwrap();
    assert_eq!(portal_state["installed"], false);

    let logs = format!(
        "{}\n{}\n{}",
        spoke.logs(),
        String::from_utf8_lossy(&uninstall.stdout),
        String::from_utf8_lossy(&uninstall.stderr)
    );
    assert!(
        logs.contains("app installed")
            && logs.contains("access token refreshed")
            && logs.contains("app uninstalled"),
        "the logs cover all three steps"
    );
    assert!(seen.len() >= 3, "tokens collected: {}", seen.len());
    for token in &seen {
        assert!(!logs.contains(token.as_str()), "a token is in the logs");
    }
    assert!(!logs.contains(SECRET), "the client secret is in the logs");
    assert!(
        !logs.contains(key.split_once(':').unwrap().1),
        "the token key is in the logs"
    );
    sim.stop().await;
}

/// `spoke serve --help` lists every setting with its variable, but never the value of one
/// that holds a secret (a URL with a token or credentials in it).
#[tokio::test]
async fn help_never_shows_a_secret_setting_s_value() {
    let secrets = [
        (
            "SPOKE_DATABASE_URL",
            "postgres://spoke:db-password-7@db/spoke",
        ),
        (
            "SPOKE_ALERT_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/slack-token-7",
        ),
        (
            "SPOKE_SINK_HTTP_URL",
            "https://sink:sink-password-7@sink.test/in",
        ),
        ("SPOKE_NATS_URL", "nats://nats:nats-password-7@nats:4222"),
    ];
    let output = spoke_command("sqlite::memory:", &secrets)
        .args(["serve", "--help"])
        .output()
        .await
        .expect("spoke runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for (variable, _) in secrets {
        assert!(help.contains(variable), "{variable} is listed");
    }
    for secret in [
        "db-password-7",
        "slack-token-7",
        "sink-password-7",
        "nats-password-7",
    ] {
        assert!(!help.contains(secret), "{secret} shown:\n{help}");
    }
}
