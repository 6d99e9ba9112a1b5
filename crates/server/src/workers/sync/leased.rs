//! The loop both sync workers run: lease the portals whose work is due (the store keeps one
//! worker a portal across instances), work on up to a number of them at once, each on its
//! own task with its lease renewed beside it (work whose lease is lost is stopped, so two
//! processes never call HubSpot for one portal), and look again when one ends or a second
//! has passed.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use store::{PortalId, StoreError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::telemetry::Chain;

/// How often an idle worker looks for work.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Work leased portal by portal.
pub(super) trait LeasedWork: Send + Sync + 'static {
    /// What a lease gives: a portal, and what the work needs of it.
    type Lease: Send + 'static;

    fn portal(lease: &Self::Lease) -> PortalId;

    /// Leases up to `limit` portals whose work is due (the worker's own leases included).
    fn lease(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self::Lease>, StoreError>> + Send;

    /// Extends the lease on `portal` (and on its calls); `false` if it was lost.
    fn renew(&self, portal: PortalId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// How often a lease is renewed while its work goes on: well within its length.
    fn renew_every(&self) -> Duration;

    /// Works on one portal until it is done, stopped (`shutdown`, or its lease lost) or
    /// fails.
    fn work(
        self: Arc<Self>,
        lease: Self::Lease,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// The portals a worker is working on now, shown as a gauge.
#[derive(Debug, Default)]
pub(super) struct Running {
    portals: Mutex<BTreeSet<PortalId>>,
    pub(super) gauge: Gauge,
}

impl Running {
    /// Takes in newly leased portals up to `at_once`; those already running are left out.
    fn admit<L>(&self, leased: Vec<L>, portal: impl Fn(&L) -> PortalId, at_once: u32) -> Vec<L> {
        let mut running = self.portals.lock().expect("running lock");
        let mut fresh = Vec::new();
        for lease in leased {
            if running.len() < at_once as usize && running.insert(portal(&lease)) {
                fresh.push(lease);
            }
        }
        self.gauge.set(running.len() as i64);
        fresh
    }

    fn done(&self, portal: PortalId) {
        let mut running = self.portals.lock().expect("running lock");
        running.remove(&portal);
        self.gauge.set(running.len() as i64);
    }

    fn len(&self) -> usize {
        self.portals.lock().expect("running lock").len()
    }
}

/// Works on one leased portal, renewing the lease beside the work; a lost lease stops it.
async fn work_renewed<W: LeasedWork>(work: Arc<W>, lease: W::Lease, stop: CancellationToken) {
    let portal = W::portal(&lease);
    let every = work.renew_every();
    let working = work.clone().work(lease, stop.clone());
    let renewing = async {
        loop {
            tokio::time::sleep(every).await;
            match work.renew(portal).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!(
                        portal_id = portal.0,
                        "sync lease lost: the portal's work stops here"
                    );
                    stop.cancel();
                    return;
                }
                // The store is busy: the lease runs a while yet; the next renewal tries again.
                Err(error) => debug!(error = %Chain(&error), "sync lease renewal deferred"),
            }
        }
    };
    tokio::pin!(working);
    tokio::select! {
        () = &mut working => {}
        () = renewing => working.await,
    }
}

/// Leases and works until `shutdown`; then waits for the portals in progress to stop.
pub(super) async fn run<W: LeasedWork>(
    work: Arc<W>,
    running: Arc<Running>,
    at_once: u32,
    shutdown: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    while !shutdown.is_cancelled() {
        let free = at_once.saturating_sub(running.len() as u32);
        if free > 0 {
            match work.lease(free).await {
                Ok(leased) => {
                    for lease in running.admit(leased, W::portal, at_once) {
                        let (work, running) = (work.clone(), running.clone());
                        let stop = shutdown.child_token();
                        tasks.spawn(async move {
                            let portal = W::portal(&lease);
                            work_renewed(work, lease, stop).await;
                            running.done(portal);
                        });
                    }
                }
                Err(error) => debug!(error = %Chain(&error), "sync lease deferred"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            Some(_) = tasks.join_next() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}
