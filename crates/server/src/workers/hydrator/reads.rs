//! One portal's reads of one object type: the events whose record the cache or the mirror
//! already holds at least as new are finished without a call; the rest are read 100 ids a
//! call, with the type's properties ([`super::properties`]), within the portal's limit,
//! and each read's outcome decides their events.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hubspot::crm::{BatchRead, ObjectType, MAX_BATCH};
use hubspot::failure::Kind;
use hubspot::time::{after, Clock};
use store::{Claimed, ObjectId, PortalId, SetAside, StoreError};
use tracing::{warn, Instrument, Span};

use super::answer::{decide_answer, events_of};
use super::catalog::Listed;
use super::crm::CrmReader;
use super::crm::RATE_WINDOW;
use super::decisions::{missing_scope, Decisions, Failure};
use super::properties::{changed_properties, PropertyCatalog, PropertySelection};
use super::sort::{Reading, Reads};
use super::types::CustomTypeCatalog;
use crate::oauth::tokens::TokenError;
use crate::telemetry::context;
use crate::workers::versions::Versions;
use store::Store;

/// A list read again, or the held one serving in its place.
enum Relisted {
    Fresh(Vec<String>),
    Held(Arc<[String]>),
}

/// Whether a portal's remaining reads of a type go on after one read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    /// The rest were put back or set aside with this read's outcome.
    Stop,
}

/// When a round starts no more calls: half its claim's lease after the claim. Each call is
/// bounded (10 s), so a round settles well inside the lease, and no other worker takes its
/// portals (two callers on one rate limit) while it still calls HubSpot for them.
pub(super) struct Deadline {
    clock: Clock,
    at_ms: i64,
}

impl Deadline {
    pub(super) fn of_round(clock: Clock, claimed_at_ms: i64, lease: Duration) -> Self {
        Self {
            clock,
            at_ms: after(claimed_at_ms, lease / 2),
        }
    }

    pub(super) fn passed(&self) -> bool {
        self.clock.now_ms() >= self.at_ms
    }
}

/// What a portal's reads use: the mirror and the cache of its versions, the CRM, how many
/// attempts an event gets, and the round's deadline.
pub(super) struct Reader<'h> {
    pub(super) store: &'h dyn Store,
    pub(super) versions: &'h Versions,
    pub(super) crm: &'h CrmReader,
    pub(super) selection: &'h PropertySelection,
    pub(super) catalog: &'h PropertyCatalog,
    pub(super) custom_types: &'h CustomTypeCatalog,
    pub(super) max_attempts: u32,
    pub(super) deadline: &'h Deadline,
}

impl Reader<'_> {
    /// Reads the records `by_id` names, except those the cache or the mirror already holds
    /// at least as new as every event about them, 100 a call within the portal's limit.
    pub(super) async fn read(
        &self,
        out: &mut Decisions,
        reading: Reading,
        mut by_id: Reads<'_>,
    ) -> Result<(), StoreError> {
        self.finish_reflected(out, reading, &mut by_id).await?;
        if by_id.is_empty() {
            return Ok(());
        }
        if reading.object.is_custom() && !self.defines_custom_type(out, reading, &by_id).await {
            return Ok(());
        }
        let Some(properties) = self.properties(out, reading, &by_id).await else {
            return Ok(());
        };
        let ids: Vec<ObjectId> = by_id.keys().copied().collect();
        for (index, chunk) in ids.chunks(MAX_BATCH).enumerate() {
            let rest = &ids[index * MAX_BATCH..];
            if self.deadline.passed() {
                // The round is out of time: this chunk and the rest go round again, no
                // attempt counted.
                out.put_back(events_of(&by_id, rest));
                return Ok(());
            }
            if let Err(wait) = self.crm.slot(reading.portal).await {
                // This chunk and the rest wait for the portal's window; no attempt counted.
                out.wait_for_limit(events_of(&by_id, rest), wait);
                return Ok(());
            }
            let events = events_of(&by_id, chunk);
            let span = read_span(reading.portal, reading.object, &events);
            let trace = context::traceparent(&span);
            let read = self
                .crm
                .batch_read(reading.portal, reading.object, chunk, &properties)
                .instrument(span)
                .await;
            let flow = self.decide_read(out, reading, &by_id, (chunk, rest), read, trace);
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    /// The properties to read the records of `by_id` with: the configured list, or every
    /// property the portal defines, its list read again (see [`Reader::list_again`]) when
    /// none is held, the held one is due, or a change names a property it lacks.
    async fn properties(
        &self,
        out: &mut Decisions,
        reading: Reading,
        by_id: &Reads<'_>,
    ) -> Option<Arc<[String]>> {
        if let Some(named) = self.selection.named(reading.object) {
            return Some(named);
        }
        let key = (reading.portal, reading.installed_at, reading.object);
        let wanted = changed_properties(by_id.values().flatten().copied());
        let held = match self.catalog.lookup(&key, &wanted) {
            Listed::Current(list) => return Some(list),
            Listed::Due(held) => held,
        };
        let listing = self.crm.property_names(reading.portal, reading.object);
        match self.list_again(out, reading, by_id, held, listing).await? {
            Relisted::Fresh(names) => Some(self.catalog.learn(key, names, &wanted)),
            Relisted::Held(list) => Some(list),
        }
    }

    /// Whether the portal defines the custom object `by_id`'s events name, by its list of
    /// custom object types (read again when it lacks the type); events of a type it does
    /// not define are kept unhandled with the reason.
    async fn defines_custom_type(
        &self,
        out: &mut Decisions,
        reading: Reading,
        by_id: &Reads<'_>,
    ) -> bool {
        let key = (reading.portal, reading.installed_at);
        let wanted = [reading.object.type_id().into_owned()];
        let list = match self.custom_types.lookup(&key, &wanted) {
            Listed::Current(list) => list,
            Listed::Due(held) => {
                let listing = self.crm.custom_types(reading.portal);
                match self.list_again(out, reading, by_id, held, listing).await {
                    Some(Relisted::Fresh(types)) => self.custom_types.learn(key, types, &wanted),
                    Some(Relisted::Held(list)) => list,
                    None => return false,
                }
            }
        };
        if list.contains(&wanted[0]) {
            return true;
        }
        let reason = format!("the portal defines no custom object {}", wanted[0]);
        out.set_aside(
            by_id.values().flatten().copied(),
            SetAside::Unhandled,
            &reason,
            None,
        );
        false
    }

    /// Reads a list the portal's reads need again: one call within the portal's limit. The
    /// `held` list serves when the call cannot be made now or fails; without one, the
    /// events of `by_id` wait, go back, or are decided as that call's failure (`None`).
    async fn list_again(
        &self,
        out: &mut Decisions,
        reading: Reading,
        by_id: &Reads<'_>,
        held: Option<Arc<[String]>>,
        listing: impl Future<Output = Result<Vec<String>, Failure>>,
    ) -> Option<Relisted> {
        let ids: Vec<ObjectId> = by_id.keys().copied().collect();
        if self.deadline.passed() {
            return held.map(Relisted::Held).or_else(|| {
                out.put_back(events_of(by_id, &ids));
                None
            });
        }
        if let Err(wait) = self.crm.slot(reading.portal).await {
            return held.map(Relisted::Held).or_else(|| {
                out.wait_for_limit(events_of(by_id, &ids), wait);
                None
            });
        }
        match listing.await {
            Ok(names) => Some(Relisted::Fresh(names)),
            Err(failure) if held.is_some() => {
                warn!(portal_id = reading.portal.0, object_type = %reading.object, error = %failure, "a list could not be read again: the held one serves");
                held.map(Relisted::Held)
            }
            Err(failure) => {
                self.decide_read(out, reading, by_id, (&ids, &ids), Err(failure), None);
                None
            }
        }
    }

    /// Finishes the events whose record the cache, or else the mirror, holds at least as
    /// new as the newest of them; the cache learns what the mirror holds.
    async fn finish_reflected(
        &self,
        out: &mut Decisions,
        reading: Reading,
        by_id: &mut Reads<'_>,
    ) -> Result<(), StoreError> {
        let key = |id| reading.key(id);
        for id in self.versions.reflected(key, &newest(by_id)) {
            out.finish(by_id.remove(&id).expect("listed"));
        }
        let ids: Vec<ObjectId> = by_id.keys().copied().collect();
        let held = self
            .store
            .last_modified(reading.portal, &reading.object.path_name(), &ids)
            .await?;
        self.versions
            .remember(held.iter().map(|(id, version)| (key(*id), *version)));
        let reflected: Vec<ObjectId> = newest(by_id)
            .into_iter()
            .filter(|(id, at)| held.get(id).is_some_and(|version| at <= version))
            .map(|(id, _)| id)
            .collect();
        for id in reflected {
            out.finish(by_id.remove(&id).expect("listed"));
        }
        Ok(())
    }

    /// What one batch read of `chunk` decides for its events (and, when the portal cannot
    /// be read any more this round, for the `rest`).
    fn decide_read(
        &self,
        out: &mut Decisions,
        reading: Reading,
        by_id: &Reads<'_>,
        (chunk, rest): (&[ObjectId], &[ObjectId]),
        read: Result<BatchRead, Failure>,
        trace: Option<String>,
    ) -> Flow {
        match read {
            Ok(read) => {
                if let Some(seen) = &read.rate_limit {
                    self.crm.observe(reading.portal, seen);
                }
                decide_answer(out, reading, by_id, chunk, &read, trace, self.max_attempts);
                Flow::Continue
            }
            Err(failure) => self.decide_failure(out, reading, None, by_id, (chunk, rest), failure),
        }
    }

    /// What a failed call for the events of `chunk` decides for them (and, when the portal
    /// cannot be read any more this round, for the `rest`): quarantine without a token or
    /// a scope, a pause after a `429`, else a failed attempt. A read of records' associations
    /// `with` another type that HubSpot refuses for a scope does not stop reads of the type's
    /// records: either type's scope may be the one missing.
    pub(super) fn decide_failure(
        &self,
        out: &mut Decisions,
        reading: Reading,
        with: Option<ObjectType>,
        by_id: &Reads<'_>,
        (chunk, rest): (&[ObjectId], &[ObjectId]),
        failure: Failure,
    ) -> Flow {
        let Reading { portal, object, .. } = reading;
        let events = events_of(by_id, chunk);
        match failure {
            Failure::Token(TokenError::NeedsReauth(_)) => {
                out.quarantine(events, "the portal must install the app again")
            }
            Failure::Token(TokenError::NotInstalled(_)) => {
                out.quarantine(events, "the portal has not installed the app")
            }
            Failure::HubSpot(error) if error.kind() == Kind::MissingScopes => {
                let reason = match with {
                    None => {
                        warn!(portal_id = portal.0, scope = object.read_scope(), "HubSpot refused a missing scope: no more calls for it until the portal installs again");
                        self.crm.refuse(portal, object, reading.installed_at);
                        missing_scope(object)
                    }
                    Some(to) => format!(
                        "HubSpot refused reading associations of {object} with {to}: the portal \
                         did not grant `{}` or `{}`",
                        object.read_scope(),
                        to.read_scope()
                    ),
                };
                out.quarantine(events_of(by_id, rest), &reason);
                return Flow::Stop;
            }
            Failure::HubSpot(error) if error.kind() == Kind::RateLimited => {
                let wait = error.retry_after().unwrap_or(RATE_WINDOW);
                warn!(
                    portal_id = portal.0,
                    policy = error.policy_name(),
                    wait_s = wait.as_secs(),
                    "HubSpot answered 429: pausing the portal"
                );
                self.crm.pause(portal, wait);
                out.wait_for_limit(events_of(by_id, rest), wait);
                return Flow::Stop;
            }
            failure => out.failed(events, &failure, self.max_attempts),
        }
        Flow::Continue
    }
}

/// The newest `occurredAt` of each record's events.
fn newest(by_id: &Reads<'_>) -> BTreeMap<ObjectId, i64> {
    by_id
        .iter()
        .map(|(id, events)| {
            let at = events.iter().map(|e| e.key.occurred_at).max();
            (*id, at.unwrap_or(i64::MIN))
        })
        .collect()
}

/// The span of one batch read: it continues the trace of the first event it serves and
/// links the traces of the others (one read serves events of many deliveries).
fn read_span(portal: PortalId, object: ObjectType, events: &[&Claimed]) -> Span {
    let span = tracing::info_span!(
        target: context::TRACED,
        parent: None,
        "hydrate",
        portal_id = portal.0,
        object_type = %object,
        events = events.len() as i64,
    );
    let mut traces: Vec<&str> = Vec::new();
    for trace in events.iter().filter_map(|e| e.trace_context.as_deref()) {
        if !traces.contains(&trace) {
            traces.push(trace);
        }
    }
    let mut traces = traces.into_iter();
    context::continue_trace(&span, traces.next());
    context::link_traces(&span, traces);
    span
}
