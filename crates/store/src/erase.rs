//! Erasing a portal: one store-wide operation over every table that holds the portal's
//! data. A new table with a `portal_id` column joins [`PORTAL_TABLES`], and erasing covers
//! it; only the audit trail stays, so the erase itself is on record, and the portal's id in
//! `erased_portals` until it installs again: a hydration round or monitor counts in flight
//! when it was erased write nothing of it afterwards (see `WorkQueue::settle`,
//! `Statistics::add_counts`).

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{audit, PortalId, StoreError};

/// Every table holding a portal's data, emptied in this order (the portal row last, since
/// others may refer to it).
pub(crate) const PORTAL_TABLES: [&str; 16] = [
    crate::queue::QUEUE_TABLE,
    crate::inbox::TABLE,
    crate::mirror::TABLE,
    crate::associations::TABLE,
    crate::backfills::TYPES_TABLE,
    crate::backfills::TABLE,
    crate::reconciliations::TYPES_TABLE,
    crate::reconciliations::TABLE,
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
    async fn erase(&self, portal_id: PortalId, actor: &str, now_ms: i64) -> Result<(), StoreError>;
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

#[async_trait]
impl<B: Backend> Erasure for B {
    async fn erase(&self, portal_id: PortalId, actor: &str, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The portal's row first: a settlement in flight finishes before, or sees it gone.
        let lock = format!(
            "SELECT portal_id FROM portals WHERE portal_id = $1{}",
            B::FOR_UPDATE
        );
        B::fetch_optional::<(PortalId,)>(&mut tx, Statement::new(lock).bind(portal_id)).await?;
        let mut removed = Vec::with_capacity(PORTAL_TABLES.len());
        for table in PORTAL_TABLES {
            let delete = format!("DELETE FROM {table} WHERE portal_id = $1");
            let rows = B::execute(&mut tx, Statement::new(delete).bind(portal_id)).await?;
            removed.push((table, rows));
        }
        if removed.iter().all(|(_, rows)| *rows == 0) {
            return Err(StoreError::NotFound);
        }
        // Remembered until it installs again, so nothing in flight brings it back.
        let remember = format!(
            "INSERT INTO erased_portals (portal_id, erased_at) VALUES ($1, {}) \
            ON CONFLICT (portal_id) DO UPDATE SET erased_at = excluded.erased_at",
            B::at(2)
        );
        B::execute(
            &mut tx,
            Statement::new(remember).bind(portal_id).bind(now_ms),
        )
        .await?;
        audit::record::<B>(
            &mut tx,
            now_ms,
            portal_id,
            "erased",
            actor,
            &detail(&removed),
        )
        .await?;
        B::commit(tx).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_detail_counts_the_events_removed() {
        let removed = [("inbox_events", 3), ("portal_tokens", 1), ("portals", 1)];
        assert_eq!(super::detail(&removed), "3 events");
    }
}
