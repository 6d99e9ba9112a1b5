//! What the sinks beside the mirror still have to deliver. Settling a hydration round
//! ([`crate::WorkQueue::settle`]) queues every change the mirror accepted for each sink
//! the settlement names, in the same transaction; each sink's dispatcher claims its own
//! rows, so one failing sink never holds up another. A row is claimed only when no older
//! row of the same object is pending for that sink, so a sink sees each object's changes
//! in order, across instances too. A claim ends delivered, back to pending (retried
//! later) or dead (a sink's dead letter), only by its holder; a crashed dispatcher's
//! claims lapse and are taken again.

use async_trait::async_trait;

use crate::{Replay, Retry, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "sink_deliveries";

/// What a dispatcher asks for.
#[derive(Debug, Clone)]
pub struct DeliveryClaim<'a> {
    pub sink: &'a str,
    pub holder: &'a str,
    /// Claims lapse then, unless settled first.
    pub until_ms: i64,
    pub now_ms: i64,
    pub limit: u32,
}

/// A change a sink is to deliver.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub portal_id: i64,
    /// HubSpot's path name: `contacts`, …
    pub object_type: String,
    pub object_id: i64,
    /// `live`, `deleted`, `merged` or `erased`.
    pub record_state: String,
    /// The record's properties, a JSON object (`{}` unless live).
    pub properties: String,
    /// The record's `updatedAt` (a deletion's `occurredAt`, an erase's time): with the
    /// rest of the key it names this change, so a redelivery carries the same id.
    pub version: i64,
    /// Failed attempts so far.
    pub attempts: i32,
    /// The trace that queued it (W3C `traceparent`), continued by the delivery.
    pub trace_context: Option<String>,
}

/// Deliveries that ran out of attempts: their last error is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadDeliveries {
    pub ids: Vec<i64>,
    pub error: String,
}

/// What a dispatcher's batch came to, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub delivered: Vec<i64>,
    /// Failed attempts, due again later.
    pub retries: Vec<Retry>,
    pub dead: Vec<DeadDeliveries>,
}

/// A sink's dead letter, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadDelivery {
    pub id: i64,
    pub sink: String,
    pub portal_id: i64,
    pub object_type: String,
    pub object_id: i64,
    pub record_state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Sink deliveries per sink and state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryCount {
    pub sink: String,
    pub state: String,
    pub count: i64,
}

#[async_trait]
pub trait SinkQueue: Send + Sync {
    /// Claims up to `limit` of the sink's due, unclaimed pending deliveries, oldest first,
    /// each the oldest pending one of its object: at most one per object per claim.
    async fn claim_deliveries(
        &self,
        claim: &DeliveryClaim<'_>,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Writes what a batch came to, only for deliveries `holder` still holds.
    async fn settle_deliveries(
        &self,
        holder: &str,
        outcome: &DeliveryOutcome,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Dead deliveries, oldest first, of one sink or all, one portal or all.
    async fn dead_deliveries(
        &self,
        sink: Option<&str>,
        portal_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeadDelivery>, StoreError>;

    /// Dead deliveries back to pending with fresh attempts; how many. Replaying again finds
    /// nothing more to replay.
    async fn replay_deliveries(&self, sink: Option<&str>, which: Replay)
        -> Result<u64, StoreError>;

    async fn delivery_counts(&self) -> Result<Vec<DeliveryCount>, StoreError>;

    /// Per portal (every one, or just `portal`), its sink dead letters (portal, count).
    async fn dead_deliveries_by_portal(
        &self,
        portal: Option<i64>,
    ) -> Result<Vec<(i64, i64)>, StoreError>;

    /// Deletes up to `limit` deliveries done before `before_ms`; how many. Dead ones stay
    /// until an operator acts.
    async fn prune_deliveries(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}

/// Expands the implementation in an engine module defining `CLAIM`, `DELIVERED`, `RETRY`,
/// `DEAD`, `DEAD_LIST`, `REPLAY`, `COUNTS`, `PRUNE` and `ids`.
macro_rules! impl_sink_queue {
    ($store:ty) => {
        use crate::sink_queue::{
            DeadDelivery, Delivery, DeliveryClaim, DeliveryCount, DeliveryOutcome,
        };
        use crate::{Replay, StoreError};

        #[async_trait::async_trait]
        impl crate::SinkQueue for $store {
            async fn claim_deliveries(
                &self,
                claim: &DeliveryClaim<'_>,
            ) -> Result<Vec<Delivery>, StoreError> {
                let mut claimed: Vec<Delivery> = sqlx::query_as(CLAIM)
                    .bind(claim.holder)
                    .bind(claim.until_ms)
                    .bind(claim.sink)
                    .bind(claim.now_ms)
                    .bind(i64::from(claim.limit))
                    .fetch_all(&self.pool)
                    .await?;
                claimed.sort_by_key(|d| d.id);
                Ok(claimed)
            }

            async fn settle_deliveries(
                &self,
                holder: &str,
                outcome: &DeliveryOutcome,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                if !outcome.delivered.is_empty() {
                    sqlx::query(DELIVERED)
                        .bind(now_ms)
                        .bind(holder)
                        .bind(ids(&outcome.delivered))
                        .execute(&mut *tx)
                        .await?;
                }
                for retry in &outcome.retries {
                    sqlx::query(RETRY)
                        .bind(retry.due_ms)
                        .bind(&retry.error)
                        .bind(holder)
                        .bind(ids(&retry.ids))
                        .execute(&mut *tx)
                        .await?;
                }
                for dead in &outcome.dead {
                    sqlx::query(DEAD)
                        .bind(&dead.error)
                        .bind(now_ms)
                        .bind(holder)
                        .bind(ids(&dead.ids))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn dead_deliveries(
                &self,
                sink: Option<&str>,
                portal_id: Option<i64>,
                limit: u32,
            ) -> Result<Vec<DeadDelivery>, StoreError> {
                Ok(sqlx::query_as(DEAD_LIST)
                    .bind(sink)
                    .bind(portal_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn replay_deliveries(
                &self,
                sink: Option<&str>,
                which: Replay,
            ) -> Result<u64, StoreError> {
                let (id, portal) = match which {
                    Replay::One(id) => (Some(id), None),
                    Replay::OneOf { id, portal } => (Some(id), Some(portal)),
                    Replay::Portal(portal) => (None, Some(portal)),
                    Replay::All => (None, None),
                };
                let done = sqlx::query(REPLAY)
                    .bind(sink)
                    .bind(id)
                    .bind(portal)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn dead_deliveries_by_portal(
                &self,
                portal: Option<i64>,
            ) -> Result<Vec<(i64, i64)>, StoreError> {
                Ok(sqlx::query_as(DEAD_BY_PORTAL)
                    .bind(portal)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn delivery_counts(&self) -> Result<Vec<DeliveryCount>, StoreError> {
                Ok(sqlx::query_as(COUNTS).fetch_all(&self.pool).await?)
            }

            async fn prune_deliveries(
                &self,
                before_ms: i64,
                limit: u32,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query(PRUNE)
                    .bind(before_ms)
                    .bind(i64::from(limit))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_sink_queue;
