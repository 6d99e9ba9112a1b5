//! Backfill requests and their progress: which portals have records to read from HubSpot's
//! list API, which worker leases each (one at a time across instances), and each type's
//! cursor. A page's records are written through the hydrator's path (newer wins, each
//! accepted change queued for the sinks) in the transaction that moves its type's cursor,
//! so whatever stops a backfill, it resumes after the last page written and reads no page
//! into the mirror twice.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::queue::hold_portal_calls;
use crate::settle::{write_records, Writable};
use crate::sync_leases::{portal_state, renew, LeaseTable, SyncLease};
use crate::{MirroredRecord, PortalId, PortalState, Settlement, StoreError};

/// The tables' names, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "backfills";
pub(crate) const TYPES_TABLE: &str = "backfill_types";

/// What a request for a backfill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// A new backfill is due.
    Started,
    /// One is pending or running: it goes on, and the request adds nothing.
    AlreadyRunning,
}

/// A portal's latest backfill.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Backfill {
    pub portal_id: PortalId,
    pub requested_at: i64,
    /// The one type asked for; `None`: every hydrated type.
    pub only_type: Option<String>,
    /// When a worker began it; `None` while it waits for one.
    pub started_at: Option<i64>,
    /// When every type was read; `None` while it is pending or running.
    pub finished_at: Option<i64>,
}

/// One type's progress in a portal's backfill.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BackfillType {
    pub object_type: String,
    /// The cursor of the next page; `None`: the first (or, once done, none left).
    pub next_after: Option<String>,
    /// Records read so far.
    pub read: i64,
    /// HubSpot's count of the type's records, when known.
    pub total: Option<i64>,
    pub done_at: Option<i64>,
    /// Why the type could not be read (it is done, with what it read).
    pub error: Option<String>,
    pub updated_at: i64,
}

/// A page read: its records, and where the type's reading stands after it.
#[derive(Debug, Clone, Default)]
pub struct BackfillPage {
    pub records: Vec<MirroredRecord>,
    /// The next page's cursor; `None`: the type is done.
    pub next_after: Option<String>,
    /// The sinks each change the mirror accepts is queued for.
    pub sinks: Vec<String>,
}

#[async_trait]
pub trait Backfills: Send + Sync {
    /// Asks for a backfill of every hydrated type, or of `only_type`; a pending or running
    /// one is left to go on ([`Requested::AlreadyRunning`]). [`StoreError::NotFound`] for a
    /// portal spoke does not know.
    async fn request_backfill(
        &self,
        portal_id: PortalId,
        only_type: Option<&str>,
        now_ms: i64,
    ) -> Result<Requested, StoreError>;

    /// Leases up to `limit` installed portals' unfinished backfills whose lease is free (or
    /// `holder`'s own) until `until_ms`.
    async fn lease_backfills(
        &self,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<Backfill>, StoreError>;

    /// Begins a leased backfill not yet begun with the types to read, each from its first
    /// page; a begun one keeps its types. `false` if the lease was lost.
    async fn begin_backfill(
        &self,
        lease: SyncLease<'_>,
        types: &[String],
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Writes a page of `object_type`'s records (while the portal is installed) and moves
    /// the type's cursor; the last type done finishes the backfill and frees its lease.
    /// `false`, writing nothing, if the lease was lost.
    async fn write_backfill_page(
        &self,
        lease: SyncLease<'_>,
        object_type: &str,
        page: &BackfillPage,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Ends a type that cannot be read (a scope not granted, a type HubSpot does not know)
    /// with the reason, as [`Backfills::write_backfill_page`] ends one read to its end.
    async fn abandon_backfill_type(
        &self,
        lease: SyncLease<'_>,
        object_type: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Keeps HubSpot's count of a type's records, for its progress.
    async fn set_backfill_total(
        &self,
        portal_id: PortalId,
        object_type: &str,
        total: i64,
    ) -> Result<(), StoreError>;

    /// Extends the lease while work goes on; `false` if it was lost.
    async fn renew_backfill(&self, lease: SyncLease<'_>, now_ms: i64) -> Result<bool, StoreError>;

    /// Frees `holder`'s lease: for any worker at once (it stops), or from `retry_at_ms`
    /// (it failed and waits).
    async fn release_backfill(
        &self,
        holder: &str,
        portal_id: PortalId,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError>;

    /// A portal's latest backfill and its types' progress.
    async fn backfill(
        &self,
        portal_id: PortalId,
    ) -> Result<Option<(Backfill, Vec<BackfillType>)>, StoreError>;
}

const BACKFILL_COLUMNS: &str = "portal_id, requested_at, only_type, started_at, finished_at";
const TYPE_COLUMNS: &str = "object_type, next_after, read, total, done_at, error, updated_at";

/// Asks for a backfill within a transaction. An install starts one afresh (`restart`)
/// even if one runs: changes made while the portal was uninstalled were never notified,
/// and it may grant other types.
pub(crate) async fn request<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
    only_type: Option<&str>,
    now_ms: i64,
    restart: bool,
) -> Result<Requested, StoreError> {
    let running = Statement::new(
        "SELECT portal_id FROM backfills WHERE portal_id = $1 AND finished_at IS NULL",
    )
    .bind(portal_id);
    let runs = B::fetch_optional::<(PortalId,)>(conn, running)
        .await?
        .is_some();
    if runs && !restart {
        return Ok(Requested::AlreadyRunning);
    }
    let upsert = "INSERT INTO backfills (portal_id, requested_at, only_type) VALUES ($1, $2, $3) \
        ON CONFLICT (portal_id) DO UPDATE SET requested_at = excluded.requested_at, \
        only_type = excluded.only_type, started_at = NULL, finished_at = NULL, \
        lease_holder = NULL, lease_until = NULL";
    let statement = Statement::new(upsert)
        .bind(portal_id)
        .bind(now_ms)
        .bind(only_type);
    B::execute(conn, statement).await?;
    Ok(Requested::Started)
}

/// The backfills' leases: only unfinished ones are held.
const LEASES: LeaseTable = LeaseTable {
    name: TABLE,
    while_: " AND finished_at IS NULL",
};

/// Moves a type's cursor, and finishes the backfill when no type is left.
async fn advance<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
    object_type: &str,
    (read, next_after, error): (usize, Option<&str>, Option<&str>),
    now_ms: i64,
) -> Result<(), StoreError> {
    let done = next_after.is_none().then_some(now_ms);
    let update = "UPDATE backfill_types SET read = read + $1, next_after = $2, done_at = $3, \
        error = $4, updated_at = $5 WHERE portal_id = $6 AND object_type = $7";
    let statement = Statement::new(update)
        .bind(i64::try_from(read).unwrap_or(i64::MAX))
        .bind(next_after)
        .bind(done)
        .bind(error)
        .bind(now_ms)
        .bind(portal_id)
        .bind(object_type);
    B::execute(conn, statement).await?;
    let finish = "UPDATE backfills SET finished_at = $1, lease_holder = NULL, lease_until = NULL \
        WHERE portal_id = $2 AND NOT EXISTS \
        (SELECT 1 FROM backfill_types WHERE portal_id = $2 AND done_at IS NULL)";
    B::execute(conn, Statement::new(finish).bind(now_ms).bind(portal_id)).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> Backfills for B {
    async fn request_backfill(
        &self,
        portal_id: PortalId,
        only_type: Option<&str>,
        now_ms: i64,
    ) -> Result<Requested, StoreError> {
        let mut tx = self.begin_write().await?;
        if portal_state::<B>(&mut tx, portal_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let requested = request::<B>(&mut tx, portal_id, only_type, now_ms, false).await?;
        B::commit(tx).await?;
        Ok(requested)
    }

    async fn lease_backfills(
        &self,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<Backfill>, StoreError> {
        let mut tx = self.begin_write().await?;
        let due = format!(
            "SELECT portal_id FROM backfills WHERE finished_at IS NULL \
            AND portal_id IN (SELECT portal_id FROM portals WHERE state = 'installed') \
            AND (lease_until IS NULL OR lease_until <= $1 OR lease_holder = $2) \
            ORDER BY requested_at, portal_id LIMIT $3{}",
            B::SKIP_LOCKED
        );
        let statement = Statement::new(due)
            .bind(now_ms)
            .bind(holder)
            .bind(i64::from(limit));
        let due: Vec<(PortalId,)> = B::fetch_all(&mut tx, statement).await?;
        let mut leased = Vec::with_capacity(due.len());
        for (portal_id,) in due {
            // A portal whose calls another process makes now waits for its lease.
            if !hold_portal_calls::<B>(&mut tx, portal_id, holder, until_ms, now_ms).await? {
                continue;
            }
            let take = format!(
                "UPDATE backfills SET lease_holder = $1, lease_until = $2 WHERE portal_id = $3 \
                RETURNING {BACKFILL_COLUMNS}"
            );
            let statement = Statement::new(take)
                .bind(holder)
                .bind(until_ms)
                .bind(portal_id);
            leased.extend(B::fetch_optional::<Backfill>(&mut tx, statement).await?);
        }
        B::commit(tx).await?;
        Ok(leased)
    }

    async fn begin_backfill(
        &self,
        lease: SyncLease<'_>,
        types: &[String],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if !renew::<B>(&mut tx, LEASES, lease, now_ms).await? {
            return Ok(false);
        }
        let begin =
            "UPDATE backfills SET started_at = $1 WHERE portal_id = $2 AND started_at IS NULL";
        let statement = Statement::new(begin).bind(now_ms).bind(lease.portal_id);
        if B::execute(&mut tx, statement).await? == 1 {
            let forget = "DELETE FROM backfill_types WHERE portal_id = $1";
            B::execute(&mut tx, Statement::new(forget).bind(lease.portal_id)).await?;
            let insert = "INSERT INTO backfill_types (portal_id, object_type, read, updated_at) \
                VALUES ($1, $2, 0, $3)";
            for object_type in types {
                let statement = Statement::new(insert)
                    .bind(lease.portal_id)
                    .bind(object_type)
                    .bind(now_ms);
                B::execute(&mut tx, statement).await?;
            }
            // Nothing to read is done at once.
            let finish = "UPDATE backfills SET finished_at = $1, lease_holder = NULL, \
                lease_until = NULL WHERE portal_id = $2 AND NOT EXISTS \
                (SELECT 1 FROM backfill_types WHERE portal_id = $2)";
            let statement = Statement::new(finish).bind(now_ms).bind(lease.portal_id);
            B::execute(&mut tx, statement).await?;
        }
        B::commit(tx).await?;
        Ok(true)
    }

    async fn write_backfill_page(
        &self,
        lease: SyncLease<'_>,
        object_type: &str,
        page: &BackfillPage,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // A portal no longer installed writes nothing, and its cursor stays: an install
        // starts its backfill afresh.
        let state = portal_state::<B>(&mut tx, lease.portal_id).await?;
        let Some(state) = state.filter(|s| s == PortalState::Installed.as_str()) else {
            return Ok(false);
        };
        if !renew::<B>(&mut tx, LEASES, lease, now_ms).await? {
            return Ok(false);
        }
        let writable = Writable::of_portal(lease.portal_id, &state);
        let settlement = Settlement {
            records: page.records.clone(),
            sinks: page.sinks.clone(),
            ..Settlement::default()
        };
        write_records::<B>(&mut tx, &settlement, &writable, now_ms).await?;
        let read = page.records.len();
        let progress = (read, page.next_after.as_deref(), None);
        advance::<B>(&mut tx, lease.portal_id, object_type, progress, now_ms).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn abandon_backfill_type(
        &self,
        lease: SyncLease<'_>,
        object_type: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if !renew::<B>(&mut tx, LEASES, lease, now_ms).await? {
            return Ok(false);
        }
        let progress = (0, None, Some(error));
        advance::<B>(&mut tx, lease.portal_id, object_type, progress, now_ms).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn set_backfill_total(
        &self,
        portal_id: PortalId,
        object_type: &str,
        total: i64,
    ) -> Result<(), StoreError> {
        let set = "UPDATE backfill_types SET total = $1 WHERE portal_id = $2 AND object_type = $3";
        let statement = Statement::new(set)
            .bind(total)
            .bind(portal_id)
            .bind(object_type);
        self.execute_on_pool(statement).await?;
        Ok(())
    }

    async fn renew_backfill(&self, lease: SyncLease<'_>, now_ms: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let held = renew::<B>(&mut tx, LEASES, lease, now_ms).await?;
        B::commit(tx).await?;
        Ok(held)
    }

    async fn release_backfill(
        &self,
        holder: &str,
        portal_id: PortalId,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let release = "UPDATE backfills SET lease_holder = NULL, lease_until = $1 \
            WHERE portal_id = $2 AND lease_holder = $3";
        let statement = Statement::new(release)
            .bind(retry_at_ms)
            .bind(portal_id)
            .bind(holder);
        self.execute_on_pool(statement).await?;
        Ok(())
    }

    async fn backfill(
        &self,
        portal_id: PortalId,
    ) -> Result<Option<(Backfill, Vec<BackfillType>)>, StoreError> {
        let backfill = format!("SELECT {BACKFILL_COLUMNS} FROM backfills WHERE portal_id = $1");
        let Some(backfill) = self
            .fetch_optional_on_pool::<Backfill>(Statement::new(backfill).bind(portal_id))
            .await?
        else {
            return Ok(None);
        };
        let types = format!(
            "SELECT {TYPE_COLUMNS} FROM backfill_types WHERE portal_id = $1 ORDER BY object_type"
        );
        let types = self
            .fetch_all_on_pool::<BackfillType>(Statement::new(types).bind(portal_id))
            .await?;
        Ok(Some((backfill, types)))
    }
}
