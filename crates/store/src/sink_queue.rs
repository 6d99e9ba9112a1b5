//! What the sinks beside the mirror still have to deliver. Settling a hydration round
//! ([`crate::WorkQueue::settle`]) queues every change the mirror accepted for each sink
//! the settlement names, in the same transaction; each sink's dispatcher claims its own
//! rows, so one failing sink never holds up another. A row is claimed only when no older
//! row of the same object is pending for that sink, so a sink sees each object's changes
//! in order, across instances too. A claim ends delivered, back to pending (retried
//! later) or dead (a sink's dead letter), only by its holder; a crashed dispatcher's
//! claims lapse and are taken again.

use async_trait::async_trait;

use crate::backend::{held, Backend, Bind, Statement};
use crate::{ErasedRecord, ObjectId, PortalId, Retry, StoreError};

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
    pub portal_id: PortalId,
    /// HubSpot's path name: `contacts`, …
    pub object_type: String,
    pub object_id: ObjectId,
    /// `live`, `deleted`, `merged` or `erased`; or [`ASSOCIATED`] or [`DISSOCIATED`] for a
    /// change of one of the record's associations.
    pub record_state: String,
    /// The record's properties, a JSON object (`{}` unless live); for an association, the
    /// other side and the kinds: `{"toObjectType", "toObjectId", "types"}`.
    pub properties: String,
    /// The record's `updatedAt` (a deletion's `occurredAt`, an erase's time; when spoke
    /// read an association): with the rest of the key it names this change, so a
    /// redelivery carries the same id.
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

    async fn delivery_counts(&self) -> Result<Vec<DeliveryCount>, StoreError>;

    /// Deletes up to `limit` deliveries done before `before_ms`; how many. Dead ones stay
    /// until an operator acts.
    async fn prune_deliveries(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}

/// The state of a delivery of an association added to a record (or whose kinds changed).
pub const ASSOCIATED: &str = "associated";
/// The state of a delivery of an association removed from a record.
pub const DISSOCIATED: &str = "dissociated";

/// A change the mirror accepted, as the sinks' queue takes it.
pub(crate) struct Change<'a> {
    pub portal_id: PortalId,
    pub object_type: &'a str,
    pub object_id: ObjectId,
    /// As [`Delivery::record_state`].
    pub state: &'a str,
    pub properties: &'a str,
    pub version: i64,
    pub trace: Option<&'a str>,
}

/// Queues one change for every sink in `sinks` that has not had this change queued already
/// (a replayed hydration reads the same version again). A change is its record, version and
/// state, and for an association its content: one read changes several associations of a
/// record at one version.
pub(crate) async fn enqueue<B: Backend>(
    conn: &mut B::Conn,
    sinks: &[String],
    change: &Change<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let insert = format!(
        "INSERT INTO sink_deliveries (sink, portal_id, object_type, object_id, record_state, \
        properties, version, created_at, trace_context) \
        SELECT s.value, $2, $3, $4, $5, {properties}, $7, {now}, $9 FROM {sinks} AS s \
        WHERE NOT EXISTS (SELECT 1 FROM sink_deliveries q WHERE q.portal_id = $2 \
            AND q.object_type = $3 AND q.object_id = $4 AND q.sink = s.value \
            AND q.version = $7 AND q.record_state = $5 \
            AND ($5 NOT IN ('{ASSOCIATED}', '{DISSOCIATED}') OR {held} = $6))",
        properties = B::json(6),
        held = B::json_text("q.properties"),
        now = B::at(8),
        sinks = B::each_text(1),
    );
    let statement = Statement::new(insert)
        .bind(Bind::Texts(sinks))
        .bind(change.portal_id)
        .bind(change.object_type)
        .bind(change.object_id)
        .bind(change.state)
        .bind(change.properties)
        .bind(change.version)
        .bind(now_ms)
        .bind(change.trace);
    B::execute(conn, statement).await?;
    Ok(())
}

/// A privacy deletion of one record: every queued copy loses its properties, and what is
/// not in flight is not sent (the erase queued after it is).
pub(crate) async fn forget<B: Backend>(
    conn: &mut B::Conn,
    erased: &ErasedRecord,
    now_ms: i64,
) -> Result<(), StoreError> {
    let update = format!(
        "UPDATE sink_deliveries SET properties = '{{}}', \
        finished_at = CASE WHEN state = 'pending' AND (claimed_until IS NULL OR claimed_until <= {now}) \
            THEN {now} ELSE finished_at END, \
        state = CASE WHEN state = 'dead' OR (state = 'pending' AND (claimed_until IS NULL OR claimed_until <= {now})) \
            THEN 'done' ELSE state END \
        WHERE portal_id = $1 AND object_type = $2 AND object_id = $3",
        now = B::at(4)
    );
    let statement = Statement::new(update)
        .bind(erased.portal_id)
        .bind(&erased.object_type)
        .bind(erased.object_id)
        .bind(now_ms);
    B::execute(conn, statement).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> SinkQueue for B {
    async fn claim_deliveries(
        &self,
        claim: &DeliveryClaim<'_>,
    ) -> Result<Vec<Delivery>, StoreError> {
        // Each the oldest pending row of its object, so a sink sees an object's changes in
        // order. The picked ids are materialised, as in the inbox's claim: a plan that ran
        // the `LIMIT` subquery again for each row it updates would claim more than asked.
        let update = format!(
            "WITH picked AS MATERIALIZED (SELECT d.{key} AS key FROM sink_deliveries d \
                WHERE d.sink = $3 AND d.state = 'pending' \
                AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= {now}) \
                AND (d.claimed_until IS NULL OR d.claimed_until <= {now}) \
                AND NOT EXISTS (SELECT 1 FROM sink_deliveries o WHERE o.portal_id = d.portal_id \
                    AND o.object_type = d.object_type AND o.object_id = d.object_id \
                    AND o.sink = d.sink AND o.state = 'pending' AND o.id < d.id) \
                ORDER BY d.id LIMIT $5{skip_locked}) \
            UPDATE sink_deliveries SET claimed_by = $1, claimed_until = {until} \
            WHERE {picked} \
            RETURNING id, portal_id, object_type, object_id, record_state, \
            {properties} AS properties, version, attempts, trace_context",
            key = B::PICKED_KEY,
            until = B::at(2),
            now = B::at(4),
            skip_locked = B::SKIP_LOCKED,
            picked = B::is_picked(""),
            properties = B::json_text("properties"),
        );
        let statement = Statement::new(update)
            .bind(claim.holder)
            .bind(claim.until_ms)
            .bind(claim.sink)
            .bind(claim.now_ms)
            .bind(claim.limit);
        // A write transaction, so that on SQLite it takes its turn behind the receiver.
        let mut tx = self.begin_write().await?;
        let mut claimed: Vec<Delivery> = B::fetch_all(&mut tx, statement).await?;
        B::commit(tx).await?;
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    async fn settle_deliveries(
        &self,
        holder: &str,
        outcome: &DeliveryOutcome,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let still_held = held::<B>(3, 4);
        if !outcome.delivered.is_empty() {
            let delivered = format!(
                "UPDATE sink_deliveries SET state = 'done', finished_at = {}, \
                claimed_by = NULL, claimed_until = NULL WHERE {}",
                B::at(1),
                held::<B>(2, 3)
            );
            let statement = Statement::new(delivered)
                .bind(now_ms)
                .bind(holder)
                .bind(Bind::Ids(&outcome.delivered));
            B::execute(&mut tx, statement).await?;
        }
        for retry in &outcome.retries {
            let update = format!(
                "UPDATE sink_deliveries SET attempts = attempts + 1, next_attempt_at = {}, \
                last_error = $2, claimed_by = NULL, claimed_until = NULL WHERE {still_held}",
                B::at(1)
            );
            let statement = Statement::new(update)
                .bind(retry.due_ms)
                .bind(&retry.error)
                .bind(holder)
                .bind(Bind::Ids(&retry.ids));
            B::execute(&mut tx, statement).await?;
        }
        for dead in &outcome.dead {
            let update = format!(
                "UPDATE sink_deliveries SET state = 'dead', attempts = attempts + 1, \
                last_error = $1, finished_at = {}, claimed_by = NULL, claimed_until = NULL \
                WHERE {still_held}",
                B::at(2)
            );
            let statement = Statement::new(update)
                .bind(dead.error.as_str())
                .bind(now_ms)
                .bind(holder)
                .bind(Bind::Ids(&dead.ids));
            B::execute(&mut tx, statement).await?;
        }
        B::commit(tx).await
    }

    async fn delivery_counts(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        let statement = Statement::new(
            "SELECT sink, state, count(*) AS count FROM sink_deliveries \
            GROUP BY sink, state ORDER BY sink, state",
        );
        self.fetch_all_on_pool(statement).await
    }

    async fn prune_deliveries(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let delete = format!(
            "DELETE FROM sink_deliveries WHERE id IN (SELECT id FROM sink_deliveries \
            WHERE state = 'done' AND finished_at < {} LIMIT $2)",
            B::at(1)
        );
        let statement = Statement::new(delete).bind(before_ms).bind(limit);
        self.execute_on_pool(statement).await
    }
}
