//! The operator dashboard in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, which `scripts/test.sh` installs). An
//! operator signs in (a wrong token first), finds a portal by search, opens it, replays a
//! dead letter and sees it gone; requests without a session or without the CSRF token are
//! refused. Screenshots of the overview and of the portal page are saved under
//! `target/tmp/dashboard/`.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use spoke_server::config::OperatorToken;
use store::Engine;

use crate::support::*;

const TOKEN: &str = "dashboard-operator-token-7f3a";

/// A chromedriver on a free port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (scripts/test.sh installs chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok() {
                return Self { child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {url}");
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--window-size=1400,1000"],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The text of `css`, waiting for it to appear (a click's navigation may still be under
/// way).
async fn text(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits for the browser's URL to satisfy `wanted` (a navigation under way).
async fn wait_for(browser: &Client, wanted: impl Fn(&url::Url) -> bool) {
    for _ in 0..100 {
        if wanted(&browser.current_url().await.unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still at {}", browser.current_url().await.unwrap());
}

async fn save_screenshot(browser: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(name), png).unwrap();
}

async fn sign_in(browser: &Client, spoke: &str, token: &str) {
    browser.goto(&format!("{spoke}/dashboard")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/dashboard/login"),
        "without a session the dashboard sends the browser to sign in"
    );
    browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    browser
        .find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_operator_finds_a_portal_and_replays_its_dead_letter_in_a_real_browser() {
    let h = harness_with(
        Engine::Sqlite,
        "oauth crm.objects.contacts.read",
        |config| {
            config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
            config.monitor.evaluate_every = Duration::from_millis(50);
        },
    )
    .await;
    let portals: Vec<i64> = h.sim.sim.world(|w| w.portal_ids().take(2).collect());
    for portal in &portals {
        install_portal(&h, *portal).await;
    }
    let events = h
        .activity(Activity::seeded(3, 12).in_portals(&portals))
        .await;
    h.settle(events, |counts| {
        !counts.iter().any(|(s, n)| s == "pending" && *n > 0)
    })
    .await;
    // One of the first portal's events ran out of attempts (as after a long HubSpot
    // outage): a dead letter for the operator.
    let dead =
        h.db.number(&format!(
            "SELECT min(id) FROM inbox_events WHERE portal_id = {}",
            portals[0]
        ))
        .await;
    h.db.execute(&format!("DELETE FROM inbox_queue WHERE id = {dead}"))
        .await;
    h.db.execute(&format!(
        "INSERT INTO inbox_queue (state, portal_id, id, attempts, reason, last_error, finished_at) \
         VALUES ('dead', {}, {dead}, 8, 'attempts used up', 'HubSpot answered 500', 0)",
        portals[0]
    ))
    .await;

    // The overview's list is refreshed by each evaluation: wait for one that saw both.
    let listed = admin_once(&h.spoke, TOKEN, "/portals", |list| list["total"] == 2).await;
    assert_eq!(listed["total"], 2, "{listed}");

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&browser, &h.spoke, "not-the-operator-token").await;
    assert_eq!(
        text(&browser, "#login-error").await,
        "That is not the operator token."
    );
    sign_in(&browser, &h.spoke, TOKEN).await;
    let table = text(&browser, "#portals").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/dashboard");
    for portal in &portals {
        assert!(table.contains(&portal.to_string()), "{table}");
    }
    save_screenshot(&browser, "overview.png").await;

    // Search by id: only that portal is listed.
    let q = browser.find(Locator::Css("#q")).await.unwrap();
    q.send_keys(&portals[0].to_string()).await.unwrap();
    browser
        .find(Locator::Css("#search-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The click only starts the form's navigation: wait for the searched page, not the one
    // still showing.
    let searched = format!("q={}", portals[0]);
    wait_for(&browser, |url| {
        url.query().is_some_and(|q| q.contains(&searched))
    })
    .await;
    let links = browser
        .find_all(Locator::Css(".portal-link"))
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    links[0].click().await.unwrap();
    let page = format!("/dashboard/portals/{}", portals[0]);
    wait_for(&browser, |url| url.path() == page).await;
    let row = format!("#dead-event-{dead}");
    assert!(text(&browser, &row).await.contains("HubSpot answered 500"));
    save_screenshot(&browser, "portal.png").await;

    // A form without the CSRF token, and a request without a session, are refused.
    let session = browser.get_named_cookie("spoke_session").await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = format!(
        "{}/dashboard/portals/{}/dead-letters/{dead}/replay",
        h.spoke, portals[0]
    );
    let no_csrf = http
        .post(&replay)
        .header("cookie", format!("spoke_session={}", session.value()))
        .form(&[("sink", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let no_cookie = http
        .post(&replay)
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 401);
    let page_without_cookie = http
        .get(format!("{}/dashboard", h.spoke))
        .send()
        .await
        .unwrap();
    assert_eq!(page_without_cookie.status(), 303);
    assert_eq!(
        page_without_cookie.headers()["location"],
        "/dashboard/login"
    );
    let csp = page_without_cookie.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    // A signed-in form naming another portal in its path replays nothing of this one's.
    let csrf = browser
        .find(Locator::Css("input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .expect("the page's CSRF token");
    let elsewhere = http
        .post(format!(
            "{}/dashboard/portals/{}/dead-letters/{dead}/replay",
            h.spoke, portals[1]
        ))
        .header("cookie", format!("spoke_session={}", session.value()))
        .form(&[("csrf", csrf.as_str()), ("sink", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 303);
    assert_eq!(
        elsewhere.headers()["location"],
        format!("/dashboard/portals/{}?replayed=0", portals[1])
    );
    let state = format!("SELECT count(*) FROM inbox_queue WHERE id = {dead} AND state = 'dead'");
    assert_eq!(h.db.number(&state).await, 1, "still dead");
    browser.refresh().await.unwrap();
    assert!(
        text(&browser, &row).await.contains("HubSpot answered 500"),
        "still dead"
    );

    // The replay button: the dead letter goes back to the queue and is hydrated.
    browser
        .find(Locator::Css(&format!("{row} button.replay")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text(&browser, "#notice")
        .await
        .starts_with("1 dead letters"));
    h.settle(events, |counts| {
        !counts
            .iter()
            .any(|(s, n)| (s == "pending" || s == "dead") && *n > 0)
    })
    .await;
    browser
        .goto(&format!("{}/dashboard/portals/{}", h.spoke, portals[0]))
        .await
        .unwrap();
    assert_eq!(text(&browser, "#no-dead-letters").await, "None.");
    browser.close().await.unwrap();
}

/// Guessing the operator token from one address slows down: past the free failures each
/// sign-in from it waits, even with the right token, until its wait is over.
#[tokio::test]
async fn wrong_operator_tokens_from_one_address_make_it_wait() {
    use spoke_server::dashboard::backoff::FREE_FAILURES;

    let h = harness_with(Engine::Sqlite, "oauth", |config| {
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
    })
    .await;
    for _ in 0..=FREE_FAILURES {
        let guess = dashboard_sign_in(&h.spoke, "not-the-operator-token").await;
        assert_eq!(guess.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    let held = dashboard_sign_in(&h.spoke, TOKEN).await;
    assert_eq!(held.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert!(held.text().await.unwrap().contains("try again in 2 s"));

    h.clock.advance(Duration::from_secs(3));
    let signed_in = dashboard_sign_in(&h.spoke, TOKEN).await;
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
}

/// Signing out ends the session on the server: a copy of its cookie taken before is
/// refused afterwards, on pages and on forms.
#[tokio::test]
async fn a_signed_out_session_is_refused_even_with_a_copy_of_its_cookie() {
    let h = harness_with(Engine::Sqlite, "oauth", |config| {
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
    })
    .await;
    let session = dashboard_session(&h.spoke, TOKEN).await;
    let http = browser();
    let overview = |cookie: String| {
        http.get(format!("{}/dashboard", h.spoke))
            .header("cookie", cookie)
            .send()
    };
    let page = overview(session.clone()).await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-out form's CSRF token");

    let signed_out = http
        .post(format!("{}/dashboard/logout", h.spoke))
        .header("cookie", session.clone())
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), reqwest::StatusCode::SEE_OTHER);
    assert!(cookies_set(&signed_out).contains(&"spoke_session=".to_owned()));

    let copied = overview(session.clone()).await.unwrap();
    assert_eq!(copied.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(copied.headers()["location"], "/dashboard/login");
    let form = http
        .post(format!("{}/dashboard/logout", h.spoke))
        .header("cookie", session)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), reqwest::StatusCode::UNAUTHORIZED);
    let fresh = dashboard_session(&h.spoke, TOKEN).await;
    assert_eq!(
        overview(fresh).await.unwrap().status(),
        reqwest::StatusCode::OK
    );
}

/// Six months before HubSpot stops supporting the configured CRM API version, the
/// overview says so and names the newer version to set; `/api/v1/stats` says the same.
#[tokio::test]
async fn the_overview_warns_before_the_crm_api_version_goes_out_of_support() {
    let ends = chrono::NaiveDate::from_ymd_opt(2027, 9, 1).unwrap();
    let at = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 1)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    let warned_from = at(ends.checked_sub_months(chrono::Months::new(6)).unwrap());
    let before = warned_from - 2 * 86_400_000;
    let h = harness_at(before, Engine::Sqlite, "oauth", |config| {
        config.operator_token = Some(OperatorToken::new(TOKEN).unwrap());
    })
    .await;
    let http = browser();
    let overview = || async {
        let session = dashboard_session(&h.spoke, TOKEN).await;
        let page = http
            .get(format!("{}/dashboard", h.spoke))
            .header("cookie", session)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), reqwest::StatusCode::OK);
        page.text().await.unwrap()
    };
    let stats = || async {
        json_of(
            reqwest::Client::new()
                .get(format!("{}/api/v1/stats", h.spoke))
                .bearer_auth(TOKEN),
        )
        .await["crmApi"]
            .clone()
    };
    assert!(!overview().await.contains(r#"id="api-version""#));
    assert_eq!(stats().await["endsSoon"], false);

    h.clock.advance(Duration::from_millis(
        (warned_from - h.clock.now_ms()) as u64,
    ));
    let html = overview().await;
    assert!(html.contains(r#"id="api-version""#), "{html}");
    assert!(html.contains("SPOKE_HUBSPOT_API_VERSION=2026-09"));
    assert!(html.contains("on 2027-09-01"));
    assert_eq!(
        stats().await,
        json!({
            "version": "2026-03",
            "unsupportedFrom": "2027-09-01",
            "endsSoon": true,
            "newer": "2026-09",
        })
    );
}
