//! Portals that installed the app and where each stands (installed, needs re-authorisation,
//! uninstalled). Every change of state writes its audit entry in the same transaction.

use async_trait::async_trait;

use crate::{Install, Portal, PortalState, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "portals";

#[async_trait]
pub trait Portals: Send + Sync {
    /// Stores an install or reinstall: the portal as installed (a pending re-authorisation
    /// cleared), its tokens replaced, its quarantined events released as work, an audit
    /// entry. Returns whether it was a reinstall.
    async fn record_install(
        &self,
        install: &Install,
        actor: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    async fn portal(&self, portal_id: i64) -> Result<Option<Portal>, StoreError>;

    /// Every portal spoke knows, by id.
    async fn portals(&self) -> Result<Vec<Portal>, StoreError>;

    /// HubSpot refused the refresh token: tokens dropped, portal marked, audit entry.
    async fn mark_needs_reauth(
        &self,
        portal_id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// The app is gone from the portal: tokens erased, portal marked, audit entry.
    async fn record_uninstall(
        &self,
        portal_id: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// A portal as both engines read it (joined with its token expiry).
#[derive(sqlx::FromRow)]
pub(crate) struct PortalRow {
    portal_id: i64,
    state: String,
    hub_domain: Option<String>,
    app_id: Option<i64>,
    scopes: String,
    installer_id: Option<i64>,
    installer_email: Option<String>,
    reauth_reason: Option<String>,
    installed_at: i64,
    updated_at: i64,
    access_expires_at: Option<i64>,
}

impl TryFrom<PortalRow> for Portal {
    type Error = StoreError;

    fn try_from(row: PortalRow) -> Result<Self, StoreError> {
        Ok(Self {
            portal_id: row.portal_id,
            state: PortalState::try_from(row.state)?,
            hub_domain: row.hub_domain,
            app_id: row.app_id,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            installer_id: row.installer_id,
            installer_email: row.installer_email,
            reauth_reason: row.reauth_reason,
            installed_at: row.installed_at,
            updated_at: row.updated_at,
            access_expires_at: row.access_expires_at,
        })
    }
}

/// A portal leaving the installed state: what changes, and how the audit says it.
pub(crate) struct Retirement<'a> {
    pub(crate) state: PortalState,
    pub(crate) reason: Option<&'a str>,
    pub(crate) action: &'static str,
    pub(crate) actor: &'a str,
}

/// Expands the implementation in an engine module defining `EXISTS`, `UPSERT`, `SELECT`
/// (without a `WHERE`), `BY_ID` (a `WHERE` on the first parameter) and `SET_STATE`; the
/// engine's `tokens` and `audit` modules supply the token statements and `record`.
macro_rules! impl_portals {
    ($store:ty, $db:ty) => {
        use crate::portals::{PortalRow, Retirement};
        use crate::{Install, Portal, PortalState, StoreError};

        use super::audit;
        use super::queue;
        use super::tokens;

        /// Sets the state, drops the tokens and audits, in one transaction.
        async fn retire(
            pool: &sqlx::Pool<$db>,
            portal_id: i64,
            change: Retirement<'_>,
            now_ms: i64,
        ) -> Result<(), StoreError> {
            let mut tx = super::begin(pool).await?;
            let changed = sqlx::query(SET_STATE)
                .bind(change.state.as_str())
                .bind(change.reason)
                .bind(now_ms)
                .bind(portal_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                tx.rollback().await?;
                return Err(StoreError::NotFound);
            }
            sqlx::query(tokens::DELETE)
                .bind(portal_id)
                .execute(&mut *tx)
                .await?;
            let detail = change.reason.unwrap_or_default();
            audit::record(
                &mut tx,
                now_ms,
                portal_id,
                change.action,
                change.actor,
                detail,
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl crate::Portals for $store {
            async fn record_install(
                &self,
                install: &Install,
                actor: &str,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                let known: i64 = sqlx::query_scalar(EXISTS)
                    .bind(install.portal_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let scopes = install.scopes.join(" ");
                sqlx::query(UPSERT)
                    .bind(install.portal_id)
                    .bind(&install.hub_domain)
                    .bind(install.app_id)
                    .bind(&scopes)
                    .bind(install.installer_id)
                    .bind(&install.installer_email)
                    .bind(now_ms)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                let t = &install.tokens;
                sqlx::query(tokens::UPSERT)
                    .bind(install.portal_id)
                    .bind(&t.key_id)
                    .bind(&t.access)
                    .bind(&t.refresh)
                    .bind(t.access_expires_at)
                    .bind(t.issued_at)
                    .execute(&mut *tx)
                    .await?;
                // Events that came before the install (or while it lapsed) become work.
                sqlx::query(queue::RELEASE_QUARANTINED)
                    .bind(install.portal_id)
                    .execute(&mut *tx)
                    .await?;
                let action = if known > 0 {
                    "reinstalled"
                } else {
                    "installed"
                };
                audit::record(&mut tx, now_ms, install.portal_id, action, actor, &scopes).await?;
                tx.commit().await?;
                Ok(known > 0)
            }

            async fn portal(&self, portal_id: i64) -> Result<Option<Portal>, StoreError> {
                let row: Option<PortalRow> = sqlx::query_as(BY_ID)
                    .bind(portal_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(Portal::try_from).transpose()
            }

            async fn portals(&self) -> Result<Vec<Portal>, StoreError> {
                let rows: Vec<PortalRow> = sqlx::query_as(ALL).fetch_all(&self.pool).await?;
                rows.into_iter().map(Portal::try_from).collect()
            }

            async fn mark_needs_reauth(
                &self,
                portal_id: i64,
                reason: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let change = Retirement {
                    state: PortalState::NeedsReauth,
                    reason: Some(reason),
                    action: "needs_reauth",
                    actor: "spoke",
                };
                retire(&self.pool, portal_id, change, now_ms).await
            }

            async fn record_uninstall(
                &self,
                portal_id: i64,
                actor: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let change = Retirement {
                    state: PortalState::Uninstalled,
                    reason: None,
                    action: "uninstalled",
                    actor,
                };
                retire(&self.pool, portal_id, change, now_ms).await
            }
        }
    };
}

pub(crate) use impl_portals;
