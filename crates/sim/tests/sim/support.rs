//! A simulator per test, and a webhook receiver that records what reaches it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use spoke_sim::{RunningSim, Settings};
use tokio::net::TcpListener;

pub const SECRET: &str = "sim-test-secret";
pub const TARGET: &str = "https://hooks.spoke.test/webhooks/hubspot?tenant=a%2Cb";

pub fn settings() -> Settings {
    let mut s = Settings::defaults();
    s.portals = 5;
    s.records = 50;
    s.client_secret = SECRET.into();
    s
}

pub async fn sim(settings: Settings) -> RunningSim {
    sim_on(settings, hubspot::time::Clock::system()).await
}

/// The simulator on `clock` (a manual one, for tests that move time on).
pub async fn sim_on(settings: Settings, clock: hubspot::time::Clock) -> RunningSim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    spoke_sim::start(settings, listener, clock)
        .await
        .expect("simulator starts")
}

pub fn first_portal(sim: &RunningSim) -> i64 {
    sim.sim.world(|w| w.portal_ids().next().unwrap())
}

/// A bearer token for `portal` through the admin API.
pub async fn token(sim: &RunningSim, portal: i64) -> String {
    let pair = sim.client().issue_tokens(portal).await.unwrap();
    pair["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn events(&self) -> Vec<Value> {
        serde_json::from_slice(&self.body).expect("a JSON array")
    }
}

/// A webhook receiver on a free port: request `n` (from 0) is answered with `respond(n)`
/// after `delay`.
pub struct Receiver {
    pub base_url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start(respond: fn(usize) -> StatusCode, delay: Duration) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (in_flight, max_in_flight) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let handler = {
            let (received, in_flight, max_in_flight) =
                (received.clone(), in_flight.clone(), max_in_flight.clone());
            move |headers: HeaderMap, body: Bytes| {
                let (received, in_flight, max_in_flight) =
                    (received.clone(), in_flight.clone(), max_in_flight.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let n = {
                        let mut all = received.lock().unwrap();
                        all.push(Received {
                            at: Instant::now(),
                            headers,
                            body,
                        });
                        all.len() - 1
                    };
                    tokio::time::sleep(delay).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    respond(n)
                }
            }
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/webhooks/hubspot", post(handler));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base_url,
            received,
            max_in_flight,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Settings that deliver to `receiver` (signed for [`TARGET`]).
pub fn delivering_to(receiver: &Receiver) -> Settings {
    let mut s = settings();
    s.webhook_target_url = Some(TARGET.into());
    s.webhook_deliver_to = Some(receiver.base_url.clone());
    s
}

/// Waits until `done` holds, checking every 20 ms, for at most `limit`.
pub async fn eventually(limit: Duration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `nullable: true` → `type: [T, "null"]`, recursively: OpenAPI 3.0 to JSON Schema.
fn json_schema_from_openapi(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), serde_json::json!([t, "null"]));
                }
            }
            map.values_mut().for_each(json_schema_from_openapi);
        }
        Value::Array(items) => items.iter_mut().for_each(json_schema_from_openapi),
        _ => {}
    }
}

/// Fails unless `instance` conforms to `components.schemas.<schema>` of one of HubSpot's
/// OpenAPI specs, vendored unmodified in `crates/sim/openapi/`.
pub fn assert_conforms_to(spec_file: &str, schema: &str, instance: &Value) {
    let path = format!("{}/openapi/{spec_file}", env!("CARGO_MANIFEST_DIR"));
    let mut spec: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vendored spec"))
            .expect("spec JSON");
    json_schema_from_openapi(&mut spec);
    let root = serde_json::json!({
        "$ref": format!("#/components/schemas/{schema}"),
        "components": spec["components"],
    });
    let validator = jsonschema::draft4::new(&root).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema} violations: {errors:#?}\ninstance: {instance:#}"
    );
    assert!(
        !instance.as_object().is_some_and(|o| o.is_empty()),
        "empty instance proves nothing"
    );
}

/// Sends a request the test expects to reach the server, and reads what came back.
pub trait Fetch {
    async fn fetch_json<T: serde::de::DeserializeOwned>(self) -> T;
    async fn fetch_status(self) -> reqwest::StatusCode;
}

impl Fetch for reqwest::RequestBuilder {
    async fn fetch_json<T: serde::de::DeserializeOwned>(self) -> T {
        self.send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("a JSON body")
    }

    async fn fetch_status(self) -> reqwest::StatusCode {
        self.send().await.expect("the server answers").status()
    }
}

/// The id of one of `portal`'s contacts that leaves its phone empty (a quarter do).
pub fn contact_without_phone(sim: &spoke_sim::RunningSim, portal: i64) -> i64 {
    use spoke_sim::objects::{ObjectType, Simulated};
    (1..100)
        .map(|i| ObjectType::CONTACTS.id_base() + i)
        .find(|id| {
            sim.sim
                .world(|w| w.record(portal, ObjectType::CONTACTS, *id))
                .is_some_and(|r| !r.properties.contains_key("phone"))
        })
        .expect("a contact without a phone")
}
