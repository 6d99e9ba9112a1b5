//! The hydrator: claimed events become full, fresh records in the mirror.
//!
//! One round ([`Hydrator::hydrate_once`]) claims due events fairly across portals, then
//! serves each portal on its own (concurrently, so one portal's wait is nobody else's):
//! events of portals that cannot be served are quarantined with the reason; each event's
//! meaning ([`super::plan::work`]) decides whether a call is needed; the events that need one
//! are grouped by object type, collapsed to distinct ids, those the mirror already reflects
//! are done without a call, and the rest are read 100 at a time within the portal's rate
//! limit (a short wait for the limiter is waited out). Every event taken ends done, back in the queue (retried with backoff, or waiting
//! for the limit), or set aside with a reason: nothing is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hubspot::crm::{BatchRead, CrmClient, ObjectType, Record, MAX_BATCH};
use hubspot::failure::{HubSpotError, Kind};
use hubspot::time::{duration_ms, Clock};
use secrecy::SecretString;
use store::{
    ClaimRequest, Claimed, Gone, MirroredRecord, PortalState, SetAside, Store, StoreError,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::limits::PortalLimits;
use super::plan::{work, Work};
use crate::backoff::Backoff;
use crate::config::HydratorConfig;
use crate::oauth::tokens::{TokenError, TokenService};
use crate::telemetry::Chain;

/// How long a claim lasts: far longer than a round takes (a few 10 s calls at most), so
/// only a crashed worker's claims expire.
const CLAIM_LEASE: Duration = Duration::from_secs(120);
/// Portals served per round, and events taken from each.
const PORTALS_PER_ROUND: u32 = 64;
const EVENTS_PER_PORTAL: u32 = 500;
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

/// The hydrator of one spoke process; cheap to share.
#[derive(Debug)]
pub struct Hydrator {
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    crm: CrmClient,
    limits: PortalLimits,
    config: HydratorConfig,
    clock: Clock,
    /// This worker, as claim holder.
    holder: String,
    /// Where the next round's fair walk over portals starts.
    cursor: std::sync::Mutex<i64>,
    /// CRM calls made, by HTTP status (0: no answer).
    calls: std::sync::Mutex<BTreeMap<u16, u64>>,
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

impl Hydrator {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Arc<TokenService>,
        crm: CrmClient,
        config: HydratorConfig,
        clock: Clock,
    ) -> Self {
        Self {
            limits: PortalLimits::new(config.rate_limit, RATE_WINDOW, clock.clone()),
            store,
            tokens,
            crm,
            config,
            clock,
            holder: format!("hydrator-{}", uuid::Uuid::new_v4().simple()),
            cursor: std::sync::Mutex::new(i64::MIN),
            calls: std::sync::Mutex::default(),
        }
    }

    /// Rounds until `shutdown`; a round in progress finishes first.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.hydrate_once().await {
                Ok(Round::Worked(_)) => continue,
                Ok(Round::Idle) => {}
                Err(error) => warn!(error = %Chain(&error), "hydration round failed"),
            }
            let _ = shutdown
                .run_until_cancelled(tokio::time::sleep(IDLE_POLL))
                .await;
        }
    }

    /// One round: claim, serve every portal claimed, settle every event.
    pub async fn hydrate_once(&self) -> Result<Round, StoreError> {
        let now = self.clock.now_ms();
        let after_portal = *self.cursor.lock().expect("cursor lock");
        let claimed = self
            .store
            .claim(&ClaimRequest {
                holder: &self.holder,
                until_ms: now + duration_ms(CLAIM_LEASE),
                now_ms: now,
                portals: PORTALS_PER_ROUND,
                after_portal,
                per_portal: EVENTS_PER_PORTAL,
            })
            .await?;
        let Some(last) = claimed.last().map(|c| c.key.portal_id) else {
            *self.cursor.lock().expect("cursor lock") = i64::MIN;
            return Ok(Round::Idle);
        };
        *self.cursor.lock().expect("cursor lock") = last;
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
        served.into_iter().collect::<Result<(), _>>()?;
        debug!(events = claimed.len(), "hydration round");
        Ok(Round::Worked(claimed.len()))
    }

    async fn serve_portal(&self, portal: i64, events: &[Claimed]) -> Result<(), StoreError> {
        let scopes = match self.store.portal(portal).await? {
            Some(p) if p.state == PortalState::Installed => p.scopes,
            Some(p) if p.state == PortalState::NeedsReauth => {
                return self
                    .quarantine(events, "the portal must install the app again")
                    .await
            }
            Some(_) => return self.quarantine(events, "the app was uninstalled").await,
            None => {
                return self
                    .quarantine(events, "the portal has not installed the app")
                    .await
            }
        };
        let mut reads: BTreeMap<ObjectType, Reads<'_>> = BTreeMap::new();
        for event in events {
            let needs_scope = |object: ObjectType| !scopes.iter().any(|s| s == object.read_scope());
            match work(event, &self.config.objects) {
                Work::Unhandled(reason) => {
                    self.set_aside(&[event], SetAside::Unhandled, &reason, None)
                        .await?
                }
                Work::Fetch { object, .. } | Work::Merge { object, .. } if needs_scope(object) => {
                    let reason = format!("the portal did not grant `{}`", object.read_scope());
                    self.quarantine_all(&[event], &reason).await?
                }
                Work::Fetch { object, id } => reads
                    .entry(object)
                    .or_default()
                    .entry(id)
                    .or_default()
                    .push(event),
                Work::Delete { object, id } => {
                    self.gone(portal, object, id, Gone::Deleted, event.key.occurred_at)
                        .await?;
                    self.finish(&[event]).await?
                }
                Work::Merge {
                    object,
                    winner,
                    losers,
                } => {
                    for loser in losers {
                        self.gone(portal, object, loser, Gone::Merged, event.key.occurred_at)
                            .await?;
                    }
                    reads
                        .entry(object)
                        .or_default()
                        .entry(winner)
                        .or_default()
                        .push(event)
                }
                Work::Erase { object, id } => {
                    let now = self.clock.now_ms();
                    self.store
                        .erase_record(portal, object.plural(), object.singular(), id, now)
                        .await?;
                    self.finish(&[event]).await?
                }
            }
        }
        for (object, by_id) in reads {
            self.read(portal, object, by_id).await?;
        }
        Ok(())
    }

    /// Reads the records `by_id` names, except those the mirror already holds at least as
    /// new as every event about them, 100 a call within the portal's limit.
    async fn read(
        &self,
        portal: i64,
        object: ObjectType,
        mut by_id: Reads<'_>,
    ) -> Result<(), StoreError> {
        let ids: Vec<i64> = by_id.keys().copied().collect();
        let held = self
            .store
            .last_modified(portal, object.plural(), &ids)
            .await?;
        let reflected: Vec<i64> = by_id
            .iter()
            .filter(|(id, events)| {
                held.get(id)
                    .is_some_and(|at| events.iter().all(|e| e.key.occurred_at <= *at))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in reflected {
            let events = by_id.remove(&id).expect("listed");
            self.finish(&events).await?;
        }
        let ids: Vec<i64> = by_id.keys().copied().collect();
        for (index, chunk) in ids.chunks(MAX_BATCH).enumerate() {
            if let Err(wait) = self.call_slot(portal).await {
                // This chunk and the rest wait for the portal's window; no attempt counted.
                let waiting: Vec<&Claimed> = ids[index * MAX_BATCH..]
                    .iter()
                    .flat_map(|id| by_id[id].iter().copied())
                    .collect();
                return self.retry_in(&waiting, wait, None).await;
            }
            let events: Vec<&Claimed> = chunk
                .iter()
                .flat_map(|id| by_id[id].iter().copied())
                .collect();
            match self.batch_read(portal, object, chunk).await {
                Ok(read) => {
                    if let Some(seen) = &read.rate_limit {
                        self.limits.observe(portal, seen);
                    }
                    self.store_records(portal, object, &read.records).await?;
                    for id in &read.missing {
                        let at = by_id[id]
                            .iter()
                            .map(|e| e.key.occurred_at)
                            .max()
                            .unwrap_or(0);
                        self.gone(portal, object, *id, Gone::Deleted, at).await?;
                    }
                    self.finish(&events).await?;
                }
                Err(Failure::Token(TokenError::NeedsReauth(_))) => {
                    self.quarantine_all(&events, "the portal must install the app again")
                        .await?
                }
                Err(Failure::Token(TokenError::NotInstalled(_))) => {
                    self.quarantine_all(&events, "the portal has not installed the app")
                        .await?
                }
                Err(Failure::HubSpot(error)) if error.kind() == Kind::MissingScopes => {
                    let reason = format!(
                        "HubSpot refused: the portal did not grant `{}`",
                        object.read_scope()
                    );
                    let rest: Vec<&Claimed> = ids[index * MAX_BATCH..]
                        .iter()
                        .flat_map(|id| by_id[id].iter().copied())
                        .collect();
                    return self.quarantine_all(&rest, &reason).await;
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
                    let rest: Vec<&Claimed> = ids[index * MAX_BATCH..]
                        .iter()
                        .flat_map(|id| by_id[id].iter().copied())
                        .collect();
                    return self.retry_in(&rest, wait, None).await;
                }
                Err(failure) => self.failed(&events, &failure).await?,
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
        match self.counted(self.crm.batch_read(&token, object, ids, &[]).await) {
            Err(error) if error.kind() == Kind::Unauthorized => {
                let fresh: SecretString = self.tokens.token_after_rejection(portal, &token).await?;
                if self.call_slot(portal).await.is_err() {
                    return Err(Failure::HubSpot(error));
                }
                Ok(self.counted(self.crm.batch_read(&fresh, object, ids, &[]).await)?)
            }
            other => Ok(other?),
        }
    }

    /// Counts a CRM call by the status HubSpot answered.
    fn counted(&self, result: Result<BatchRead, HubSpotError>) -> Result<BatchRead, HubSpotError> {
        let status = match &result {
            Ok(read) if read.missing.is_empty() => 200,
            Ok(_) => 207,
            Err(HubSpotError::Answered { status, .. }) => *status,
            Err(_) => 0,
        };
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

    async fn store_records(
        &self,
        portal: i64,
        object: ObjectType,
        records: &[Record],
    ) -> Result<(), StoreError> {
        let fetched_at = self.clock.now_ms();
        let rows: Vec<MirroredRecord> = records
            .iter()
            .map(|r| MirroredRecord {
                portal_id: portal,
                object_type: object.plural().to_owned(),
                object_id: r.id,
                state: "live".into(),
                properties: serde_json::Value::Object(r.properties.clone()).to_string(),
                updated_at: r.updated_at,
                fetched_at,
            })
            .collect();
        self.store.upsert_records(&rows).await?;
        Ok(())
    }

    async fn gone(
        &self,
        portal: i64,
        object: ObjectType,
        id: i64,
        gone: Gone,
        at: i64,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        self.store
            .mark_gone(portal, object.plural(), id, gone, at, now)
            .await
    }

    async fn finish(&self, events: &[&Claimed]) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        self.store.finish(&self.holder, &ids(events), now).await
    }

    async fn retry_in(
        &self,
        events: &[&Claimed],
        wait: Duration,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let due = self.clock.now_ms() + duration_ms(wait);
        self.store
            .retry(&self.holder, &ids(events), due, error)
            .await
    }

    async fn set_aside(
        &self,
        events: &[&Claimed],
        state: SetAside,
        reason: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        self.store
            .set_aside(&self.holder, &ids(events), state, reason, error, now)
            .await
    }

    async fn quarantine(&self, events: &[Claimed], reason: &str) -> Result<(), StoreError> {
        let events: Vec<&Claimed> = events.iter().collect();
        self.quarantine_all(&events, reason).await
    }

    async fn quarantine_all(&self, events: &[&Claimed], reason: &str) -> Result<(), StoreError> {
        self.set_aside(events, SetAside::Quarantined, reason, None)
            .await
    }

    /// A failed attempt: retried with backoff, or a dead letter once attempts are used up.
    async fn failed(&self, events: &[&Claimed], failure: &Failure) -> Result<(), StoreError> {
        let error = Chain(failure).to_string();
        let attempts = self.config.max_attempts;
        let (dead, again): (Vec<&Claimed>, Vec<&Claimed>) = events
            .iter()
            .partition(|e| u32::try_from(e.attempts).unwrap_or(0) + 1 >= attempts);
        if !dead.is_empty() {
            warn!(events = dead.len(), error, "events dead-lettered");
            let reason = format!("failed {attempts} times");
            self.set_aside(&dead, SetAside::Dead, &reason, Some(&error))
                .await?;
        }
        let mut by_attempts: HashMap<i32, Vec<&Claimed>> = HashMap::new();
        for event in again {
            by_attempts.entry(event.attempts).or_default().push(event);
        }
        for (done, events) in by_attempts {
            let wait = RETRY_BACKOFF.jittered(u32::try_from(done).unwrap_or(0));
            self.retry_in(&events, wait, Some(&error)).await?;
        }
        Ok(())
    }
}

/// Why a read did not happen.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("no token")]
    Token(#[from] TokenError),
    #[error("the CRM read failed")]
    HubSpot(#[from] HubSpotError),
}

fn ids(events: &[&Claimed]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}
