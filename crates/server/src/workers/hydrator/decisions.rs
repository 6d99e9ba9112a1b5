//! What a portal's part of a round decides for each event it holds: finished, back in the
//! queue (waiting for the rate limit, or retried with backoff after a failure), set aside
//! with a reason (quarantined, unhandled, dead), and what the mirror and the cache learn.
//! Nothing is dropped: every event a round takes gets one of these.

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot::crm::{ObjectType, Record};
use hubspot::failure::HubSpotError;
use hubspot::time::after;
use store::{
    Aside, Claimed, ErasedRecord, Gone, GoneRecord, MirroredRecord, ObjectId, PortalId, Retry,
    SetAside, Settlement,
};
use tracing::warn;

use super::super::versions::RecordKey;
use crate::backoff::Backoff;
use crate::oauth::tokens::TokenError;
use crate::telemetry::Chain;

/// Retries of failed events: from 5 s, doubling, up to 15 minutes.
const RETRY_BACKOFF: Backoff = Backoff {
    start: Duration::from_secs(5),
    cap: Duration::from_secs(900),
};

/// What one portal's part of a round decided, to be settled with the rest of the round,
/// and what the cache learns once it is.
pub(super) struct Decisions {
    pub(super) now: i64,
    pub(super) settlement: Settlement,
    /// Versions read from HubSpot.
    pub(super) seen: Vec<(RecordKey, i64)>,
    /// Records erased by privacy deletions.
    pub(super) erased: Vec<RecordKey>,
    /// When each finished event occurred, for freshness.
    pub(super) occurred: Vec<i64>,
    /// Events put back for the rate limit.
    pub(super) limit_waits: u64,
}

impl Decisions {
    pub(super) fn new(now: i64) -> Self {
        Self {
            now,
            settlement: Settlement::default(),
            seen: Vec::new(),
            erased: Vec::new(),
            occurred: Vec::new(),
            limit_waits: 0,
        }
    }

    pub(super) fn finish<'a>(&mut self, events: impl IntoIterator<Item = &'a Claimed>) {
        for event in events {
            self.settlement.finished.push(event.id);
            self.occurred.push(event.key.occurred_at);
        }
    }

    /// Back to pending, due now, no attempt counted: the round ran out of time for them.
    pub(super) fn put_back(&mut self, events: Vec<&Claimed>) {
        self.retry_in(events, Duration::ZERO, None);
    }

    /// Back in the queue until the portal's limit allows a call; no attempt counted.
    pub(super) fn wait_for_limit(&mut self, events: Vec<&Claimed>, wait: Duration) {
        self.limit_waits += events.len() as u64;
        self.retry_in(events, wait, None);
    }

    pub(super) fn retry_in<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Claimed>,
        wait: Duration,
        error: Option<&str>,
    ) {
        let ids = ids(events);
        if ids.is_empty() {
            return;
        }
        self.settlement.retries.push(Retry {
            ids,
            due_ms: after(self.now, wait),
            error: error.map(str::to_owned),
        });
    }

    pub(super) fn set_aside<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Claimed>,
        state: SetAside,
        reason: &str,
        error: Option<&str>,
    ) {
        let ids = ids(events);
        if ids.is_empty() {
            return;
        }
        self.settlement.set_aside.push(Aside {
            ids,
            state,
            reason: reason.to_owned(),
            error: error.map(str::to_owned),
        });
    }

    pub(super) fn quarantine<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Claimed>,
        reason: &str,
    ) {
        self.set_aside(events, SetAside::Quarantined, reason, None);
    }

    pub(super) fn gone(
        &mut self,
        portal: PortalId,
        object: ObjectType,
        id: ObjectId,
        gone: Gone,
        at_ms: i64,
        trace: Option<String>,
    ) {
        self.settlement.gone.push(GoneRecord {
            portal_id: portal,
            object_type: object.path_name().into_owned(),
            object_id: id,
            gone,
            at_ms,
            trace,
        });
    }

    /// A privacy deletion: every copy of the record is erased, and the cache forgets it.
    pub(super) fn erase(
        &mut self,
        portal: PortalId,
        installed_at: i64,
        object: ObjectType,
        id: ObjectId,
        trace: Option<String>,
    ) {
        self.erased.push(RecordKey {
            portal,
            installed_at,
            object,
            id,
        });
        self.settlement.erased.push(ErasedRecord {
            portal_id: portal,
            object_type: object.path_name().into_owned(),
            singular: object.legacy_name().map(str::to_owned),
            type_id: object.type_id().into_owned(),
            object_id: id,
            trace,
        });
    }

    pub(super) fn records(
        &mut self,
        portal: PortalId,
        object: ObjectType,
        records: &[Record],
        trace: &Option<String>,
    ) {
        let now = self.now;
        self.settlement
            .records
            .extend(records.iter().map(|r| MirroredRecord {
                portal_id: portal,
                object_type: object.path_name().into_owned(),
                object_id: ObjectId(r.id),
                state: "live".into(),
                properties: r.properties.as_json().to_owned(),
                updated_at: r.updated_at,
                fetched_at: now,
                trace: trace.clone(),
            }));
    }

    /// A failed attempt: retried with backoff, or a dead letter once attempts are used up.
    pub(super) fn failed(&mut self, events: Vec<&Claimed>, failure: &Failure, max_attempts: u32) {
        self.failed_with(events, &Chain(failure).to_string(), max_attempts);
    }

    /// A failed attempt with `error` as its reason.
    pub(super) fn failed_with(&mut self, events: Vec<&Claimed>, error: &str, max_attempts: u32) {
        let (dead, again): (Vec<&Claimed>, Vec<&Claimed>) = events
            .into_iter()
            .partition(|e| u32::try_from(e.attempts).unwrap_or(0) + 1 >= max_attempts);
        if !dead.is_empty() {
            warn!(events = dead.len(), error, "events dead-lettered");
            let reason = format!("failed {max_attempts} times");
            self.set_aside(dead, SetAside::Dead, &reason, Some(error));
        }
        let mut by_attempts: BTreeMap<i32, Vec<&Claimed>> = BTreeMap::new();
        for event in again {
            by_attempts.entry(event.attempts).or_default().push(event);
        }
        for (done, events) in by_attempts {
            let wait = RETRY_BACKOFF.jittered(u32::try_from(done).unwrap_or(0));
            self.retry_in(events, wait, Some(error));
        }
    }
}

/// The quarantine reason after HubSpot's `403 MISSING_SCOPES`.
pub(super) fn missing_scope(object: ObjectType) -> String {
    format!(
        "HubSpot refused: the portal did not grant `{}` (no calls until it installs again)",
        object.read_scope()
    )
}

/// Why a read did not happen.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    #[error("no token")]
    Token(#[from] TokenError),
    #[error("the CRM read failed")]
    HubSpot(#[from] HubSpotError),
}

pub(super) fn trace_of(event: &Claimed) -> Option<String> {
    event.trace_context.clone()
}

fn ids<'a>(events: impl IntoIterator<Item = &'a Claimed>) -> Vec<i64> {
    events.into_iter().map(|e| e.id).collect()
}
