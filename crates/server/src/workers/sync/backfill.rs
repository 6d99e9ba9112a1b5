//! Backfill: each portal's records from before its install, read page by page from
//! HubSpot's list API when it installs and when an operator asks (`spoke sync backfill`,
//! `POST /api/v1/portals/{id}/backfill`).
//!
//! A worker leases up to [`PORTALS_AT_ONCE`] portals' backfills (one instance per portal,
//! across instances) and reads each portal's types one after another through the
//! hydrator ([`Hydrator::read_page`]): the same properties, the portal's own limiter with
//! live reads first, and the same write path (newer wins, each accepted change queued for
//! the sinks). A page's records and its type's cursor are written in one transaction, so a
//! restart, a crash or a lost lease resumes after the last page written.

use std::sync::Arc;
use std::time::Duration;

use hubspot::crm::ObjectType;
use hubspot::time::{after, Clock};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use store::{Backfill, BackfillPage, PortalId, Store, StoreError, SyncLease};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use super::leased::{self, LeasedWork, Running};
use crate::backoff::Backoff;
use crate::telemetry::{context, Chain};
use crate::workers::hydrator::sync_reads::PageFailure;
use crate::workers::hydrator::Hydrator;

/// Portals one worker backfills at once; each waits on its own limiter, so more portals
/// cost no portal any speed.
const PORTALS_AT_ONCE: u32 = 16;
/// Waits between failed reads of a page: from 2 s, doubling, up to 30 s. After
/// [`FAILURES_IN_A_ROW`] the worker lets the portal go for [`AFTER_FAILURE`]; the page is
/// read again then, by whichever worker takes it.
const RETRY: Backoff = Backoff {
    start: Duration::from_secs(2),
    cap: Duration::from_secs(30),
};
const FAILURES_IN_A_ROW: u32 = 5;
/// How long a portal whose backfill keeps failing is left alone.
const AFTER_FAILURE: Duration = Duration::from_secs(300);

/// The backfill worker of one spoke process.
#[derive(Debug)]
pub struct Backfiller {
    store: Arc<dyn Store>,
    hydrator: Arc<Hydrator>,
    clock: Clock,
    holder: String,
    running: Arc<Running>,
    records: Counter,
}

/// How a portal's backfill ended for this worker.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Every type is read.
    Finished,
    /// Another worker has it, or the portal cannot be read now: nothing to release.
    LeaseLost,
    /// Stopped before its end (shutdown, or a portal that must install again): released
    /// for another worker.
    Stopped,
    /// Failed several times in a row: released to be tried again after [`AFTER_FAILURE`].
    Failing,
}

impl Backfiller {
    pub fn new(store: Arc<dyn Store>, hydrator: Arc<Hydrator>, clock: Clock) -> Self {
        Self {
            holder: hydrator.holder().to_owned(),
            store,
            hydrator,
            clock,
            running: Arc::default(),
            records: Counter::default(),
        }
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "backfill_records",
            "Records read by backfills and written to the mirror (newer versions kept)",
            self.records.clone(),
        );
        registry.register(
            "backfill_portals",
            "Portals this process is backfilling now",
            self.running.gauge.clone(),
        );
    }

    /// Backfills until `shutdown`; portals in progress stop after their current page and
    /// are released. Another process resumes them once this one's lease on their calls
    /// lapses (a claim lease, as for a crashed process).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let running = self.running.clone();
        leased::run(self, running, PORTALS_AT_ONCE, shutdown).await;
    }

    /// Runs one portal's backfill until it ends for this worker.
    async fn backfill_portal(&self, backfill: Backfill, shutdown: CancellationToken) {
        let portal = backfill.portal_id;
        let ended = match self.read_portal(&backfill, &shutdown).await {
            Ok(ended) => ended,
            Err(error) => {
                warn!(portal_id = portal.0, error = %Chain(&error), "backfill failed");
                Ended::Failing
            }
        };
        let retry_at = match ended {
            Ended::Stopped => Some(None),
            Ended::Failing => Some(Some(after(self.clock.now_ms(), AFTER_FAILURE))),
            Ended::Finished | Ended::LeaseLost => None,
        };
        if let Some(retry_at) = retry_at {
            let released = self.store.release_backfill(&self.holder, portal, retry_at);
            if let Err(error) = released.await {
                warn!(portal_id = portal.0, error = %Chain(&error), "backfill release failed");
            }
        }
        if ended == Ended::Finished {
            info!(portal_id = portal.0, "backfill finished");
        }
    }

    /// The lease on `portal` (and on its calls), renewed for the hydrator's claim lease: a
    /// crashed worker's portals are free as soon as its hydration leases are.
    fn lease(&self, portal: PortalId) -> SyncLease<'_> {
        SyncLease {
            holder: &self.holder,
            portal_id: portal,
            until_ms: after(self.clock.now_ms(), self.hydrator.claim_lease()),
        }
    }

    /// Begins the backfill with the types to read (if a worker has not yet), then reads
    /// each type not done from its cursor.
    async fn read_portal(
        &self,
        backfill: &Backfill,
        shutdown: &CancellationToken,
    ) -> Result<Ended, StoreError> {
        let portal = backfill.portal_id;
        let scope = match self.hydrator.backfill_scope(portal).await {
            Ok(scope) => scope,
            Err(PageFailure::Portal(_)) => return Ok(Ended::Stopped),
            Err(failure) => {
                warn!(portal_id = portal.0, failure = ?failure, "backfill cannot list the portal's types");
                return Ok(Ended::Failing);
            }
        };
        let mut types: Vec<String> = scope
            .types
            .iter()
            .map(|t| t.path_name().into_owned())
            .collect();
        if let Some(only) = &backfill.only_type {
            types = vec![only.clone()];
        }
        let now = self.clock.now_ms();
        if !self
            .store
            .begin_backfill(self.lease(portal), &types, now)
            .await?
        {
            return Ok(Ended::LeaseLost);
        }
        let Some((_, progress)) = self.store.backfill(portal).await? else {
            return Ok(Ended::LeaseLost);
        };
        for row in progress.into_iter().filter(|t| t.done_at.is_none()) {
            let object =
                ObjectType::from_path(&row.object_type).filter(|o| scope.types.contains(o));
            let Some(object) = object else {
                let reason = format!(
                    "{} are not hydrated for this portal (SPOKE_HYDRATOR_OBJECTS, and the scopes it granted)",
                    row.object_type
                );
                let lease = self.lease(portal);
                let now = self.clock.now_ms();
                if !self
                    .store
                    .abandon_backfill_type(lease, &row.object_type, &reason, now)
                    .await?
                {
                    return Ok(Ended::LeaseLost);
                }
                continue;
            };
            if row.total.is_none() {
                self.estimate(portal, scope.installed_at, object).await;
            }
            let reading = TypeReading {
                portal,
                installed_at: scope.installed_at,
                object,
            };
            match self.read_type(reading, row.next_after, shutdown).await? {
                Ended::Finished => {}
                other => return Ok(other),
            }
        }
        Ok(Ended::Finished)
    }

    /// Records HubSpot's count of the type (one search), for progress and time left; the
    /// backfill goes on without it if the count fails.
    async fn estimate(&self, portal: PortalId, installed_at: i64, object: ObjectType) {
        let counted = self
            .hydrator
            .record_count(portal, installed_at, object)
            .await;
        let total = match counted {
            Ok(total) => i64::try_from(total).unwrap_or(i64::MAX),
            Err(failure) => {
                warn!(portal_id = portal.0, object_type = %object, failure = ?failure, "backfill goes on without a total");
                return;
            }
        };
        let name = object.path_name();
        if let Err(error) = self.store.set_backfill_total(portal, &name, total).await {
            warn!(portal_id = portal.0, error = %Chain(&error), "backfill total not kept");
        }
    }

    /// Reads one type's pages from `after` to the last; each page is written with its
    /// cursor.
    async fn read_type(
        &self,
        reading: TypeReading,
        mut after: Option<String>,
        shutdown: &CancellationToken,
    ) -> Result<Ended, StoreError> {
        let TypeReading {
            portal,
            installed_at,
            object,
        } = reading;
        let name = object.path_name();
        let mut failures = 0;
        loop {
            if shutdown.is_cancelled() {
                return Ok(Ended::Stopped);
            }
            // A trace a page: its calls, and each change it makes as the sinks deliver it.
            let span = tracing::info_span!(
                target: context::TRACED,
                parent: None,
                "backfill.page",
                portal_id = portal.0,
                object_type = %object,
            );
            let read = self
                .hydrator
                .read_page(portal, installed_at, object, after.as_deref())
                .instrument(span.clone())
                .await;
            let mut page = match read {
                Ok(page) => page,
                Err(PageFailure::Portal(_)) => return Ok(Ended::Stopped),
                Err(PageFailure::Type(reason)) => {
                    let (lease, now) = (self.lease(portal), self.clock.now_ms());
                    return Ok(
                        if self
                            .store
                            .abandon_backfill_type(lease, &name, &reason, now)
                            .await?
                        {
                            Ended::Finished
                        } else {
                            Ended::LeaseLost
                        },
                    );
                }
                Err(PageFailure::Again { error, wait }) => {
                    failures += 1;
                    warn!(portal_id = portal.0, object_type = %object, error, failures, "a backfill page could not be read");
                    if failures >= FAILURES_IN_A_ROW {
                        return Ok(Ended::Failing);
                    }
                    let wait = wait.unwrap_or_else(|| RETRY.jittered(failures - 1));
                    let _ = shutdown.run_until_cancelled(tokio::time::sleep(wait)).await;
                    continue;
                }
            };
            failures = 0;
            let trace = context::traceparent(&span);
            for record in &mut page.records {
                record.trace.clone_from(&trace);
            }
            let written = BackfillPage {
                records: std::mem::take(&mut page.records),
                next_after: page.next.clone(),
                sinks: self.hydrator.sinks().to_vec(),
            };
            let (lease, now) = (self.lease(portal), self.clock.now_ms());
            if !self
                .store
                .write_backfill_page(lease, &name, &written, now)
                .await?
            {
                return Ok(Ended::LeaseLost);
            }
            self.records.inc_by(written.records.len() as u64);
            self.hydrator.remember_page(&page);
            after = page.next;
            if after.is_none() {
                return Ok(Ended::Finished);
            }
        }
    }
}

impl LeasedWork for Backfiller {
    type Lease = Backfill;

    fn portal(lease: &Backfill) -> PortalId {
        lease.portal_id
    }

    async fn lease(&self, limit: u32) -> Result<Vec<Backfill>, StoreError> {
        let now = self.clock.now_ms();
        self.store
            .lease_backfills(
                &self.holder,
                after(now, self.hydrator.claim_lease()),
                now,
                limit,
            )
            .await
    }

    async fn renew(&self, portal: PortalId) -> Result<bool, StoreError> {
        let lease = self.lease(portal);
        self.store.renew_backfill(lease, self.clock.now_ms()).await
    }

    fn renew_every(&self) -> Duration {
        self.hydrator.claim_lease() / 3
    }

    async fn work(self: Arc<Self>, lease: Backfill, shutdown: CancellationToken) {
        self.backfill_portal(lease, shutdown).await;
    }
}

/// One type of one portal, under its install.
#[derive(Debug, Clone, Copy)]
struct TypeReading {
    portal: PortalId,
    installed_at: i64,
    object: ObjectType,
}
