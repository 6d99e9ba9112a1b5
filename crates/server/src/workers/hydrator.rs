//! The hydrator: claimed events become full, fresh records in the mirror, and each change
//! the mirror accepts is queued for the other sinks in the same transaction.
//!
//! One round ([`Hydrator::hydrate_once`]) claims due events fairly across portals, then
//! serves each portal on its own (concurrently, so one portal's wait is nobody else's):
//! events of portals that cannot be served are quarantined with the reason; each event's
//! meaning ([`super::plan::work`]) decides whether a call is needed; the events that need
//! one are grouped by object type, collapsed to distinct ids, those the mirror already
//! reflects are done without a call, and the rest are read 100 at a time within the
//! portal's rate limit (a short wait for the limiter is waited out). Every event taken ends
//! done, back in the queue (retried with backoff, or waiting for the limit), or set aside
//! with a reason: nothing is dropped. What a round decided is written in one transaction
//! ([`store::WorkQueue::settle`]), while the next round already reads ([`Hydrator::run`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hubspot::crm::{BatchRead, CrmClient, ObjectType, Record, MAX_BATCH};
use hubspot::failure::{HubSpotError, Kind};
use hubspot::time::{duration_ms, Clock};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use secrecy::SecretString;
use store::{
    Aside, ClaimRequest, Claimed, ErasedRecord, Gone, GoneRecord, MirroredRecord, PortalState,
    Retry, SetAside, Settlement, Store, StoreError,
};
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{debug, warn, Instrument, Span};

use super::limits::PortalLimits;
use super::plan::{work, Work};
use super::versions::{CacheStats, RecordKey, Versions};
use crate::backoff::Backoff;
use crate::config::HydratorConfig;
use crate::metrics::freshness_histogram;
use crate::monitor::tally::Tally;
use crate::oauth::tokens::{TokenError, TokenService};
use crate::telemetry::{context, Chain};

/// Portals served per round, events taken from each at most, and in all: a round's
/// settlement is one transaction, which on SQLite holds the write lock the receiver's
/// group commits also need, so rounds stay near 4,000 events (`scripts/bench.sh busy`).
/// A lone busy portal gets the whole round (fewer pauses between its calls).
const PORTALS_PER_ROUND: u32 = 16;
const EVENTS_PER_PORTAL: u32 = 2_000;
const EVENTS_PER_ROUND: u32 = 4_000;
/// How long an idle worker waits before looking again.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Retries of failed events: from 5 s, doubling, up to 15 minutes.
const RETRY_BACKOFF: Backoff = Backoff {
    start: Duration::from_secs(5),
    cap: Duration::from_secs(900),
};
/// A portal's limiter wait up to this is waited out in the round; a longer one (a pause
/// after a `429`, an exhausted window) puts the events back instead.
const INLINE_WAIT: Duration = Duration::from_secs(1);
/// HubSpot's rate-limit window, for pauses after a `429` without `Retry-After`.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The endpoint class the monitor counts the hydrator's calls under.
const CRM_BATCH_READ: &str = "crm.batch_read";

/// The hydrator of one spoke process; cheap to share.
#[derive(Debug)]
pub struct Hydrator {
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    crm: CrmClient,
    limits: PortalLimits,
    /// Versions of records the mirror holds, so reflected events cost no lookup.
    versions: Versions,
    config: HydratorConfig,
    /// The sinks each change the mirror accepts is queued for.
    sinks: Vec<String>,
    /// Where each CRM call is counted for the certification monitor.
    tally: Arc<Tally>,
    clock: Clock,
    /// This worker, as claim holder.
    holder: String,
    /// Where the next round's fair walk over portals starts.
    cursor: std::sync::Mutex<i64>,
    /// CRM calls made, by HTTP status (0: no answer).
    calls: std::sync::Mutex<BTreeMap<u16, u64>>,
    /// Seconds from each finished event's `occurredAt` to the commit that finished it.
    freshness: Histogram,
    /// Events put back to wait for their portal's rate limit (or a `429`'s pause).
    limit_waits: Counter,
    /// Object types HubSpot refused with `403 MISSING_SCOPES`, per portal, with the install
    /// they were refused under: no more calls for them until the portal installs again.
    refused: std::sync::Mutex<BTreeMap<(i64, ObjectType), i64>>,
}

/// What a round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Events were claimed and each was finished, put back or set aside.
    Worked(usize),
    Idle,
}

/// The events of one object type to read, by record id.
type Reads<'a> = BTreeMap<i64, Vec<&'a Claimed>>;

/// A round decided but not yet written.
#[derive(Debug)]
struct Decided {
    /// The events it holds.
    ids: std::collections::BTreeSet<i64>,
    settlement: Settlement,
    seen: Vec<(RecordKey, i64)>,
    erased: Vec<RecordKey>,
    occurred: Vec<i64>,
    /// A portal's part that failed (its events stay claimed until the claim lapses).
    failed: Option<StoreError>,
}

impl Hydrator {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Arc<TokenService>,
        crm: CrmClient,
        config: HydratorConfig,
        sinks: Vec<String>,
        tally: Arc<Tally>,
        clock: Clock,
    ) -> Self {
        Self {
            limits: PortalLimits::new(config.rate_limit, RATE_WINDOW, clock.clone()),
            versions: Versions::new(config.cache_records, config.cache_ttl),
            store,
            tokens,
            crm,
            config,
            sinks,
            tally,
            clock,
            holder: format!("hydrator-{}", uuid::Uuid::new_v4().simple()),
            cursor: std::sync::Mutex::new(i64::MIN),
            calls: std::sync::Mutex::default(),
            freshness: freshness_histogram(),
            limit_waits: Counter::default(),
            refused: std::sync::Mutex::default(),
        }
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "hydration_freshness_seconds",
            "From an event's occurredAt to the commit that finished it (its record in the mirror)",
            self.freshness.clone(),
        );
        registry.register(
            "hydration_rate_limit_waits",
            "Events put back to wait for their portal's rate limit or a 429's pause",
            self.limit_waits.clone(),
        );
    }

    /// Rounds until `shutdown`; a round in progress finishes first. Rounds overlap: while
    /// one round's decisions are written, the next round, claimed just before, reads from
    /// HubSpot, so a busy portal's calls do not pause for the write. One write is in flight
    /// at a time and rounds are written in order.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut decided: Option<Decided> = None;
        while !shutdown.is_cancelled() {
            let mut claimed = match self.claim_round().await {
                Ok(claimed) => claimed,
                // On SQLite a claim that loses the write lock to the receiver fails at
                // once, by design: the next round tries again.
                Err(error) if error.is_unavailable() => {
                    debug!(error = %Chain(&error), "hydration claim deferred");
                    Vec::new()
                }
                Err(error) => {
                    warn!(error = %Chain(&error), "hydration claim failed");
                    Vec::new()
                }
            };
            // Had the round being written held its claims past their lapse, this round
            // could take its events again: they stay the other round's.
            if let Some(writing) = &decided {
                claimed.retain(|c| !writing.ids.contains(&c.id));
            }
            let writing = decided.take().map(|round| {
                let me = self.clone();
                tokio::spawn(async move { me.settle_round(round).await })
            });
            let reading = (!claimed.is_empty()).then(|| self.decide(claimed));
            let next = match reading {
                Some(reading) => Some(reading.await),
                None => None,
            };
            if let Some(writing) = writing {
                match writing.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => warn!(error = %Chain(&error), "hydration round failed"),
                    Err(error) => warn!(error = %error, "hydration round ended abnormally"),
                }
            }
            if next.is_some() {
                decided = next;
                continue;
            }
            let _ = shutdown
                .run_until_cancelled(tokio::time::sleep(IDLE_POLL))
                .await;
        }
        if let Some(round) = decided {
            if let Err(error) = self.settle_round(round).await {
                warn!(error = %Chain(&error), "the last hydration round failed");
            }
        }
    }

    /// One round: claim, serve every portal claimed, settle every event.
    pub async fn hydrate_once(&self) -> Result<Round, StoreError> {
        let claimed = self.claim_round().await?;
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        let decided = self.decide(claimed).await;
        self.settle_round(decided).await
    }

    /// Claims the next round's events, fairly across portals (see [`store::WorkQueue::claim`]).
    async fn claim_round(&self) -> Result<Vec<Claimed>, StoreError> {
        let now = self.clock.now_ms();
        let after_portal = *self.cursor.lock().expect("cursor lock");
        let claimed = self
            .store
            .claim(&ClaimRequest {
                holder: &self.holder,
                until_ms: now + duration_ms(self.config.claim_lease),
                now_ms: now,
                portals: PORTALS_PER_ROUND,
                after_portal,
                per_portal: EVENTS_PER_PORTAL,
                round_events: EVENTS_PER_ROUND,
            })
            .await?;
        *self.cursor.lock().expect("cursor lock") =
            claimed.last().map_or(i64::MIN, |c| c.key.portal_id);
        Ok(claimed)
    }

    /// Serves every portal of a claimed round; what they decided, to be written.
    async fn decide(&self, claimed: Vec<Claimed>) -> Decided {
        let mut by_portal: BTreeMap<i64, Vec<Claimed>> = BTreeMap::new();
        for event in &claimed {
            by_portal
                .entry(event.key.portal_id)
                .or_default()
                .push(event.clone());
        }
        let served = join_all(
            by_portal
                .iter()
                .map(|(portal, events)| self.serve_portal(*portal, events)),
        )
        .await;
        // What the served portals decided is kept even if another portal's part failed;
        // that portal's events stay claimed until the claim lapses, then go round again.
        let mut round = Decided {
            ids: claimed.iter().map(|c| c.id).collect(),
            settlement: Settlement {
                sinks: self.sinks.clone(),
                ..Settlement::default()
            },
            seen: Vec::new(),
            erased: Vec::new(),
            occurred: Vec::new(),
            failed: None,
        };
        for part in served {
            match part {
                Ok(part) => {
                    self.limit_waits.inc_by(part.limit_waits);
                    round.settlement.absorb(part.settlement);
                    round.seen.extend(part.seen);
                    round.erased.extend(part.erased);
                    round.occurred.extend(part.occurred);
                }
                Err(error) => round.failed = Some(error),
            }
        }
        round
    }

    /// Writes a round's decisions in one transaction; then the cache and the freshness
    /// histogram learn what is now the mirror's.
    async fn settle_round(&self, round: Decided) -> Result<Round, StoreError> {
        self.store
            .settle(&self.holder, &round.settlement, self.clock.now_ms())
            .await?;
        let committed = self.clock.now_ms();
        for occurred_at in round.occurred {
            self.freshness
                .observe((committed - occurred_at).max(0) as f64 / 1_000.0);
        }
        self.versions.remember(round.seen);
        for key in &round.erased {
            self.versions.forget(key);
        }
        if let Some(error) = round.failed {
            return Err(error);
        }
        debug!(events = round.ids.len(), "hydration round");
        Ok(Round::Worked(round.ids.len()))
    }

    /// Decides every event of one portal; reads records as needed.
    async fn serve_portal(&self, portal: i64, events: &[Claimed]) -> Result<Decisions, StoreError> {
        let mut out = Decisions::new(self.clock.now_ms());
        let (scopes, installed_at) = match self.store.portal(portal).await? {
            Some(p) if p.state == PortalState::Installed => (p.scopes, p.installed_at),
            Some(p) if p.state == PortalState::NeedsReauth => {
                out.quarantine(events, "the portal must install the app again");
                return Ok(out);
            }
            Some(_) => {
                out.quarantine(events, "the app was uninstalled");
                return Ok(out);
            }
            None => {
                out.quarantine(events, "the portal has not installed the app");
                return Ok(out);
            }
        };
        let key = |object, id| RecordKey {
            portal,
            installed_at,
            object,
            id,
        };
        let mut reads: BTreeMap<ObjectType, Reads<'_>> = BTreeMap::new();
        let refused = |object: ObjectType| {
            let refused = self.refused.lock().expect("refused lock");
            refused.get(&(portal, object)) == Some(&installed_at)
        };
        for event in events {
            let needs_scope = |object: ObjectType| !scopes.iter().any(|s| s == object.read_scope());
            let at = event.key.occurred_at;
            match work(event, &self.config.objects) {
                Work::Unhandled(reason) => {
                    out.set_aside([event], SetAside::Unhandled, &reason, None)
                }
                Work::Fetch { object, .. } | Work::Merge { object, .. } if needs_scope(object) => {
                    let reason = format!("the portal did not grant `{}`", object.read_scope());
                    out.quarantine([event], &reason)
                }
                Work::Fetch { object, .. } | Work::Merge { object, .. } if refused(object) => {
                    out.quarantine([event], &missing_scope(object))
                }
                Work::Fetch { object, id } => reads
                    .entry(object)
                    .or_default()
                    .entry(id)
                    .or_default()
                    .push(event),
                Work::Delete { object, id } => {
                    out.gone(portal, object, id, Gone::Deleted, at, trace_of(event));
                    out.finish([event])
                }
                Work::Merge {
                    object,
                    winner,
                    losers,
                } => {
                    for loser in losers {
                        out.gone(portal, object, loser, Gone::Merged, at, trace_of(event));
                    }
                    reads
                        .entry(object)
                        .or_default()
                        .entry(winner)
                        .or_default()
                        .push(event)
                }
                Work::Erase { object, id } => {
                    out.erased.push(key(object, id));
                    out.settlement.erased.push(ErasedRecord {
                        portal_id: portal,
                        object_type: object.plural().to_owned(),
                        singular: object.singular().to_owned(),
                        object_id: id,
                        trace: trace_of(event),
                    });
                    out.finish([event])
                }
            }
        }
        for (object, by_id) in reads {
            self.read(&mut out, portal, installed_at, object, by_id)
                .await?;
        }
        Ok(out)
    }

    /// Reads the records `by_id` names, except those the cache or the mirror already holds
    /// at least as new as every event about them, 100 a call within the portal's limit.
    async fn read(
        &self,
        out: &mut Decisions,
        portal: i64,
        installed_at: i64,
        object: ObjectType,
        mut by_id: Reads<'_>,
    ) -> Result<(), StoreError> {
        let key = |id| RecordKey {
            portal,
            installed_at,
            object,
            id,
        };
        let newest = |by_id: &Reads<'_>| -> BTreeMap<i64, i64> {
            by_id
                .iter()
                .map(|(id, events)| {
                    let at = events.iter().map(|e| e.key.occurred_at).max();
                    (*id, at.unwrap_or(i64::MIN))
                })
                .collect()
        };
        for id in self.versions.reflected(key, &newest(&by_id)) {
            out.finish(by_id.remove(&id).expect("listed"));
        }
        let ids: Vec<i64> = by_id.keys().copied().collect();
        let held = self
            .store
            .last_modified(portal, object.plural(), &ids)
            .await?;
        self.versions
            .remember(held.iter().map(|(id, version)| (key(*id), *version)));
        let reflected: Vec<i64> = newest(&by_id)
            .into_iter()
            .filter(|(id, at)| held.get(id).is_some_and(|version| at <= version))
            .map(|(id, _)| id)
            .collect();
        for id in reflected {
            out.finish(by_id.remove(&id).expect("listed"));
        }
        let ids: Vec<i64> = by_id.keys().copied().collect();
        let events_of = |ids: &[i64]| -> Vec<&Claimed> {
            ids.iter()
                .flat_map(|id| by_id[id].iter().copied())
                .collect()
        };
        for (index, chunk) in ids.chunks(MAX_BATCH).enumerate() {
            let rest = &ids[index * MAX_BATCH..];
            if let Err(wait) = self.call_slot(portal).await {
                // This chunk and the rest wait for the portal's window; no attempt counted.
                out.wait_for_limit(events_of(rest), wait);
                return Ok(());
            }
            let events = events_of(chunk);
            let span = read_span(portal, object, &events);
            let trace = context::traceparent(&span);
            match self
                .batch_read(portal, object, chunk)
                .instrument(span)
                .await
            {
                Ok(read) => {
                    if let Some(seen) = &read.rate_limit {
                        self.limits.observe(portal, seen);
                    }
                    out.records(portal, object, &read.records, &trace);
                    out.seen
                        .extend(read.records.iter().map(|r| (key(r.id), r.updated_at)));
                    for id in &read.missing {
                        let at = by_id[id].iter().map(|e| e.key.occurred_at).max();
                        let at = at.unwrap_or(0);
                        out.gone(portal, object, *id, Gone::Deleted, at, trace.clone());
                    }
                    out.finish(events);
                }
                Err(Failure::Token(TokenError::NeedsReauth(_))) => {
                    out.quarantine(events, "the portal must install the app again")
                }
                Err(Failure::Token(TokenError::NotInstalled(_))) => {
                    out.quarantine(events, "the portal has not installed the app")
                }
                Err(Failure::HubSpot(error)) if error.kind() == Kind::MissingScopes => {
                    warn!(portal_id = portal, scope = object.read_scope(), "HubSpot refused a missing scope: no more calls for it until the portal installs again");
                    self.refused
                        .lock()
                        .expect("refused lock")
                        .insert((portal, object), installed_at);
                    out.quarantine(events_of(rest), &missing_scope(object));
                    return Ok(());
                }
                Err(Failure::HubSpot(error)) if error.kind() == Kind::RateLimited => {
                    let wait = error.retry_after().unwrap_or(RATE_WINDOW);
                    warn!(
                        portal_id = portal,
                        policy = error.policy_name(),
                        wait_s = wait.as_secs(),
                        "HubSpot answered 429: pausing the portal"
                    );
                    self.limits.pause(portal, wait);
                    out.wait_for_limit(events_of(rest), wait);
                    return Ok(());
                }
                Err(failure) => out.failed(events, &failure, self.config.max_attempts),
            }
        }
        Ok(())
    }

    /// Takes one of the portal's calls, waiting a short while for it; the longer wait
    /// otherwise.
    async fn call_slot(&self, portal: i64) -> Result<(), Duration> {
        loop {
            match self.limits.acquire(portal) {
                Err(wait) if wait <= INLINE_WAIT => tokio::time::sleep(wait).await,
                other => return other,
            }
        }
    }

    /// One batch read with the portal's token; a `401` forces one refresh and one retry.
    async fn batch_read(
        &self,
        portal: i64,
        object: ObjectType,
        ids: &[i64],
    ) -> Result<BatchRead, Failure> {
        let token = self.tokens.token_for(portal).await?;
        match self.call(portal, object, &token, ids).await {
            Err(error) if error.kind() == Kind::Unauthorized => {
                let fresh: SecretString = self.tokens.token_after_rejection(portal, &token).await?;
                if self.call_slot(portal).await.is_err() {
                    return Err(Failure::HubSpot(error));
                }
                Ok(self.call(portal, object, &fresh, ids).await?)
            }
            other => Ok(other?),
        }
    }

    /// One CRM call, in its own span, counted by the status HubSpot answered here and for
    /// the monitor.
    async fn call(
        &self,
        portal: i64,
        object: ObjectType,
        token: &SecretString,
        ids: &[i64],
    ) -> Result<BatchRead, HubSpotError> {
        let span = tracing::info_span!(
            target: context::TRACED,
            "crm.batch_read",
            portal_id = portal,
            object_type = object.plural(),
            records = ids.len() as i64,
            http.status_code = Empty,
        );
        let result = self
            .crm
            .batch_read(token, object, ids, &[])
            .instrument(span.clone())
            .await;
        let status = match &result {
            Ok(read) if read.missing.is_empty() => 200,
            Ok(_) => 207,
            Err(HubSpotError::Answered { status, .. }) => *status,
            Err(_) => 0,
        };
        span.record("http.status_code", i64::from(status));
        self.tally.api_call(portal, CRM_BATCH_READ, status);
        *self
            .calls
            .lock()
            .expect("calls lock")
            .entry(status)
            .or_default() += 1;
        result
    }

    /// The CRM calls this process made, by HTTP status (0: no answer).
    pub fn crm_calls(&self) -> BTreeMap<u16, u64> {
        self.calls.lock().expect("calls lock").clone()
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.versions.stats()
    }
}

/// What one portal's part of a round decided, to be settled with the rest of the round,
/// and what the cache learns once it is.
struct Decisions {
    now: i64,
    settlement: Settlement,
    /// Versions read from HubSpot.
    seen: Vec<(RecordKey, i64)>,
    /// Records erased by privacy deletions.
    erased: Vec<RecordKey>,
    /// When each finished event occurred, for freshness.
    occurred: Vec<i64>,
    /// Events put back for the rate limit.
    limit_waits: u64,
}

impl Decisions {
    fn new(now: i64) -> Self {
        Self {
            now,
            settlement: Settlement::default(),
            seen: Vec::new(),
            erased: Vec::new(),
            occurred: Vec::new(),
            limit_waits: 0,
        }
    }

    fn finish<'a>(&mut self, events: impl IntoIterator<Item = &'a Claimed>) {
        for event in events {
            self.settlement.finished.push(event.id);
            self.occurred.push(event.key.occurred_at);
        }
    }

    /// Back in the queue until the portal's limit allows a call; no attempt counted.
    fn wait_for_limit(&mut self, events: Vec<&Claimed>, wait: Duration) {
        self.limit_waits += events.len() as u64;
        self.retry_in(events, wait, None);
    }

    fn retry_in<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Claimed>,
        wait: Duration,
        error: Option<&str>,
    ) {
        self.settlement.retries.push(Retry {
            ids: ids(events),
            due_ms: self.now + duration_ms(wait),
            error: error.map(str::to_owned),
        });
    }

    fn set_aside<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Claimed>,
        state: SetAside,
        reason: &str,
        error: Option<&str>,
    ) {
        self.settlement.set_aside.push(Aside {
            ids: ids(events),
            state,
            reason: reason.to_owned(),
            error: error.map(str::to_owned),
        });
    }

    fn quarantine<'a>(&mut self, events: impl IntoIterator<Item = &'a Claimed>, reason: &str) {
        self.set_aside(events, SetAside::Quarantined, reason, None);
    }

    fn gone(
        &mut self,
        portal: i64,
        object: ObjectType,
        id: i64,
        gone: Gone,
        at_ms: i64,
        trace: Option<String>,
    ) {
        self.settlement.gone.push(GoneRecord {
            portal_id: portal,
            object_type: object.plural().to_owned(),
            object_id: id,
            gone,
            at_ms,
            trace,
        });
    }

    fn records(
        &mut self,
        portal: i64,
        object: ObjectType,
        records: &[Record],
        trace: &Option<String>,
    ) {
        let now = self.now;
        self.settlement
            .records
            .extend(records.iter().map(|r| MirroredRecord {
                portal_id: portal,
                object_type: object.plural().to_owned(),
                object_id: r.id,
                state: "live".into(),
                properties: serde_json::Value::Object(r.properties.clone()).to_string(),
                updated_at: r.updated_at,
                fetched_at: now,
                trace: trace.clone(),
            }));
    }

    /// A failed attempt: retried with backoff, or a dead letter once attempts are used up.
    fn failed(&mut self, events: Vec<&Claimed>, failure: &Failure, max_attempts: u32) {
        let error = Chain(failure).to_string();
        let (dead, again): (Vec<&Claimed>, Vec<&Claimed>) = events
            .into_iter()
            .partition(|e| u32::try_from(e.attempts).unwrap_or(0) + 1 >= max_attempts);
        if !dead.is_empty() {
            warn!(events = dead.len(), error, "events dead-lettered");
            let reason = format!("failed {max_attempts} times");
            self.set_aside(dead, SetAside::Dead, &reason, Some(&error));
        }
        let mut by_attempts: BTreeMap<i32, Vec<&Claimed>> = BTreeMap::new();
        for event in again {
            by_attempts.entry(event.attempts).or_default().push(event);
        }
        for (done, events) in by_attempts {
            let wait = RETRY_BACKOFF.jittered(u32::try_from(done).unwrap_or(0));
            self.retry_in(events, wait, Some(&error));
        }
    }
}

/// The quarantine reason after HubSpot's `403 MISSING_SCOPES`.
fn missing_scope(object: ObjectType) -> String {
    format!(
        "HubSpot refused: the portal did not grant `{}` (no calls until it installs again)",
        object.read_scope()
    )
}

/// Why a read did not happen.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("no token")]
    Token(#[from] TokenError),
    #[error("the CRM read failed")]
    HubSpot(#[from] HubSpotError),
}

/// The span of one batch read: it continues the trace of the first event it serves and
/// links the traces of the others (one read serves events of many deliveries).
fn read_span(portal: i64, object: ObjectType, events: &[&Claimed]) -> Span {
    let span = tracing::info_span!(
        target: context::TRACED,
        parent: None,
        "hydrate",
        portal_id = portal,
        object_type = object.plural(),
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

fn trace_of(event: &Claimed) -> Option<String> {
    event.trace_context.clone()
}

fn ids<'a>(events: impl IntoIterator<Item = &'a Claimed>) -> Vec<i64> {
    events.into_iter().map(|e| e.id).collect()
}
