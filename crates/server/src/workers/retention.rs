//! Retention: finished inbox events (done or unhandled), events quarantined for a portal
//! that is uninstalled, erased or was never installed, and delivered sink messages older
//! than the retention period are deleted in batches, so the database does not grow without
//! bound. Dead letters, and quarantined events of a portal that may still be served, stay
//! until an operator acts. The monitor's
//! per-minute counts are rolled up into hours after [`MINUTES_KEPT`] (its shortest window
//! and its series need minutes), hours into days after [`HOURS_KEPT`] (the 24-hour window
//! and alerts need hours), and kept for [`STATISTICS_KEPT`], a little past its longest
//! window. A redelivery of a pruned event is
//! stored and hydrated again, which "newer wins" in the mirror makes harmless; the default
//! week is far past HubSpot's retry schedule.

use std::sync::Arc;
use std::time::Duration;

use hubspot::time::{duration_ms, Clock};
use store::{Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::monitor::tally::minute_of;
use crate::telemetry::Chain;

/// Rows one delete removes: small enough to keep each transaction short.
const BATCH: u32 = 5_000;
/// How often the pruner looks.
const EVERY: Duration = Duration::from_secs(600);
/// The monitor's longest window is 30 days.
pub const STATISTICS_KEPT: Duration = Duration::from_secs(31 * 86_400);
/// Minute rows are kept this long, then rolled up into hours.
pub const MINUTES_KEPT: Duration = Duration::from_secs(2 * 3_600);
/// Hour rows are kept this long, then rolled up into days.
pub const HOURS_KEPT: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug)]
pub struct Retention {
    store: Arc<dyn Store>,
    keep: Duration,
    clock: Clock,
}

impl Retention {
    pub fn new(store: Arc<dyn Store>, keep: Duration, clock: Clock) -> Self {
        Self { store, keep, clock }
    }

    /// Deletes every finished event and delivered sink message older than the retention;
    /// how many rows.
    pub async fn prune_once(&self) -> Result<u64, StoreError> {
        let before = self.clock.now_ms() - duration_ms(self.keep);
        let mut pruned = 0;
        loop {
            let events = self.store.prune_finished(before, BATCH).await?;
            let deliveries = self.store.prune_deliveries(before, BATCH).await?;
            pruned += events + deliveries;
            if events < u64::from(BATCH) && deliveries < u64::from(BATCH) {
                let minute = |ago: Duration| minute_of(self.clock.now_ms() - duration_ms(ago));
                let rolled = self.store.roll_up_counts(minute(MINUTES_KEPT), 60).await?
                    + self.store.roll_up_counts(minute(HOURS_KEPT), 1_440).await?;
                let dropped = self.store.prune_counts(minute(STATISTICS_KEPT)).await?;
                return Ok(pruned + rolled + dropped);
            }
        }
    }

    /// Prunes now and then until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(EVERY);
        while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
            match self.prune_once().await {
                Ok(0) => {}
                Ok(pruned) => info!(pruned, "finished events and deliveries pruned"),
                Err(error) => warn!(error = %Chain(&error), "pruning failed"),
            }
        }
    }
}
