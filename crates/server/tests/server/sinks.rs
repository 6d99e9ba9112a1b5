//! The sinks beside the mirror, end to end on SQLite and PostgreSQL: the simulator changes
//! records, spoke hydrates them, and every change the mirror accepts reaches a Standard
//! Webhooks endpoint (verified by PyPI's `standardwebhooks`, an independent implementation)
//! and NATS JetStream (the server on 127.0.0.1:4222), each with its own retries and dead
//! letters, in order per object.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sim::objects::Simulated;

use async_nats::jetstream;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use rstest::rstest;
use serde_json::{json, Value};
use spoke_server::config::{Config, HttpSinkConfig, NatsSinkConfig, SecretUrl};
use spoke_server::workers::sinks::signing::SigningSecret;
use store::{Engine, ObjectId, PortalId};
use tokio::net::TcpListener;
use url::Url;

use crate::support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NATS: &str = "nats://127.0.0.1:4222";
const OPERATOR_TOKEN: &str = "a-test-operator-token-9f86d0818";

/// What a Standard Webhooks endpoint received, and what it answers next.
#[derive(Clone, Default)]
struct Endpoint {
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Answered instead of `204` while set.
    failing: Arc<Mutex<Option<StatusCode>>>,
}

impl Endpoint {
    /// Serves on a free port; its URL.
    async fn start(&self) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/hooks", listener.local_addr().unwrap())).unwrap();
        let me = self.clone();
        let app = Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| async move {
                if let Some(status) = *me.failing.lock().unwrap() {
                    return status;
                }
                me.received.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn messages(&self) -> Vec<Value> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|(_, body)| serde_json::from_slice(body).unwrap())
            .collect()
    }

    /// Verifies every request with Python's `standardwebhooks`; how many passed. A copy of
    /// each with its body changed must fail, so the check cannot pass vacuously.
    fn verified_by_standardwebhooks(&self) -> usize {
        let requests: Vec<Value> = self
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|(headers, body)| {
                let headers: BTreeMap<&str, &str> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
                    .collect();
                json!({ "headers": headers, "body": String::from_utf8(body.to_vec()).unwrap() })
            })
            .collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_vec(&requests).unwrap()).unwrap();
        const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
hook = Webhook(sys.argv[1])
requests = json.load(open(sys.argv[2]))
for r in requests:
    hook.verify(r["body"], r["headers"])
    try:
        hook.verify(r["body"] + " ", r["headers"])
        sys.exit("a changed body verified")
    except WebhookVerificationError:
        pass
print(len(requests))
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", VERIFY, SECRET])
            .arg(file.path())
            .output()
            .expect("python3 runs (scripts/test.sh installs standardwebhooks)");
        assert!(
            out.status.success(),
            "standardwebhooks refused spoke's deliveries: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

/// A stream and subject of this test's own, so tests run side by side.
fn nats_config() -> NatsSinkConfig {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    NatsSinkConfig {
        url: NATS.to_owned().into(),
        subject: format!("spoke.test.{unique}"),
        stream: format!("SPOKE_TEST_{unique}"),
    }
}

fn with_sinks(
    url: Option<Url>,
    nats: Option<NatsSinkConfig>,
    max_attempts: u32,
) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.sinks.http = url.map(|url| HttpSinkConfig {
            url: SecretUrl::parse_http(url.as_str()).unwrap(),
            secret: SigningSecret::parse(SECRET).unwrap(),
        });
        config.sinks.nats = nats;
        config.sinks.max_attempts = max_attempts;
        config.operator_token =
            Some(spoke_server::config::OperatorToken::new(OPERATOR_TOKEN).unwrap());
    }
}

impl Harness {
    /// Waits until no sink delivery is pending, advancing the clock past retry waits.
    async fn sinks_settle(&self) {
        for _ in 0..1_000 {
            let counts = self.store.delivery_counts().await.unwrap();
            if !counts.is_empty() && counts.iter().all(|c| c.state != "pending") {
                return;
            }
            self.clock.advance(Duration::from_millis(500));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "sink deliveries never settled: {:?}",
            self.store.delivery_counts().await.unwrap()
        );
    }

    async fn sink_counts(&self, sink: &str) -> BTreeMap<String, i64> {
        let counts = self.store.delivery_counts().await.unwrap();
        counts
            .into_iter()
            .filter(|c| c.sink == sink)
            .map(|c| (c.state, c.count))
            .collect()
    }

    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", self.spoke))
            .bearer_auth(OPERATOR_TOKEN)
    }

    /// Installs two portals, lets the simulator change their records, associate two
    /// contacts and delete a contact; waits until every event is settled.
    async fn hydrate_activity(&self) -> Vec<i64> {
        let portals: Vec<i64> = self.sim.sim.world(|w| w.portal_ids().take(2).collect());
        install_portal(self, portals[0]).await;
        install_portal(self, portals[1]).await;
        let mut events = 0;
        for round in 0..3 {
            events += self
                .activity(Activity::seeded(10 + round, 40).in_portals(&portals))
                .await;
        }
        let contact = sim::objects::ObjectType::CONTACTS.id_base() + 1;
        events += self
            .change(
                reqwest::Method::PUT,
                portals[0],
                &format!(
                    "contacts/{}/associations/contacts/{}",
                    contact + 1,
                    contact + 2
                ),
                json!({}),
            )
            .await;
        events += self
            .change(
                reqwest::Method::DELETE,
                portals[0],
                &format!("contacts/{contact}"),
                json!({}),
            )
            .await;
        self.settle(events, |counts| counts.iter().all(|(s, _)| s != "pending"))
            .await;
        portals
    }

    /// Each record's last message carries the version its mirror holds, and its messages
    /// came in version order.
    async fn assert_in_order_and_latest(&self, messages: &[Value]) {
        let mut by_object: BTreeMap<(i64, String, i64), Vec<i64>> = BTreeMap::new();
        let records = messages
            .iter()
            .filter(|m| m["type"].as_str().unwrap().starts_with("record."));
        for m in records {
            let data = &m["data"];
            by_object
                .entry((
                    data["portalId"].as_i64().unwrap(),
                    data["objectType"].as_str().unwrap().to_owned(),
                    data["objectId"].as_i64().unwrap(),
                ))
                .or_default()
                .push(data["updatedAt"].as_i64().unwrap());
        }
        assert!(!by_object.is_empty());
        for ((portal, object_type, id), versions) in by_object {
            assert!(
                versions.windows(2).all(|w| w[0] <= w[1]),
                "{object_type} {id}: {versions:?}"
            );
            let held = self
                .store
                .mirrored(PortalId(portal), &object_type, ObjectId(id))
                .await
                .unwrap()
                .expect("mirrored");
            assert_eq!(
                versions.last(),
                Some(&held.updated_at),
                "{object_type} {id}"
            );
        }
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn every_change_reaches_the_endpoint_signed_in_order_and_jetstream_once(
    #[case] engine: Engine,
) {
    let endpoint = Endpoint::default();
    let url = endpoint.start().await;
    let nats = nats_config();
    let h = harness_with(
        engine,
        "oauth crm.objects.contacts.read",
        with_sinks(Some(url), Some(nats.clone()), 3),
    )
    .await;
    h.hydrate_activity().await;
    h.sinks_settle().await;

    let http = h.sink_counts("http").await;
    let delivered = http["done"];
    assert_eq!(http.len(), 1, "all delivered: {http:?}");
    assert_eq!(
        h.sink_counts("nats").await,
        http,
        "each change queued for both"
    );
    let messages = endpoint.messages();
    assert_eq!(messages.len() as i64, delivered);
    assert_eq!(endpoint.verified_by_standardwebhooks(), messages.len());
    h.assert_in_order_and_latest(&messages).await;
    let live = messages
        .iter()
        .find(|m| m["type"] == "record.updated")
        .expect("a record update");
    assert!(live["data"]["properties"]["email"].is_string(), "{live}");
    assert!(
        messages
            .iter()
            .any(|m| m["type"] == "record.deleted" && m["data"]["properties"] == json!({})),
        "the deletion reached the endpoint"
    );
    // The association, from each side, as a message of its own.
    let contact = sim::objects::ObjectType::CONTACTS.id_base() + 1;
    let mut associated: Vec<(i64, i64)> = messages
        .iter()
        .filter(|m| m["type"] == "association.added")
        .map(|m| {
            let data = &m["data"];
            assert_eq!(data["association"]["toObjectType"], "contacts", "{m}");
            let to = data["association"]["toObjectId"].as_i64().unwrap();
            (data["objectId"].as_i64().unwrap(), to)
        })
        .collect();
    associated.sort_unstable();
    assert_eq!(
        associated,
        [(contact + 1, contact + 2), (contact + 2, contact + 1)]
    );

    // JetStream holds each change once; redelivering every one (as after a crash) adds
    // nothing, since each carries the same Nats-Msg-Id.
    let client = async_nats::connect(NATS).await.unwrap();
    let js = jetstream::new(client);
    let stream_messages = |js: jetstream::Context| {
        let name = nats.stream.clone();
        async move {
            js.get_stream(&name)
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .state
                .messages
        }
    };
    assert_eq!(stream_messages(js.clone()).await, delivered as u64);
    h.db.execute("UPDATE sink_deliveries SET state = 'pending' WHERE sink = 'nats'")
        .await;
    h.sinks_settle().await;
    assert_eq!(stream_messages(js.clone()).await, delivered as u64);
    let first = js
        .get_stream(&nats.stream)
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    let id = first
        .headers
        .get("Nats-Msg-Id")
        .unwrap()
        .as_str()
        .to_owned();
    assert!(id.starts_with("msg_"), "{id}");
    assert!(first.subject.starts_with(&format!("{}.", nats.subject)));
    js.delete_stream(&nats.stream).await.unwrap();
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_failing_endpoint_dead_letters_without_holding_up_nats_then_replays(
    #[case] engine: Engine,
) {
    let endpoint = Endpoint::default();
    *endpoint.failing.lock().unwrap() = Some(StatusCode::SERVICE_UNAVAILABLE);
    let url = endpoint.start().await;
    let nats = nats_config();
    let h = harness_with(
        engine,
        "oauth crm.objects.contacts.read",
        with_sinks(Some(url), Some(nats.clone()), 2),
    )
    .await;
    h.hydrate_activity().await;
    h.sinks_settle().await;

    let queued = h.sink_counts("nats").await["done"];
    assert_eq!(
        h.sink_counts("http").await,
        BTreeMap::from([("dead".to_owned(), queued)]),
        "every HTTP delivery dead after 2 attempts; NATS got them all"
    );
    let listed = json_of(h.admin(reqwest::Method::GET, "/dead-letters?sink=http&limit=1000")).await;
    let dead = listed["deadLetters"].as_array().unwrap();
    assert_eq!(dead.len() as i64, queued);
    assert_eq!(dead[0]["sink"], "http");
    assert_eq!(dead[0]["attempts"], 2);
    assert_eq!(
        dead[0]["lastError"],
        "failed 2 times; last: the endpoint answered 503"
    );
    let stats = json_of(h.admin(reqwest::Method::GET, "/stats")).await;
    assert_eq!(stats["sinkDeadLetters"], queued);
    assert_eq!(stats["deadLetters"], 0, "hydration itself never failed");
    let unknown = h
        .admin(reqwest::Method::GET, "/dead-letters?sink=kafka")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    // The endpoint recovers; replaying its dead letters delivers each once, in order.
    *endpoint.failing.lock().unwrap() = None;
    let replayed = json_of(h.admin(reqwest::Method::POST, "/dead-letters/replay?sink=http")).await;
    assert_eq!(replayed["replayed"], queued);
    let again = json_of(h.admin(reqwest::Method::POST, "/dead-letters/replay?sink=http")).await;
    assert_eq!(again["replayed"], 0, "replay is idempotent");
    h.sinks_settle().await;
    assert_eq!(
        h.sink_counts("http").await,
        BTreeMap::from([("done".to_owned(), queued)])
    );
    let messages = endpoint.messages();
    assert_eq!(messages.len() as i64, queued);
    assert_eq!(endpoint.verified_by_standardwebhooks(), messages.len());
    h.assert_in_order_and_latest(&messages).await;

    let client = async_nats::connect(NATS).await.unwrap();
    jetstream::new(client)
        .delete_stream(&nats.stream)
        .await
        .unwrap();
}
