//! Erasing a portal: one store-wide operation over every table that holds the portal's
//! data. A new table with a `portal_id` column joins [`PORTAL_TABLES`], and erasing covers
//! it; only the audit trail stays, so the erase itself is on record.

use async_trait::async_trait;

use crate::StoreError;

/// Every table holding a portal's data, emptied in this order (the portal row last, since
/// others may refer to it).
pub(crate) const PORTAL_TABLES: [&str; 10] = [
    crate::inbox::TABLE,
    crate::mirror::TABLE,
    crate::sink_queue::TABLE,
    crate::statistics::WEBHOOK_TABLE,
    crate::statistics::API_TABLE,
    crate::statistics::DAILY_CALLS_TABLE,
    crate::alert_states::TABLE,
    crate::queue::LEASES_TABLE,
    crate::tokens::TABLE,
    crate::portals::TABLE,
];

#[async_trait]
pub trait Erasure: Send + Sync {
    /// Removes everything spoke holds for the portal in one transaction, and audits it;
    /// [`StoreError::NotFound`] if there was nothing.
    async fn erase(&self, portal_id: i64, actor: &str, now_ms: i64) -> Result<(), StoreError>;
}

/// What the audit entry of an erase says: how many events went with the portal.
pub(crate) fn detail(removed: &[(&str, u64)]) -> String {
    let events: u64 = removed
        .iter()
        .filter(|(table, _)| *table == crate::inbox::TABLE)
        .map(|(_, rows)| rows)
        .sum();
    format!("{events} events")
}

/// Expands the implementation in an engine module defining `FIRST_PARAMETER`; the
/// engine's `audit` module supplies `record`.
macro_rules! impl_erasure {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::Erasure for $store {
            async fn erase(
                &self,
                portal_id: i64,
                actor: &str,
                now_ms: i64,
            ) -> Result<(), crate::StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                let mut removed = Vec::with_capacity(crate::erase::PORTAL_TABLES.len());
                for table in crate::erase::PORTAL_TABLES {
                    let sql = format!("DELETE FROM {table} WHERE portal_id = {FIRST_PARAMETER}");
                    let rows = sqlx::query(&sql)
                        .bind(portal_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    removed.push((table, rows));
                }
                if removed.iter().all(|(_, rows)| *rows == 0) {
                    tx.rollback().await?;
                    return Err(crate::StoreError::NotFound);
                }
                let detail = crate::erase::detail(&removed);
                super::audit::record(&mut tx, now_ms, portal_id, "erased", actor, &detail).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_erasure;

#[cfg(test)]
mod tests {
    #[test]
    fn the_detail_counts_the_events_removed() {
        let removed = [("inbox_events", 3), ("portal_tokens", 1), ("portals", 1)];
        assert_eq!(super::detail(&removed), "3 events");
    }
}
