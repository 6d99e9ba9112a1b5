//! The refresh lease: across instances sharing a database, one refresh of a portal's
//! tokens at a time. The lease lives on the portal's token row; storing refreshed tokens
//! ([`crate::Tokens::store_refreshed`]) releases it.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{PortalId, StoreError};

#[async_trait]
pub trait RefreshLeases: Send + Sync {
    /// Takes the right to refresh a portal's tokens until `until_ms`, unless another
    /// holder's lease is still running.
    async fn lease_refresh(
        &self,
        portal_id: PortalId,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Releases `holder`'s lease after a refresh that failed for now; counts the failure.
    async fn refresh_failed(&self, portal_id: PortalId, holder: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl<B: Backend> RefreshLeases for B {
    async fn lease_refresh(
        &self,
        portal_id: PortalId,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let lease = format!(
            "UPDATE portal_tokens SET lease_holder = $1, lease_until = {until} \
            WHERE portal_id = $3 AND (lease_until IS NULL OR lease_until <= {now} OR lease_holder = $1)",
            until = B::at(2),
            now = B::at(4),
        );
        let statement = Statement::new(lease)
            .bind(holder)
            .bind(until_ms)
            .bind(portal_id)
            .bind(now_ms);
        Ok(self.execute_on_pool(statement).await? == 1)
    }

    async fn refresh_failed(&self, portal_id: PortalId, holder: &str) -> Result<(), StoreError> {
        let statement = Statement::new(
            "UPDATE portal_tokens SET refresh_failures = refresh_failures + 1, \
            lease_holder = NULL, lease_until = NULL WHERE portal_id = $1 AND lease_holder = $2",
        )
        .bind(portal_id)
        .bind(holder);
        self.execute_on_pool(statement).await?;
        Ok(())
    }
}
