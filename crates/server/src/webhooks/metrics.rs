//! What the webhook endpoint counts for `/metrics`: deliveries by outcome, how long each
//! took to answer (HubSpot counts an answer after 5 s as a failure), and the events stored
//! or recognised as redeliveries.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::{ack_histogram, counters_for, Outcome};
use crate::monitor::tally::Answer;

#[derive(Debug, Clone)]
pub struct WebhookMetrics {
    deliveries: Family<Outcome, Counter>,
    answered: Histogram,
    events: Family<Outcome, Counter>,
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        Self {
            deliveries: counters_for(&Answer::ALL.map(Answer::label)),
            answered: ack_histogram(),
            events: counters_for(&["stored", "duplicate"]),
        }
    }
}

impl WebhookMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by outcome: ok, unauthorized, bad_request, too_large, unavailable, slow (2xx after 5 s), error",
            self.deliveries.clone(),
        );
        registry.register(
            "webhook_ack_seconds",
            "Time from a delivery's arrival to spoke's answer",
            self.answered.clone(),
        );
        registry.register(
            "webhook_events",
            "Events of acknowledged deliveries: stored, or a duplicate of one stored before",
            self.events.clone(),
        );
    }

    /// One delivery answered after `took`; for an acknowledged one, its events.
    pub fn observe(&self, answer: Answer, took: Duration, events: Option<(u32, u32)>) {
        let outcome = answer.label();
        self.deliveries.get_or_create(&Outcome { outcome }).inc();
        self.answered.observe(took.as_secs_f64());
        if let Some((stored, duplicates)) = events {
            let count = |outcome| self.events.get_or_create(&Outcome { outcome });
            count("stored").inc_by(u64::from(stored));
            count("duplicate").inc_by(u64::from(duplicates));
        }
    }
}
