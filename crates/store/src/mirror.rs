//! The record mirror: the latest snapshot of every record spoke hydrated, per portal and
//! object. It is written only as part of settling a hydration round
//! ([`crate::WorkQueue::settle`]), "newer wins" on HubSpot's `updatedAt` (a deletion counts
//! at its `occurredAt`), so a late or repeated event never overwrites newer data; this
//! trait reads it.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::backend::{Backend, Bind, Statement};
use crate::{ObjectId, PortalId, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "records";

/// Why a record is no longer live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    Deleted,
    /// Merged into another record (the winner is fetched on its own).
    Merged,
}

impl Gone {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Merged => "merged",
        }
    }
}

/// A record as the mirror holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MirroredRecord {
    pub portal_id: PortalId,
    /// HubSpot's path name: `contacts`, `line_items`, …
    pub object_type: String,
    pub object_id: ObjectId,
    /// `live`, `deleted`, `merged`, or `erased` (a privacy deletion); only `live` has properties.
    pub state: String,
    /// The properties as HubSpot returned them, a JSON object.
    pub properties: String,
    /// HubSpot's `updatedAt` (or the deletion's `occurredAt`), epoch milliseconds.
    pub updated_at: i64,
    /// When spoke wrote it, epoch milliseconds.
    pub fetched_at: i64,
    /// The trace that fetched it, which the sinks delivering it continue; not kept in the
    /// mirror, so always `None` when read back.
    #[sqlx(skip)]
    pub trace: Option<String>,
}

/// A record deleted or merged away as of `at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneRecord {
    pub portal_id: PortalId,
    pub object_type: String,
    pub object_id: ObjectId,
    pub gone: Gone,
    pub at_ms: i64,
    /// The trace that found it gone, continued by the sinks.
    pub trace: Option<String>,
}

/// A record erased by a privacy deletion: see [`WorkQueue::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedRecord {
    pub portal_id: PortalId,
    /// HubSpot's path name (`contacts`), the object part of its legacy events (`contact`;
    /// `None` for types with generic events only), and the type id its generic events
    /// (`object.*`) carry in `objectTypeId` (`0-1`).
    pub object_type: String,
    pub singular: Option<String>,
    pub type_id: String,
    pub object_id: ObjectId,
    /// The trace of the privacy deletion's event, continued by the sinks.
    pub trace: Option<String>,
}

#[async_trait]
pub trait Mirror: Send + Sync {
    async fn mirrored(
        &self,
        portal_id: PortalId,
        object_type: &str,
        object_id: ObjectId,
    ) -> Result<Option<MirroredRecord>, StoreError>;

    /// Up to `limit` of a portal's records of one type, by id, those after `after`: a page
    /// of a listing whose cursor is the last id of the page before.
    async fn mirrored_page(
        &self,
        portal_id: PortalId,
        object_type: &str,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<Vec<MirroredRecord>, StoreError>;

    /// Records held, per state.
    async fn record_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// The `updated_at` the mirror holds for each of `ids` it has.
    async fn last_modified(
        &self,
        portal_id: PortalId,
        object_type: &str,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, i64>, StoreError>;

    /// The ids of a portal's live records of one type, in order.
    async fn live_ids(
        &self,
        portal_id: PortalId,
        object_type: &str,
    ) -> Result<Vec<ObjectId>, StoreError>;
}

/// Stores a fetched record as live unless the mirror holds a newer version; whether it did.
pub(crate) async fn store<B: Backend>(
    conn: &mut B::Conn,
    record: &MirroredRecord,
) -> Result<bool, StoreError> {
    let upsert = format!(
        "INSERT INTO records (portal_id, object_type, object_id, state, properties, updated_at, fetched_at) \
        VALUES ($1, $2, $3, 'live', {properties}, $5, {fetched}) \
        ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET state = 'live', \
        properties = excluded.properties, updated_at = excluded.updated_at, \
        fetched_at = excluded.fetched_at WHERE records.updated_at <= excluded.updated_at \
        RETURNING object_id",
        properties = B::json(4),
        fetched = B::at(6),
    );
    let statement = Statement::new(upsert)
        .bind(record.portal_id)
        .bind(&record.object_type)
        .bind(record.object_id)
        .bind(&record.properties)
        .bind(record.updated_at)
        .bind(record.fetched_at);
    Ok(B::fetch_optional::<(i64,)>(conn, statement)
        .await?
        .is_some())
}

/// Marks a record deleted or merged as of `at_ms` unless the mirror holds a newer version,
/// keeping no properties (a tombstone: id, state, version, when); whether it did.
pub(crate) async fn mark_gone<B: Backend>(
    conn: &mut B::Conn,
    gone: &GoneRecord,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let mark = format!(
        "INSERT INTO records (portal_id, object_type, object_id, state, properties, updated_at, fetched_at) \
        VALUES ($1, $2, $3, $4, '{{}}', $5, {}) \
        ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET state = excluded.state, \
        properties = excluded.properties, updated_at = excluded.updated_at, \
        fetched_at = excluded.fetched_at WHERE records.updated_at <= excluded.updated_at \
        RETURNING object_id",
        B::at(6)
    );
    let statement = Statement::new(mark)
        .bind(gone.portal_id)
        .bind(&gone.object_type)
        .bind(gone.object_id)
        .bind(gone.gone.as_str())
        .bind(gone.at_ms)
        .bind(now_ms);
    Ok(B::fetch_optional::<(i64,)>(conn, statement)
        .await?
        .is_some())
}

/// Leaves an `erased` tombstone without properties, newer than any version HubSpot can
/// send, so no late event fetches or restores the record.
pub(crate) async fn forget<B: Backend>(
    conn: &mut B::Conn,
    erased: &ErasedRecord,
    now_ms: i64,
) -> Result<(), StoreError> {
    let tombstone = format!(
        "INSERT INTO records (portal_id, object_type, object_id, state, properties, updated_at, fetched_at) \
        VALUES ($1, $2, $3, 'erased', '{{}}', {}, {}) \
        ON CONFLICT (portal_id, object_type, object_id) DO UPDATE SET state = 'erased', \
        properties = '{{}}', updated_at = excluded.updated_at, fetched_at = excluded.fetched_at",
        i64::MAX,
        B::at(4)
    );
    let statement = Statement::new(tombstone)
        .bind(erased.portal_id)
        .bind(&erased.object_type)
        .bind(erased.object_id)
        .bind(now_ms);
    B::execute(conn, statement).await?;
    Ok(())
}

/// A portal's records of one type (`$1`, `$2`), as [`MirroredRecord`]s.
fn select_records<B: Backend>() -> String {
    format!(
        "SELECT portal_id, object_type, object_id, state, {} AS properties, updated_at, \
        {} AS fetched_at FROM records WHERE portal_id = $1 AND object_type = $2",
        B::json_text("properties"),
        B::millis("fetched_at")
    )
}

#[async_trait]
impl<B: Backend> Mirror for B {
    async fn mirrored(
        &self,
        portal_id: PortalId,
        object_type: &str,
        object_id: ObjectId,
    ) -> Result<Option<MirroredRecord>, StoreError> {
        let select = format!("{} AND object_id = $3", select_records::<B>());
        let statement = Statement::new(select)
            .bind(portal_id)
            .bind(object_type)
            .bind(object_id);
        self.fetch_optional_on_pool(statement).await
    }

    async fn mirrored_page(
        &self,
        portal_id: PortalId,
        object_type: &str,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<Vec<MirroredRecord>, StoreError> {
        let select = format!(
            "{} AND object_id > $3 ORDER BY object_id LIMIT $4",
            select_records::<B>()
        );
        let statement = Statement::new(select)
            .bind(portal_id)
            .bind(object_type)
            .bind(after.map_or(i64::MIN, |id| id.0))
            .bind(i64::from(limit));
        self.fetch_all_on_pool(statement).await
    }

    async fn record_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let counts =
            Statement::new("SELECT state, count(*) FROM records GROUP BY state ORDER BY state");
        self.fetch_all_on_pool(counts).await
    }

    async fn last_modified(
        &self,
        portal_id: PortalId,
        object_type: &str,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, i64>, StoreError> {
        let select = format!(
            "SELECT object_id, updated_at FROM records \
            WHERE portal_id = $1 AND object_type = $2 AND {}",
            B::in_ids("object_id", 3)
        );
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let statement = Statement::new(select)
            .bind(portal_id)
            .bind(object_type)
            .bind(Bind::Ids(&ids));
        let rows: Vec<(ObjectId, i64)> = self.fetch_all_on_pool(statement).await?;
        Ok(rows.into_iter().collect())
    }

    async fn live_ids(
        &self,
        portal_id: PortalId,
        object_type: &str,
    ) -> Result<Vec<ObjectId>, StoreError> {
        let select = "SELECT object_id FROM records WHERE portal_id = $1 AND object_type = $2 \
            AND state = 'live' ORDER BY object_id";
        let statement = Statement::new(select).bind(portal_id).bind(object_type);
        let rows: Vec<(ObjectId,)> = self.fetch_all_on_pool(statement).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}
