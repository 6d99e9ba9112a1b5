//! Sealed OAuth tokens, one pair per portal. The vault (in the server) seals and opens
//! them; here they are opaque bytes under a key id. Installs write them through
//! [`crate::Portals::record_install`], which uses this module's [`replace`].

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{PortalId, SealedTokens, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "portal_tokens";

#[async_trait]
pub trait Tokens: Send + Sync {
    async fn tokens(&self, portal_id: PortalId) -> Result<Option<SealedTokens>, StoreError>;

    /// Stores refreshed tokens and releases `holder`'s refresh lease.
    async fn store_refreshed(
        &self,
        portal_id: PortalId,
        holder: &str,
        tokens: &SealedTokens,
    ) -> Result<(), StoreError>;

    /// Installed portals whose access token expires before `before_ms`.
    async fn expiring_before(&self, before_ms: i64) -> Result<Vec<PortalId>, StoreError>;

    /// Up to `limit` portals whose tokens are sealed under another key than `key_id`.
    async fn sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: u32,
    ) -> Result<Vec<(PortalId, SealedTokens)>, StoreError>;

    /// Replaces tokens sealed under `old_key_id` with `tokens` (the same tokens, re-sealed);
    /// `false` if they changed meanwhile (a refresh got there first).
    async fn reseal(
        &self,
        portal_id: PortalId,
        old_key_id: &str,
        tokens: &SealedTokens,
    ) -> Result<bool, StoreError>;
}

/// A portal's id beside its tokens, as `sealed_with_other_keys` reads them.
#[derive(sqlx::FromRow)]
pub(crate) struct PortalTokens {
    pub(crate) portal_id: PortalId,
    #[sqlx(flatten)]
    pub(crate) tokens: SealedTokens,
}

/// Stores a portal's tokens in place of any it had, inside an install's transaction; the
/// refresh lease and failures start again.
pub(crate) async fn replace<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
    t: &SealedTokens,
) -> Result<(), StoreError> {
    let upsert = format!(
        "INSERT INTO portal_tokens \
        (portal_id, key_id, access_sealed, refresh_sealed, access_expires_at, refreshed_at) \
        VALUES ($1, $2, $3, $4, {expires}, {issued}) \
        ON CONFLICT (portal_id) DO UPDATE SET key_id = excluded.key_id, \
        access_sealed = excluded.access_sealed, refresh_sealed = excluded.refresh_sealed, \
        access_expires_at = excluded.access_expires_at, refreshed_at = excluded.refreshed_at, \
        refresh_failures = 0, lease_holder = NULL, lease_until = NULL",
        expires = B::at(5),
        issued = B::at(6),
    );
    let statement = Statement::new(upsert)
        .bind(portal_id)
        .bind(&t.key_id)
        .bind(&t.access)
        .bind(&t.refresh)
        .bind(t.access_expires_at)
        .bind(t.issued_at);
    B::execute(conn, statement).await?;
    Ok(())
}

/// Drops a portal's tokens, inside the transaction that retires it.
pub(crate) async fn delete<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
) -> Result<(), StoreError> {
    let statement =
        Statement::new("DELETE FROM portal_tokens WHERE portal_id = $1").bind(portal_id);
    B::execute(conn, statement).await?;
    Ok(())
}

/// The sealed token columns as [`SealedTokens`] reads them.
fn sealed_columns<B: Backend>() -> String {
    format!(
        "key_id, access_sealed AS access, refresh_sealed AS refresh, {} AS issued_at, \
        {} AS access_expires_at",
        B::millis("refreshed_at"),
        B::millis("access_expires_at")
    )
}

#[async_trait]
impl<B: Backend> Tokens for B {
    async fn tokens(&self, portal_id: PortalId) -> Result<Option<SealedTokens>, StoreError> {
        let select = format!(
            "SELECT {} FROM portal_tokens WHERE portal_id = $1",
            sealed_columns::<B>()
        );
        self.fetch_optional_on_pool(Statement::new(select).bind(portal_id))
            .await
    }

    async fn store_refreshed(
        &self,
        portal_id: PortalId,
        holder: &str,
        t: &SealedTokens,
    ) -> Result<(), StoreError> {
        let update = format!(
            "UPDATE portal_tokens SET key_id = $1, access_sealed = $2, refresh_sealed = $3, \
            access_expires_at = {expires}, refreshed_at = {issued}, refresh_failures = 0, \
            lease_holder = NULL, lease_until = NULL \
            WHERE portal_id = $6 AND (lease_holder IS NULL OR lease_holder = $7)",
            expires = B::at(4),
            issued = B::at(5),
        );
        let statement = Statement::new(update)
            .bind(&t.key_id)
            .bind(&t.access)
            .bind(&t.refresh)
            .bind(t.access_expires_at)
            .bind(t.issued_at)
            .bind(portal_id)
            .bind(holder);
        self.execute_on_pool(statement).await?;
        Ok(())
    }

    async fn expiring_before(&self, before_ms: i64) -> Result<Vec<PortalId>, StoreError> {
        let expiring = format!(
            "SELECT t.portal_id FROM portal_tokens t JOIN portals p ON p.portal_id = t.portal_id \
            WHERE p.state = 'installed' AND t.access_expires_at < {} ORDER BY t.access_expires_at",
            B::at(1)
        );
        let rows: Vec<(PortalId,)> = self
            .fetch_all_on_pool(Statement::new(expiring).bind(before_ms))
            .await?;
        Ok(rows.into_iter().map(|(portal,)| portal).collect())
    }

    async fn sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: u32,
    ) -> Result<Vec<(PortalId, SealedTokens)>, StoreError> {
        let other_keys = format!(
            "SELECT portal_id, {} FROM portal_tokens WHERE key_id <> $1 LIMIT $2",
            sealed_columns::<B>()
        );
        let statement = Statement::new(other_keys).bind(key_id).bind(limit);
        let rows: Vec<PortalTokens> = self.fetch_all_on_pool(statement).await?;
        Ok(rows.into_iter().map(|r| (r.portal_id, r.tokens)).collect())
    }

    async fn reseal(
        &self,
        portal_id: PortalId,
        old_key_id: &str,
        t: &SealedTokens,
    ) -> Result<bool, StoreError> {
        let reseal = format!(
            "UPDATE portal_tokens SET key_id = $1, access_sealed = $2, refresh_sealed = $3 \
            WHERE portal_id = $4 AND key_id = $5 AND access_expires_at = {}",
            B::at(6)
        );
        let statement = Statement::new(reseal)
            .bind(&t.key_id)
            .bind(&t.access)
            .bind(&t.refresh)
            .bind(portal_id)
            .bind(old_key_id)
            .bind(t.access_expires_at);
        Ok(self.execute_on_pool(statement).await? == 1)
    }
}
