//! Faults an operator or a test switches on at run time, on the CRM API and on webhook
//! notifications.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What the CRM API does wrong, globally or for the listed portals only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Faults {
    /// Extra latency added to every CRM response, in milliseconds.
    pub latency_ms: u64,
    /// Share of CRM requests (0 to 1) answered with a 5xx instead.
    pub error_rate: f64,
    /// For this many milliseconds from when the faults are set, every CRM request gets
    /// HubSpot's 429 (a burst of rate limiting, as when another app shares the account).
    pub burst_429_ms: u64,
    /// Share of the existing records a batch read names (0 to 1) answered with a per-id
    /// error of [`Faults::batch_error_category`] instead, in a `207`.
    pub batch_error_rate: f64,
    /// The category of those errors (`INTERNAL_ERROR` when empty): any but
    /// `OBJECT_NOT_FOUND` is a failure to read the record, not its absence.
    pub batch_error_category: String,
    /// Share of the existing records a batch read names left out of its answer entirely
    /// (in neither `results` nor `errors`).
    pub batch_omit_rate: f64,
    /// Share of webhook notifications (0 to 1) HubSpot never delivers, as when its retries
    /// ran out during an outage: the webhook ledger counts them as `eventsLost`.
    pub lost_webhooks: f64,
    /// Portals the faults apply to; empty means all.
    pub portals: Vec<i64>,
}

/// How a batch read answers for one existing record, under the faults set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchAnswer {
    Record,
    /// A per-id error of [`Faults::batch_error_category`].
    Error,
    /// Nothing at all.
    Omitted,
}

/// Faults as set, with the moment the 429 burst started.
#[derive(Debug, Clone)]
pub struct ActiveFaults {
    pub faults: Faults,
    pub since: Instant,
}

impl ActiveFaults {
    pub fn new(faults: Faults) -> Self {
        Self {
            faults,
            since: Instant::now(),
        }
    }

    pub fn applies_to(&self, portal: i64) -> bool {
        self.faults.portals.is_empty() || self.faults.portals.contains(&portal)
    }

    /// The per-id error category batch reads answer, as configured.
    pub fn batch_error_category(&self) -> &str {
        match self.faults.batch_error_category.as_str() {
            "" => "INTERNAL_ERROR",
            category => category,
        }
    }

    /// How a batch read answers for one existing record of `portal`; `draw` (0 to 1) is
    /// taken only when a batch fault applies.
    pub fn batch_answer(&self, portal: i64, draw: impl FnOnce() -> f64) -> BatchAnswer {
        let error = self.faults.batch_error_rate.clamp(0.0, 1.0);
        let omit = self.faults.batch_omit_rate.clamp(0.0, 1.0);
        if !self.applies_to(portal) || error + omit == 0.0 {
            return BatchAnswer::Record;
        }
        match draw() {
            d if d < error => BatchAnswer::Error,
            d if d < error + omit => BatchAnswer::Omitted,
            _ => BatchAnswer::Record,
        }
    }

    pub fn in_429_burst(&self, now: Instant) -> bool {
        now.duration_since(self.since).as_millis() < u128::from(self.faults.burst_429_ms)
    }
}
