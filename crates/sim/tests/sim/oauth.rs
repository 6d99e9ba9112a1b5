//! HubSpot's OAuth for public apps: install through authorize and consent, the token
//! endpoints, token information, revocation and the app-uninstall API, with responses
//! checked against HubSpot's OAuth specs.

use reqwest::redirect::Policy;
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{json, Value};
use spoke_sim::objects::{ObjectType, Simulated};
use spoke_sim::RunningSim;

use crate::support::*;

const CALLBACK: &str = "http://localhost:7777/oauth/callback";
const CLIENT_ID: &str = "sim-test-client";

fn oauth_settings() -> spoke_sim::Settings {
    let mut s = settings();
    s.client_id = CLIENT_ID.into();
    s.redirect_uris = vec![CALLBACK.into(), "http://127.0.0.1:7777/cb".into()];
    s.required_scopes = "oauth crm.objects.contacts.read".into();
    s
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn authorize_url(sim: &RunningSim, client_id: &str, redirect: &str, scope: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", sim.base_url())).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", scope)
        .append_pair("optional_scope", "tickets")
        .append_pair("state", "csrf-123");
    url.to_string()
}

/// The query pairs of a redirect's `Location`.
fn location(response: &reqwest::Response) -> (String, std::collections::HashMap<String, String>) {
    assert_eq!(response.status(), StatusCode::FOUND, "a redirect");
    let to = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let pairs = to.query_pairs().into_owned().collect();
    (to[..url::Position::AfterPath].to_owned(), pairs)
}

/// Reads the pending request id out of the consent page's form.
fn request_id(page: &str) -> String {
    let start = page
        .find("name=\"request\" value=\"")
        .expect("consent form")
        + "name=\"request\" value=\"".len();
    page[start..start + 32].to_owned()
}

async fn exchange(sim: &RunningSim, version: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    browser()
        .post(format!("{}/oauth/{version}/token", sim.base_url()))
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn consent_and_exchange(sim: &RunningSim, portal: i64) -> Value {
    let page = browser()
        .get(authorize_url(
            sim,
            CLIENT_ID,
            CALLBACK,
            "oauth crm.objects.contacts.read",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("crm.objects.contacts.read") && html.contains("tickets"),
        "the page lists the scopes"
    );
    let decided = browser()
        .post(format!("{}/oauth/authorize/decision", sim.base_url()))
        .form(&[
            ("request", request_id(&html).as_str()),
            ("portal", &portal.to_string()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let (back_to, query) = location(&decided);
    assert_eq!(back_to, CALLBACK);
    assert_eq!(query["state"], "csrf-123");
    let fields = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
        ("redirect_uri", CALLBACK),
        ("code", query["code"].as_str()),
    ];
    let response = exchange(sim, "2026-03", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_install_goes_through_consent_and_every_token_response_conforms() {
    let sim = sim(oauth_settings()).await;
    let portal = first_portal(&sim);
    let pair = consent_and_exchange(&sim, portal).await;
    assert_conforms_to("oauth-v3.json", "AccessTokenResponse", &pair);
    assert_eq!(pair["hub_id"], portal);
    assert_eq!(pair["expires_in"], 1800);
    assert_eq!(
        pair["scopes"],
        json!(["oauth", "crm.objects.contacts.read", "tickets"])
    );
    let (access, refresh) = (
        pair["access_token"].as_str().unwrap(),
        pair["refresh_token"].as_str().unwrap(),
    );

    let http = reqwest::Client::new();
    let read = |object: ObjectType, token: String| {
        let url = format!(
            "{}/crm/v3/objects/{}/{}",
            sim.base_url(),
            object.path_name(),
            object.id_base() + 1
        );
        let http = http.clone();
        async move { http.get(url).bearer_auth(token).fetch_status().await }
    };
    assert_eq!(
        read(ObjectType::CONTACTS, access.into()).await,
        StatusCode::OK
    );
    assert_eq!(
        read(ObjectType::TICKETS, access.into()).await,
        StatusCode::OK,
        "optional scope granted"
    );
    assert_eq!(
        read(ObjectType::DEALS, access.into()).await,
        StatusCode::FORBIDDEN,
        "scope never granted"
    );

    let form = |token: &str| {
        [
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", SECRET.to_owned()),
            ("token", token.to_owned()),
        ]
    };
    let introspect = |token: String| {
        let http = http.clone();
        let url = format!("{}/oauth/v3/token/introspect", sim.base_url());
        let body = form(&token);
        async move { http.post(url).form(&body).fetch_json().await }
    };
    let info = introspect(access.into()).await;
    assert_conforms_to("oauth-v3.json", "TokenInfoResponseBaseIF", &info);
    assert_eq!(
        (
            info["active"].as_bool(),
            info["token_use"].as_str(),
            info["hub_id"].as_i64()
        ),
        (Some(true), Some("access_token"), Some(portal))
    );
    let info = introspect(refresh.into()).await;
    assert_conforms_to("oauth-v3.json", "TokenInfoResponseBaseIF", &info);
    assert_eq!(info["token_use"], "refresh_token");

    let v1 = http
        .get(format!(
            "{}/oauth/v1/access-tokens/{access}",
            sim.base_url()
        ))
        .fetch_json()
        .await;
    assert_conforms_to("oauth-v1.json", "AccessTokenInfoResponse", &v1);
    assert_eq!(
        v1["user"],
        format!("installer{}@portal{portal}.example.com", v1["user_id"])
    );
    let v1 = http
        .get(format!(
            "{}/oauth/v1/refresh-tokens/{refresh}",
            sim.base_url()
        ))
        .fetch_json()
        .await;
    assert_conforms_to("oauth-v1.json", "RefreshTokenInfoResponse", &v1);

    let refreshed = exchange(
        &sim,
        "v1",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("refresh_token", refresh),
        ],
    )
    .await;
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_conforms_to("oauth-v1.json", "AccessTokenResponse", &refreshed);
    assert_ne!(refreshed["access_token"], pair["access_token"]);
    assert_eq!(
        read(
            ObjectType::CONTACTS,
            refreshed["access_token"].as_str().unwrap().into()
        )
        .await,
        StatusCode::OK
    );

    let revoked = http
        .post(format!("{}/oauth/2026-09/token/revoke", sim.base_url()))
        .form(&form(refresh))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let refused = exchange(
        &sim,
        "v3",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("refresh_token", refresh),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["error"].as_str()),
        (Some("BAD_REFRESH_TOKEN"), Some("invalid_grant"))
    );
    assert_conforms_to("oauth-v3.json", "Error", &body);
    assert_eq!(introspect(refresh.into()).await, json!({"active": false}));
    assert_eq!(
        read(ObjectType::CONTACTS, access.into()).await,
        StatusCode::OK,
        "revoking the refresh token leaves access tokens"
    );
}

#[tokio::test]
async fn authorize_refuses_bad_requests_on_its_own_page_and_reports_a_denial() {
    let sim = sim(oauth_settings()).await;
    let refused = [
        (
            "an unknown client",
            authorize_url(
                &sim,
                "someone-else",
                CALLBACK,
                "oauth crm.objects.contacts.read",
            ),
        ),
        (
            "an unregistered redirect",
            authorize_url(
                &sim,
                CLIENT_ID,
                "https://evil.example/cb",
                "oauth crm.objects.contacts.read",
            ),
        ),
        (
            "an IP-address redirect",
            authorize_url(
                &sim,
                CLIENT_ID,
                "http://127.0.0.1:7777/cb",
                "oauth crm.objects.contacts.read",
            ),
        ),
        (
            "a missing required scope",
            authorize_url(&sim, CLIENT_ID, CALLBACK, "oauth"),
        ),
    ];
    for (what, url) in refused {
        let page = browser().get(url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{what}");
        assert!(
            page.text().await.unwrap().contains("id=\"error\""),
            "{what}"
        );
    }

    let html = browser()
        .get(authorize_url(
            &sim,
            CLIENT_ID,
            CALLBACK,
            "oauth crm.objects.contacts.read",
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let denied = browser()
        .post(format!("{}/oauth/authorize/decision", sim.base_url()))
        .form(&[
            ("request", request_id(&html).as_str()),
            ("portal", &first_portal(&sim).to_string()),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    let (_, query) = location(&denied);
    assert_eq!(
        (query["error"].as_str(), query["state"].as_str()),
        ("access_denied", "csrf-123")
    );
    assert!(!query.contains_key("code"));
}

/// A fresh code through authorize, with consent set in advance.
async fn fresh_code(sim: &RunningSim) -> String {
    let response = browser()
        .get(authorize_url(
            sim,
            CLIENT_ID,
            CALLBACK,
            "oauth crm.objects.contacts.read",
        ))
        .send()
        .await
        .unwrap();
    location(&response).1["code"].clone()
}

async fn exchange_code(
    sim: &RunningSim,
    code: &str,
    secret: &str,
    redirect: &str,
) -> reqwest::Response {
    exchange(
        sim,
        "v3",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", secret),
            ("redirect_uri", redirect),
            ("code", code),
        ],
    )
    .await
}

/// HubSpot's `status` of a 400 from the token endpoint.
async fn refusal(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    response.json::<Value>().await.unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_codes_secrets_redirects_and_grants() {
    let sim = sim(oauth_settings()).await;
    let portal = first_portal(&sim);
    sim.client().consent(portal, true).await.unwrap();

    assert_eq!(
        refusal(exchange_code(&sim, "forged", SECRET, CALLBACK).await).await,
        "BAD_AUTH_CODE"
    );
    assert_eq!(
        refusal(exchange_code(&sim, &fresh_code(&sim).await, "wrong-secret", CALLBACK).await).await,
        "BAD_CLIENT_SECRET"
    );
    let elsewhere = exchange_code(
        &sim,
        &fresh_code(&sim).await,
        SECRET,
        "http://localhost:7777/elsewhere",
    )
    .await;
    assert_eq!(refusal(elsewhere).await, "BAD_REDIRECT_URI");
    let once = fresh_code(&sim).await;
    assert_eq!(
        exchange_code(&sim, &once, SECRET, CALLBACK).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        refusal(exchange_code(&sim, &once, SECRET, CALLBACK).await).await,
        "BAD_AUTH_CODE",
        "a code works once"
    );
    let password = exchange(
        &sim,
        "v3",
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_eq!(refusal(password).await, "BAD_GRANT_TYPE");
    let unknown_version = exchange(&sim, "v9", &[("grant_type", "refresh_token")]).await;
    assert_eq!(unknown_version.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn uninstalling_through_the_api_stops_tokens_and_webhooks_until_reinstalled() {
    let sim = sim(oauth_settings()).await;
    let portal = first_portal(&sim);
    let pair = consent_and_exchange(&sim, portal).await;
    let access = pair["access_token"].as_str().unwrap();
    let http = reqwest::Client::new();

    let gone = http
        .delete(format!(
            "{}/appinstalls/2026-03/external-install",
            sim.base_url()
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let contact = format!(
        "{}/crm/v3/objects/contacts/{}",
        sim.base_url(),
        ObjectType::CONTACTS.id_base() + 1
    );
    assert_eq!(
        http.get(&contact).bearer_auth(access).fetch_status().await,
        StatusCode::UNAUTHORIZED
    );
    let refresh = exchange(
        &sim,
        "2026-03",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("refresh_token", pair["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    let record = format!("contacts/{}", ObjectType::CONTACTS.id_base() + 1);
    let change = sim
        .client()
        .objects(
            Method::PATCH,
            portal,
            &record,
            &json!({"properties": {"firstname": "Ada"}}),
        )
        .await
        .unwrap();
    assert_eq!(change["events"], 0, "no webhooks for an uninstalled app");

    let again = consent_and_exchange(&sim, portal).await;
    assert_eq!(
        http.get(&contact)
            .bearer_auth(again["access_token"].as_str().unwrap())
            .fetch_status()
            .await,
        StatusCode::OK
    );
}
