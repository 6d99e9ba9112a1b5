//! Fresh planner statistics for the work queue. `inbox_queue` goes from empty to a million
//! pending rows within seconds of a burst, and autovacuum looks at a database once a
//! minute (`autovacuum_naptime`). Planned with an empty queue's statistics, a settlement's
//! lookup of 4,000 claimed events scanned every pending row and took 5 s (seen with
//! `auto_explain` under `scripts/bench.sh serve`), against milliseconds by the queue's key.
//! A task of the store's own therefore applies autovacuum's own rule to that one table
//! every [`EVERY`]: once the rows changed since the last `ANALYZE` exceed
//! [`THRESHOLD`] plus [`SCALE`] of the rows it counted, it analyzes the table again.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::oneshot;

/// How often the queue's changes are looked at.
const EVERY: Duration = Duration::from_secs(1);

/// Changed rows that always warrant a new `ANALYZE`, and the share of the table's last
/// counted rows on top (autovacuum's defaults are 50 and 10%).
const THRESHOLD: f64 = 1_000.0;
const SCALE: f64 = 0.2;

/// Whether the queue changed enough since its last `ANALYZE`.
const DUE: &str = "SELECT s.n_mod_since_analyze > $1 + $2 * greatest(c.reltuples, 0) \
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
    WHERE s.relid = to_regclass('inbox_queue')";

/// The analyzing task of a store: it stops when this is dropped, with the store's last
/// clone.
#[derive(Debug)]
pub(crate) struct Analyzer {
    _stop: oneshot::Sender<()>,
}

/// Keeps `pool`'s queue statistics fresh until the returned handle is dropped.
pub(crate) fn spawn(pool: PgPool) -> Analyzer {
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = every.tick() => {}
            }
            // A failed look or `ANALYZE` loses nothing: autovacuum still comes by, and the
            // next tick looks again. Several instances may analyze at once; one that finds
            // the table being analyzed skips it.
            let due: Result<Option<bool>, _> = sqlx::query_scalar(DUE)
                .bind(THRESHOLD)
                .bind(SCALE)
                .fetch_optional(&pool)
                .await;
            if let Ok(Some(true)) = due {
                let _ = sqlx::query("ANALYZE (SKIP_LOCKED) inbox_queue")
                    .execute(&pool)
                    .await;
            }
        }
    });
    Analyzer { _stop: stop }
}
