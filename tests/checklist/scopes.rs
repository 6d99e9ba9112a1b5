//! Checklist item: the scopes the app requests match what it reads. `spoke serve` refuses
//! to start when an object type it is told to hydrate lacks its read scope among the
//! required scopes, and names the scope.

use server::oauth::vault::Keyring;

use crate::support::*;

#[tokio::test]
async fn requested_scopes_must_cover_every_object_type_spoke_hydrates() {
    let key = Keyring::generate_entry("k1");
    let settings = |objects: &'static str| {
        [
            ("SPOKE_HUBSPOT_CLIENT_ID", "checklist-app"),
            ("SPOKE_TOKEN_KEYS", key.as_str()),
            ("SPOKE_HUBSPOT_SCOPES", "oauth crm.objects.contacts.read"),
            ("SPOKE_HYDRATOR_OBJECTS", objects),
        ]
    };
    let refused = spoke_command("sqlite://unused.db", &settings("contacts deals"))
        .arg("serve")
        .output()
        .await
        .expect("spoke runs");
    assert!(!refused.status.success(), "start-up is refused");
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(
        said.contains("SPOKE_HUBSPOT_SCOPES") && said.contains("crm.objects.deals.read"),
        "names the missing scope: {said}"
    );

    let db = spoke_store::testing::TestDb::new(spoke_store::Engine::Sqlite).await;
    let spoke = Spoke::start(db.url(), &settings("contacts")).await;
    assert!(
        spoke.logs().contains("listening"),
        "a matching configuration starts"
    );
}
