//! `spoke-bench statistics`: what the certification monitor's counts cost to keep. Writes
//! the steady state of `portals` portals that each had deliveries and API calls in every
//! minute (the worst case), as retention leaves it: two hours of minute rows, hour rows to
//! seven days and day rows to 31, per portal and once more app-wide, and 31 days of API
//! calls by endpoint class and status (two statuses a day); then reports the tables' size and how long the app-wide rates and one portal's take to read.

use std::time::Instant;

use secrecy::SecretString;
use serde_json::{json, Value};
use server::monitor::rates::windows;
use sqlx::Connection;
use store::{ApiCounts, DailyCalls, Engine, PortalId, Scope, WebhookCounts, MINUTES_PER_DAY};

const MINUTES: i64 = 120;
const HOURS: i64 = 7 * 24 - 2;
const DAYS: i64 = 31 - 7;
/// Rows per write.
const CHUNK: usize = 5_000;

#[derive(Debug, Clone, clap::Args)]
pub struct StatisticsArgs {
    /// A database URL as `SPOKE_DATABASE_URL` takes it (migrated first).
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 1_000)]
    portals: i64,
}

fn webhook_row(scope: Scope, minute: i64, minutes: i64) -> WebhookCounts {
    WebhookCounts {
        scope,
        minute,
        attempts: 3 * minutes,
        successes: 3 * minutes - 1,
        unavailable: 1,
        latency_ms_sum: 30 * minutes,
        latency_ms_max: 40,
        first_events: 6 * minutes,
        first_deliveries: 3 * minutes,
        failed_first_events: 2,
        ..WebhookCounts::default()
    }
}

pub async fn run(args: StatisticsArgs) -> anyhow::Result<Value> {
    let store = store::connect(
        &SecretString::from(args.database_url.clone()),
        &store::ConnectOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let empty = size(&args.database_url).await?;
    let now = 30_000_000 / 60 * 60;
    let started = Instant::now();
    write_busy_month(store.as_ref(), 1..=args.portals, now).await?;
    let written = started.elapsed();
    let rows = (args.portals + 1) * (MINUTES + HOURS + DAYS);
    let bytes = size(&args.database_url).await? - empty;
    let read = Instant::now();
    let rates = windows(store.as_ref(), Scope::App, now).await?;
    let app_ms = read.elapsed().as_secs_f64() * 1_000.0;
    let read = Instant::now();
    windows(
        store.as_ref(),
        Scope::Portal(PortalId(args.portals / 2)),
        now,
    )
    .await?;
    let portal_ms = read.elapsed().as_secs_f64() * 1_000.0;
    Ok(json!({
        "portals": args.portals,
        "rows_per_table": rows,
        "bytes": bytes,
        "bytes_per_portal": bytes / args.portals,
        "bytes_for_10000_portals": bytes / args.portals * 10_000,
        "write_s": written.as_secs_f64(),
        "app_wide_rates_ms": app_ms,
        "portal_rates_ms": portal_ms,
        "app_wide_30d_attempts": rates.webhooks[3].attempts,
    }))
}

/// The counts of `portals` (and the app-wide rows) as retention leaves a month in which
/// each had deliveries and API calls every minute, up to the minute `now`.
pub async fn write_busy_month(
    store: &dyn store::Statistics,
    portals: impl Iterator<Item = i64>,
    now: i64,
) -> anyhow::Result<()> {
    let (mut hooks, mut calls, mut daily) = (Vec::new(), Vec::new(), Vec::new());
    let hour_start = now - MINUTES;
    let day_start = hour_start - HOURS * 60;
    for scope in portals
        .map(|p| Scope::Portal(PortalId(p)))
        .chain([Scope::App])
    {
        let mut row = |minute: i64, minutes: i64| {
            hooks.push(webhook_row(scope, minute, minutes));
            calls.push(ApiCounts {
                scope,
                minute,
                calls: 2 * minutes,
                errors: 1,
                rate_limited: 0,
            });
        };
        for day in 1..=DAYS {
            row(day_start - day * 1_440, 1_440);
        }
        for hour in 1..=HOURS {
            row(hour_start - hour * 60, 60);
        }
        for minute in hour_start..now {
            row(minute, 1);
        }
        for day in 0..31 {
            for (status, count) in [(200, 2_000), (429, 1)] {
                daily.push(DailyCalls {
                    scope,
                    day: now / MINUTES_PER_DAY - day,
                    endpoint: "crm.batch_read".into(),
                    status,
                    calls: count,
                });
            }
        }
        if hooks.len() >= CHUNK {
            store.add_counts(&hooks, &calls, &daily).await?;
            hooks.clear();
            calls.clear();
            daily.clear();
        }
    }
    Ok(())
}

/// The three tables' size on disk, indexes included (SQLite: the whole database, whose
/// other tables stay empty here).
async fn size(url: &str) -> anyhow::Result<i64> {
    Ok(match Engine::of_url(url)? {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await?;
            sqlx::query_scalar(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            )
            .fetch_one(&mut c)
            .await?
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await?;
            sqlx::query_scalar(
                "SELECT (pg_total_relation_size('webhook_minutes') + pg_total_relation_size('api_minutes') \
                 + pg_total_relation_size('api_calls_daily'))::int8",
            )
            .fetch_one(&mut c)
            .await?
        }
    })
}
