//! The record mirror: the latest snapshot of every record spoke hydrated, per portal and
//! object. It is written only as part of settling a hydration round
//! ([`crate::WorkQueue::settle`]), "newer wins" on HubSpot's `updatedAt` (a deletion counts
//! at its `occurredAt`), so a late or repeated event never overwrites newer data; this
//! trait reads it.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::StoreError;

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
    pub portal_id: i64,
    /// HubSpot's path name: `contacts`, `line_items`, …
    pub object_type: String,
    pub object_id: i64,
    /// `live`, `deleted`, `merged`, or `erased` (a privacy deletion: no properties).
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

#[async_trait]
pub trait Mirror: Send + Sync {
    async fn mirrored(
        &self,
        portal_id: i64,
        object_type: &str,
        object_id: i64,
    ) -> Result<Option<MirroredRecord>, StoreError>;

    /// Records held, per state.
    async fn record_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// The `updated_at` the mirror holds for each of `ids` it has.
    async fn last_modified(
        &self,
        portal_id: i64,
        object_type: &str,
        ids: &[i64],
    ) -> Result<HashMap<i64, i64>, StoreError>;
}

/// Expands the implementation in an engine module defining `SELECT`, `COUNTS`,
/// `LAST_MODIFIED` and `ids` (and, for settlements, `UPSERT` and `MARK_GONE`, which return
/// the row only when the mirror accepted the change).
macro_rules! impl_mirror {
    ($store:ty) => {
        use std::collections::HashMap;

        use crate::mirror::MirroredRecord;
        use crate::StoreError;

        #[async_trait::async_trait]
        impl crate::Mirror for $store {
            async fn mirrored(
                &self,
                portal_id: i64,
                object_type: &str,
                object_id: i64,
            ) -> Result<Option<MirroredRecord>, StoreError> {
                Ok(sqlx::query_as(SELECT)
                    .bind(portal_id)
                    .bind(object_type)
                    .bind(object_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn record_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as(COUNTS).fetch_all(&self.pool).await?)
            }

            async fn last_modified(
                &self,
                portal_id: i64,
                object_type: &str,
                list: &[i64],
            ) -> Result<HashMap<i64, i64>, StoreError> {
                let rows: Vec<(i64, i64)> = sqlx::query_as(LAST_MODIFIED)
                    .bind(portal_id)
                    .bind(object_type)
                    .bind(ids(list))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().collect())
            }
        }
    };
}

pub(crate) use impl_mirror;
