//! Runs the real `spoke` binary for the checklist suite and talks to it like HubSpot does.
//!
//! The binary is `target/<profile>/spoke`, one level above this test executable;
//! `scripts/test.sh` builds it first. Each spoke listens on a free port (`SPOKE_LISTEN`
//! port 0) and logs JSON; the harness reads the `listening` event to learn the address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot::signature::{sign_v1, sign_v3};
use hubspot::ClientSecret;
use serde_json::{json, Value};
use spoke_store::testing::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// The app's client secret in every test.
pub const SECRET: &str = "checklist-client-secret-5e1d0c9b";
/// The URL HubSpot calls, as if a proxy sat in front of spoke: signatures cover it.
pub const PUBLIC_URL: &str = "https://hooks.spoke.test";
pub const WEBHOOK_PATH: &str = "/webhooks/hubspot";

static NEXT_EVENT_ID: AtomicI64 = AtomicI64::new(1);

/// A fresh event id, unique within this test run.
pub fn next_event_id() -> i64 {
    NEXT_EVENT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Now by the wall clock, which the real binaries use.
pub fn now_ms() -> i64 {
    hubspot::time::Clock::system().now_ms()
}

/// A `contact.propertyChange` event as HubSpot sends it.
pub fn event(portal_id: i64, event_id: i64, attempt: i64) -> Value {
    json!({
        "eventId": event_id, "subscriptionId": 4001, "portalId": portal_id, "appId": 54321,
        "occurredAt": 1_735_689_599_000_i64 + event_id, "subscriptionType": "contact.propertyChange",
        "attemptNumber": attempt, "objectId": 1_000_000 + event_id, "propertyName": "firstname",
        "propertyValue": "Zoë", "changeSource": "CRM_UI"
    })
}

/// `n` new events for one portal.
pub fn batch(portal_id: i64, n: usize) -> Vec<Value> {
    (0..n)
        .map(|_| event(portal_id, next_event_id(), 0))
        .collect()
}

fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (or cargo build --bin {name}) first",
        path.display()
    );
    path
}

/// The `spoke` binary with the suite's environment (and nothing else) plus `settings`.
pub fn spoke_command(database_url: &str, settings: &[(&str, &str)]) -> Command {
    let mut env: HashMap<&str, &str> = HashMap::from([
        ("SPOKE_LISTEN", "127.0.0.1:0"),
        ("SPOKE_DATABASE_URL", database_url),
        ("SPOKE_DATABASE_MAX_CONNECTIONS", "4"),
        ("SPOKE_PUBLIC_URL", PUBLIC_URL),
        ("SPOKE_HUBSPOT_CLIENT_SECRET", SECRET),
        ("SPOKE_LOG_FORMAT", "json"),
        ("SPOKE_LOG", "info"),
    ]);
    env.extend(settings.iter().copied());
    let mut command = Command::new(binary("spoke"));
    command.env_clear().envs(env);
    command
}

/// A running `spoke serve`, killed when dropped.
pub struct Spoke {
    child: Child,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    logs: Arc<Mutex<Vec<String>>>,
    reader: JoinHandle<()>,
}

impl Spoke {
    /// Starts spoke on `database_url` with extra `SPOKE_*` settings and waits until ready.
    pub async fn start(database_url: &str, settings: &[(&str, &str)]) -> Self {
        let mut child = spoke_command(database_url, settings)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn spoke");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("spoke logs `listening` within 30 s")
                .expect("read stdout")
                .unwrap_or_else(|| {
                    panic!(
                        "spoke exited before listening; log: {:?}",
                        logs.lock().unwrap()
                    )
                });
            logs.lock().unwrap().push(line.clone());
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["message"] == "listening" {
                break entry["addr"]
                    .as_str()
                    .expect("addr field")
                    .parse()
                    .expect("socket address");
            }
        };
        let reader = tokio::spawn({
            let logs = logs.clone();
            async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().unwrap().push(line);
                }
            }
        });
        let spoke = Self {
            child,
            addr,
            http: reqwest::Client::new(),
            logs,
            reader,
        };
        spoke.wait_ready().await;
        spoke
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("spoke never became ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Something that delivers to this spoke from another task, outliving a borrow of it.
    pub fn deliverer(&self) -> Deliverer {
        Deliverer {
            http: self.http.clone(),
            url: self.url(WEBHOOK_PATH),
        }
    }

    /// POSTs `body` to the webhook endpoint signed with v3 at `timestamp`.
    pub async fn post_signed_at(&self, body: &[u8], timestamp: i64) -> reqwest::Response {
        self.deliverer()
            .post_signed_at(body, timestamp)
            .await
            .expect("spoke answers")
    }

    /// A delivery as HubSpot makes it: the events, freshly signed with v3.
    pub async fn deliver(&self, events: &[Value]) -> reqwest::Response {
        self.deliverer()
            .deliver(events)
            .await
            .expect("spoke answers")
    }

    /// A delivery signed only with v1, as older HubSpot sources do.
    pub async fn deliver_v1(&self, events: &[Value]) -> reqwest::Response {
        let body = serde_json::to_vec(events).expect("json");
        let signature = sign_v1(&ClientSecret::new(SECRET), &body);
        self.post_with(
            body,
            &[
                ("X-HubSpot-Signature", &signature),
                ("X-HubSpot-Signature-Version", "v1"),
            ],
        )
        .await
    }

    pub async fn post_with(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url(WEBHOOK_PATH))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("spoke answers")
    }

    /// Everything spoke logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The JSON log entries that `wanted` picks, once there are at least `count` (spoke's
    /// output arrives through a pipe, a moment after the response), or after 5 s.
    pub async fn log_entries(&self, wanted: impl Fn(&Value) -> bool, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let entries: Vec<Value> = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|entry| wanted(entry))
                .collect();
            if entries.len() >= count || tokio::time::Instant::now() > deadline {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill_9(mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// SIGTERM, then the exit status once spoke has shut down.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("spoke stops within 30 s of SIGTERM")
            .expect("wait");
        let _ = (&mut self.reader).await;
        status
    }
}

/// Sends signed deliveries to one spoke; connection errors are returned, not panicked on.
#[derive(Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    url: String,
}

impl Deliverer {
    pub async fn post_signed_at(
        &self,
        body: &[u8],
        timestamp: i64,
    ) -> reqwest::Result<reqwest::Response> {
        let ts = timestamp.to_string();
        let signature = sign_v3(
            &ClientSecret::new(SECRET),
            "POST",
            &public_webhook_url(),
            body,
            &ts,
        );
        self.http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("X-HubSpot-Signature-v3", signature)
            .header("X-HubSpot-Request-Timestamp", ts)
            .body(body.to_vec())
            .send()
            .await
    }

    pub async fn deliver(&self, events: &[Value]) -> reqwest::Result<reqwest::Response> {
        self.post_signed_at(&serde_json::to_vec(events).expect("json"), now_ms())
            .await
    }
}

impl Drop for Spoke {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// HubSpot as the checklist's app knows it: `portals` portals, the app's client id and
/// secret; the rest at the simulator's defaults.
pub fn app_settings(portals: u32) -> sim::Settings {
    let mut settings = sim::Settings::defaults();
    settings.portals = portals;
    settings.client_id = "checklist-app".into();
    settings.client_secret = SECRET.into();
    settings
}

/// The simulator with `settings`, on a free port, on the system clock.
pub async fn start_sim(settings: sim::Settings) -> sim::RunningSim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::start(settings, listener, hubspot::time::Clock::system())
        .await
        .unwrap()
}

pub fn public_webhook_url() -> String {
    format!("{PUBLIC_URL}{WEBHOOK_PATH}")
}

/// The inbox keys as `(portal, event id)`, straight from the database.
pub async fn stored_ids(db: &TestDb) -> Vec<(i64, i64)> {
    db.inbox_keys()
        .await
        .into_iter()
        .map(|k| (k.portal_id.0, k.event_id))
        .collect()
}

/// `(portal, event id)` of each event.
pub fn ids(events: &[Value]) -> Vec<(i64, i64)> {
    events
        .iter()
        .map(|e| {
            (
                e["portalId"].as_i64().expect("portalId"),
                e["eventId"].as_i64().expect("eventId"),
            )
        })
        .collect()
}

/// A TCP proxy that a test can cut (every connection dropped, new ones refused) and
/// restore, to stage a database outage for one spoke only; in front of several upstreams
/// it is a round-robin load balancer, one upstream per connection.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<Mutex<bool>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::balancing(vec![upstream]).await
    }

    pub async fn balancing(upstreams: Vec<SocketAddr>) -> Self {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(Mutex::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = tokio::spawn({
            let (up, links) = (up.clone(), links.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !*up.lock().unwrap() {
                        continue; // dropped: the connection closes at once
                    }
                    let upstream =
                        upstreams[next.fetch_add(1, Ordering::Relaxed) % upstreams.len()];
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Self {
            addr,
            up,
            links,
            acceptor,
        }
    }

    pub fn cut(&self) {
        *self.up.lock().unwrap() = false;
        self.links
            .lock()
            .unwrap()
            .drain(..)
            .for_each(|link| link.abort());
    }

    pub fn restore(&self) {
        *self.up.lock().unwrap() = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.acceptor.abort();
    }
}

/// What a browser does to install the app into `portal`: spoke's install link, HubSpot's
/// consent (answered in advance at the simulator), back to spoke's callback (HubSpot
/// redirects to the public URL; the test delivers it to spoke).
pub async fn install_through_oauth(spoke: &Spoke, sim_url: &str, portal: i64) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    sim::client::SimClient::new(sim_url)
        .consent(portal, true)
        .await
        .unwrap();
    let location =
        |response: reqwest::Response| response.headers()["location"].to_str().unwrap().to_owned();
    let started = http.get(spoke.url("/oauth/install")).send().await.unwrap();
    // The browser keeps the install cookie and brings it back to the callback.
    let cookie = started.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let authorize = location(started);
    let back = location(http.get(&authorize).send().await.unwrap());
    let query = back.split_once('?').expect("code and state").1;
    let installed = http
        .get(spoke.url(&format!("/oauth/callback?{query}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(installed.status(), 200);
}
