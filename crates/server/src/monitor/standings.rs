//! Every portal's standing, ordered by risk: its last day's success rates (webhooks, API
//! calls, both) and the last hour's (the trend), acknowledgement latency, what waits in its
//! queue, its dead letters and quarantined events, and its install and token state. The
//! admin API's `GET /api/v1/portals` and the dashboard's overview are both this list.
//!
//! Risk, most first: a portal that must install again or is gone; then one under HubSpot's
//! 95% over the day; under the warning level; with dead letters or quarantined events;
//! the rest. Within a rank, the lower day's rate first, then the longer queue.
//!
//! Summing a day of counts for every portal reads every portal's rows (1.4 million at
//! 10,000 busy portals: seconds), so the list is kept and shared ([`Standings`]). While
//! the monitor is on, the alerts' evaluation recomputes it from the sums it read anyway
//! ([`PortalSums`]); otherwise, once it is older than [`STANDINGS_TTL`], the next request
//! starts a recomputation in the background and is answered from the list held, so no
//! page waits for it but the first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use store::{Portal, PortalId, Scope, Store, StoreError};
use utoipa::{IntoParams, ToSchema};

use super::levels::{AlertLevels, Risk};
use super::rates::Rate;
use super::sums::{PortalSums, Sums};
use crate::timestamp::Timestamp;

/// Portals per page.
pub const PAGE_SIZE: usize = 50;
/// How long a computed list of every portal's standing is reused.
pub const STANDINGS_TTL: Duration = Duration::from_secs(60);

/// Which portals a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    Installed,
    NeedsReauth,
    Uninstalled,
    /// Under the warning level over the day, or needing an install.
    AtRisk,
}

impl StateFilter {
    pub const ALL: [Self; 4] = [
        Self::AtRisk,
        Self::Installed,
        Self::NeedsReauth,
        Self::Uninstalled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::NeedsReauth => "needs_reauth",
            Self::Uninstalled => "uninstalled",
            Self::AtRisk => "at_risk",
        }
    }
}

/// A listing's search, filter and page (from 1).
#[derive(Debug, Clone, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortalQuery {
    /// A portal id (or its start), or part of its hub domain.
    pub q: Option<String>,
    /// Only portals in this state (`at_risk`: under the warning level over the day, or
    /// needing an install).
    #[param(inline)]
    pub state: Option<StateFilter>,
    /// From 1; past the last page, the last page.
    pub page: Option<usize>,
}

/// One portal's standing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    pub portal_id: PortalId,
    pub hub_domain: Option<String>,
    /// `installed`, `needs_reauth` or `uninstalled`.
    pub state: &'static str,
    /// When the access token spoke holds expires (never the token).
    pub token_expires_at: Option<Timestamp>,
    /// The last 24 hours: webhooks, API calls, both.
    pub webhooks: Rate,
    pub api: Rate,
    pub combined: Rate,
    /// Both over the last hour, against the day: the trend.
    pub last_hour: Rate,
    /// Acknowledgement latency over the day: the mean and the slowest (ms).
    pub latency_ms_avg: Option<f64>,
    pub latency_ms_max: i64,
    pub pending: i64,
    pub dead_letters: i64,
    pub quarantined: i64,
    /// 0 is the most at risk (see the module's doc).
    #[schema(value_type = u8, minimum = 0, maximum = 4)]
    pub risk: Risk,
}

impl Standing {
    /// The trend: the last hour better (`up`), worse (`down`) or about the same as the
    /// day, by more than a point.
    pub fn trend(&self) -> &'static str {
        match (self.last_hour.rate, self.combined.rate) {
            (Some(hour), Some(day)) if hour > day + 0.01 => "up",
            (Some(hour), Some(day)) if hour < day - 0.01 => "down",
            _ => "flat",
        }
    }
}

/// A page of standings, and how many portals matched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortalPage {
    pub portals: Vec<Standing>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

/// Every portal's standing, as last computed; one computation at a time.
#[derive(Debug, Default)]
pub struct Standings {
    held: std::sync::Mutex<Option<(Instant, Arc<Vec<Standing>>)>>,
    /// Held while a computation runs: the first request waits on it, later ones do not.
    computing: Arc<tokio::sync::Mutex<()>>,
}

impl Standings {
    /// The list held, starting a recomputation in the background when it is older than
    /// [`STANDINGS_TTL`]; computed in place only when there is none yet.
    pub async fn all(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        levels: AlertLevels,
        now_ms: i64,
    ) -> Result<Arc<Vec<Standing>>, StoreError> {
        if let Some((at, all)) = self.held() {
            if at.elapsed() >= STANDINGS_TTL {
                if let Ok(guard) = self.computing.clone().try_lock_owned() {
                    let (me, store) = (self.clone(), store.clone());
                    tokio::spawn(async move {
                        if let Err(error) = me.compute(store.as_ref(), levels, now_ms).await {
                            tracing::warn!(error = %crate::telemetry::Chain(&error), "portal standings not recomputed");
                        }
                        drop(guard);
                    });
                }
            }
            return Ok(all);
        }
        let _computing = self.computing.lock().await;
        match self.held() {
            Some((_, all)) => Ok(all),
            None => self.compute(store.as_ref(), levels, now_ms).await,
        }
    }

    fn held(&self) -> Option<(Instant, Arc<Vec<Standing>>)> {
        self.held.lock().expect("standings lock").clone()
    }

    async fn compute(
        &self,
        store: &dyn Store,
        levels: AlertLevels,
        now_ms: i64,
    ) -> Result<Arc<Vec<Standing>>, StoreError> {
        let sums = PortalSums::read(store, now_ms).await?;
        self.refresh(store, &sums, levels).await
    }

    /// Recomputes the list from sums read for another purpose (the alerts' evaluation), so
    /// that one read of every portal's day serves both.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        sums: &PortalSums,
        levels: AlertLevels,
    ) -> Result<Arc<Vec<Standing>>, StoreError> {
        let all = Arc::new(standings(store, sums, levels).await?);
        *self.held.lock().expect("standings lock") = Some((Instant::now(), all.clone()));
        Ok(all)
    }
}

/// The page `query` asks for out of `all`, ordered by risk.
pub fn portal_page(all: &[Standing], query: &PortalQuery) -> PortalPage {
    let mut all: Vec<Standing> = all.iter().filter(|s| matches(s, query)).cloned().collect();
    all.sort_by(|a, b| {
        (a.risk, a.combined.rate.unwrap_or(1.0), -a.pending)
            .partial_cmp(&(b.risk, b.combined.rate.unwrap_or(1.0), -b.pending))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.portal_id.cmp(&b.portal_id))
    });
    let total = all.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let portals = all
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    PortalPage {
        portals,
        total,
        page,
        pages,
    }
}

/// One portal's standing, if spoke knows it.
pub async fn standing(
    store: &dyn Store,
    levels: AlertLevels,
    portal_id: PortalId,
    now_ms: i64,
) -> Result<Option<Standing>, StoreError> {
    // One portal's rows: the per-portal sums read only its own.
    let Some(portal) = store.portal(portal_id).await? else {
        return Ok(None);
    };
    let (day, hour) = Sums::day_and_hour(store, Scope::Portal(portal_id), now_ms).await?;
    let mut queue = Queue::default();
    for (_, state, count) in store.queue_counts_by_portal(Some(portal_id)).await? {
        queue.add(&state, count);
    }
    for (_, count) in store.dead_deliveries_by_portal(Some(portal_id)).await? {
        queue.dead += count;
    }
    Ok(Some(assess(&portal, &day, &hour, queue, levels)))
}

/// Every portal's standing, unordered, from `sums` and a handful of grouped reads whatever
/// the number of portals.
async fn standings(
    store: &dyn Store,
    sums: &PortalSums,
    levels: AlertLevels,
) -> Result<Vec<Standing>, StoreError> {
    let mut queues: HashMap<PortalId, Queue> = HashMap::new();
    for (id, state, count) in store.queue_counts_by_portal(None).await? {
        queues.entry(id).or_default().add(&state, count);
    }
    for (id, count) in store.dead_deliveries_by_portal(None).await? {
        queues.entry(id).or_default().dead += count;
    }
    let portals = store.portals().await?;
    Ok(portals
        .iter()
        .map(|p| {
            let id = p.portal_id;
            let queue = queues.get(&id).copied().unwrap_or_default();
            assess(p, &sums.day(id), &sums.hour(id), queue, levels)
        })
        .collect())
}

/// What waits for a portal.
#[derive(Debug, Clone, Copy, Default)]
struct Queue {
    pending: i64,
    dead: i64,
    quarantined: i64,
}

impl Queue {
    fn add(&mut self, state: &str, count: i64) {
        match state {
            "pending" => self.pending += count,
            "dead" => self.dead += count,
            "quarantined" => self.quarantined += count,
            _ => {}
        }
    }
}

fn assess(
    portal: &Portal,
    day: &Sums,
    last_hour: &Sums,
    queue: Queue,
    levels: AlertLevels,
) -> Standing {
    let [webhooks, api, combined] = day.windows();
    let [.., last_hour] = last_hour.windows();
    let day = &day.webhooks;
    let set_aside = queue.dead + queue.quarantined > 0;
    let risk = Risk::of(portal.state, combined.rate(), set_aside, levels);
    Standing {
        portal_id: portal.portal_id,
        hub_domain: portal.hub_domain.clone(),
        state: portal.state.as_str(),
        token_expires_at: portal.access_expires_at.map(Timestamp),
        webhooks: webhooks.into(),
        api: api.into(),
        combined: combined.into(),
        last_hour: last_hour.into(),
        latency_ms_avg: (day.attempts > 0).then(|| day.latency_ms_sum as f64 / day.attempts as f64),
        latency_ms_max: day.latency_ms_max,
        pending: queue.pending,
        dead_letters: queue.dead,
        quarantined: queue.quarantined,
        risk,
    }
}

fn matches(standing: &Standing, query: &PortalQuery) -> bool {
    let state_ok = match query.state {
        None => true,
        Some(StateFilter::AtRisk) => standing.risk.at_risk(),
        Some(filter) => standing.state == filter.as_str(),
    };
    let search = query.q.as_deref().map(str::trim).unwrap_or("");
    let found = search.is_empty()
        || standing.portal_id.to_string().starts_with(search)
        || standing
            .hub_domain
            .as_deref()
            .is_some_and(|d| d.to_lowercase().contains(&search.to_lowercase()));
    state_ok && found
}
