//! Webhook deliveries the way HubSpot makes them (reference §2.2, §2.5, §2.6): per portal,
//! batches of at most 100 events, at most `max_concurrent` requests in flight, a timeout
//! after which the attempt failed, signatures v1 and v3 made fresh for every attempt, and
//! retries of each failed event on a schedule with per-event jitter, so retried events can
//! come back in other batches. A time scale shrinks the schedule so 24 hours of retries run
//! in seconds. Every attempt lands in the [`Ledger`].

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubspot::signature;
use hubspot::time::Clock;
use hubspot::ClientSecret;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ledger::{Attempt, Ledger, Outcome};
use crate::world::WebhookEvent;

/// HubSpot's largest batch.
pub const MAX_BATCH: usize = 100;

/// Where and how deliveries go; changeable at run time like HubSpot's app settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Target {
    /// The URL configured in the app: what HubSpot calls and what signatures cover.
    pub target_url: Option<String>,
    /// Connect here instead (scheme, host and port), keeping the target's path and query:
    /// the stand-in for DNS and a proxy in front of the receiver.
    pub deliver_to: Option<String>,
    /// Requests in flight per portal (HubSpot's default is 10).
    pub max_concurrent: usize,
}

impl Default for Target {
    fn default() -> Self {
        Self {
            target_url: None,
            deliver_to: None,
            max_concurrent: 10,
        }
    }
}

/// Fixed for a run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Delay before each retry, in HubSpot's (unscaled) time; its length is the retry count.
    pub retry_delays: Vec<Duration>,
    /// Real time = schedule time / scale.
    pub time_scale: f64,
    /// Each event's delay varies by up to ± this share.
    pub jitter: f64,
    /// An attempt slower than this failed (HubSpot: 5 s). Not scaled.
    pub timeout: Duration,
    /// Seeds the jitter, so a run's retry times can be had again.
    pub seed: u64,
}

/// The schedule spoke-sim assumes where HubSpot documents only "up to 10 retries over the
/// next 24 hours" (UNVERIFIED in the reference): doubling from one minute, 21.3 hours in all.
pub fn default_retry_delays() -> Vec<Duration> {
    (0..10).map(|i| Duration::from_secs(60 << i)).collect()
}

struct Pending {
    due: Instant,
    seq: u64,
    event: WebhookEvent,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Earliest due first in a max-heap.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Default)]
struct PortalQueue {
    pending: BinaryHeap<Pending>,
    in_flight: usize,
}

#[derive(Default)]
struct Queues {
    portals: HashMap<i64, PortalQueue>,
    next_seq: u64,
}

struct Inner {
    queues: Mutex<Queues>,
    target: Mutex<Target>,
    ledger: Mutex<Ledger>,
    schedule: Schedule,
    /// Draws each retry's jitter, from the schedule's seed.
    jitter: Mutex<StdRng>,
    secret: ClientSecret,
    /// Signs each attempt's timestamp.
    clock: Clock,
    http: reqwest::Client,
    wake: Notify,
}

/// Queues events and delivers them; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

/// How many events wait, in total.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    pub queued: usize,
    pub in_flight_requests: usize,
}

impl Dispatcher {
    pub fn new(secret: ClientSecret, target: Target, schedule: Schedule, clock: Clock) -> Self {
        let http = reqwest::Client::builder()
            .user_agent("HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - spoke-sim")
            .build()
            .expect("a default HTTP client builds");
        Self {
            inner: Arc::new(Inner {
                queues: Mutex::default(),
                target: Mutex::new(target),
                ledger: Mutex::default(),
                jitter: Mutex::new(StdRng::seed_from_u64(schedule.seed)),
                schedule,
                secret,
                clock,
                http,
                wake: Notify::new(),
            }),
        }
    }

    /// Queues events for delivery now.
    pub fn enqueue(&self, events: Vec<WebhookEvent>) {
        if events.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut queues = self.inner.queues.lock().expect("queues lock");
        for event in events {
            let seq = queues.next_seq;
            queues.next_seq += 1;
            queues
                .portals
                .entry(event.portal_id)
                .or_default()
                .pending
                .push(Pending {
                    due: now,
                    seq,
                    event,
                });
        }
        drop(queues);
        self.inner.wake.notify_one();
    }

    pub fn target(&self) -> Target {
        self.inner.target.lock().expect("target lock").clone()
    }

    pub fn set_target(&self, target: Target) {
        *self.inner.target.lock().expect("target lock") = target;
        self.inner.wake.notify_one();
    }

    pub fn ledger<T>(&self, read: impl FnOnce(&Ledger) -> T) -> T {
        read(&self.inner.ledger.lock().expect("ledger lock"))
    }

    /// Counts events HubSpot never delivers (see [`crate::faults::Faults::lost_webhooks`]).
    pub fn lost(&self, portal: i64, events: u64) {
        self.inner
            .ledger
            .lock()
            .expect("ledger lock")
            .lost(portal, events);
    }

    pub fn depth(&self) -> QueueDepth {
        let queues = self.inner.queues.lock().expect("queues lock");
        queues
            .portals
            .values()
            .fold(QueueDepth::default(), |d, q| QueueDepth {
                queued: d.queued + q.pending.len(),
                in_flight_requests: d.in_flight_requests + q.in_flight,
            })
    }

    /// Delivers until `shutdown`; requests in flight then finish on their own.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let (batches, next_due) = self.take_ready(Instant::now());
            for (portal, batch) in batches {
                tokio::spawn(self.clone().deliver(portal, batch));
            }
            let idle = next_due.map_or(Duration::from_secs(60), |due| {
                due.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(idle) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Takes the batches that may go now; also says when the next queued event falls due.
    fn take_ready(&self, now: Instant) -> (Vec<(i64, Vec<Pending>)>, Option<Instant>) {
        let max_concurrent = {
            let target = self.inner.target.lock().expect("target lock");
            if target.target_url.is_none() {
                return (Vec::new(), None);
            }
            target.max_concurrent.max(1)
        };
        let mut queues = self.inner.queues.lock().expect("queues lock");
        let mut batches = Vec::new();
        let mut next_due: Option<Instant> = None;
        for (portal, queue) in queues.portals.iter_mut() {
            while queue.in_flight < max_concurrent
                && queue.pending.peek().is_some_and(|p| p.due <= now)
            {
                let mut batch = Vec::with_capacity(MAX_BATCH.min(queue.pending.len()));
                while batch.len() < MAX_BATCH && queue.pending.peek().is_some_and(|p| p.due <= now)
                {
                    batch.push(queue.pending.pop().expect("peeked"));
                }
                queue.in_flight += 1;
                batches.push((*portal, batch));
            }
            if queue.in_flight < max_concurrent {
                if let Some(first) = queue.pending.peek() {
                    next_due = Some(next_due.map_or(first.due, |d| d.min(first.due)));
                }
            }
        }
        queues
            .portals
            .retain(|_, q| !q.pending.is_empty() || q.in_flight > 0);
        (batches, next_due)
    }

    async fn deliver(self, portal: i64, batch: Vec<Pending>) {
        let target = self.target();
        let target_url = target.target_url.clone().unwrap_or_default();
        let events: Vec<&WebhookEvent> = batch.iter().map(|p| &p.event).collect();
        let body = serde_json::to_vec(&events).expect("events serialise");
        let sent_at = self.inner.clock.now_ms();
        let timestamp = sent_at.to_string();
        let mut request = self
            .inner
            .http
            .post(connect_url(&target_url, target.deliver_to.as_deref()))
            .header("content-type", "application/json")
            .header(
                "x-hubspot-timeout-millis",
                self.inner.schedule.timeout.as_millis().to_string(),
            );
        for (name, value) in delivery_headers(&self.inner.secret, &target_url, &body, &timestamp) {
            request = request.header(name, value);
        }
        let request = request.timeout(self.inner.schedule.timeout).body(body);
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) if response.status().is_success() => {
                Outcome::Success(response.status().as_u16())
            }
            Ok(response) => Outcome::ErrorStatus(response.status().as_u16()),
            Err(error) if error.is_timeout() => Outcome::Timeout,
            Err(_) => Outcome::ConnectionFailed,
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let outcome = match outcome {
            Outcome::Success(_) if started.elapsed() > self.inner.schedule.timeout => {
                Outcome::Timeout
            }
            other => other,
        };
        let events = batch
            .iter()
            .map(|p| (p.event.event_id, p.event.attempt_number))
            .collect();
        self.inner
            .ledger
            .lock()
            .expect("ledger lock")
            .record(Attempt {
                portal_id: portal,
                sent_at,
                latency_ms,
                outcome,
                events,
            });
        self.finish(portal, batch, outcome.is_success());
    }

    /// Frees the portal's slot and schedules the retries of a failed batch.
    fn finish(&self, portal: i64, batch: Vec<Pending>, delivered: bool) {
        let (mut retried, mut given_up) = (0, 0);
        let mut queues = self.inner.queues.lock().expect("queues lock");
        let now = Instant::now();
        let mut rng = self.inner.jitter.lock().expect("jitter lock");
        let mut retries = Vec::new();
        if !delivered {
            for mut pending in batch {
                let next = pending.event.attempt_number as usize;
                match self.inner.schedule.retry_delays.get(next) {
                    Some(delay) => {
                        let jitter = 1.0
                            + rng.random_range(
                                -self.inner.schedule.jitter..=self.inner.schedule.jitter,
                            );
                        let real = delay.as_secs_f64() * jitter / self.inner.schedule.time_scale;
                        pending.due = now + Duration::from_secs_f64(real.max(0.0));
                        pending.event.attempt_number += 1;
                        retries.push(pending);
                        retried += 1;
                    }
                    None => given_up += 1,
                }
            }
        }
        let Queues { portals, next_seq } = &mut *queues;
        let queue = portals.entry(portal).or_default();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        for mut pending in retries {
            pending.seq = *next_seq;
            *next_seq += 1;
            queue.pending.push(pending);
        }
        drop(queues);
        if retried + given_up > 0 {
            let mut ledger = self.inner.ledger.lock().expect("ledger lock");
            ledger.retried(portal, retried);
            ledger.gave_up(portal, given_up);
        }
        self.inner.wake.notify_one();
    }
}

/// The signature headers HubSpot puts on a delivery of `body` to `target_url` at
/// `timestamp` (epoch ms): v1 for older receivers, v3 with the timestamp (reference §3).
pub fn delivery_headers(
    secret: &ClientSecret,
    target_url: &str,
    body: &[u8],
    timestamp: &str,
) -> [(&'static str, String); 4] {
    [
        ("x-hubspot-signature", signature::sign_v1(secret, body)),
        ("x-hubspot-signature-version", "v1".to_owned()),
        (
            "x-hubspot-signature-v3",
            signature::sign_v3(secret, "POST", target_url, body, timestamp),
        ),
        ("x-hubspot-request-timestamp", timestamp.to_owned()),
    ]
}

/// The URL to connect to: the target itself, or its path and query on `deliver_to`.
fn connect_url(target_url: &str, deliver_to: Option<&str>) -> String {
    let Some(base) = deliver_to else {
        return target_url.to_owned();
    };
    let after_scheme = target_url
        .split_once("://")
        .map_or(target_url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference §3.6: with a fixed timestamp the dispatcher's headers are the vectors'.
    #[test]
    fn delivery_headers_match_the_reference_vectors() {
        let v3_body = r#"[{"eventId":3001,"subscriptionId":4001,"portalId":62515,"appId":54321,"occurredAt":1735689599000,"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":9876543210,"propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM_UI"}]"#;
        let headers = delivery_headers(
            &ClientSecret::new("5e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b"),
            "https://hooks.example.com/hubspot/webhooks?tenant=acme&env=prod",
            v3_body.as_bytes(),
            "1735689600000",
        );
        assert_eq!(headers[2].1, "uaAPnc+5yRVkgxIzD8DooO+vNzwVdSkD4TCkgJnjVSc=");
        assert_eq!(headers[3].1, "1735689600000");

        let v1_body = r#"[{"eventId":1001,"subscriptionId":2001,"portalId":62515,"appId":54321,"occurredAt":1735689599000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:45678"}]"#;
        let headers = delivery_headers(
            &ClientSecret::new("7f3c2a1e-9b8d-4c6f-a5e4-3d2c1b0a9f8e"),
            "https://x/y",
            v1_body.as_bytes(),
            "0",
        );
        assert_eq!(
            headers[0].1,
            "893cae39524a10352ee31ae6f9b51d794a46d2fcc39f47097bf516896cc242e2"
        );
        assert_eq!(headers[1].1, "v1");
    }

    #[test]
    fn deliver_to_keeps_the_targets_path_and_query() {
        assert_eq!(
            connect_url(
                "https://hooks.test/webhooks/hubspot?x=1",
                Some("http://127.0.0.1:9/")
            ),
            "http://127.0.0.1:9/webhooks/hubspot?x=1"
        );
        assert_eq!(
            connect_url("https://hooks.test", Some("http://127.0.0.1:9")),
            "http://127.0.0.1:9/"
        );
        assert_eq!(
            connect_url("https://hooks.test/a", None),
            "https://hooks.test/a"
        );
    }
}
