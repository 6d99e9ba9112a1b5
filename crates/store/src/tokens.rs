//! Sealed OAuth tokens, one pair per portal. The vault (in the server) seals and opens
//! them; here they are opaque bytes under a key id. Installs write them through
//! [`crate::Portals::record_install`], which uses this module's `UPSERT`.

use async_trait::async_trait;

use crate::{SealedTokens, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "portal_tokens";

#[async_trait]
pub trait Tokens: Send + Sync {
    async fn tokens(&self, portal_id: i64) -> Result<Option<SealedTokens>, StoreError>;

    /// Stores refreshed tokens and releases `holder`'s refresh lease.
    async fn store_refreshed(
        &self,
        portal_id: i64,
        holder: &str,
        tokens: &SealedTokens,
    ) -> Result<(), StoreError>;

    /// Installed portals whose access token expires before `before_ms`.
    async fn expiring_before(&self, before_ms: i64) -> Result<Vec<i64>, StoreError>;

    /// Up to `limit` portals whose tokens are sealed under another key than `key_id`.
    async fn sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: u32,
    ) -> Result<Vec<(i64, SealedTokens)>, StoreError>;

    /// Replaces tokens sealed under `old_key_id` with `tokens` (the same tokens, re-sealed);
    /// `false` if they changed meanwhile (a refresh got there first).
    async fn reseal(
        &self,
        portal_id: i64,
        old_key_id: &str,
        tokens: &SealedTokens,
    ) -> Result<bool, StoreError>;
}

/// A portal's id beside its tokens, as `sealed_with_other_keys` reads them.
#[derive(sqlx::FromRow)]
pub(crate) struct PortalTokens {
    pub(crate) portal_id: i64,
    #[sqlx(flatten)]
    pub(crate) tokens: SealedTokens,
}

/// Expands the implementation in an engine module defining `SELECT`, `STORE_REFRESHED`,
/// `EXPIRING`, `OTHER_KEYS` and `RESEAL`.
macro_rules! impl_tokens {
    ($store:ty) => {
        use crate::tokens::PortalTokens;
        use crate::{SealedTokens, StoreError};

        #[async_trait::async_trait]
        impl crate::Tokens for $store {
            async fn tokens(&self, portal_id: i64) -> Result<Option<SealedTokens>, StoreError> {
                Ok(sqlx::query_as(SELECT)
                    .bind(portal_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn store_refreshed(
                &self,
                portal_id: i64,
                holder: &str,
                t: &SealedTokens,
            ) -> Result<(), StoreError> {
                sqlx::query(STORE_REFRESHED)
                    .bind(&t.key_id)
                    .bind(&t.access)
                    .bind(&t.refresh)
                    .bind(t.access_expires_at)
                    .bind(t.issued_at)
                    .bind(portal_id)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn expiring_before(&self, before_ms: i64) -> Result<Vec<i64>, StoreError> {
                Ok(sqlx::query_scalar(EXPIRING)
                    .bind(before_ms)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn sealed_with_other_keys(
                &self,
                key_id: &str,
                limit: u32,
            ) -> Result<Vec<(i64, SealedTokens)>, StoreError> {
                let rows: Vec<PortalTokens> = sqlx::query_as(OTHER_KEYS)
                    .bind(key_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|r| (r.portal_id, r.tokens)).collect())
            }

            async fn reseal(
                &self,
                portal_id: i64,
                old_key_id: &str,
                t: &SealedTokens,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(RESEAL)
                    .bind(&t.key_id)
                    .bind(&t.access)
                    .bind(&t.refresh)
                    .bind(portal_id)
                    .bind(old_key_id)
                    .bind(t.access_expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_tokens;
