//! `spoke-bench`: what `scripts/bench.sh` runs.
//!
//! - `bare`: an axum server whose webhook route reads the body and answers 200, doing
//!   nothing else: the ceiling of the HTTP stack on this machine.
//! - `ingest`: signed deliveries of N events each (fresh v3 signature and unique event ids
//!   per request) from many connections, closed-loop (saturation) or at a fixed rate
//!   (latency under load, measured from each request's scheduled time so that a stalled
//!   server cannot hide its queueing). Prints one JSON line of results.
//! - `store`: group commits straight into the inbox, without HTTP: what the database path
//!   alone sustains, to tell storage cost from the rest of the request path.
//! - `sim`: the simulator's own capacity: webhook events dispatched per second to a sink
//!   that answers at once, and records per second through CRM batch reads.
//! - `hydrate`: the hydrator against the simulator ([`hydrate`]).
//! - `backfill`: a portal's backfill while live changes arrive ([`backfill`]).
//! - `statistics`: the monitor's counts of many portals over 30 days ([`statistics`]).
//! - `world`: the simulator with its portals installed, for `spoke serve` to hydrate
//!   from ([`world`]).
#![forbid(unsafe_code)]

mod backfill;
mod dashboard;
mod hydrate;
mod statistics;
mod world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::routing::post;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use hubspot::signature::sign_v3;
use hubspot::time::Clock;
use hubspot::version::ApiVersion;
use hubspot::ClientSecret;
use serde_json::json;
use sim::objects::{ObjectType, Simulated};
use store::{ObjectId, PortalId};

#[derive(Debug, Parser)]
#[command(
    name = "spoke-bench",
    about = "Load generator and baseline for spoke's benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a do-nothing webhook endpoint; prints `listening <addr>`.
    Bare {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Drive signed deliveries at a webhook endpoint.
    Ingest(IngestArgs),
    /// Measure the simulator's dispatcher and CRM API; prints one JSON line.
    Sim {
        /// Webhook events to dispatch.
        #[arg(long, default_value_t = 200_000)]
        events: u32,
        #[arg(long, default_value_t = 100)]
        portals: u32,
        /// Seconds of CRM batch reads.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent CRM clients.
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// Run the hydrator over events put in the inbox; prints one JSON line.
    Hydrate(hydrate::HydrateArgs),
    /// Backfill one portal's records while live changes arrive; prints one JSON line.
    Backfill(backfill::BackfillArgs),
    /// Write the monitor's counts of many portals over 30 days; their size, one JSON line.
    Statistics(statistics::StatisticsArgs),
    /// Time the operator dashboard's pages with many portals; one JSON line.
    Dashboard(dashboard::DashboardArgs),
    /// Serve the simulator with its portals installed in a database; one JSON line.
    World(world::WorldArgs),
    /// Append groups of deliveries to an inbox directly; prints one JSON line.
    Store {
        /// A database URL as `SPOKE_DATABASE_URL` takes it (migrated first).
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 300)]
        groups: usize,
        /// Deliveries per group commit (64 connections produced about 32 in `ingest`).
        #[arg(long, default_value_t = 32)]
        deliveries: usize,
        #[arg(long, default_value_t = 10)]
        events: usize,
        /// Portals the deliveries spread over.
        #[arg(long, default_value_t = 32)]
        portals: i64,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct IngestArgs {
    /// Where to send, e.g. http://127.0.0.1:8080/webhooks/hubspot.
    #[arg(long)]
    url: String,
    /// The URL the signature covers (the target's SPOKE_PUBLIC_URL plus the path).
    #[arg(long)]
    signed_url: String,
    /// The app's client secret, shared with the target.
    #[arg(long, env = "BENCH_CLIENT_SECRET")]
    secret: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    events: usize,
    /// Seconds of measurement (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Deliveries per second in total; unset means as fast as answers come (saturation).
    #[arg(long)]
    rate: Option<f64>,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// First portal id.
    #[arg(long, default_value_t = 1)]
    portal_base: i64,
    /// Portals the deliveries spread over, one portal per delivery in turn; unset, each
    /// connection uses its own.
    #[arg(long)]
    portals: Option<i64>,
    /// Contacts each portal's events name (the simulator's generated ones).
    #[arg(long, default_value_t = 1_000)]
    objects: i64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bare { listen } => tokio::runtime::Runtime::new()?.block_on(bare(listen)),
        Command::Store {
            database_url,
            groups,
            deliveries,
            events,
            portals,
        } => {
            let report = tokio::runtime::Runtime::new()?.block_on(store_appends(
                &database_url,
                groups,
                deliveries,
                events,
                portals,
            ))?;
            println!("{report}");
            Ok(())
        }
        Command::Sim {
            events,
            portals,
            seconds,
            connections,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(simulator(
                events,
                portals,
                Duration::from_secs(seconds),
                connections,
            ))?;
            println!("{report}");
            Ok(())
        }
        Command::Hydrate(args) => {
            let report = tokio::runtime::Runtime::new()?.block_on(hydrate::run(args))?;
            println!("{report}");
            Ok(())
        }
        Command::Backfill(args) => {
            let report = tokio::runtime::Runtime::new()?.block_on(backfill::run(args))?;
            println!("{report}");
            Ok(())
        }
        Command::Statistics(args) => {
            let report = tokio::runtime::Runtime::new()?.block_on(statistics::run(args))?;
            println!("{report}");
            Ok(())
        }
        Command::Dashboard(args) => {
            let report = tokio::runtime::Runtime::new()?.block_on(dashboard::run(args))?;
            println!("{report}");
            Ok(())
        }
        Command::World(args) => tokio::runtime::Runtime::new()?.block_on(world::run(args)),
        Command::Ingest(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads)
                .enable_all()
                .build()?;
            let report = runtime.block_on(ingest(args))?;
            println!("{report}");
            Ok(())
        }
    }
}

async fn bare(listen: SocketAddr) -> anyhow::Result<()> {
    async fn accept(_body: Bytes) -> &'static str {
        "{}"
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening {}", listener.local_addr()?);
    let app = axum::Router::new().route("/webhooks/hubspot", post(accept));
    axum::serve(listener, app).await?;
    Ok(())
}

/// What one connection measured.
struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    failed: u64,
    /// Deliveries answered 2xx from the start, warm-up included: what the server stored.
    stored: u64,
}

async fn ingest(args: IngestArgs) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()?;
    let args = Arc::new(args);
    let warm_up = Duration::from_secs(1);
    let start = Instant::now();
    let measure_from = start + warm_up;
    let end = measure_from + Duration::from_secs(args.seconds);
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.connections as f64 / r));
    let tasks: Vec<_> = (0..args.connections)
        .map(|c| {
            let (http, args) = (http.clone(), args.clone());
            // Spread the connections' schedules across one interval.
            let offset = interval.map_or(Duration::ZERO, |i| {
                i.mul_f64(c as f64 / args.connections as f64)
            });
            tokio::spawn(connection(
                http,
                args,
                c as i64,
                start + offset,
                interval,
                measure_from,
                end,
            ))
        })
        .collect();
    let mut total = Tally {
        latency_us: Histogram::new(3)?,
        ok: 0,
        failed: 0,
        stored: 0,
    };
    for task in tasks {
        let tally = task.await.context("connection task")??;
        total.latency_us.add(&tally.latency_us)?;
        total.ok += tally.ok;
        total.failed += tally.failed;
        total.stored += tally.stored;
    }
    let seconds = args.seconds as f64;
    let deliveries_per_s = total.ok as f64 / seconds;
    let ms = |q: f64| total.latency_us.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "connections": args.connections,
        "events_per_delivery": args.events,
        "target_rate": args.rate,
        "deliveries": total.ok,
        "failed": total.failed,
        "events_stored": total.stored * args.events as u64,
        "deliveries_per_s": deliveries_per_s.round(),
        "events_per_s": (deliveries_per_s * args.events as f64).round(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "max_ms": total.latency_us.max() as f64 / 1000.0,
    }))
}

async fn connection(
    http: reqwest::Client,
    args: Arc<IngestArgs>,
    index: i64,
    first: Instant,
    interval: Option<Duration>,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Tally> {
    let secret = ClientSecret::new(args.secret.clone());
    let mut tally = Tally {
        latency_us: Histogram::new(3)?,
        ok: 0,
        failed: 0,
        stored: 0,
    };
    let mut next_event_id = index << 32;
    let mut scheduled = first;
    let mut sent: i64 = 0;
    loop {
        if interval.is_some() {
            tokio::time::sleep_until(scheduled.into()).await;
        } else {
            scheduled = Instant::now();
        }
        if scheduled >= end {
            return Ok(tally);
        }
        // With `portals`, each delivery goes to a portal drawn from a hash of (connection,
        // delivery): spread evenly and in no order, as many portals' changes arrive.
        let portal = args.portal_base
            + args.portals.map_or(index, |portals| {
                scatter(sent * args.connections as i64 + index, portals)
            });
        sent += 1;
        let body = delivery_body(portal, &mut next_event_id, args.events, args.objects);
        let timestamp = Clock::system().now_ms().to_string();
        let signature = sign_v3(
            &secret,
            "POST",
            &args.signed_url,
            body.as_bytes(),
            &timestamp,
        );
        let outcome = http
            .post(&args.url)
            .header("content-type", "application/json")
            .header("x-hubspot-signature-v3", signature)
            .header("x-hubspot-request-timestamp", timestamp)
            .body(body)
            .send()
            .await;
        let ok = match outcome {
            Ok(response) => {
                let ok = response.status().is_success();
                let _ = response.bytes().await;
                ok
            }
            Err(_) => false,
        };
        tally.stored += u64::from(ok);
        if scheduled >= measure_from {
            if ok {
                tally.ok += 1;
                tally
                    .latency_us
                    .record(scheduled.elapsed().as_micros() as u64)?;
            } else {
                tally.failed += 1;
            }
        }
        if let Some(interval) = interval {
            scheduled += interval;
        }
    }
}

async fn simulator(
    events: u32,
    portals: u32,
    crm_for: Duration,
    connections: usize,
) -> anyhow::Result<serde_json::Value> {
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_url = format!("http://{}", sink.local_addr()?);
    tokio::spawn(async move {
        let app = axum::Router::new().route("/webhooks/hubspot", post(|_body: Bytes| async { "" }));
        axum::serve(sink, app).await
    });
    let mut settings = sim::Settings::defaults();
    settings.portals = portals;
    settings.rate_limit = u32::MAX; // the simulator's capacity, not HubSpot's limit
    settings.webhook_target_url = Some("https://bench.spoke.test/webhooks/hubspot".into());
    settings.webhook_deliver_to = Some(sink_url);
    let running = sim::start(
        settings,
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        Clock::system(),
    )
    .await?;
    let http = reqwest::Client::new();
    let base = running.base_url();
    let activity = sim::admin::Activity {
        changes: events,
        ..Default::default()
    };
    let queued = running.client().activity(&activity).await?.events as u64;
    let started = Instant::now();
    let delivered = || {
        running
            .sim
            .dispatcher()
            .ledger(|l| l.totals().values().map(|t| t.events_delivered).sum::<u64>())
    };
    while delivered() < queued {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "dispatch stalled at {}",
            delivered()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dispatch_s = started.elapsed().as_secs_f64();

    let first_portal = running
        .sim
        .world(|w| w.portal_ids().next())
        .context("a portal")?;
    let stop = Instant::now() + crm_for;
    let readers: Vec<_> = (0..connections)
        .map(|c| {
            let (http, base) = (http.clone(), base.clone());
            let portal = first_portal + (c as i64 % i64::from(portals));
            let token = running.sim.issue_tokens(portal).expect("installed portal").access_token;
            tokio::spawn(async move {
                let mut records = 0u64;
                let mut next = 1i64;
                while Instant::now() < stop {
                    let inputs: Vec<_> = (0..100)
                        .map(|i| json!({ "id": (ObjectType::CONTACTS.id_base() + (next + i) % 1000 + 1).to_string() }))
                        .collect();
                    next += 100;
                    let page: serde_json::Value = http
                        .post(format!(
                            "{base}{}/batch/read",
                            ApiVersion::V2026_03.objects_path(&ObjectType::CONTACTS.path_name())
                        ))
                        .bearer_auth(&token)
                        .json(&json!({ "inputs": inputs, "properties": ["email", "firstname"], "propertiesWithHistory": [] }))
                        .send()
                        .await?
                        .json()
                        .await?;
                    records += page["results"].as_array().map_or(0, |r| r.len() as u64);
                }
                anyhow::Ok(records)
            })
        })
        .collect();
    let mut records = 0;
    for reader in readers {
        records += reader.await??;
    }
    running.stop().await;
    Ok(json!({
        "events": queued,
        "portals": portals,
        "dispatch_events_per_s": (queued as f64 / dispatch_s).round(),
        "crm_connections": connections,
        "crm_records_per_s": (records as f64 / crm_for.as_secs_f64()).round(),
    }))
}

async fn store_appends(
    url: &str,
    groups: usize,
    deliveries: usize,
    events: usize,
    portals: i64,
) -> anyhow::Result<serde_json::Value> {
    let store = store::connect(
        &secrecy::SecretString::from(url.to_owned()),
        &store::ConnectOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let mut next_event_id = Clock::system().now_ms() << 8;
    let written_before = written_bytes().unwrap_or(0);
    let mut spent = Duration::ZERO;
    let mut delivery: i64 = 0;
    for _ in 0..groups {
        let group: Vec<Vec<store::NewEvent>> = (0..deliveries)
            .map(|_| {
                delivery += 1;
                let portal = scatter(delivery, portals) + 1;
                let body = delivery_body(portal, &mut next_event_id, events, 1_000);
                let parsed: Vec<&serde_json::value::RawValue> =
                    serde_json::from_str(&body).expect("own JSON");
                parsed
                    .into_iter()
                    .map(|raw| inbox_event(raw.get()))
                    .collect()
            })
            .collect();
        let started = Instant::now();
        store.append(&group, Clock::system().now_ms()).await?;
        spent += started.elapsed();
    }
    let total = (groups * deliveries * events) as f64;
    // SQLite writes from this process: what it wrote to storage (WAL and checkpoints).
    let written = url
        .starts_with("sqlite:")
        .then(|| written_bytes().map(|b| (b - written_before) as f64 / total))
        .flatten();
    Ok(json!({
        "groups": groups,
        "portals": portals,
        "bytes_written_per_event": written.map(f64::round),
        "events_per_group": deliveries * events,
        "events_per_s": (total / spent.as_secs_f64()).round(),
        "us_per_event": (spent.as_secs_f64() * 1e6 / total * 100.0).round() / 100.0,
        "ms_per_commit": (spent.as_secs_f64() * 1e3 / groups as f64 * 100.0).round() / 100.0,
    }))
}

/// `n` mapped to `0..count` by a mixing hash (splitmix64's finaliser): consecutive `n`
/// land far apart, every value about equally often.
fn scatter(n: i64, count: i64) -> i64 {
    let mut z = (n as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % count.max(1) as u64) as i64
}

/// Bytes this process has caused to be written to storage (`write_bytes` of
/// `/proc/self/io`), where the system says.
fn written_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))
        .and_then(|n| n.trim().parse().ok())
}

/// The inbox row of one event of [`delivery_body`].
fn inbox_event(raw: &str) -> store::NewEvent {
    let v: serde_json::Value = serde_json::from_str(raw).expect("own JSON");
    let int = |field: &str| v[field].as_i64().expect("integer field");
    store::NewEvent {
        key: store::EventKey {
            portal_id: PortalId(int("portalId")),
            subscription_id: int("subscriptionId"),
            event_id: int("eventId"),
            object_id: ObjectId(int("objectId")),
            occurred_at: int("occurredAt"),
        },
        subscription_type: "contact.propertyChange".into(),
        app_id: Some(int("appId")),
        attempt_number: 0,
        payload: raw.to_owned(),
        trace_context: None,
    }
}

/// A JSON array of `n` `contact.propertyChange` events with fresh ids, over the
/// simulator's first `objects` contacts.
fn delivery_body(portal: i64, next_event_id: &mut i64, n: usize, objects: i64) -> String {
    let first_contact = ObjectType::CONTACTS.id_base() + 1;
    let occurred_at = Clock::system().now_ms();
    let events: Vec<String> = (0..n)
        .map(|_| {
            *next_event_id += 1;
            let id = *next_event_id;
            format!(
                r#"{{"eventId":{id},"subscriptionId":4001,"portalId":{portal},"appId":54321,"occurredAt":{occurred_at},"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":{},"propertyName":"lifecyclestage","propertyValue":"customer","changeSource":"CRM_UI"}}"#,
                first_contact + id % objects.max(1)
            )
        })
        .collect();
    format!("[{}]", events.join(","))
}
