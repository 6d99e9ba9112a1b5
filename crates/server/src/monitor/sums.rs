//! Every portal's counts over the last day and the last hour: what the standings and the
//! alerts both judge. Summing a day for every portal reads every portal's rows (seconds at
//! 10,000 busy portals), so the evaluation task reads them once and hands them to both.

use std::collections::HashMap;

use store::{ApiCounts, PortalId, Scope, Store, StoreError, WebhookCounts};

use super::rates::{api_window, webhook_window, Window};
use super::tally::minute_of;

pub const DAY_MINUTES: i64 = 1_440;
pub const HOUR_MINUTES: i64 = 60;

/// One portal's counts over one window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sums {
    pub webhooks: WebhookCounts,
    pub api: ApiCounts,
}

impl Sums {
    /// The day's and the last hour's sums of one portal or the app, as of now.
    pub async fn day_and_hour(
        store: &dyn Store,
        scope: Scope,
        now_ms: i64,
    ) -> Result<(Self, Self), StoreError> {
        let now = minute_of(now_ms);
        let read = |from_minute| async move {
            Ok::<_, StoreError>(Self {
                webhooks: store.webhook_totals(scope, from_minute).await?,
                api: store.api_totals(scope, from_minute).await?,
            })
        };
        Ok((
            read(now - DAY_MINUTES + 1).await?,
            read(now - HOUR_MINUTES + 1).await?,
        ))
    }

    /// Webhook deliveries, API calls, and both (HubSpot's "activity").
    pub fn windows(&self) -> [Window; 3] {
        let (webhooks, api) = (webhook_window(&self.webhooks), api_window(&self.api));
        [webhooks, api, webhooks.plus(api)]
    }
}

/// Each portal's sums over the last day and the last hour, as of one minute.
#[derive(Debug, Default)]
pub struct PortalSums {
    day: HashMap<Scope, Sums>,
    hour: HashMap<Scope, Sums>,
}

impl PortalSums {
    /// Four grouped reads, whatever the number of portals.
    pub async fn read(store: &dyn Store, now_ms: i64) -> Result<Self, StoreError> {
        let now = minute_of(now_ms);
        Ok(Self {
            day: by_portal(store, now - DAY_MINUTES + 1).await?,
            hour: by_portal(store, now - HOUR_MINUTES + 1).await?,
        })
    }

    /// Portals with counts in the last day, by id.
    pub fn portals(&self) -> Vec<PortalId> {
        let mut portals: Vec<PortalId> = self.day.keys().filter_map(|s| s.portal()).collect();
        portals.sort_unstable();
        portals
    }

    pub fn day(&self, portal_id: PortalId) -> Sums {
        self.day
            .get(&Scope::Portal(portal_id))
            .copied()
            .unwrap_or_default()
    }

    pub fn hour(&self, portal_id: PortalId) -> Sums {
        self.hour
            .get(&Scope::Portal(portal_id))
            .copied()
            .unwrap_or_default()
    }
}

async fn by_portal(
    store: &dyn Store,
    from_minute: i64,
) -> Result<HashMap<Scope, Sums>, StoreError> {
    let mut sums: HashMap<Scope, Sums> = HashMap::new();
    for counts in store.webhook_totals_by_portal(from_minute).await? {
        sums.entry(counts.scope).or_default().webhooks = counts;
    }
    for counts in store.api_totals_by_portal(from_minute).await? {
        sums.entry(counts.scope).or_default().api = counts;
    }
    Ok(sums)
}
