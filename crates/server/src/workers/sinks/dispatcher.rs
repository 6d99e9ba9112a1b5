//! One sink's dispatcher: claims the sink's due deliveries (at most one per object, so an
//! object's changes arrive in order), sends them concurrently, and settles the batch in
//! one transaction: delivered, retried with backoff and jitter, or dead once the attempts
//! run out. A crash between sending and settling leaves the claims to lapse; the
//! redelivery that follows carries the same message id.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{stream, FutureExt, StreamExt};
use hubspot::time::{after, Clock};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use store::{DeadDeliveries, Delivery, DeliveryClaim, DeliveryOutcome, Retry, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn, Instrument};

use super::message::Message;
use super::Sink;
use crate::backoff::Backoff;
use crate::metrics::SinkOutcome;
use crate::telemetry::{context, Chain};

/// Deliveries claimed at once, and sent at once at most.
const BATCH: u32 = 200;
const IN_FLIGHT: usize = 32;
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Retries from 2 s, doubling, up to an hour: the default 12 attempts span about two hours.
const RETRY_BACKOFF: Backoff = Backoff {
    start: Duration::from_secs(2),
    cap: Duration::from_secs(3_600),
};

#[derive(Debug)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    sink: Arc<dyn Sink>,
    clock: Clock,
    holder: String,
    max_attempts: u32,
    /// How long a claim lasts: longer than a batch can take.
    claim_lease: Duration,
    /// Attempts by sink and outcome (delivered, failed and to be retried, dead), one
    /// family for every sink's dispatcher.
    attempts: Family<SinkOutcome, Counter>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        sink: Arc<dyn Sink>,
        max_attempts: u32,
        claim_lease: Duration,
        clock: Clock,
        attempts: Family<SinkOutcome, Counter>,
    ) -> Self {
        Self {
            holder: format!("{}-{}", sink.name().as_str(), uuid::Uuid::new_v4().simple()),
            store,
            sink,
            clock,
            max_attempts,
            claim_lease,
            attempts,
        }
    }

    /// Batches until `shutdown`; a batch in progress finishes first.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.dispatch_once().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(error) => {
                    warn!(sink = self.sink.name().as_str(), error = %Chain(&error), "sink batch failed")
                }
            }
            let _ = shutdown
                .run_until_cancelled(tokio::time::sleep(IDLE_POLL))
                .await;
        }
    }

    /// Claims, sends and settles one batch; how many deliveries it held.
    pub async fn dispatch_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let batch = self
            .store
            .claim_deliveries(&DeliveryClaim {
                sink: self.sink.name().as_str(),
                holder: &self.holder,
                until_ms: after(now, self.claim_lease),
                now_ms: now,
                limit: BATCH,
            })
            .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        // Boxed so the stream's future stays `Send` for any lifetime (a closure returning
        // an unboxed future trips rustc's higher-ranked lifetime check when spawned).
        let attempts: Vec<BoxFuture<'_, Attempt>> = batch
            .iter()
            .map(|delivery| self.attempt(delivery).boxed())
            .collect();
        let results: Vec<Attempt> = stream::iter(attempts)
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let outcome = outcome(results, self.max_attempts, self.clock.now_ms());
        let sink = self.sink.name().as_str();
        let count = |outcome, n: usize| {
            self.attempts
                .get_or_create(&SinkOutcome { sink, outcome })
                .inc_by(n as u64);
        };
        count("delivered", outcome.delivered.len());
        count("failed", outcome.retries.len());
        count("dead", outcome.dead.len());
        if !outcome.dead.is_empty() {
            warn!(
                sink = self.sink.name().as_str(),
                deliveries = outcome.dead.len(),
                "sink deliveries dead-lettered"
            );
        }
        self.store
            .settle_deliveries(&self.holder, &outcome, self.clock.now_ms())
            .await?;
        debug!(
            sink = self.sink.name().as_str(),
            deliveries = batch.len(),
            "sink batch"
        );
        Ok(batch.len())
    }

    /// One delivery attempt, a span in the trace that queued the change.
    async fn attempt(&self, delivery: &Delivery) -> Attempt {
        let span = tracing::info_span!(
            target: context::TRACED,
            parent: None,
            "sink.deliver",
            portal_id = delivery.portal_id.0,
            sink = self.sink.name().as_str(),
            object_type = delivery.object_type.as_str(),
            object_id = delivery.object_id.0,
            attempt = delivery.attempts + 1,
        );
        context::continue_trace(&span, delivery.trace_context.as_deref());
        let result = match Message::of(delivery) {
            Ok(message) => {
                let message = Message {
                    traceparent: context::traceparent(&span),
                    ..message
                };
                self.sink
                    .deliver(&message)
                    .instrument(span)
                    .await
                    .map_err(|e| Chain(&e).to_string())
            }
            Err(e) => Err(format!("the stored record is not JSON: {e}")),
        };
        Attempt {
            id: delivery.id,
            failures_before: u32::try_from(delivery.attempts).unwrap_or(0),
            result,
        }
    }
}

/// How one delivery went; the error becomes its last error.
#[derive(Debug)]
struct Attempt {
    id: i64,
    failures_before: u32,
    result: Result<(), String>,
}

/// What a batch's attempts come to: failures retried after a backoff that grows with the
/// attempts made, or dead once `max_attempts` are used up.
fn outcome(attempts: Vec<Attempt>, max_attempts: u32, now_ms: i64) -> DeliveryOutcome {
    let mut outcome = DeliveryOutcome::default();
    for Attempt {
        id,
        failures_before: failures,
        result,
    } in attempts
    {
        let Err(error) = result else {
            outcome.delivered.push(id);
            continue;
        };
        if failures + 1 >= max_attempts {
            outcome.dead.push(DeadDeliveries {
                ids: vec![id],
                error: format!("failed {max_attempts} times; last: {error}"),
            });
        } else {
            outcome.retries.push(Retry {
                ids: vec![id],
                due_ms: after(now_ms, RETRY_BACKOFF.jittered(failures)),
                error: Some(error),
            });
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: i64, failures_before: u32, ok: bool) -> Attempt {
        Attempt {
            id,
            failures_before,
            result: if ok {
                Ok(())
            } else {
                Err("the endpoint answered 503".to_owned())
            },
        }
    }

    #[test]
    fn failures_retry_with_growing_waits_until_the_last_attempt_dead_letters() {
        let attempts = vec![
            attempt(1, 0, false),
            attempt(2, 3, false),
            attempt(3, 4, false),
            attempt(4, 0, true),
        ];
        let outcome = outcome(attempts, 5, 1_000_000);
        assert_eq!(outcome.delivered, [4]);
        let waits: Vec<(i64, i64)> = outcome
            .retries
            .iter()
            .map(|r| (r.ids[0], r.due_ms - 1_000_000))
            .collect();
        assert_eq!(waits.len(), 2);
        assert!((1_600..=2_400).contains(&waits[0].1), "{waits:?}");
        assert!((12_800..=19_200).contains(&waits[1].1), "{waits:?}");
        assert_eq!(outcome.dead.len(), 1);
        assert_eq!(outcome.dead[0].ids, [3]);
        assert_eq!(
            outcome.dead[0].error,
            "failed 5 times; last: the endpoint answered 503"
        );
    }
}
