//! The CRM API's ground truth, as HubSpot would count a portal's use: calls by endpoint
//! and status, `429`s, the most calls admitted within any one rate-limit window, and the
//! records returned. Tests and benchmarks hold spoke's own view against it.

use std::collections::BTreeMap;

use serde::Serialize;

/// One portal's use of the CRM API.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalCalls {
    /// Endpoint (`read`, `batchRead`, `list`, `search`, `properties`, `schemas`,
    /// `associationsBatchRead`, `associate`, `dissociate`) → HTTP status → calls.
    pub calls: BTreeMap<&'static str, BTreeMap<u16, u64>>,
    /// API version (`v3`, `2026-03`, …) → calls.
    pub versions: BTreeMap<&'static str, u64>,
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

/// A call's endpoint class (as [`PortalCalls::calls`] names it) and the API version its path
/// names (`v3`, `v4`, `2026-03`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub class: &'static str,
    pub version: &'static str,
}

/// The endpoint of a CRM object, properties or schemas path, v3 (`/crm/v3/objects/{type}/…`)
/// or dated (`/crm/objects/{version}/{type}/…`, `/crm-object-schemas/{version}/schemas`);
/// `None` for anything else.
pub fn endpoint(path: &str) -> Option<Endpoint> {
    if let Some(dated) = path.strip_prefix("/crm-object-schemas/") {
        let (version, rest) = dated.split_once('/')?;
        let version = known_version(version)?;
        return (rest.trim_end_matches('/') == "schemas").then_some(Endpoint {
            class: "schemas",
            version,
        });
    }
    if path.trim_end_matches('/') == "/crm/v3/schemas" {
        return Some(Endpoint {
            class: "schemas",
            version: "v3",
        });
    }
    let unversioned = [("/crm/v3/", "v3"), ("/crm/v4/", "v4")]
        .into_iter()
        .find_map(|(prefix, version)| Some((path.strip_prefix(prefix)?, version)));
    let (api, version, rest) = match unversioned {
        Some((rest, version)) => {
            let (api, rest) = rest.split_once('/')?;
            (api, version, rest)
        }
        None => {
            let (api, dated) = path.strip_prefix("/crm/")?.split_once('/')?;
            let (version, rest) = dated.split_once('/')?;
            (api, known_version(version)?, rest)
        }
    };
    let below_type: Vec<&str> = rest.trim_end_matches('/').split('/').skip(1).collect();
    let class = match (api, below_type.as_slice()) {
        ("properties", []) => "properties",
        ("objects", []) => "list",
        ("objects", ["batch", "read"]) => "batchRead",
        ("objects", ["search"]) => "search",
        ("objects", [_]) => "read",
        ("objects", [_, "associations", "default", _, _]) => "associate",
        ("objects", [_, "associations", _, _]) => "dissociate",
        ("associations", [_, "batch", "read"]) => "associationsBatchRead",
        _ => return None,
    };
    Some(Endpoint { class, version })
}

/// The dated versions the simulator serves.
fn known_version(version: &str) -> Option<&'static str> {
    ["2026-03", "2026-09"].into_iter().find(|v| *v == version)
}

impl CrmLedger {
    pub fn call(&mut self, portal: i64, endpoint: Endpoint, status: u16) {
        let calls = self.portals.entry(portal).or_default();
        *calls.versions.entry(endpoint.version).or_default() += 1;
        *calls
            .calls
            .entry(endpoint.class)
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
        let class = |path| endpoint(path).map(|e| (e.class, e.version));
        assert_eq!(
            class("/crm/v3/objects/contacts/batch/read"),
            Some(("batchRead", "v3"))
        );
        assert_eq!(class("/crm/v3/objects/contacts/12"), Some(("read", "v3")));
        assert_eq!(class("/crm/v3/objects/contacts"), Some(("list", "v3")));
        assert_eq!(
            class("/crm/objects/2026-09/0-1/batch/read"),
            Some(("batchRead", "2026-09"))
        );
        assert_eq!(
            class("/crm/objects/2026-03/deals/7"),
            Some(("read", "2026-03"))
        );
        assert_eq!(
            class("/crm/objects/2026-03/deals"),
            Some(("list", "2026-03"))
        );
        assert_eq!(class("/crm/objects/2025-09/deals"), None);
        assert_eq!(class("/crm/objects/2026-03/deals/7/x"), None);
        assert_eq!(
            class("/crm/properties/2026-09/contacts"),
            Some(("properties", "2026-09"))
        );
        assert_eq!(
            class("/crm/v3/properties/contacts"),
            Some(("properties", "v3"))
        );
        assert_eq!(class("/crm/v3/associations/contacts"), None);
        assert_eq!(
            class("/crm/v4/associations/contacts/companies/batch/read"),
            Some(("associationsBatchRead", "v4"))
        );
        assert_eq!(
            class("/crm/associations/2026-03/0-1/0-2/batch/read"),
            Some(("associationsBatchRead", "2026-03"))
        );
        assert_eq!(
            class("/crm/objects/2026-03/contacts/1/associations/default/companies/2"),
            Some(("associate", "2026-03"))
        );
        assert_eq!(
            class("/crm/v4/objects/contacts/1/associations/companies/2"),
            Some(("dissociate", "v4"))
        );
        assert_eq!(class("/crm/v3/schemas"), Some(("schemas", "v3")));
        assert_eq!(
            class("/crm-object-schemas/2026-03/schemas"),
            Some(("schemas", "2026-03"))
        );
        assert_eq!(class("/crm-object-schemas/2026-03/schemas/2-1"), None);
        assert_eq!(class("/crm-object-schemas/2025-09/schemas"), None);
        let mut ledger = CrmLedger::default();
        let batch = endpoint("/crm/objects/2026-03/deals/batch/read").unwrap();
        ledger.call(1, batch, 200);
        ledger.call(1, batch, 429);
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
        assert_eq!(one.versions["2026-03"], 2);
        assert_eq!(
            (one.rate_limited, one.max_in_window, one.records_returned),
            (1, 3, 40)
        );
    }
}
