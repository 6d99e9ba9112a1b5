//! `spoke-bench backfill`: one portal installed with many records of two types (contacts,
//! every property, and deals) backfilled by spoke's own workers, while live changes to its
//! contacts arrive at a steady rate: records per second against what 100 records a call at
//! the portal's limit allows, how soon each live change is in the mirror, and `429`s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubspot::crm::ObjectType;
use hubspot::time::Clock;
use serde_json::{json, Value};
use server::config::HydratorConfig;
use server::workers::hydrator::types::TypeSelection;
use server::workers::sync::backfill::Backfiller;
use sim::objects::Simulated;
use store::{NewEvent, ObjectId, PortalId, Store};
use tokio_util::sync::CancellationToken;

use crate::world;

/// What the portal grants and spoke hydrates.
const SCOPES: &str = "oauth crm.objects.contacts.read crm.objects.deals.read";
const HYDRATED: &str = "contacts deals";

#[derive(Debug, Clone, clap::Args)]
pub struct BackfillArgs {
    /// A database URL as `SPOKE_DATABASE_URL` takes it (migrated first).
    #[arg(long)]
    database_url: String,
    /// Records of each type the portal has before it installs.
    #[arg(long, default_value_t = 60_000)]
    records: u32,
    /// Live changes a second to the portal's contacts during the backfill.
    #[arg(long, default_value_t = 10)]
    live_rate: u32,
    /// The calls per portal per 10 s spoke allows itself (`SPOKE_HYDRATOR_RATE_LIMIT`).
    #[arg(long, default_value_t = HydratorConfig::DEFAULT_RATE_LIMIT)]
    rate_limit: u32,
}

pub async fn run(args: BackfillArgs) -> anyhow::Result<Value> {
    let sim = world::start_sim(1, args.records).await?;
    let portal = sim
        .sim
        .world(|w| w.portal_ids().next().expect("one portal"));
    let objects = TypeSelection::parse(HYDRATED).map_err(anyhow::Error::msg)?;
    let (store, keys, hydrator) =
        world::store_and_hydrator(&sim, &args.database_url, SCOPES, |config| {
            config.rate_limit = args.rate_limit;
            config.objects = objects;
        })
        .await?;
    let backfiller = Arc::new(Backfiller::new(
        store.clone(),
        hydrator.clone(),
        Clock::system(),
    ));
    // The install asks for the backfill.
    world::install_every_portal(&sim, store.as_ref(), &keys).await?;
    let stop = CancellationToken::new();
    let workers = [
        tokio::spawn(hydrator.clone().run(stop.clone())),
        tokio::spawn(backfiller.run(stop.clone())),
    ];

    let started = Instant::now();
    let live = live_changes(&sim, store.as_ref(), portal, &args, started).await?;
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    for worker in workers {
        worker.await?;
    }
    let (_, types) = store
        .backfill(PortalId(portal))
        .await?
        .expect("the install's backfill");
    let read: i64 = types.iter().map(|t| t.read).sum();
    let ledger = sim.client().crm_ledger().await?;
    let calls = &ledger["portals"][portal.to_string()];
    let allowed = f64::from(args.rate_limit) / 10.0 * 100.0;
    let per_second = read as f64 / seconds;
    Ok(json!({
        "records": read,
        "seconds": seconds,
        "records_per_s": per_second.round(),
        "allowed_per_s": allowed,
        "share_of_allowed": per_second / allowed,
        "live_changes": live.len(),
        "live_p50_ms": live.value_at_quantile(0.50),
        "live_p99_ms": live.value_at_quantile(0.99),
        "live_max_ms": live.max(),
        "calls": calls["calls"].clone(),
        "rate_limited": calls["rateLimited"].clone(),
        "max_in_window": calls["maxInWindow"].clone(),
    }))
}

/// Changes the portal's contacts at `live_rate` a second until the backfill is finished
/// and every change is in the mirror; how long each took to be there (polled every 20 ms),
/// from its `occurredAt`.
async fn live_changes(
    sim: &sim::RunningSim,
    store: &dyn Store,
    portal: i64,
    args: &BackfillArgs,
    started: Instant,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let mut ages = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut waiting: HashMap<i64, i64> = HashMap::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / args.live_rate.max(1));
    let mut polls = tokio::time::interval(Duration::from_millis(20));
    let mut changed = 0_u64;
    loop {
        let finished = store
            .backfill(PortalId(portal))
            .await?
            .is_some_and(|(b, _)| b.finished_at.is_some());
        if finished && waiting.is_empty() {
            return Ok(ages);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3_600),
            "the backfill did not finish"
        );
        tokio::select! {
            _ = ticks.tick(), if !finished => {
                changed += 1;
                let id = ObjectType::CONTACTS.id_base() + 1 + (changed * 7_919) as i64 % i64::from(args.records);
                let now = sim.sim.now_ms();
                let change = [("firstname".to_owned(), format!("live {changed}"))].into();
                let events = sim.sim.world(|w| w.update(portal, ObjectType::CONTACTS, id, change, now))?.1;
                let events: Vec<NewEvent> = events.iter().map(world::new_event).collect();
                store.append(&[events], now).await?;
                waiting.insert(id, now);
            }
            _ = polls.tick() => {
                let ids: Vec<ObjectId> = waiting.keys().map(|id| ObjectId(*id)).collect();
                let held = store.last_modified(PortalId(portal), "contacts", &ids).await?;
                let seen = Clock::system().now_ms();
                waiting.retain(|id, at| {
                    let there = held.get(&ObjectId(*id)).is_some_and(|v| v >= at);
                    if there {
                        let _ = ages.record(u64::try_from(seen - *at).unwrap_or(0));
                    }
                    !there
                });
            }
        }
    }
}
