//! A signed webhook body, from verification through parsing to the inbox (a real SQLite
//! store behind the real group commit): it is stored whole, every event counted as stored
//! or as a redelivery, or refused with a declared status, and nothing of it is stored. Each
//! stored row reads back, as a worker reads it, as the event it came from.
#![no_main]

use std::sync::{Arc, OnceLock};

use hubspot::signature::{sign_v3, SignatureHeaders};
use hubspot::time::ManualClock;
use hubspot::webhook::parse_event;
use hubspot::ClientSecret;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use server::config::{PublicUrl, WebhookConfig};
use server::http::error::ApiError;
use server::webhooks::group_commit::{Backlog, Ingest, Writer};
use server::webhooks::receiver::{to_inbox_event, Receiver};
use store::ConnectOptions;

const SECRET: &str = "fuzz-client-secret";
const PUBLIC_URL: &str = "https://spoke.example";
const PATH: &str = "/webhooks/hubspot";
/// The receiver's clock stands still, so every delivery is signed at this instant.
const NOW_MS: i64 = 1_780_000_000_000;

struct Harness {
    runtime: tokio::runtime::Runtime,
    receiver: Receiver,
    /// Kept so the writer and the database outlive every input.
    _writer: Writer,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}/fuzz.db?mode=rwc", dir.path().display());
        let (receiver, writer) = runtime.block_on(async {
            let options = ConnectOptions {
                create_if_missing: true,
                ..ConnectOptions::default()
            };
            let store = store::connect(&SecretString::from(url), &options)
                .await
                .expect("SQLite opens");
            store.migrate().await.expect("migrations run");
            let clock = ManualClock::at(NOW_MS).clock();
            let (ingest, writer) =
                Ingest::start(store, Arc::new(Backlog::new(u64::MAX)), clock.clone());
            let config = WebhookConfig::default();
            let receiver = Receiver::new(
                &config,
                PublicUrl::parse(PUBLIC_URL).expect("a public URL"),
                ClientSecret::new(SECRET),
                clock,
                ingest,
            );
            (receiver, writer)
        });
        Harness {
            runtime,
            receiver,
            _writer: writer,
            _dir: dir,
        }
    })
}

fuzz_target!(|body: &[u8]| {
    let harness = harness();
    let timestamp = NOW_MS.to_string();
    let uri = format!("{PUBLIC_URL}{PATH}");
    let signature = sign_v3(&ClientSecret::new(SECRET), "POST", &uri, body, &timestamp);
    let headers = SignatureHeaders {
        v3: Some(&signature),
        timestamp: Some(&timestamp),
        ..SignatureHeaders::default()
    };
    let receipt = harness
        .runtime
        .block_on(harness.receiver.receive("POST", PATH, headers, body, None));
    match receipt.result {
        Ok(outcome) => {
            let events = stored_events(body);
            assert_eq!(
                (outcome.stored + outcome.duplicates) as usize,
                events,
                "every event of an acknowledged delivery is stored or a redelivery"
            );
        }
        Err(error) => {
            let status = ApiError::from(error).status().as_u16();
            assert_eq!(status, 400, "a signed body is refused only as malformed");
        }
    }
});

/// How many events an accepted body holds, each checked to read back as the worker reads
/// it: the row's payload parses to the event's own key.
fn stored_events(body: &[u8]) -> usize {
    let items: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_slice(body).expect("an accepted body is a JSON array");
    for item in &items {
        let event = parse_event(item.get()).expect("an accepted event parses alone");
        let row = to_inbox_event(event, None);
        let again = to_inbox_event(
            parse_event(&row.payload).expect("a stored payload reads back"),
            None,
        );
        assert_eq!(row.key, again.key);
        assert_eq!(row.subscription_type, again.subscription_type);
    }
    items.len()
}
