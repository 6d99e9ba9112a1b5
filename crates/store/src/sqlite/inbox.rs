//! The inbox on SQLite: one transaction per group commit, multi-row inserts inside it.
//!
//! Measured through sqlx, the driver costs more per event than SQLite's own work (2.8 µs
//! per event for this schema): every statement is a round trip to sqlx's SQLite worker
//! thread, and every distinct SQL text is a fresh prepare. So rows are batched into
//! statements of a few fixed sizes, which stay in the statement cache. Telling new events
//! from redeliveries needs no rows back in the usual case: if every row was inserted, every
//! event was new. Otherwise the new rows are the transaction's last `inserted` ids, since
//! it is the only writer and `AUTOINCREMENT` ids never go back. A trigger queues each new
//! event for the hydrator (its migration says why there).

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::gate::Writer;
use super::SqliteStore;
use crate::{AppendOutcome, EventKey, Inbox, NewEvent, StoreError};

/// Rows per `INSERT`, largest first. Few sizes keep the statement cache warm; 256 rows of
/// 11 parameters stay far below SQLite's 32,766-variable limit.
const STATEMENT_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

const LAST_INSERTED_KEYS: &str =
    "SELECT portal_id, subscription_id, event_id, object_id, occurred_at \
    FROM inbox_events ORDER BY id DESC LIMIT ?";

const BACKLOG_COUNT: &str = "SELECT count(*) FROM inbox_queue WHERE state = 'pending'";

#[async_trait]
impl Inbox for SqliteStore {
    async fn append(
        &self,
        deliveries: &[Vec<NewEvent>],
        received_ms: i64,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let events: Vec<&NewEvent> = deliveries.iter().flatten().collect();
        let mut tx = self.begin_immediate(Writer::Ingest).await?;
        let mut inserted = 0;
        let mut rest = events.as_slice();
        while !rest.is_empty() {
            let size = STATEMENT_SIZES
                .into_iter()
                .find(|&s| s <= rest.len())
                .unwrap_or(1);
            let (chunk, tail) = rest.split_at(size);
            inserted += insert_rows(&mut tx, chunk, received_ms).await?;
            rest = tail;
        }
        let new_keys = if inserted == events.len() as u64 {
            events.iter().map(|e| e.key).collect()
        } else {
            let rows: Vec<EventKey> = sqlx::query_as(LAST_INSERTED_KEYS)
                .bind(i64::try_from(inserted).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await?;
            rows.into_iter().collect()
        };
        tx.tx.commit().await?;
        Ok(AppendOutcome::attribute(deliveries, new_keys))
    }

    async fn backlog_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(BACKLOG_COUNT)
            .fetch_one(&self.pool)
            .await?;
        Ok(count.try_into().unwrap_or(0))
    }
}

/// Inserts `rows` in one statement; returns how many were new (the rest hit the key).
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[&NewEvent],
    received_ms: i64,
) -> Result<u64, StoreError> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO inbox_events (portal_id, subscription_id, event_id, object_id, occurred_at, \
         subscription_type, app_id, attempt_number, payload, trace_context, received_at) ",
    );
    insert.push_values(rows, |mut row, event| {
        let k = &event.key;
        row.push_bind(k.portal_id)
            .push_bind(k.subscription_id)
            .push_bind(k.event_id)
            .push_bind(k.object_id)
            .push_bind(k.occurred_at)
            .push_bind(&event.subscription_type)
            .push_bind(event.app_id)
            .push_bind(event.attempt_number)
            .push_bind(&event.payload)
            .push_bind(&event.trace_context)
            .push_bind(received_ms);
    });
    insert.push(" ON CONFLICT DO NOTHING");
    Ok(insert.build().execute(conn).await?.rows_affected())
}
