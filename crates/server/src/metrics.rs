//! Prometheus metrics at `GET /metrics`, in OpenMetrics text (`prometheus-client`), of two
//! kinds: instruments the components own and update as they work (webhook deliveries and
//! their acknowledgement time, token refreshes, hydration freshness and rate-limit waits,
//! sink attempts), registered once at start-up; and figures read when Prometheus scrapes
//! (inbox depth, records, sink queues and dead letters from the store; CRM calls and the
//! record cache from the hydrator). No label carries a portal id, so the number of series
//! stays the same whatever the number of portals.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use store::{DeliveryCount, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::monitor::alerts::Alert;
use crate::telemetry::Chain;
use crate::workers::sinks::SinkName;
use crate::workers::versions::CacheStats;

/// What this process's hydrator has counted, read at scrape time.
#[derive(Debug, Clone)]
pub struct HydratorCounts {
    /// CRM calls by HTTP status (0: no answer).
    pub crm_calls: BTreeMap<u16, u64>,
    pub cache: CacheStats,
}

/// The prefix of every metric.
const PREFIX: &str = "spoke";

/// One label: an outcome, a state, a status, a kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkOutcome {
    pub sink: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkState {
    sink: String,
    state: String,
}

/// Buckets in seconds from 1 ms doubling to about 16 s, for acknowledgements (HubSpot's
/// limit is 5 s).
pub fn ack_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Buckets in seconds from 10 ms doubling to about 11 minutes, for hydration freshness.
pub fn freshness_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 17))
}

/// Every state of an inbox event, a record and a sink delivery, so that each series exists
/// (at 0) from the first scrape and `rate()` and alerts see it before it first moves.
const INBOX_STATES: [&str; 5] = ["pending", "done", "quarantined", "dead", "unhandled"];
const RECORD_STATES: [&str; 4] = ["live", "deleted", "merged", "erased"];
const DELIVERY_STATES: [&str; 3] = ["pending", "done", "dead"];
/// The CRM statuses alerts watch, present from the start.
const CRM_STATUSES: [&str; 2] = ["200", "429"];

/// A family of counters with these outcomes present at 0.
pub fn counters_for(outcomes: &[&'static str]) -> Family<Outcome, Counter> {
    let family = Family::default();
    for outcome in outcomes {
        let _ = family.get_or_create(&Outcome { outcome });
    }
    family
}

/// The registry of live instruments, and the scrape.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The configured sinks, whose series exist from the start.
    sinks: Vec<String>,
    /// The big tables' counts as last read in the background: a scrape reads no table, so
    /// however often Prometheus scrapes, ingest never waits on a count.
    tables: Mutex<TableCounts>,
}

/// Rows of the inbox, the mirror and the sinks' queue by state.
#[derive(Debug, Clone, Default)]
pub struct TableCounts {
    inbox: Vec<(String, i64)>,
    records: Vec<(String, i64)>,
    deliveries: Vec<DeliveryCount>,
}

impl TableCounts {
    pub async fn read(store: &dyn Store) -> Result<Self, StoreError> {
        Ok(Self {
            inbox: store.queue_counts().await?,
            records: store.record_counts().await?,
            deliveries: store.delivery_counts().await?,
        })
    }
}

impl Metrics {
    pub fn new(sinks: Vec<String>) -> Self {
        Self {
            registry: Registry::with_prefix(PREFIX),
            sinks,
            tables: Mutex::default(),
        }
    }

    /// The sinks' attempts by outcome, registered, with every configured sink's series.
    pub fn sink_attempts(&mut self) -> Family<SinkOutcome, Counter> {
        let family = Family::<SinkOutcome, Counter>::default();
        for sink in &self.sinks {
            let sink = SinkName::parse(sink).map_or("unknown", SinkName::as_str);
            for outcome in ["delivered", "failed", "dead"] {
                let _ = family.get_or_create(&SinkOutcome { sink, outcome });
            }
        }
        self.registry.register(
            "sink_attempts",
            "Sink delivery attempts by sink and outcome: delivered, failed (retried later), dead",
            family.clone(),
        );
        family
    }

    /// Where components register their instruments at start-up.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Reads the tables' counts again, for the scrapes after it.
    pub async fn refresh_tables(&self, store: &dyn Store) -> Result<(), StoreError> {
        let counts = TableCounts::read(store).await?;
        *self.tables.lock().expect("table counts lock") = counts;
        Ok(())
    }

    /// Refreshes the tables' counts now and every `every` until `shutdown`.
    pub async fn run(&self, store: &dyn Store, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
            if let Err(error) = self.refresh_tables(store).await {
                warn!(error = %Chain(&error), "table counts for /metrics not read");
            }
        }
    }

    /// The exposition: live instruments, the tables' counts last read, and what the
    /// hydrator says now.
    pub fn render(&self, hydrator: Option<HydratorCounts>, alerts: &[Alert]) -> String {
        let tables = self.tables.lock().expect("table counts lock").clone();
        let mut now = scraped(&tables, hydrator, &self.sinks);
        let active = Family::<State, Gauge>::default();
        for level in ["warning", "critical"] {
            let count = alerts.iter().filter(|a| a.level.as_str() == level).count();
            active
                .get_or_create(&State {
                    state: level.to_owned(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        now.register(
            "alerts",
            "Active certification-monitor alerts by state (level): warning, critical",
            active,
        );
        let mut text = String::new();
        encode_registry(&mut text, &self.registry).expect("writing to a String");
        encode_registry(&mut text, &now).expect("writing to a String");
        encode_eof(&mut text).expect("writing to a String");
        text
    }
}

/// The figures of this scrape, in a registry of their own made for it.
fn scraped(tables: &TableCounts, hydrator: Option<HydratorCounts>, sinks: &[String]) -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    let states = |names: &[&str]| {
        let family = Family::<State, Gauge>::default();
        for state in names {
            let _ = family.get_or_create(&State {
                state: (*state).to_owned(),
            });
        }
        family
    };
    let inbox = states(&INBOX_STATES);
    for (state, count) in &tables.inbox {
        inbox
            .get_or_create(&State {
                state: state.clone(),
            })
            .set(*count);
    }
    registry.register(
        "inbox_events",
        "Inbox events by state (pending is the hydrator's queue; dead are its dead letters)",
        inbox,
    );
    let records = states(&RECORD_STATES);
    for (state, count) in &tables.records {
        records
            .get_or_create(&State {
                state: state.clone(),
            })
            .set(*count);
    }
    registry.register("records", "Records in the mirror by state", records);
    let deliveries = Family::<SinkState, Gauge>::default();
    for sink in sinks {
        for state in DELIVERY_STATES {
            let _ = deliveries.get_or_create(&SinkState {
                sink: sink.clone(),
                state: state.to_owned(),
            });
        }
    }
    for count in &tables.deliveries {
        deliveries
            .get_or_create(&SinkState {
                sink: count.sink.clone(),
                state: count.state.clone(),
            })
            .set(count.count);
    }
    registry.register(
        "sink_deliveries",
        "Sink deliveries by sink and state (dead are the sink's dead letters)",
        deliveries,
    );
    if let Some(hydrator) = hydrator {
        let calls = Family::<Status, Counter>::default();
        for status in CRM_STATUSES {
            let _ = calls.get_or_create(&Status {
                status: status.to_owned(),
            });
        }
        for (status, count) in hydrator.crm_calls {
            let status = if status == 0 {
                "none".to_owned()
            } else {
                status.to_string()
            };
            calls.get_or_create(&Status { status }).inc_by(count);
        }
        registry.register(
            "crm_calls",
            "CRM API calls this process made, by HTTP status (none: no answer)",
            calls,
        );
        let cache = hydrator.cache;
        let hits = Counter::<u64>::default();
        hits.inc_by(cache.hits);
        registry.register("record_cache_hits", "Record cache hits", hits);
        let misses = Counter::<u64>::default();
        misses.inc_by(cache.misses);
        registry.register("record_cache_misses", "Record cache misses", misses);
        let entries = Gauge::<i64>::default();
        entries.set(i64::try_from(cache.entries).unwrap_or(i64::MAX));
        registry.register("record_cache_entries", "Record versions cached", entries);
    }
    registry
}
