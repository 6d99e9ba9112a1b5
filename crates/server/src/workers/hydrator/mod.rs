//! The hydrator: claimed events become full, fresh records in the mirror, and each change
//! the mirror accepts is queued for the other sinks in the same transaction.
//!
//! One round ([`Hydrator::hydrate_once`]) claims due events fairly across portals, then
//! serves each portal on its own (concurrently, so one portal's wait is nobody else's):
//! [`sort`] decides what needs no call (events of portals that cannot be served are
//! quarantined with the reason; each event's meaning is [`plan`]'s) and groups the rest by
//! object type and distinct id; [`reads`] finishes those the mirror already reflects and
//! reads the rest 100 at a time through [`crm`], within the portal's rate limit (a short
//! wait for the limiter is waited out); [`association_reads`] reads the associations that
//! association changes (and merges) ask for, 1,000 records a call. Every event taken ends done, back in the queue
//! (retried with backoff, or waiting for the limit), or set aside with a reason
//! ([`decisions`]): nothing is dropped. What a round decided is written in transactions of
//! whole portals' parts ([`store::WorkQueue::settle`]; one per round on PostgreSQL, small
//! ones on SQLite, see `WriteSizes`), while the next round already reads
//! ([`Hydrator::run`]).

mod answer;
mod association_reads;
mod catalog;
mod crm;
mod decisions;
mod plan;
pub mod properties;
mod reads;
mod sort;
pub mod sync_reads;
pub mod types;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hubspot::crm::{CrmClient, ObjectType};
use hubspot::time::{after, Clock};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use store::{ClaimRequest, Claimed, Portal, PortalId, Settlement, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use self::association_reads::{other_sides, read_after_merges, read_after_restores};
use self::crm::CrmReader;
use self::decisions::Decisions;
use self::plan::{work, Work};
use self::properties::{PropertyCatalog, TrackedProperties};
use self::reads::{Deadline, Reader};
use self::sort::Reading;
use self::sort::{granted, sort, Granted, Hydrated};
use self::types::{CustomTypeCatalog, TypeSelection};
use super::versions::{CacheStats, RecordKey, Versions};
use crate::config::HydratorConfig;
use crate::metrics::freshness_histogram;
use crate::monitor::tally::Tally;
use crate::oauth::tokens::TokenService;
use crate::telemetry::Chain;

/// Portals served per round, and events taken from each at most. A lone busy portal gets
/// the whole round (fewer pauses between its calls). With 100 portals changing steadily, 16
/// a round left each waiting six rounds (freshness p99 1.0–1.1 s); 64 halved that again
/// but split busy portals' events into rounds too small to coalesce association reads
/// (0.031 a burst event, target 0.02); 32 keeps both targets (BENCHMARKS.md).
const PORTALS_PER_ROUND: u32 = 32;
const EVENTS_PER_PORTAL: u32 = 2_000;

/// How big a hydrator's writes are. A claim is one transaction, and a round's decisions
/// are written in transactions of whole portals' parts of about `settle_events` events.
/// Where one lock covers every write (SQLite) the receiver's group commits wait for it,
/// for at most one background write, so writes stay short there: a settlement of about
/// 100 events and their records (10 KB each with every property) holds the lock 12 ms on
/// average (`scripts/bench.sh serve`). PostgreSQL locks rows: a round is one settlement.
#[derive(Debug, Clone, Copy)]
struct WriteSizes {
    round_events: u32,
    settle_events: usize,
}

impl WriteSizes {
    fn for_store(one_writer: bool) -> Self {
        if one_writer {
            Self {
                round_events: 2_000,
                settle_events: 100,
            }
        } else {
            Self {
                round_events: 4_000,
                settle_events: usize::MAX,
            }
        }
    }
}

/// How long an idle worker waits before looking again.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// The hydrator of one spoke process; cheap to share.
#[derive(Debug)]
pub struct Hydrator {
    store: Arc<dyn Store>,
    /// CRM reads within each portal's limit, with its token, each call counted once.
    crm: CrmReader,
    /// Versions of records the mirror holds, so reflected events cost no lookup.
    versions: Versions,
    /// Each portal's list of each type's properties.
    properties: PropertyCatalog,
    /// Each portal's custom object types.
    custom_types: CustomTypeCatalog,
    config: HydratorConfig,
    sizes: WriteSizes,
    /// The sinks each change the mirror accepts is queued for.
    sinks: Vec<String>,
    clock: Clock,
    /// This worker, as claim holder.
    holder: String,
    /// Where the next round's fair walk over portals starts (after this portal).
    cursor: std::sync::Mutex<Option<PortalId>>,
    /// Seconds from each finished event's `occurredAt` to the commit that finished it.
    freshness: Histogram,
    /// Events put back to wait for their portal's rate limit (or a `429`'s pause).
    limit_waits: Counter,
}

/// What a round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Events were claimed and each was finished, put back or set aside.
    Worked(usize),
    Idle,
}

/// A round decided but not yet written.
#[derive(Debug)]
struct Decided {
    /// The events it holds.
    ids: std::collections::BTreeSet<i64>,
    /// Written one after another, each in its own transaction (see [`WriteSizes`]).
    settlements: Vec<Settlement>,
    seen: Vec<(RecordKey, i64)>,
    erased: Vec<RecordKey>,
    occurred: Vec<i64>,
    /// A portal's part that failed (its events stay claimed until the claim lapses).
    failed: Option<StoreError>,
}

impl Decided {
    /// Takes in a portal's part: into the last settlement, or a new one once that holds
    /// `settle_events` events.
    fn add(&mut self, part: Settlement, sinks: &[String], settle_events: usize) {
        match self.settlements.last_mut() {
            Some(last) if last.events().saturating_add(part.events()) <= settle_events => {
                last.absorb(part)
            }
            _ => self.settlements.push(Settlement {
                sinks: sinks.to_vec(),
                ..part
            }),
        }
    }
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
            crm: CrmReader::new(crm, tokens, config.rate_limit, tally, clock.clone()),
            versions: Versions::new(config.cache_records, config.cache_ttl),
            properties: PropertyCatalog::new(config.properties_refresh),
            custom_types: CustomTypeCatalog::new(config.properties_refresh),
            sizes: WriteSizes::for_store(store.one_writer()),
            store,
            config,
            sinks,
            clock,
            holder: format!("hydrator-{}", uuid::Uuid::new_v4().simple()),
            cursor: std::sync::Mutex::new(None),
            freshness: freshness_histogram(),
            limit_waits: Counter::default(),
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
            let deadline = self.round_deadline();
            let mut claimed = match self.claim_round().await {
                Ok(claimed) => claimed,
                // The database is busy (SQLite's lock held by another process past its
                // timeout, an outage): the next round tries again.
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
            let reading = (!claimed.is_empty()).then(|| self.decide(claimed, &deadline));
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
        let deadline = self.round_deadline();
        let claimed = self.claim_round().await?;
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        let decided = self.decide(claimed, &deadline).await;
        self.settle_round(decided).await
    }

    /// When a round claimed now must stop calling HubSpot.
    fn round_deadline(&self) -> Deadline {
        Deadline::of_round(
            self.clock.clone(),
            self.clock.now_ms(),
            self.config.claim_lease,
        )
    }

    /// Claims the next round's events, fairly across portals (see [`store::WorkQueue::claim`]).
    async fn claim_round(&self) -> Result<Vec<Claimed>, StoreError> {
        let now = self.clock.now_ms();
        let after_portal = *self.cursor.lock().expect("cursor lock");
        let claimed = self
            .store
            .claim(&ClaimRequest {
                holder: &self.holder,
                until_ms: after(now, self.config.claim_lease),
                now_ms: now,
                portals: PORTALS_PER_ROUND,
                after_portal,
                per_portal: EVENTS_PER_PORTAL,
                round_events: self.sizes.round_events,
            })
            .await?;
        *self.cursor.lock().expect("cursor lock") = claimed.last().map(|c| c.key.portal_id);
        Ok(claimed)
    }

    /// Serves every portal of a claimed round; what they decided, to be written.
    async fn decide(&self, claimed: Vec<Claimed>, deadline: &Deadline) -> Decided {
        let mut by_portal: BTreeMap<PortalId, Vec<Claimed>> = BTreeMap::new();
        for event in &claimed {
            by_portal
                .entry(event.key.portal_id)
                .or_default()
                .push(event.clone());
        }
        let served = join_all(
            by_portal
                .iter()
                .map(|(portal, events)| self.serve_portal(*portal, events, deadline)),
        )
        .await;
        // What the served portals decided is kept even if another portal's part failed;
        // that portal's events stay claimed until the claim lapses, then go round again.
        let mut round = Decided {
            ids: claimed.iter().map(|c| c.id).collect(),
            settlements: Vec::new(),
            seen: Vec::new(),
            erased: Vec::new(),
            occurred: Vec::new(),
            failed: None,
        };
        for part in served {
            match part {
                Ok(part) => {
                    self.limit_waits.inc_by(part.limit_waits);
                    round.add(part.settlement, &self.sinks, self.sizes.settle_events);
                    round.seen.extend(part.seen);
                    round.erased.extend(part.erased);
                    round.occurred.extend(part.occurred);
                }
                Err(error) => round.failed = Some(error),
            }
        }
        round
    }

    /// Writes a round's decisions, a few portals' parts per transaction; then the cache and
    /// the freshness histogram learn what is now the mirror's.
    async fn settle_round(&self, round: Decided) -> Result<Round, StoreError> {
        for settlement in &round.settlements {
            self.store
                .settle(&self.holder, settlement, self.clock.now_ms())
                .await?;
        }
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
    async fn serve_portal(
        &self,
        portal: PortalId,
        events: &[Claimed],
        deadline: &Deadline,
    ) -> Result<Decisions, StoreError> {
        let mut out = Decisions::new(self.clock.now_ms());
        let row = self.store.portal(portal).await?;
        let granted = match granted(row.clone()) {
            Ok(granted) => granted,
            Err(reason) => {
                owed_erasures(&mut out, row.as_ref(), events, reason);
                return Ok(out);
            }
        };
        let installed_at = granted.installed_at;
        let refused = |object| self.crm.refused(portal, object, installed_at);
        let hydrated = Hydrated {
            objects: &self.config.objects,
            optional: &self.config.optional,
        };
        let mut reads = sort(&mut out, portal, &granted, events, hydrated, refused);
        let readable = |object: ObjectType| {
            self.config.objects.includes(object)
                && object.readable_with(&granted.scopes)
                && !self.crm.refused(portal, object, installed_at)
        };
        read_after_merges(self.store.as_ref(), portal, &mut reads, &readable).await?;
        let custom = self.custom_types.held(&(portal, installed_at));
        let custom = custom
            .iter()
            .flat_map(|l| l.iter())
            .filter_map(|id| ObjectType::from_path(id));
        let types: Vec<ObjectType> = ObjectType::STANDARD
            .into_iter()
            .chain(custom)
            .filter(|t| readable(*t))
            .collect();
        let restored = read_after_restores(&mut reads, &types);
        let reader = Reader {
            store: self.store.as_ref(),
            versions: &self.versions,
            crm: &self.crm,
            selection: &self.config.properties,
            catalog: &self.properties,
            custom_types: &self.custom_types,
            max_attempts: self.config.max_attempts,
            deadline,
        };
        let reading = |object| Reading {
            portal,
            installed_at,
            object,
        };
        for (object, by_id) in reads.records {
            reader.read(&mut out, reading(object), by_id).await?;
        }
        // The events' reads first; then those no event waits on.
        for ((object, to), by_id) in reads.associations.into_iter().chain(reads.refresh) {
            reader
                .read_associations(&mut out, reading(object), to, by_id)
                .await;
        }
        for ((object, to), by_id) in other_sides(&out, &restored) {
            reader
                .read_associations(&mut out, reading(object), to, by_id)
                .await;
        }
        Ok(out)
    }

    /// The properties read for each hydrated type of a portal under its install
    /// `installed_at`.
    pub fn tracked_properties(
        &self,
        portal: PortalId,
        installed_at: i64,
    ) -> Vec<TrackedProperties> {
        let custom = self
            .custom_types
            .held(&(portal, installed_at))
            .into_iter()
            .flat_map(|ids| ids.to_vec())
            .filter_map(|id| ObjectType::from_path(&id));
        let listed = self.config.objects.listed().iter().copied();
        listed
            .chain(custom.filter(|o| {
                self.config.objects.every_custom() && !self.config.objects.listed().contains(o)
            }))
            .map(|object| {
                let named = self.config.properties.named(object);
                let list = named
                    .clone()
                    .or_else(|| self.properties.held(&(portal, installed_at, object)));
                TrackedProperties {
                    object_type: object.path_name().into_owned(),
                    every: named.is_none(),
                    properties: list.map(|l| l.to_vec()),
                }
            })
            .collect()
    }

    /// This hydrator's name as holder of claims and portals' hydration leases; sync work
    /// holds a portal's lease under it, so the portal's calls stay this process's.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How long a claim (and a portal's hydration lease) lasts.
    pub fn claim_lease(&self) -> Duration {
        self.config.claim_lease
    }

    /// The CRM calls this process made, by HTTP status (0: no answer).
    pub fn crm_calls(&self) -> BTreeMap<u16, u64> {
        self.crm.calls()
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.versions.stats()
    }
}

/// The events of a portal that cannot be served: privacy deletions are applied all the
/// same while spoke still holds the portal's data (they need no call); the rest wait in
/// quarantine.
fn owed_erasures(out: &mut Decisions, row: Option<&Portal>, events: &[Claimed], reason: &str) {
    let (erasures, waiting): (Vec<Claimed>, Vec<Claimed>) = events.iter().cloned().partition(|e| {
        row.is_some() && matches!(work(e, &TypeSelection::default()), Work::Erase { .. })
    });
    if let Some(portal) = row.filter(|_| !erasures.is_empty()) {
        let owed = Granted {
            scopes: Vec::new(),
            installed_at: portal.installed_at,
        };
        let none = TypeSelection::default();
        let nothing = Hydrated {
            objects: &none,
            optional: &none,
        };
        sort(out, portal.portal_id, &owed, &erasures, nothing, |_| false);
    }
    out.quarantine(&waiting, reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: i64, events: i64) -> Settlement {
        Settlement {
            finished: (first..first + events).collect(),
            ..Settlement::default()
        }
    }

    #[test]
    fn a_round_is_written_in_whole_parts_of_about_settle_events() {
        let mut round = Decided {
            ids: Default::default(),
            settlements: Vec::new(),
            seen: Vec::new(),
            erased: Vec::new(),
            occurred: Vec::new(),
            failed: None,
        };
        let sinks = vec!["http".to_owned()];
        for (first, events) in [(0, 60), (1_000, 40), (2_000, 20), (3_000, 180)] {
            round.add(part(first, events), &sinks, 100);
        }
        let sizes: Vec<usize> = round.settlements.iter().map(Settlement::events).collect();
        assert_eq!(sizes, [100, 20, 180], "a big part alone, never split");
        assert!(round.settlements.iter().all(|s| s.sinks == sinks));
        assert_eq!(round.settlements[1].finished, part(2_000, 20).finished);
        let postgres = WriteSizes::for_store(false).settle_events;
        assert_eq!(postgres, usize::MAX, "row locks: a round is one settlement");
    }
}
