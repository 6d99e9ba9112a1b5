//! Fresh planner statistics for the work queue. `inbox_queue` goes from empty to a million
//! pending rows within seconds of a burst, and autovacuum looks at a database once a
//! minute (`autovacuum_naptime`). Planned with an empty queue's statistics, a settlement's
//! lookup of 4,000 claimed events scanned every pending row and took 5 s (seen with
//! `auto_explain` under `scripts/bench.sh serve`), against milliseconds by the queue's key.
//! A task of the store's own therefore looks at that one table every [`EVERY`], and once
//! its live rows differ from those the last `ANALYZE` counted by more than [`THRESHOLD`]
//! plus [`SCALE`] of them, it analyzes the table again. (Autovacuum's own rule counts rows
//! changed, and every event changes its queue row three times: appended, claimed,
//! finished; a queue that stays the same size needs no new statistics.) A queue growing
//! at a steady rate is analyzed at intervals growing with its size.

use std::time::Duration;

use sqlx::PgPool;

use crate::upkeep::{self, Upkeep};

/// How often the queue's changes are looked at.
const EVERY: Duration = Duration::from_secs(1);

/// A difference in rows that always warrants a new `ANALYZE`, and the share of the last
/// counted rows on top.
const THRESHOLD: f64 = 1_000.0;
const SCALE: f64 = 0.2;

/// Whether the queue's size moved enough since its last `ANALYZE`.
const DUE: &str = "SELECT abs(s.n_live_tup - greatest(c.reltuples, 0)) \
        > $1 + $2 * greatest(c.reltuples, 0) \
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
    WHERE s.relid = to_regclass('inbox_queue')";

/// Keeps `pool`'s queue statistics fresh until the returned handle is dropped.
pub(crate) fn spawn(pool: PgPool) -> Upkeep {
    upkeep::every(EVERY, move || {
        let pool = pool.clone();
        async move {
            // A failed look or `ANALYZE` loses nothing: autovacuum still comes by, and the
            // next tick looks again.
            let due: Result<Option<bool>, _> = sqlx::query_scalar(DUE)
                .bind(THRESHOLD)
                .bind(SCALE)
                .fetch_optional(&pool)
                .await;
            if let Ok(Some(true)) = due {
                let _ = analyze(&pool).await;
            }
        }
    })
}

/// One `ANALYZE` of the queue. Another instance's, or autovacuum's, makes this one skip
/// the table, and the warning PostgreSQL sends for that is no news for the log.
async fn analyze(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL client_min_messages = error")
        .execute(&mut *tx)
        .await?;
    sqlx::query("ANALYZE (SKIP_LOCKED) inbox_queue")
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
