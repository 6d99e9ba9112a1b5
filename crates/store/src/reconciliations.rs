//! Reconciliation's schedule, leases and drift report: when each installed portal is next
//! due (spread over the interval by portal id, so 10,000 portals do not start together;
//! not while the portal's backfill runs, which reads everything anyway),
//! which worker leases it (one at a time across instances), each type's watermark, and what
//! the last run found and repaired. Repairs go through the hydrator's write path (newer
//! wins, each accepted change queued for the sinks).

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::queue::hold_portal_calls;
use crate::settle::{write_records, Writable};
use crate::sync_leases::{portal_state, renew, LeaseTable, SyncLease};
use crate::{GoneRecord, MirroredRecord, PortalId, Requested, Settlement, StoreError};

/// The tables' names, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "reconciliations";
pub(crate) const TYPES_TABLE: &str = "reconciled_types";

/// What a type's last reconciliation found.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReconciledType {
    pub object_type: String,
    /// Records modified since were compared; the next run searches from here.
    pub watermark: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// In HubSpot, not in the mirror.
    pub missing: i64,
    /// In the mirror at an older version than HubSpot's.
    pub stale: i64,
    /// In the mirror as live, gone from HubSpot, with no deletion event.
    pub deleted_unannounced: i64,
    /// Records written or marked deleted to repair the above.
    pub repaired: i64,
    /// Why the type could not be compared, if it could not.
    pub error: Option<String>,
}

/// What a run writes to repair the mirror.
#[derive(Debug, Clone, Default)]
pub struct Repairs {
    pub records: Vec<MirroredRecord>,
    pub gone: Vec<GoneRecord>,
    /// The sinks each change the mirror accepts is queued for.
    pub sinks: Vec<String>,
}

#[async_trait]
pub trait Reconciliations: Send + Sync {
    /// Gives every installed portal without a schedule one: due within `every_ms` of
    /// `now_ms`, at an offset that follows from its id. How many were scheduled.
    async fn schedule_reconciliations(&self, every_ms: i64, now_ms: i64)
        -> Result<u64, StoreError>;

    /// Makes a portal's reconciliation due now, unless one is running
    /// ([`Requested::AlreadyRunning`]). [`StoreError::NotFound`] for a portal spoke does not
    /// know.
    async fn request_reconciliation(
        &self,
        portal_id: PortalId,
        now_ms: i64,
    ) -> Result<Requested, StoreError>;

    /// Leases up to `limit` installed portals whose reconciliation is due and not leased
    /// (or `holder`'s own), until `until_ms`.
    async fn lease_reconciliations(
        &self,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<PortalId>, StoreError>;

    /// What the portal's types' last runs found, by type.
    async fn reconciled_types(
        &self,
        portal_id: PortalId,
    ) -> Result<Vec<ReconciledType>, StoreError>;

    /// Writes repairs (while the portal is installed); `false`, writing nothing, if the
    /// lease was lost.
    async fn write_repairs(
        &self,
        lease: SyncLease<'_>,
        repairs: &Repairs,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Records a run's findings per type, makes the portal due next at `next_due_ms` and
    /// frees the lease; `false` if the lease was lost.
    async fn finish_reconciliation(
        &self,
        lease: SyncLease<'_>,
        types: &[ReconciledType],
        next_due_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Extends the lease while work goes on; `false` if it was lost.
    async fn renew_reconciliation(
        &self,
        lease: SyncLease<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Frees `holder`'s lease (it stops).
    async fn release_reconciliation(
        &self,
        holder: &str,
        portal_id: PortalId,
    ) -> Result<(), StoreError>;
}

/// The reconciliations' leases.
const LEASES: LeaseTable = LeaseTable {
    name: TABLE,
    while_: "",
};

#[async_trait]
impl<B: Backend> Reconciliations for B {
    async fn schedule_reconciliations(
        &self,
        every_ms: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let schedule = "INSERT INTO reconciliations (portal_id, due_at) \
            SELECT portal_id, $1 + portal_id % $2 FROM portals \
            WHERE state = 'installed' AND portal_id NOT IN (SELECT portal_id FROM reconciliations) \
            ON CONFLICT (portal_id) DO NOTHING";
        let statement = Statement::new(schedule).bind(now_ms).bind(every_ms.max(1));
        self.execute_on_pool(statement).await
    }

    async fn request_reconciliation(
        &self,
        portal_id: PortalId,
        now_ms: i64,
    ) -> Result<Requested, StoreError> {
        let mut tx = self.begin_write().await?;
        if portal_state::<B>(&mut tx, portal_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let running = "SELECT portal_id FROM reconciliations WHERE portal_id = $1 \
            AND lease_until > $2";
        let statement = Statement::new(running).bind(portal_id).bind(now_ms);
        if B::fetch_optional::<(PortalId,)>(&mut tx, statement)
            .await?
            .is_some()
        {
            return Ok(Requested::AlreadyRunning);
        }
        let due = "INSERT INTO reconciliations (portal_id, due_at) VALUES ($1, $2) \
            ON CONFLICT (portal_id) DO UPDATE SET due_at = excluded.due_at";
        B::execute(&mut tx, Statement::new(due).bind(portal_id).bind(now_ms)).await?;
        B::commit(tx).await?;
        Ok(Requested::Started)
    }

    async fn lease_reconciliations(
        &self,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<PortalId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let due = format!(
            "SELECT portal_id FROM reconciliations WHERE due_at <= $1 \
            AND portal_id IN (SELECT portal_id FROM portals WHERE state = 'installed') \
            AND portal_id NOT IN (SELECT portal_id FROM backfills WHERE finished_at IS NULL) \
            AND (lease_until IS NULL OR lease_until <= $1 OR lease_holder = $2) \
            ORDER BY due_at, portal_id LIMIT $3{}",
            B::SKIP_LOCKED
        );
        let statement = Statement::new(due)
            .bind(now_ms)
            .bind(holder)
            .bind(i64::from(limit));
        let due: Vec<(PortalId,)> = B::fetch_all(&mut tx, statement).await?;
        let mut leased = Vec::with_capacity(due.len());
        for (portal_id,) in &due {
            // A portal whose calls another process makes now waits for its lease.
            if !hold_portal_calls::<B>(&mut tx, *portal_id, holder, until_ms, now_ms).await? {
                continue;
            }
            leased.push(*portal_id);
            let take = "UPDATE reconciliations SET lease_holder = $1, lease_until = $2 \
                WHERE portal_id = $3";
            let statement = Statement::new(take)
                .bind(holder)
                .bind(until_ms)
                .bind(*portal_id);
            B::execute(&mut tx, statement).await?;
        }
        B::commit(tx).await?;
        Ok(leased)
    }

    async fn reconciled_types(
        &self,
        portal_id: PortalId,
    ) -> Result<Vec<ReconciledType>, StoreError> {
        let select = "SELECT object_type, watermark, started_at, finished_at, missing, stale, \
            deleted_unannounced, repaired, error FROM reconciled_types WHERE portal_id = $1 \
            ORDER BY object_type";
        self.fetch_all_on_pool(Statement::new(select).bind(portal_id))
            .await
    }

    async fn write_repairs(
        &self,
        lease: SyncLease<'_>,
        repairs: &Repairs,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let state = portal_state::<B>(&mut tx, lease.portal_id).await?;
        if !renew::<B>(&mut tx, LEASES, lease, now_ms).await? {
            return Ok(false);
        }
        if let Some(state) = state {
            let settlement = Settlement {
                records: repairs.records.clone(),
                gone: repairs.gone.clone(),
                sinks: repairs.sinks.clone(),
                ..Settlement::default()
            };
            let writable = Writable::of_portal(lease.portal_id, &state);
            write_records::<B>(&mut tx, &settlement, &writable, now_ms).await?;
        }
        B::commit(tx).await?;
        Ok(true)
    }

    async fn finish_reconciliation(
        &self,
        lease: SyncLease<'_>,
        types: &[ReconciledType],
        next_due_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if !renew::<B>(&mut tx, LEASES, lease, now_ms).await? {
            return Ok(false);
        }
        let upsert = "INSERT INTO reconciled_types (portal_id, object_type, watermark, \
            started_at, finished_at, missing, stale, deleted_unannounced, repaired, error) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
            ON CONFLICT (portal_id, object_type) DO UPDATE SET watermark = excluded.watermark, \
            started_at = excluded.started_at, finished_at = excluded.finished_at, \
            missing = excluded.missing, stale = excluded.stale, \
            deleted_unannounced = excluded.deleted_unannounced, repaired = excluded.repaired, \
            error = excluded.error";
        for t in types {
            let statement = Statement::new(upsert)
                .bind(lease.portal_id)
                .bind(&t.object_type)
                .bind(t.watermark)
                .bind(t.started_at)
                .bind(t.finished_at)
                .bind(t.missing)
                .bind(t.stale)
                .bind(t.deleted_unannounced)
                .bind(t.repaired)
                .bind(&t.error);
            B::execute(&mut tx, statement).await?;
        }
        let next = "UPDATE reconciliations SET due_at = $1, lease_holder = NULL, \
            lease_until = NULL WHERE portal_id = $2";
        let statement = Statement::new(next).bind(next_due_ms).bind(lease.portal_id);
        B::execute(&mut tx, statement).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn renew_reconciliation(
        &self,
        lease: SyncLease<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let held = renew::<B>(&mut tx, LEASES, lease, now_ms).await?;
        B::commit(tx).await?;
        Ok(held)
    }

    async fn release_reconciliation(
        &self,
        holder: &str,
        portal_id: PortalId,
    ) -> Result<(), StoreError> {
        let release = "UPDATE reconciliations SET lease_holder = NULL, lease_until = NULL \
            WHERE portal_id = $1 AND lease_holder = $2";
        let statement = Statement::new(release).bind(portal_id).bind(holder);
        self.execute_on_pool(statement).await?;
        Ok(())
    }
}
