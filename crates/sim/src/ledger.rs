//! The dispatcher's ground truth: every delivery attempt per portal, its outcome and
//! latency, and the success rate HubSpot itself would compute from them (2xx within the
//! timeout counts as success; anything else, including a timeout, as failure).

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "status")]
pub enum Outcome {
    Success(u16),
    ErrorStatus(u16),
    Timeout,
    ConnectionFailed,
}

impl Outcome {
    pub fn is_success(self) -> bool {
        matches!(self, Self::Success(_))
    }
}

/// One attempt, for inspection (`GET /_sim/webhooks/attempts`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub portal_id: i64,
    /// Epoch ms when the request was sent.
    pub sent_at: i64,
    pub latency_ms: f64,
    pub outcome: Outcome,
    /// `(eventId, attemptNumber)` of each event in the batch.
    pub events: Vec<(i64, u32)>,
}

/// Totals for one portal.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalTotals {
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub connection_failures: u64,
    /// Failed attempts by HTTP status.
    pub error_statuses: BTreeMap<u16, u64>,
    pub events_delivered: u64,
    pub events_retried: u64,
    pub events_given_up: u64,
    /// Events HubSpot never delivered (the `lostWebhooks` fault).
    pub events_lost: u64,
    pub latency_ms_sum: f64,
    pub latency_ms_max: f64,
    /// successes / attempts, as HubSpot would count this portal's deliveries.
    pub success_rate: Option<f64>,
}

/// Attempts kept for inspection; older ones are dropped, totals are kept for ever.
const KEPT_ATTEMPTS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Ledger {
    portals: BTreeMap<i64, PortalTotals>,
    recent: VecDeque<Attempt>,
}

impl Ledger {
    pub fn record(&mut self, attempt: Attempt) {
        let totals = self.portals.entry(attempt.portal_id).or_default();
        totals.attempts += 1;
        totals.latency_ms_sum += attempt.latency_ms;
        totals.latency_ms_max = totals.latency_ms_max.max(attempt.latency_ms);
        match attempt.outcome {
            Outcome::Success(_) => {
                totals.successes += 1;
                totals.events_delivered += attempt.events.len() as u64;
            }
            failure => {
                totals.failures += 1;
                match failure {
                    Outcome::ErrorStatus(status) => {
                        *totals.error_statuses.entry(status).or_default() += 1
                    }
                    Outcome::Timeout => totals.timeouts += 1,
                    _ => totals.connection_failures += 1,
                }
            }
        }
        totals.success_rate = Some(totals.successes as f64 / totals.attempts as f64);
        if self.recent.len() == KEPT_ATTEMPTS {
            self.recent.pop_front();
        }
        self.recent.push_back(attempt);
    }

    pub fn retried(&mut self, portal: i64, events: u64) {
        self.portals.entry(portal).or_default().events_retried += events;
    }

    pub fn lost(&mut self, portal: i64, events: u64) {
        self.portals.entry(portal).or_default().events_lost += events;
    }

    pub fn gave_up(&mut self, portal: i64, events: u64) {
        self.portals.entry(portal).or_default().events_given_up += events;
    }

    pub fn totals(&self) -> &BTreeMap<i64, PortalTotals> {
        &self.portals
    }

    /// Kept attempts, oldest first, of one portal or all.
    pub fn attempts(&self, portal: Option<i64>) -> Vec<Attempt> {
        self.recent
            .iter()
            .filter(|a| portal.is_none_or(|p| a.portal_id == p))
            .cloned()
            .collect()
    }
}
