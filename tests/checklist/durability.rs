//! Checklist items for durability: what spoke acknowledged survives a crash and a
//! shutdown, and a database outage turns into `503` (HubSpot retries) and heals by itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstest::rstest;
use spoke_store::testing::TestDb;
use spoke_store::Engine;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::support::*;

/// Senders that deliver 10-event batches until spoke stops answering, recording what was
/// acknowledged with `200`.
struct Load {
    acked: Arc<Mutex<Vec<(i64, i64)>>>,
    acked_count: watch::Receiver<usize>,
    senders: JoinSet<()>,
}

impl Load {
    fn start(deliverer: Deliverer, senders: i64) -> Self {
        let acked: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
        let (count, acked_count) = watch::channel(0);
        let count = Arc::new(count);
        let mut set = JoinSet::new();
        for portal in 0..senders {
            let (deliverer, acked, count) = (deliverer.clone(), acked.clone(), count.clone());
            set.spawn(async move {
                loop {
                    let events = batch(1000 + portal, 10);
                    match deliverer.deliver(&events).await {
                        Ok(r) if r.status() == 200 => {
                            acked.lock().unwrap().extend(ids(&events));
                            count.send_modify(|n| *n += events.len());
                        }
                        Ok(r) if r.status() == 503 => {}
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => return, // spoke is gone
                    }
                }
            });
        }
        Self {
            acked,
            acked_count,
            senders: set,
        }
    }

    /// Waits until at least `events` events have been acknowledged.
    async fn until_acked(&mut self, events: usize) {
        tokio::time::timeout(
            Duration::from_secs(60),
            self.acked_count.wait_for(|n| *n >= events),
        )
        .await
        .expect("load makes progress")
        .expect("senders alive");
    }

    /// Waits for every sender to notice spoke is gone; returns what was acknowledged.
    async fn finish(mut self) -> Vec<(i64, i64)> {
        while let Some(done) = self.senders.join_next().await {
            done.expect("sender task");
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// Every acknowledged event is stored, and nothing is stored twice.
async fn assert_acknowledged_are_stored_once(db: &TestDb, acked: &[(i64, i64)]) {
    let stored = stored_ids(db).await;
    let unique: std::collections::HashSet<_> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event is stored twice");
    let missing: Vec<_> = acked.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn acknowledged_deliveries_survive_kill_9_under_load(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let spoke = Spoke::start(db.url(), &[]).await;
    let mut load = Load::start(spoke.deliverer(), 16);

    load.until_acked(2_000).await;
    spoke.kill_9().await;
    let acked = load.finish().await;

    let restarted = Spoke::start(db.url(), &[]).await;
    assert!(acked.len() >= 2_000);
    assert_acknowledged_are_stored_once(&db, &acked).await;
    assert_eq!(
        restarted.deliver(&batch(1, 1)).await.status(),
        200,
        "spoke works after the crash"
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn sigterm_finishes_in_flight_deliveries_and_loses_nothing(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let spoke = Spoke::start(db.url(), &[]).await;
    let mut load = Load::start(spoke.deliverer(), 16);

    load.until_acked(1_000).await;
    let status = spoke.terminate().await;
    let acked = load.finish().await;

    assert!(status.success(), "clean exit, got {status}");
    assert_acknowledged_are_stored_once(&db, &acked).await;
}

/// Delivers `events` until spoke answers `200`, at most `tries` times.
async fn deliver_until_accepted(
    spoke: &Spoke,
    events: &[serde_json::Value],
    tries: usize,
) -> usize {
    for attempt in 1..=tries {
        if spoke.deliver(events).await.status() == 200 {
            return attempt;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("spoke did not recover after {tries} tries");
}

#[tokio::test]
async fn a_locked_sqlite_database_gets_503_and_spoke_recovers_by_itself() {
    let db = TestDb::new(Engine::Sqlite).await;
    let spoke = Spoke::start(db.url(), &[]).await;
    assert_eq!(spoke.deliver(&batch(1, 1)).await.status(), 200);

    let mut locker = SqliteConnection::connect(db.url()).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let during = batch(1, 3);
    let refused = spoke.deliver(&during).await;
    assert_eq!(refused.status(), 503);
    let answer = refused.text().await.unwrap();
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();

    assert_eq!(
        deliver_until_accepted(&spoke, &during, 10).await,
        1,
        "accepted on the first retry"
    );
    assert_eq!(stored_ids(&db).await.len(), 4);

    // The client hears what kind of failure it was; the log has the cause, once, at error.
    assert_eq!(answer, r#"{"error":"temporarily unavailable"}"#);
    let failures = spoke
        .log_entries(|entry| entry["message"] == "request failed", 1)
        .await;
    assert_eq!(failures.len(), 1, "one 503, logged once");
    let cause = failures[0]["error"].as_str().expect("an error field");
    assert_eq!(failures[0]["level"], "ERROR");
    assert!(
        cause.starts_with("temporarily unavailable: storage unavailable: database unavailable")
            && cause.contains("locked"),
        "the whole chain, down to SQLite's own words: {cause}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_gets_503_and_spoke_recovers_by_itself() {
    let db = TestDb::new(Engine::Postgres).await;
    let mut url = url::Url::parse(db.url()).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream.parse().expect("PostgreSQL host is an IP address")).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    let spoke = Spoke::start(url.as_str(), &[]).await;
    assert_eq!(spoke.deliver(&batch(1, 1)).await.status(), 200);

    proxy.cut();
    let during = batch(1, 3);
    assert_eq!(spoke.deliver(&during).await.status(), 503);
    let readiness = spoke.http.get(spoke.url("/readyz")).send().await.unwrap();
    assert_eq!(
        readiness.status(),
        503,
        "not ready while the database is away"
    );
    proxy.restore();

    deliver_until_accepted(&spoke, &during, 10).await;
    assert_eq!(stored_ids(&db).await.len(), 4);
}
