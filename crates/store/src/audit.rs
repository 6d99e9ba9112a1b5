//! The audit trail: who did what to a portal, and when. Entries are written by the
//! operations they describe, inside those operations' transactions (through [`record`]);
//! this trait only reads.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{AuditEntry, PortalId, StoreError};

#[async_trait]
pub trait Audit: Send + Sync {
    /// A portal's entries, oldest first; they outlive an erase.
    async fn audit_trail(&self, portal_id: PortalId) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Appends an entry on `conn`, usually inside the transaction of the operation it records.
pub(crate) async fn record<B: Backend>(
    conn: &mut B::Conn,
    now_ms: i64,
    portal_id: PortalId,
    action: &str,
    actor: &str,
    detail: &str,
) -> Result<(), StoreError> {
    let insert = format!(
        "INSERT INTO audit_log (at, portal_id, action, actor, detail) VALUES ({}, $2, $3, $4, $5)",
        B::at(1)
    );
    let statement = Statement::new(insert)
        .bind(now_ms)
        .bind(portal_id)
        .bind(action)
        .bind(actor)
        .bind(detail);
    B::execute(conn, statement).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> Audit for B {
    async fn audit_trail(&self, portal_id: PortalId) -> Result<Vec<AuditEntry>, StoreError> {
        let trail = format!(
            "SELECT {} AS at, portal_id, action, actor, detail FROM audit_log \
            WHERE portal_id = $1 ORDER BY id",
            B::millis("at")
        );
        self.fetch_all_on_pool(Statement::new(trail).bind(portal_id))
            .await
    }
}
