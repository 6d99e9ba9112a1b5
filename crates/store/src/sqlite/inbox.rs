//! The inbox on SQLite: one transaction per group commit, one cheap in-process insert per
//! event; `ON CONFLICT DO NOTHING` on the identity key tells new events from redeliveries.

use async_trait::async_trait;

use super::SqliteStore;
use crate::{AppendOutcome, Inbox, NewEvent, StoreError};

const INSERT_EVENT: &str = "INSERT INTO inbox_events \
    (portal_id, subscription_id, event_id, object_id, occurred_at, subscription_type, app_id, attempt_number, payload) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";

const PENDING_COUNT: &str = "SELECT count(*) FROM inbox_events WHERE state = 'pending'";

#[async_trait]
impl Inbox for SqliteStore {
    async fn append(&self, deliveries: &[Vec<NewEvent>]) -> Result<Vec<AppendOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let mut outcome = AppendOutcome::default();
            for event in delivery {
                let k = &event.key;
                let inserted = sqlx::query(INSERT_EVENT)
                    .bind(k.portal_id)
                    .bind(k.subscription_id)
                    .bind(k.event_id)
                    .bind(k.object_id)
                    .bind(k.occurred_at)
                    .bind(&event.subscription_type)
                    .bind(event.app_id)
                    .bind(event.attempt_number)
                    .bind(&event.payload)
                    .execute(&mut *tx)
                    .await?;
                outcome.count(inserted.rows_affected() == 1);
            }
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(PENDING_COUNT)
            .fetch_one(&self.pool)
            .await?;
        Ok(count.try_into().unwrap_or(0))
    }
}
