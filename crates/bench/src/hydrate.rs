//! `spoke-bench hydrate`: spoke's hydrator against the simulator, in-process, with the
//! events put straight into the inbox (the receiver is `ingest`'s business).
//!
//! - `bursts`: many portals, each with many events over fewer distinct objects (repeats,
//!   as real portals produce), and one small portal whose few events arrive last: CRM
//!   calls per event, how long the small portal waits, `429`s.
//! - `hot`: one portal with many distinct objects pending: records per second against what
//!   its limit allows at 100 ids a call, `429`s.
//! - `freshness`: a steady stream of real record changes over many portals with the
//!   hydrator running: p50/p99 from each event's `occurredAt` to its record in the mirror
//!   (the event is finished in the transaction that writes the record).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hubspot::crm::ObjectType;
use hubspot::time::Clock;
use serde_json::{json, Value};
use server::config::HydratorConfig;
use server::workers::hydrator::{Hydrator, Round};
use sim::objects::Simulated;
use sim::RunningSim;
use store::{Engine, EventKey, NewEvent, ObjectId, PortalId, Store};
use tokio_util::sync::CancellationToken;

use crate::world::{self, CLIENT_ID, CLIENT_SECRET, SCOPES};

/// Events per inbox append.
const APPEND_BATCH: usize = 5_000;
/// With associations on, one change in this many is an association change, as in the
/// simulator's streamed activity.
const ASSOCIATION_SHARE: usize = sim::admin::ASSOCIATION_SHARE as usize;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Scenario {
    Bursts,
    Hot,
    Freshness,
}

#[derive(Debug, Clone, clap::Args)]
pub struct HydrateArgs {
    #[arg(value_enum)]
    scenario: Scenario,
    /// A database URL as `SPOKE_DATABASE_URL` takes it (migrated first).
    #[arg(long)]
    database_url: String,
    /// bursts: portals with a burst each.
    #[arg(long, default_value_t = 100)]
    portals: u32,
    /// bursts: events per portal.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// bursts: distinct objects per portal; hot: distinct objects pending.
    #[arg(long, default_value_t = 1_000)]
    objects: usize,
    /// hot: the simulator's limit for the portal, calls per window.
    #[arg(long, default_value_t = 110)]
    limit: u32,
    /// hot: the window, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    window_ms: u64,
    /// hot, freshness: how long to measure (freshness: how long the load runs).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The calls per portal per 10 s spoke allows itself (`SPOKE_HYDRATOR_RATE_LIMIT`).
    #[arg(long, default_value_t = HydratorConfig::DEFAULT_RATE_LIMIT)]
    rate_limit: u32,
    /// freshness: events per second, spread over `portals`.
    #[arg(long, default_value_t = 1_000)]
    rate: u32,
}

struct Rig {
    sim: RunningSim,
    store: Arc<dyn Store>,
    hydrator: Arc<Hydrator>,
}

impl Rig {
    /// The hydrator running as `spoke serve` runs it (rounds overlapping) until the token
    /// is cancelled.
    fn run_hydrator(&self) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let stop = CancellationToken::new();
        let running = tokio::spawn(self.hydrator.clone().run(stop.clone()));
        (stop, running)
    }
}

/// The simulator with `portals` (limits as given), a store, every portal installed with
/// tokens the simulator issued, and a hydrator for contacts.
async fn rig(args: &HydrateArgs, portals: u32, records: u32) -> anyhow::Result<Rig> {
    let mut settings = sim::Settings::defaults();
    settings.portals = portals;
    settings.records = records;
    settings.client_id = CLIENT_ID.into();
    settings.client_secret = CLIENT_SECRET.into();
    settings.rate_limit = args.limit;
    settings.rate_window_ms = args.window_ms;
    let sim = world::start_sim_with(settings).await?;
    let (store, keys, hydrator) =
        world::store_and_hydrator(&sim, &args.database_url, SCOPES, |config| {
            config.rate_limit = args.rate_limit;
        })
        .await?;
    world::install_every_portal(&sim, store.as_ref(), &keys).await?;
    Ok(Rig {
        sim,
        store,
        hydrator,
    })
}

/// `count` changes in `portal` over its first `objects` contacts, each at the record's own
/// last modification (so the record read reflects it, as HubSpot's would): property
/// changes, and with `associations` one in [`ASSOCIATION_SHARE`] an association change
/// with another of the contacts.
fn changes(
    rig: &Rig,
    portal: i64,
    count: usize,
    objects: usize,
    associations: bool,
    first_id: &mut i64,
) -> Vec<NewEvent> {
    let base = ObjectType::CONTACTS.id_base();
    let modified: Vec<i64> = (0..objects as i64)
        .map(|k| {
            rig.sim
                .sim
                .world(|w| w.record(portal, ObjectType::CONTACTS, base + 1 + k))
                .map_or(0, |r| r.updated_at)
        })
        .collect();
    (0..count)
        .map(|i| {
            *first_id += 1;
            let k = i % objects;
            let object_id = base + 1 + k as i64;
            let (kind, more) = if associations && i % ASSOCIATION_SHARE == ASSOCIATION_SHARE - 1 {
                let other = base + 1 + ((k + 1 + i / objects) % objects) as i64;
                let fields = format!(
                    r#","fromObjectId":{object_id},"toObjectId":{other},"associationType":"CONTACT_TO_CONTACT""#
                );
                ("contact.associationChange", fields)
            } else {
                ("contact.propertyChange", String::new())
            };
            NewEvent {
                key: EventKey {
                    portal_id: PortalId(portal),
                    subscription_id: 1,
                    event_id: *first_id,
                    object_id: ObjectId(object_id),
                    occurred_at: modified[k],
                },
                subscription_type: kind.into(),
                app_id: None,
                attempt_number: 0,
                payload: format!(
                    r#"{{"eventId":{first_id},"portalId":{portal},"objectId":{object_id},"subscriptionType":"{kind}"{more}}}"#
                ),
                trace_context: None,
            }
        })
        .collect()
}

async fn append(store: &dyn Store, events: Vec<NewEvent>) -> anyhow::Result<()> {
    for chunk in events.chunks(APPEND_BATCH) {
        store
            .append(&[chunk.to_vec()], Clock::system().now_ms())
            .await?;
    }
    Ok(())
}

async fn pending(store: &dyn Store) -> anyhow::Result<i64> {
    let counts = store.queue_counts().await?;
    Ok(counts
        .iter()
        .find(|(s, _)| s == "pending")
        .map_or(0, |(_, n)| *n))
}

/// What the simulator's CRM ledger counted.
struct Ledger {
    /// Batch reads answered.
    reads: u64,
    /// Property listings answered.
    listings: u64,
    /// Associations batch reads answered.
    association_reads: u64,
    rate_limited: u64,
    /// The most calls any portal saw in one rate-limit window.
    max_in_window: u64,
}

async fn ledger(rig: &Rig) -> anyhow::Result<Ledger> {
    let ledger = rig.sim.client().crm_ledger().await?;
    let mut seen = Ledger {
        reads: 0,
        listings: 0,
        association_reads: 0,
        rate_limited: 0,
        max_in_window: 0,
    };
    let sum = |by_status: &Value| {
        by_status
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum::<u64>())
    };
    for calls in ledger["portals"].as_object().context("portals")?.values() {
        seen.reads += sum(&calls["calls"]["batchRead"]);
        seen.listings += sum(&calls["calls"]["properties"]);
        seen.association_reads += sum(&calls["calls"]["associationsBatchRead"]);
        seen.rate_limited += calls["rateLimited"].as_u64().unwrap_or(0);
        seen.max_in_window = seen
            .max_in_window
            .max(calls["maxInWindow"].as_u64().unwrap_or(0));
    }
    Ok(seen)
}

/// The mirror's records: how many, the bytes of their stored properties (the JSON as
/// HubSpot returned it) per record, and (PostgreSQL) the table's bytes on disk per record,
/// indexes and TOAST included.
async fn mirror_bytes(database_url: &str) -> anyhow::Result<Value> {
    use sqlx::Connection;
    Ok(match Engine::of_url(database_url)? {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(database_url).await?;
            let (records, json): (i64, i64) = sqlx::query_as(
                "SELECT count(*), coalesce(sum(length(properties)), 0) FROM records",
            )
            .fetch_one(&mut c)
            .await?;
            json!({ "records": records, "json_bytes_per_record": json / records.max(1) })
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(database_url).await?;
            let (records, json, disk): (i64, i64, i64) = sqlx::query_as(
                "SELECT count(*), coalesce(sum(length(properties::text)), 0)::int8, \
                 pg_total_relation_size('records')::int8 FROM records",
            )
            .fetch_one(&mut c)
            .await?;
            json!({
                "records": records,
                "json_bytes_per_record": json / records.max(1),
                "disk_bytes_per_record": disk / records.max(1),
            })
        }
    })
}

pub async fn run(args: HydrateArgs) -> anyhow::Result<Value> {
    match args.scenario {
        Scenario::Bursts => bursts(&args).await,
        Scenario::Hot => hot(&args).await,
        Scenario::Freshness => freshness(&args).await,
    }
}

async fn bursts(args: &HydrateArgs) -> anyhow::Result<Value> {
    let rig = rig(args, args.portals + 1, u32::try_from(args.objects)?).await?;
    let portals: Vec<i64> = rig.sim.sim.world(|w| w.portal_ids().collect());
    let (small, big) = portals.split_last().context("portals")?;
    let mut next_id = 0;
    for portal in big {
        append(
            rig.store.as_ref(),
            changes(&rig, *portal, args.events, args.objects, true, &mut next_id),
        )
        .await?;
    }
    let small_events = 10;
    append(
        rig.store.as_ref(),
        changes(
            &rig,
            *small,
            small_events,
            small_events,
            false,
            &mut next_id,
        ),
    )
    .await?;
    let total = big.len() * args.events + small_events;

    let base = ObjectType::CONTACTS.id_base();
    let small_ids: Vec<ObjectId> = (1..=small_events as i64)
        .map(|k| ObjectId(base + k))
        .collect();
    let started = Instant::now();
    let mut small_done = None;
    while pending(rig.store.as_ref()).await? > 0 {
        if rig.hydrator.hydrate_once().await? == Round::Idle {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if small_done.is_none()
            && rig
                .store
                .last_modified(PortalId(*small), "contacts", &small_ids)
                .await?
                .len()
                == small_events
        {
            small_done = Some(started.elapsed());
        }
    }
    let elapsed = started.elapsed();
    let seen = ledger(&rig).await?;
    let calls = seen.reads + seen.listings + seen.association_reads;
    Ok(json!({
        "portals": big.len(),
        "events_per_portal": args.events,
        "objects_per_portal": args.objects,
        "events": total,
        "seconds": elapsed.as_secs_f64(),
        "events_per_s": (total as f64 / elapsed.as_secs_f64()).round(),
        "crm_calls": calls,
        "property_listings": seen.listings,
        "calls_per_event": calls as f64 / total as f64,
        "reads_per_event": seen.reads as f64 / total as f64,
        "association_reads_per_event": seen.association_reads as f64 / total as f64,
        "small_portal_done_s": small_done.map(|d| d.as_secs_f64()),
        "rate_limited": seen.rate_limited,
        "max_in_window": seen.max_in_window,
        "mirror": mirror_bytes(&args.database_url).await?,
    }))
}

async fn hot(args: &HydrateArgs) -> anyhow::Result<Value> {
    let rig = rig(args, 1, u32::try_from(args.objects)?).await?;
    let portal = rig
        .sim
        .sim
        .world(|w| w.portal_ids().next())
        .context("a portal")?;
    let mut next_id = 0;
    append(
        rig.store.as_ref(),
        changes(
            &rig,
            portal,
            args.objects,
            args.objects,
            false,
            &mut next_id,
        ),
    )
    .await?;

    // One round to learn the portal's limit from HubSpot's headers, then the hydrator runs
    // as `spoke serve` runs it (rounds overlapping) for the measured time.
    rig.hydrator.hydrate_once().await?;
    let before = ledger(&rig).await?.reads;
    let (stop, running) = rig.run_hydrator();
    let started = Instant::now();
    let measure = Duration::from_secs(args.seconds);
    while started.elapsed() < measure && pending(rig.store.as_ref()).await? > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    running.await?;
    let seen = ledger(&rig).await?;
    let records = (seen.reads - before) * 100;
    let allowed_per_s = f64::from(args.limit) * 100.0 / (args.window_ms as f64 / 1000.0);
    let per_s = records as f64 / elapsed.as_secs_f64();
    Ok(json!({
        "objects": args.objects,
        "limit": args.limit,
        "window_ms": args.window_ms,
        "seconds": elapsed.as_secs_f64(),
        "records_per_s": per_s.round(),
        "allowed_records_per_s": allowed_per_s,
        "fraction": per_s / allowed_per_s,
        "rate_limited": seen.rate_limited,
        "max_in_window": seen.max_in_window,
    }))
}

/// Load ticks per second: each tick changes `rate / TICKS` records and appends their
/// events in one write, as the receiver's group commit would.
const TICKS: u32 = 100;

async fn freshness(args: &HydrateArgs) -> anyhow::Result<Value> {
    let rig = rig(args, args.portals, u32::try_from(args.objects)?).await?;
    let portals: Vec<i64> = rig.sim.sim.world(|w| w.portal_ids().collect());
    let (stop, running) = rig.run_hydrator();
    let (sim, store) = (&rig.sim, &rig.store);

    let per_tick = (args.rate / TICKS).max(1);
    let mut associated = Associated::new();
    let mut change_no = 0_usize;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / TICKS);
    let started = Instant::now();
    let mut sent = 0_u64;
    while started.elapsed() < Duration::from_secs(args.seconds) {
        ticks.tick().await;
        let now = sim.sim.now_ms();
        let events: Vec<NewEvent> = sim.sim.world(|w| {
            (0..per_tick)
                .flat_map(|n| {
                    let portal = portals[rand::random_range(0..portals.len())];
                    let contact = || {
                        let id = ObjectType::CONTACTS.id_base()
                            + rand::random_range(1..=args.objects as i64);
                        (ObjectType::CONTACTS, id)
                    };
                    change_no += 1;
                    if change_no.is_multiple_of(ASSOCIATION_SHARE) {
                        return toggle(w, &mut associated, portal, (contact(), contact()), now);
                    }
                    let change = BTreeMap::from([("firstname".to_owned(), format!("n{now}-{n}"))]);
                    w.update(portal, ObjectType::CONTACTS, contact().1, change, now)
                        .map(|(_, events)| events)
                        .unwrap_or_default()
                })
                .map(|e| world::new_event(&e))
                .collect()
        });
        sent += events.len() as u64;
        store.append(&[events], now).await?;
    }
    let load = started.elapsed();
    while pending(store.as_ref()).await? > 0 {
        anyhow::ensure!(
            started.elapsed() < load + Duration::from_secs(120),
            "the hydrator did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    running.await?;

    let mut ages = hdrhistogram::Histogram::<u64>::new(3)?;
    for age in freshness_ms(&args.database_url).await? {
        ages.record(u64::try_from(age.max(0))?)?;
    }
    let mut association_ages = hdrhistogram::Histogram::<u64>::new(3)?;
    for ((portal, from, to), read_at) in association_reads(&args.database_url).await? {
        let made = associated.get(&(portal, from.min(to), from.max(to)));
        if let Some(made) = made {
            association_ages.record(u64::try_from((read_at - made).max(0))?)?;
        }
    }
    let seen = ledger(&rig).await?;
    Ok(json!({
        "portals": portals.len(),
        "rate": args.rate,
        "associations_made": 2 * associated.len(),
        "associations_held": association_ages.len(),
        "association_p50_ms": association_ages.value_at_quantile(0.50),
        "association_p99_ms": association_ages.value_at_quantile(0.99),
        "association_reads": seen.association_reads,
        "load_seconds": load.as_secs_f64(),
        "events": sent,
        "events_per_s": (sent as f64 / load.as_secs_f64()).round(),
        "hydrated": ages.len(),
        "freshness_p50_ms": ages.value_at_quantile(0.50),
        "freshness_p99_ms": ages.value_at_quantile(0.99),
        "freshness_max_ms": ages.max(),
        "crm_calls": seen.reads + seen.listings + seen.association_reads,
        "rate_limited": seen.rate_limited,
        "max_in_window": seen.max_in_window,
    }))
}

/// The pairs of contacts the load associated (smaller id first), with when it last did.
type Associated = std::collections::HashMap<(i64, i64, i64), i64>;

/// Associates two contacts, or removes their association if they have one; the events.
fn toggle(
    world: &mut sim::world::World,
    associated: &mut Associated,
    portal: i64,
    (a, b): ((ObjectType, i64), (ObjectType, i64)),
    now: i64,
) -> Vec<sim::world::WebhookEvent> {
    if a == b {
        return Vec::new();
    }
    let pair = (portal, a.1.min(b.1), a.1.max(b.1));
    let change = if associated.remove(&pair).is_some() {
        world.dissociate(portal, a, b, now)
    } else {
        associated.insert(pair, now);
        world.associate(portal, a, b, now)
    };
    change.unwrap_or_default()
}

/// Every association in the mirror, keyed by (portal, from id, to id), with when spoke read
/// it (its first read since it last changed).
async fn association_reads(database_url: &str) -> anyhow::Result<Vec<((i64, i64, i64), i64)>> {
    use sqlx::Connection;
    const SELECT: &str = "SELECT portal_id, from_id, to_id, read_at FROM associations";
    let rows: Vec<(i64, i64, i64, i64)> = match Engine::of_url(database_url)? {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(database_url).await?;
            sqlx::query_as(SELECT).fetch_all(&mut c).await?
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(database_url).await?;
            sqlx::query_as(SELECT).fetch_all(&mut c).await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(p, f, t, at)| ((p, f, t), at))
        .collect())
}

/// For every record in the mirror: from its last change (its `updatedAt`, the `occurredAt`
/// of that change's event) to the commit that wrote it (which finished the event), in
/// milliseconds, read straight from the mirror.
async fn freshness_ms(database_url: &str) -> anyhow::Result<Vec<i64>> {
    use sqlx::Connection;
    const SQLITE: &str = "SELECT fetched_at - updated_at FROM records";
    const POSTGRES: &str =
        "SELECT (extract(epoch from fetched_at) * 1000)::int8 - updated_at FROM records";
    Ok(match Engine::of_url(database_url)? {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(database_url).await?;
            sqlx::query_scalar(SQLITE).fetch_all(&mut c).await?
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(database_url).await?;
            sqlx::query_scalar(POSTGRES).fetch_all(&mut c).await?
        }
    })
}
