//! The monitor's evaluation task: on its schedule it reads every portal's sums once, then
//! evaluates the alerts and refreshes the portal standings from that one read.

use std::sync::Arc;
use std::time::Duration;

use hubspot::time::Clock;
use store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

use super::alerts::Alerts;
use super::standings::Standings;
use super::sums::PortalSums;
use crate::telemetry::Chain;

/// What one evaluation needs.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub alerts: Arc<Alerts>,
    pub standings: Arc<Standings>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
}

impl Evaluation {
    /// Evaluates every `every` until `shutdown`; a failed evaluation is logged and the next
    /// tick tries again.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
            if let Err(error) = self.once().await {
                tracing::warn!(error = %Chain(&error), "alerts not evaluated");
            }
        }
    }

    async fn once(&self) -> Result<(), StoreError> {
        let now_ms = self.clock.now_ms();
        let store = self.store.as_ref();
        let sums = PortalSums::read(store, now_ms).await?;
        self.alerts.evaluate(store, &sums, now_ms).await?;
        self.standings
            .refresh(store, &sums, self.alerts.levels())
            .await?;
        Ok(())
    }
}
