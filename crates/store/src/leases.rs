//! The refresh lease: across instances sharing a database, one refresh of a portal's
//! tokens at a time. The lease lives on the portal's token row; storing refreshed tokens
//! ([`crate::Tokens::store_refreshed`]) releases it.

use async_trait::async_trait;

use crate::StoreError;

#[async_trait]
pub trait RefreshLeases: Send + Sync {
    /// Takes the right to refresh a portal's tokens until `until_ms`, unless another
    /// holder's lease is still running.
    async fn lease_refresh(
        &self,
        portal_id: i64,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Releases `holder`'s lease after a refresh that failed for now; counts the failure.
    async fn refresh_failed(&self, portal_id: i64, holder: &str) -> Result<(), StoreError>;
}

/// Expands the implementation in an engine module defining `LEASE` and `RELEASE_FAILED`.
macro_rules! impl_refresh_leases {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::RefreshLeases for $store {
            async fn lease_refresh(
                &self,
                portal_id: i64,
                holder: &str,
                until_ms: i64,
                now_ms: i64,
            ) -> Result<bool, crate::StoreError> {
                let done = sqlx::query(LEASE)
                    .bind(holder)
                    .bind(until_ms)
                    .bind(portal_id)
                    .bind(now_ms)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn refresh_failed(
                &self,
                portal_id: i64,
                holder: &str,
            ) -> Result<(), crate::StoreError> {
                sqlx::query(RELEASE_FAILED)
                    .bind(portal_id)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_refresh_leases;
