//! Reconciliation: what webhooks never said, found and repaired, on a schedule per portal
//! (spread over the interval) and on request (`spoke sync reconcile`,
//! `POST /api/v1/portals/{id}/reconcile`).
//!
//! For each hydrated type of a leased portal ([`compare`] holds the decisions):
//! 1. the search API lists the records modified since the type's watermark, oldest first
//!    (moving its `since` forward before a query would page past the search's
//!    10,000-result cap);
//!    those the mirror lacks or holds at an older version are read and written;
//! 2. HubSpot's count is compared with the mirror's live records; when they differ, the
//!    type's ids are listed, the mirror's live records HubSpot no longer lists are read to
//!    confirm (only `OBJECT_NOT_FOUND` is a deletion) and marked deleted, and records the
//!    mirror lacks are read and written.
//!
//! Searches keep to the portal's search limit; every other call goes behind live reads on
//! its limiter. What a run found and repaired is kept per type (the drift report) and
//! counted in `spoke_reconcile_drift`: drift means notifications were lost.

use std::sync::Arc;
use std::time::Duration;

use hubspot::crm::ObjectType;
use hubspot::crm::MAX_BATCH;
use hubspot::search::{MAX_SEARCH_PAGE, MAX_SEARCH_RESULTS};
use hubspot::time::{after, duration_ms, Clock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use store::{
    Gone, GoneRecord, MirroredRecord, ObjectId, PortalId, ReconciledType, Repairs, Store,
    StoreError, SyncLease,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use super::compare::{absent, deleted_unannounced, out_of_date, Drift};
use super::leased::{self, LeasedWork, Running};
use crate::telemetry::{context, Chain};
use crate::workers::hydrator::sync_reads::{Fetched, PageFailure};
use crate::workers::hydrator::Hydrator;

/// Portals one worker reconciles at once.
const PORTALS_AT_ONCE: u32 = 8;
/// How far behind HubSpot's search may lag its writes ("may take a few moments"): the next
/// run searches again from this long before this one began.
const SEARCH_LAG: Duration = Duration::from_secs(300);
/// A type never reconciled is searched from this long before its portal's install.
const FIRST_LOOK_BACK: Duration = Duration::from_secs(3_600);
/// A portal whose run failed is tried again after this long.
const AFTER_FAILURE: Duration = Duration::from_secs(600);
/// How often installed portals without a schedule get one.
const SCHEDULE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriftLabels {
    kind: &'static str,
}

/// The reconciliation worker of one spoke process.
#[derive(Debug)]
pub struct Reconciler {
    store: Arc<dyn Store>,
    hydrator: Arc<Hydrator>,
    clock: Clock,
    every: Duration,
    holder: String,
    running: Arc<Running>,
    drift: Family<DriftLabels, Counter>,
    scheduled_at: std::sync::Mutex<i64>,
}

/// One type of one portal, under its install.
#[derive(Debug, Clone, Copy)]
struct Reading {
    portal: PortalId,
    installed_at: i64,
    object: ObjectType,
}

/// Why a type's run stopped early.
enum Stop {
    /// The lease was lost, or the worker stops: nothing is recorded.
    Lost,
    Failed(String),
}

/// Stops a run when the worker stops or its lease is lost.
fn go_on(shutdown: &CancellationToken) -> Result<(), Stop> {
    if shutdown.is_cancelled() {
        Err(Stop::Lost)
    } else {
        Ok(())
    }
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Self::Failed(Chain(&error).to_string())
    }
}

impl From<PageFailure> for Stop {
    fn from(failure: PageFailure) -> Self {
        Self::Failed(match failure {
            PageFailure::Portal(reason) | PageFailure::Type(reason) => reason,
            PageFailure::Again { error, .. } => error,
        })
    }
}

impl Reconciler {
    pub fn new(
        store: Arc<dyn Store>,
        hydrator: Arc<Hydrator>,
        every: Duration,
        clock: Clock,
    ) -> Self {
        let drift = Family::default();
        for kind in ["missing", "stale", "deleted_unannounced"] {
            let _ = drift.get_or_create(&DriftLabels { kind });
        }
        Self {
            holder: hydrator.holder().to_owned(),
            store,
            hydrator,
            clock,
            every,
            running: Arc::default(),
            drift,
            scheduled_at: std::sync::Mutex::new(i64::MIN),
        }
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "reconcile_drift",
            "Records reconciliation found that webhooks never announced, by `kind`: `missing`, `stale`, `deleted_unannounced`",
            self.drift.clone(),
        );
        registry.register(
            "reconcile_portals",
            "Portals this process is reconciling now",
            self.running.gauge.clone(),
        );
    }

    /// Reconciles until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let running = self.running.clone();
        leased::run(self, running, PORTALS_AT_ONCE, shutdown).await;
    }

    /// The lease on `portal` (and on its calls), renewed beside the work and with each
    /// write, for the hydrator's claim lease.
    fn lease_of(&self, portal: PortalId) -> SyncLease<'_> {
        SyncLease {
            holder: &self.holder,
            portal_id: portal,
            until_ms: after(self.clock.now_ms(), self.hydrator.claim_lease()),
        }
    }

    /// Runs one portal's reconciliation and records what each type's run found.
    async fn reconcile_portal(&self, portal: PortalId, shutdown: CancellationToken) {
        let started = self.clock.now_ms();
        let scope = match self.hydrator.backfill_scope(portal).await {
            Ok(scope) => scope,
            Err(failure) => {
                warn!(portal_id = portal.0, failure = ?failure, "reconciliation cannot list the portal's types");
                self.finish(portal, &[], after(started, AFTER_FAILURE))
                    .await;
                return;
            }
        };
        let held = match self.store.reconciled_types(portal).await {
            Ok(held) => held,
            Err(error) => {
                warn!(portal_id = portal.0, error = %Chain(&error), "reconciliation failed");
                self.finish(portal, &[], after(started, AFTER_FAILURE))
                    .await;
                return;
            }
        };
        let mut found = Vec::new();
        for object in scope.types {
            if shutdown.is_cancelled() {
                let _ = self
                    .store
                    .release_reconciliation(&self.holder, portal)
                    .await;
                return;
            }
            let name = object.path_name().into_owned();
            let watermark = held
                .iter()
                .find(|t| t.object_type == name)
                .map_or(scope.installed_at - duration_ms(FIRST_LOOK_BACK), |t| {
                    t.watermark
                });
            let reading = Reading {
                portal,
                installed_at: scope.installed_at,
                object,
            };
            let mut drift = Drift::default();
            let type_started = self.clock.now_ms();
            // A trace a type: its calls, and each repair as the sinks deliver it.
            let span = tracing::info_span!(
                target: context::TRACED,
                parent: None,
                "reconcile",
                portal_id = portal.0,
                object_type = %object,
            );
            let outcome = self
                .reconcile_type(reading, watermark, &mut drift, &shutdown)
                .instrument(span)
                .await;
            let error = match outcome {
                Ok(()) => None,
                Err(Stop::Lost) => {
                    let _ = self
                        .store
                        .release_reconciliation(&self.holder, portal)
                        .await;
                    return;
                }
                Err(Stop::Failed(error)) => Some(error),
            };
            // A failed type keeps its watermark, so the next run looks again from there.
            let next_watermark = match error {
                None => watermark.max(started - duration_ms(SEARCH_LAG)),
                Some(_) => watermark,
            };
            self.count(&drift);
            let times = (next_watermark, type_started, self.clock.now_ms());
            found.push(drift.report(name, times, error));
        }
        if found
            .iter()
            .any(|t| t.missing + t.stale + t.deleted_unannounced > 0)
        {
            info!(
                portal_id = portal.0,
                "reconciliation found what webhooks did not say, and repaired it"
            );
        }
        self.finish(portal, &found, after(started, self.every))
            .await;
    }

    /// Records a run and when the portal is due next.
    async fn finish(&self, portal: PortalId, found: &[ReconciledType], next_due: i64) {
        let (lease, now) = (self.lease_of(portal), self.clock.now_ms());
        if let Err(error) = self
            .store
            .finish_reconciliation(lease, found, next_due, now)
            .await
        {
            warn!(portal_id = portal.0, error = %Chain(&error), "reconciliation not recorded");
        }
    }

    fn count(&self, drift: &Drift) {
        let add = |kind, n: usize| {
            self.drift
                .get_or_create(&DriftLabels { kind })
                .inc_by(n as u64);
        };
        add("missing", drift.missing);
        add("stale", drift.stale);
        add("deleted_unannounced", drift.deleted);
    }

    /// One type: records modified since `watermark`, then the counts.
    async fn reconcile_type(
        &self,
        reading: Reading,
        watermark: i64,
        drift: &mut Drift,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        self.modified_since(reading, watermark, drift, shutdown)
            .await?;
        let Reading {
            portal,
            installed_at,
            object,
        } = reading;
        let hubspot = self
            .hydrator
            .record_count(portal, installed_at, object)
            .await?;
        let held = self.store.live_ids(portal, &object.path_name()).await?;
        if hubspot == held.len() as u64 {
            return Ok(());
        }
        let listed = self.list_ids(reading, shutdown).await?;
        let absent = absent(&held, &listed);
        drift.missing += absent.len();
        let candidates = deleted_unannounced(&held, &listed);
        self.confirm_deletions(reading, &candidates, drift, shutdown)
            .await?;
        self.fetch_and_repair(reading, &absent, drift, shutdown)
            .await
    }

    /// Records modified since `since`: those the mirror lacks or holds older are repaired.
    /// No query pages past the search's cap: one that would starts again from the newest
    /// record it saw.
    async fn modified_since(
        &self,
        reading: Reading,
        mut since: i64,
        drift: &mut Drift,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        let Reading {
            portal,
            installed_at,
            object,
        } = reading;
        let (mut after, mut seen) = (None::<String>, 0usize);
        loop {
            go_on(shutdown)?;
            let page = self
                .hydrator
                .search_modified(portal, installed_at, object, since, after.as_deref())
                .await?;
            let ids: Vec<ObjectId> = page.found.iter().map(|f| ObjectId(f.id)).collect();
            let held = self
                .store
                .last_modified(portal, &object.path_name(), &ids)
                .await?;
            let (absent, older) = out_of_date(&page.found, &held);
            drift.missing += absent.len();
            drift.stale += older.len();
            let wanted: Vec<ObjectId> = absent.into_iter().chain(older).collect();
            self.fetch_and_repair(reading, &wanted, drift, shutdown)
                .await?;
            seen += page.found.len();
            let capped = seen + MAX_SEARCH_PAGE > MAX_SEARCH_RESULTS;
            match page.next {
                Some(next) if !capped => after = Some(next),
                Some(_) => {
                    let newest = page.found.last().map_or(since, |f| f.updated_at);
                    // Records sharing one millisecond past the cap would hold `since`
                    // still: a millisecond on, rather than no end.
                    since = if newest > since { newest } else { since + 1 };
                    (after, seen) = (None, 0);
                }
                None => return Ok(()),
            }
        }
    }

    /// Every id of the type HubSpot lists now.
    async fn list_ids(
        &self,
        reading: Reading,
        shutdown: &CancellationToken,
    ) -> Result<Vec<ObjectId>, Stop> {
        let mut ids = Vec::new();
        let mut after = None::<String>;
        loop {
            go_on(shutdown)?;
            let (page, next) = self
                .hydrator
                .list_ids(
                    reading.portal,
                    reading.installed_at,
                    reading.object,
                    after.as_deref(),
                )
                .await?;
            ids.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// Reads the mirror's live records HubSpot no longer lists, 100 a call: those it answers
    /// not found are marked deleted, and those it still reads (only left out of the
    /// listing) written as read. Only HubSpot's "not found" is a deletion.
    async fn confirm_deletions(
        &self,
        reading: Reading,
        candidates: &[ObjectId],
        drift: &mut Drift,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        for chunk in candidates.chunks(MAX_BATCH) {
            go_on(shutdown)?;
            let confirmed = self
                .hydrator
                .read_records(reading.portal, reading.installed_at, reading.object, chunk)
                .await?;
            let now = self.clock.now_ms();
            let gone: Vec<GoneRecord> = confirmed
                .missing
                .iter()
                .map(|id| GoneRecord {
                    portal_id: reading.portal,
                    object_type: reading.object.path_name().into_owned(),
                    object_id: *id,
                    gone: Gone::Deleted,
                    at_ms: now,
                    trace: None,
                })
                .collect();
            drift.deleted += gone.len();
            self.repair(reading, confirmed, gone, drift).await?;
        }
        Ok(())
    }

    /// Reads `ids`, 100 a call, and writes what HubSpot has of them.
    async fn fetch_and_repair(
        &self,
        reading: Reading,
        ids: &[ObjectId],
        drift: &mut Drift,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        for chunk in ids.chunks(MAX_BATCH) {
            go_on(shutdown)?;
            let fetched = self
                .hydrator
                .read_records(reading.portal, reading.installed_at, reading.object, chunk)
                .await?;
            self.repair(reading, fetched, Vec::new(), drift).await?;
        }
        Ok(())
    }

    /// Writes records read and deletions found, through the hydrator's path.
    async fn repair(
        &self,
        reading: Reading,
        fetched: Fetched,
        gone: Vec<GoneRecord>,
        drift: &mut Drift,
    ) -> Result<(), Stop> {
        if fetched.records.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let trace = context::traceparent(&tracing::Span::current());
        let mut records: Vec<MirroredRecord> = fetched.records.clone();
        for record in &mut records {
            record.trace.clone_from(&trace);
        }
        let gone: Vec<GoneRecord> = gone
            .into_iter()
            .map(|g| GoneRecord {
                trace: trace.clone(),
                ..g
            })
            .collect();
        drift.repaired += records.len() + gone.len();
        let repairs = Repairs {
            records,
            gone,
            sinks: self.hydrator.sinks().to_vec(),
        };
        let lease = self.lease_of(reading.portal);
        if !self
            .store
            .write_repairs(lease, &repairs, self.clock.now_ms())
            .await?
        {
            return Err(Stop::Lost);
        }
        self.hydrator.remember_fetched(&fetched);
        Ok(())
    }
}

impl LeasedWork for Reconciler {
    type Lease = PortalId;

    fn portal(lease: &PortalId) -> PortalId {
        *lease
    }

    async fn lease(&self, limit: u32) -> Result<Vec<PortalId>, StoreError> {
        let now = self.clock.now_ms();
        let due = {
            let mut last = self.scheduled_at.lock().expect("schedule lock");
            let due = now.saturating_sub(*last) >= duration_ms(SCHEDULE_EVERY);
            if due {
                *last = now;
            }
            due
        };
        if due {
            self.store
                .schedule_reconciliations(duration_ms(self.every), now)
                .await?;
        }
        self.store
            .lease_reconciliations(
                &self.holder,
                after(now, self.hydrator.claim_lease()),
                now,
                limit,
            )
            .await
    }

    async fn renew(&self, portal: PortalId) -> Result<bool, StoreError> {
        let lease = self.lease_of(portal);
        self.store
            .renew_reconciliation(lease, self.clock.now_ms())
            .await
    }

    fn renew_every(&self) -> Duration {
        self.hydrator.claim_lease() / 3
    }

    async fn work(self: Arc<Self>, portal: PortalId, shutdown: CancellationToken) {
        self.reconcile_portal(portal, shutdown).await;
    }
}
