//! The inbox on SQLite: one transaction per group commit, with multi-row inserts of up to
//! [`ROWS_PER_STATEMENT`] events each. Every statement is a round trip to sqlx's SQLite
//! worker thread, which costs far more than SQLite's own work per row, so rows are batched;
//! `ON CONFLICT DO NOTHING … RETURNING` names the keys that were new.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::{AppendOutcome, EventKey, EventKeyRow, Inbox, NewEvent, StoreError};

/// Rows per `INSERT`: 9 parameters each stays well under SQLite's 32,766-variable limit.
const ROWS_PER_STATEMENT: usize = 500;

const PENDING_COUNT: &str = "SELECT count(*) FROM inbox_events WHERE state = 'pending'";

#[async_trait]
impl Inbox for SqliteStore {
    async fn append(&self, deliveries: &[Vec<NewEvent>]) -> Result<Vec<AppendOutcome>, StoreError> {
        let events: Vec<&NewEvent> = deliveries.iter().flatten().collect();
        let mut new_keys = HashSet::with_capacity(events.len());
        let mut tx = self.pool.begin().await?;
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO inbox_events (portal_id, subscription_id, event_id, object_id, occurred_at, \
                 subscription_type, app_id, attempt_number, payload) ",
            );
            insert.push_values(chunk, |mut row, event| {
                let k = &event.key;
                row.push_bind(k.portal_id)
                    .push_bind(k.subscription_id)
                    .push_bind(k.event_id)
                    .push_bind(k.object_id)
                    .push_bind(k.occurred_at)
                    .push_bind(&event.subscription_type)
                    .push_bind(event.app_id)
                    .push_bind(event.attempt_number)
                    .push_bind(&event.payload);
            });
            insert.push(
                " ON CONFLICT DO NOTHING RETURNING portal_id, subscription_id, event_id, object_id, occurred_at",
            );
            let inserted: Vec<EventKeyRow> = insert.build_query_as().fetch_all(&mut *tx).await?;
            new_keys.extend(inserted.into_iter().map(EventKey::from));
        }
        tx.commit().await?;
        Ok(AppendOutcome::attribute(deliveries, new_keys))
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(PENDING_COUNT)
            .fetch_one(&self.pool)
            .await?;
        Ok(count.try_into().unwrap_or(0))
    }
}
