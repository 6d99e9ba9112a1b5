//! What backfill and reconciliation share: a worker's lease on a portal's sync work, renewed
//! together with the portal's calls lease (its hydration lease, held under the process's
//! hydrator: see `queue::hold_portal_calls`), so a portal's CRM calls come from one process
//! and one limiter across instances.

use crate::backend::{Backend, Statement};
use crate::queue::hold_portal_calls;
use crate::{PortalId, StoreError};

/// A worker's lease on a portal's backfill or reconciliation.
#[derive(Debug, Clone, Copy)]
pub struct SyncLease<'a> {
    /// The process's hydrator, as holder of the portal's calls.
    pub holder: &'a str,
    pub portal_id: PortalId,
    /// The lease runs until then (epoch ms); each renewal extends it to this.
    pub until_ms: i64,
}

/// A table of sync leases: its name, and what else a lease there must satisfy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeaseTable {
    pub(crate) name: &'static str,
    pub(crate) while_: &'static str,
}

/// Extends `lease` on `table` and on the portal's calls if its holder still has them;
/// whether it does. Locks the lease's row until the transaction ends.
pub(crate) async fn renew<B: Backend>(
    conn: &mut B::Conn,
    table: LeaseTable,
    lease: SyncLease<'_>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let calls = hold_portal_calls::<B>(conn, lease.portal_id, lease.holder, lease.until_ms, now_ms);
    if !calls.await? {
        return Ok(false);
    }
    let renew = format!(
        "UPDATE {} SET lease_until = $1 WHERE portal_id = $2 AND lease_holder = $3{}",
        table.name, table.while_
    );
    let statement = Statement::new(renew)
        .bind(lease.until_ms)
        .bind(lease.portal_id)
        .bind(lease.holder);
    Ok(B::execute(conn, statement).await? == 1)
}

/// The portal's state, locked against an erase until the transaction ends.
pub(crate) async fn portal_state<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
) -> Result<Option<String>, StoreError> {
    let state = format!(
        "SELECT state FROM portals WHERE portal_id = $1{}",
        B::FOR_SHARE
    );
    let row = B::fetch_optional::<(String,)>(conn, Statement::new(state).bind(portal_id)).await?;
    Ok(row.map(|(state,)| state))
}
