//! Faults an operator or a test switches on at run time, on the CRM API.

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
    /// Portals the faults apply to; empty means all.
    pub portals: Vec<i64>,
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

    pub fn in_429_burst(&self, now: Instant) -> bool {
        now.duration_since(self.since).as_millis() < u128::from(self.faults.burst_429_ms)
    }
}
