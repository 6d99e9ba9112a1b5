//! Dead letters: hydrations and sink deliveries that ran out of attempts, kept until an
//! operator replays them. Replaying puts them back to pending with fresh attempts; replaying
//! again finds nothing more to replay.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::queue::set_aside_list;
use crate::sink_queue::{ASSOCIATED, DISSOCIATED};
use crate::{ObjectId, PortalId, Replay, SetAside, SetAsideEvent, StoreError};

/// A sink's dead letter, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadDelivery {
    pub id: i64,
    pub sink: String,
    pub portal_id: PortalId,
    pub object_type: String,
    pub object_id: ObjectId,
    pub record_state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Events whose hydration ran out of attempts, oldest first, of one portal or all.
    async fn dead_events(
        &self,
        portal_id: Option<PortalId>,
        limit: u32,
    ) -> Result<Vec<SetAsideEvent>, StoreError>;

    /// Dead deliveries, oldest first, of one sink or all, one portal or all.
    async fn dead_deliveries(
        &self,
        sink: Option<&str>,
        portal_id: Option<PortalId>,
        limit: u32,
    ) -> Result<Vec<DeadDelivery>, StoreError>;

    /// Dead events back to pending; how many.
    async fn replay_events(&self, which: Replay) -> Result<u64, StoreError>;

    /// Dead deliveries (of one sink or all) back to pending; how many left the dead letters.
    /// One whose record a newer change of has been queued or delivered since is superseded
    /// instead (done): a sink never gets an older version after a newer one.
    async fn replay_deliveries(&self, sink: Option<&str>, which: Replay)
        -> Result<u64, StoreError>;

    /// Per portal (every one, or just `portal`), its sink dead letters (portal, count).
    async fn dead_deliveries_by_portal(
        &self,
        portal: Option<PortalId>,
    ) -> Result<Vec<(PortalId, i64)>, StoreError>;
}

#[async_trait]
impl<B: Backend> DeadLetters for B {
    async fn dead_events(
        &self,
        portal_id: Option<PortalId>,
        limit: u32,
    ) -> Result<Vec<SetAsideEvent>, StoreError> {
        set_aside_list(self, SetAside::Dead, portal_id, limit).await
    }

    async fn dead_deliveries(
        &self,
        sink: Option<&str>,
        portal_id: Option<PortalId>,
        limit: u32,
    ) -> Result<Vec<DeadDelivery>, StoreError> {
        let statement = Statement::new(
            "SELECT id, sink, portal_id, object_type, object_id, record_state, attempts, last_error \
            FROM sink_deliveries WHERE state = 'dead' AND (CAST($1 AS TEXT) IS NULL OR sink = $1) \
            AND (CAST($2 AS BIGINT) IS NULL OR portal_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(sink)
        .bind(portal_id)
        .bind(limit);
        self.fetch_all_on_pool(statement).await
    }

    async fn replay_events(&self, which: Replay) -> Result<u64, StoreError> {
        let (id, portal) = which.filter();
        let statement = Statement::new(
            "UPDATE inbox_queue SET state = 'pending', attempts = 0, next_attempt_at = NULL, \
            reason = NULL, finished_at = NULL WHERE state = 'dead' \
            AND (CAST($1 AS BIGINT) IS NULL OR id = $1) AND (CAST($2 AS BIGINT) IS NULL OR portal_id = $2)",
        )
        .bind(id)
        .bind(portal);
        self.execute_on_pool(statement).await
    }

    async fn replay_deliveries(
        &self,
        sink: Option<&str>,
        which: Replay,
    ) -> Result<u64, StoreError> {
        let (id, portal) = which.filter();
        let chosen = "d.state = 'dead' AND (CAST($1 AS TEXT) IS NULL OR d.sink = $1) \
            AND (CAST($2 AS BIGINT) IS NULL OR d.id = $2) \
            AND (CAST($3 AS BIGINT) IS NULL OR d.portal_id = $3)";
        // Newer of the same thing: the record's own changes, or the same association's; or
        // the record gone (deleted, merged away, erased), which ends its associations too.
        let association =
            |q: &str| format!("{q}.record_state IN ('{ASSOCIATED}', '{DISSOCIATED}')");
        let other_side = |q: &str| {
            let field = |name| B::json_field(&format!("{q}.properties"), name);
            format!(
                "{} || ':' || {}",
                field("toObjectType"),
                field("toObjectId")
            )
        };
        let newer = format!(
            "EXISTS (SELECT 1 FROM sink_deliveries n WHERE n.portal_id = d.portal_id \
            AND n.object_type = d.object_type AND n.object_id = d.object_id AND n.sink = d.sink \
            AND n.version > d.version AND n.state IN ('pending', 'done') \
            AND (({n_assoc}) = ({d_assoc}) AND (NOT ({d_assoc}) OR {n_side} = {d_side}) \
                OR ({d_assoc}) AND n.record_state IN ('deleted', 'merged', 'erased')))",
            n_assoc = association("n"),
            d_assoc = association("d"),
            n_side = other_side("n"),
            d_side = other_side("d"),
        );
        let mut tx = self.begin_write().await?;
        let supersede = format!(
            "UPDATE sink_deliveries SET state = 'done' WHERE id IN \
            (SELECT d.id FROM sink_deliveries d WHERE {chosen} AND {newer})"
        );
        let requeue = format!(
            "UPDATE sink_deliveries SET state = 'pending', attempts = 0, next_attempt_at = NULL, \
            finished_at = NULL WHERE id IN (SELECT d.id FROM sink_deliveries d WHERE {chosen})"
        );
        let chosen = |sql: String| Statement::new(sql).bind(sink).bind(id).bind(portal);
        let superseded = B::execute(&mut tx, chosen(supersede)).await?;
        let requeued = B::execute(&mut tx, chosen(requeue)).await?;
        B::commit(tx).await?;
        Ok(superseded + requeued)
    }

    async fn dead_deliveries_by_portal(
        &self,
        portal: Option<PortalId>,
    ) -> Result<Vec<(PortalId, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT portal_id, count(*) FROM sink_deliveries WHERE state = 'dead' \
            AND (CAST($1 AS BIGINT) IS NULL OR portal_id = $1) GROUP BY portal_id ORDER BY portal_id",
        )
        .bind(portal);
        self.fetch_all_on_pool(statement).await
    }
}
