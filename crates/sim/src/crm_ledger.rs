//! The CRM API's ground truth, as HubSpot would count a portal's use: calls by endpoint
//! and status, `429`s, the most calls admitted within any one rate-limit window, and the
//! records returned. Tests and benchmarks hold spoke's own view against it.

use std::collections::BTreeMap;

use serde::Serialize;

/// One portal's use of the CRM API.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalCalls {
    /// Endpoint (`read`, `batchRead`, `list`) → HTTP status → calls.
    pub calls: BTreeMap<&'static str, BTreeMap<u16, u64>>,
    pub rate_limited: u64,
    /// The most calls admitted within one rolling window: never above the portal's limit
    /// when spoke keeps to it.
    pub max_in_window: u32,
    /// The most calls in flight at once: 1 when one worker at a time serves the portal.
    pub max_in_flight: u32,
    pub records_returned: u64,
}

#[derive(Debug, Default)]
pub struct CrmLedger {
    portals: BTreeMap<i64, PortalCalls>,
    in_flight: BTreeMap<i64, u32>,
}

/// The endpoint class of a CRM path.
pub fn endpoint(path: &str) -> &'static str {
    if path.ends_with("/batch/read") {
        "batchRead"
    } else if path.trim_end_matches('/').split('/').count() > 5 {
        "read"
    } else {
        "list"
    }
}

impl CrmLedger {
    pub fn call(&mut self, portal: i64, endpoint: &'static str, status: u16) {
        let calls = self.portals.entry(portal).or_default();
        *calls
            .calls
            .entry(endpoint)
            .or_default()
            .entry(status)
            .or_default() += 1;
        if status == 429 {
            calls.rate_limited += 1;
        }
    }

    /// A call was admitted with `used` calls (itself included) in the current window.
    pub fn admitted(&mut self, portal: i64, used: u32) {
        let calls = self.portals.entry(portal).or_default();
        calls.max_in_window = calls.max_in_window.max(used);
    }

    /// A call of `portal` arrived; [`CrmLedger::left`] when it is answered (or dropped).
    pub fn entered(&mut self, portal: i64) {
        let in_flight = self.in_flight.entry(portal).or_default();
        *in_flight += 1;
        let calls = self.portals.entry(portal).or_default();
        calls.max_in_flight = calls.max_in_flight.max(*in_flight);
    }

    pub fn left(&mut self, portal: i64) {
        if let Some(in_flight) = self.in_flight.get_mut(&portal) {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    pub fn returned(&mut self, portal: i64, records: usize) {
        self.portals.entry(portal).or_default().records_returned += records as u64;
    }

    pub fn totals(&self) -> &BTreeMap<i64, PortalCalls> {
        &self.portals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_apart_and_calls_counted() {
        assert_eq!(endpoint("/crm/v3/objects/contacts/batch/read"), "batchRead");
        assert_eq!(endpoint("/crm/v3/objects/contacts/12"), "read");
        assert_eq!(endpoint("/crm/v3/objects/contacts"), "list");
        let mut ledger = CrmLedger::default();
        ledger.call(1, "batchRead", 200);
        ledger.call(1, "batchRead", 429);
        ledger.admitted(1, 3);
        ledger.admitted(1, 2);
        ledger.returned(1, 40);
        ledger.entered(1);
        ledger.entered(1);
        ledger.left(1);
        ledger.entered(1);
        ledger.left(1);
        ledger.left(1);
        ledger.entered(1);
        let one = &ledger.totals()[&1];
        assert_eq!(one.max_in_flight, 2);
        assert_eq!(one.calls["batchRead"][&200], 1);
        assert_eq!(
            (one.rate_limited, one.max_in_window, one.records_returned),
            (1, 3, 40)
        );
    }
}
