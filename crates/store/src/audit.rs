//! The audit trail: who did what to a portal, and when. Entries are written by the
//! operations they describe, inside those operations' transactions (through the `record`
//! function each engine's `audit` module gets from [`impl_audit!`]); this trait only reads.

use async_trait::async_trait;

use crate::{AuditEntry, StoreError};

#[async_trait]
pub trait Audit: Send + Sync {
    /// A portal's entries, oldest first; they outlive an erase.
    async fn audit_trail(&self, portal_id: i64) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Expands, in an engine's `audit` module (which defines `INSERT` and `TRAIL`), the
/// [`Audit`] implementation and `record`, which writes one entry on a connection that is
/// usually inside the caller's transaction.
macro_rules! impl_audit {
    ($store:ty, $db:ty) => {
        use crate::{AuditEntry, StoreError};

        /// Appends an entry on `conn`.
        pub(crate) async fn record(
            conn: &mut <$db as sqlx::Database>::Connection,
            now_ms: i64,
            portal_id: i64,
            action: &str,
            actor: &str,
            detail: &str,
        ) -> Result<(), StoreError> {
            sqlx::query(INSERT)
                .bind(now_ms)
                .bind(portal_id)
                .bind(action)
                .bind(actor)
                .bind(detail)
                .execute(conn)
                .await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl crate::Audit for $store {
            async fn audit_trail(&self, portal_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
                Ok(sqlx::query_as(TRAIL)
                    .bind(portal_id)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }
    };
}

pub(crate) use impl_audit;
