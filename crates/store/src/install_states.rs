//! OAuth `state` nonces already used, so a replayed install callback is refused on every
//! instance sharing the database.

use async_trait::async_trait;

use crate::StoreError;

#[async_trait]
pub trait InstallStates: Send + Sync {
    /// Records an OAuth `state` nonce as used; `false` if it was used before (a replay).
    /// Forgets nonces whose expiry has passed.
    async fn use_install_state(
        &self,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// Expands the implementation in an engine module defining `FORGET` and `USE`.
macro_rules! impl_install_states {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::InstallStates for $store {
            async fn use_install_state(
                &self,
                nonce: &str,
                expires_at_ms: i64,
                now_ms: i64,
            ) -> Result<bool, crate::StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                sqlx::query(FORGET).bind(now_ms).execute(&mut *tx).await?;
                let fresh = sqlx::query(USE)
                    .bind(nonce)
                    .bind(expires_at_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                tx.commit().await?;
                Ok(fresh)
            }
        }
    };
}

pub(crate) use impl_install_states;
