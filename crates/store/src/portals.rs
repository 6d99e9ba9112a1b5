//! Portals that installed the app and where each stands (installed, needs re-authorisation,
//! uninstalled). Every change of state writes its audit entry in the same transaction.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{audit, backfills, queue, tokens, Install, Portal, PortalId, PortalState, StoreError};

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

    async fn portal(&self, portal_id: PortalId) -> Result<Option<Portal>, StoreError>;

    /// Every portal spoke knows, by id.
    async fn portals(&self) -> Result<Vec<Portal>, StoreError>;

    /// HubSpot refused the refresh token: tokens dropped, portal marked, audit entry.
    async fn mark_needs_reauth(
        &self,
        portal_id: PortalId,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// The app is gone from the portal: tokens erased, portal marked, audit entry.
    async fn record_uninstall(
        &self,
        portal_id: PortalId,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// A portal as both engines read it (joined with its token expiry).
#[derive(sqlx::FromRow)]
struct PortalRow {
    portal_id: PortalId,
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
struct Retirement<'a> {
    state: PortalState,
    reason: Option<&'a str>,
    action: &'static str,
    actor: &'a str,
}

/// The portal columns joined with the token expiry, as [`PortalRow`] reads them.
fn select<B: Backend>() -> String {
    format!(
        "SELECT p.portal_id AS portal_id, p.state AS state, p.hub_domain AS hub_domain, \
        p.app_id AS app_id, p.scopes AS scopes, p.installer_id AS installer_id, \
        p.installer_email AS installer_email, p.reauth_reason AS reauth_reason, \
        {} AS installed_at, {} AS updated_at, {} AS access_expires_at \
        FROM portals p LEFT JOIN portal_tokens t ON t.portal_id = p.portal_id",
        B::millis("p.installed_at"),
        B::millis("p.updated_at"),
        B::millis("t.access_expires_at"),
    )
}

/// Sets the state, drops the tokens and audits, in one transaction.
async fn retire<B: Backend>(
    store: &B,
    portal_id: PortalId,
    change: Retirement<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    let set_state = format!(
        "UPDATE portals SET state = $1, reauth_reason = $2, updated_at = {} WHERE portal_id = $4",
        B::at(3)
    );
    let statement = Statement::new(set_state)
        .bind(change.state.as_str())
        .bind(change.reason)
        .bind(now_ms)
        .bind(portal_id);
    if B::execute(&mut tx, statement).await? == 0 {
        return Err(StoreError::NotFound);
    }
    tokens::delete::<B>(&mut tx, portal_id).await?;
    let detail = change.reason.unwrap_or_default();
    audit::record::<B>(
        &mut tx,
        now_ms,
        portal_id,
        change.action,
        change.actor,
        detail,
    )
    .await?;
    B::commit(tx).await
}

#[async_trait]
impl<B: Backend> Portals for B {
    async fn record_install(
        &self,
        install: &Install,
        actor: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists = Statement::new("SELECT count(*) FROM portals WHERE portal_id = $1")
            .bind(install.portal_id);
        let known = B::fetch_optional::<(i64,)>(&mut tx, exists)
            .await?
            .is_some_and(|(count,)| count > 0);
        let scopes = install.scopes.join(" ");
        let upsert = format!(
            "INSERT INTO portals (portal_id, state, hub_domain, app_id, scopes, installer_id, \
            installer_email, reauth_reason, installed_at, updated_at) \
            VALUES ($1, 'installed', $2, $3, $4, $5, $6, NULL, {now}, {now}) \
            ON CONFLICT (portal_id) DO UPDATE SET state = 'installed', hub_domain = excluded.hub_domain, \
            app_id = excluded.app_id, scopes = excluded.scopes, installer_id = excluded.installer_id, \
            installer_email = excluded.installer_email, reauth_reason = NULL, \
            installed_at = excluded.installed_at, updated_at = excluded.updated_at",
            now = B::at(7),
        );
        let statement = Statement::new(upsert)
            .bind(install.portal_id)
            .bind(&install.hub_domain)
            .bind(install.app_id)
            .bind(&scopes)
            .bind(install.installer_id)
            .bind(&install.installer_email)
            .bind(now_ms);
        B::execute(&mut tx, statement).await?;
        tokens::replace::<B>(&mut tx, install.portal_id, &install.tokens).await?;
        // Events that came before the install (or while it lapsed) become work.
        queue::release_quarantined::<B>(&mut tx, install.portal_id).await?;
        let unerased = Statement::new("DELETE FROM erased_portals WHERE portal_id = $1")
            .bind(install.portal_id);
        B::execute(&mut tx, unerased).await?;
        // Records from before the install (and from while it lapsed) are read once it is
        // in place.
        backfills::request::<B>(&mut tx, install.portal_id, None, now_ms, true).await?;
        let action = if known { "reinstalled" } else { "installed" };
        audit::record::<B>(&mut tx, now_ms, install.portal_id, action, actor, &scopes).await?;
        B::commit(tx).await?;
        Ok(known)
    }

    async fn portal(&self, portal_id: PortalId) -> Result<Option<Portal>, StoreError> {
        let by_id = format!("{} WHERE p.portal_id = $1", select::<B>());
        let row: Option<PortalRow> = self
            .fetch_optional_on_pool(Statement::new(by_id).bind(portal_id))
            .await?;
        row.map(Portal::try_from).transpose()
    }

    async fn portals(&self) -> Result<Vec<Portal>, StoreError> {
        let all = format!("{} ORDER BY p.portal_id", select::<B>());
        let rows: Vec<PortalRow> = self.fetch_all_on_pool(Statement::new(all)).await?;
        rows.into_iter().map(Portal::try_from).collect()
    }

    async fn mark_needs_reauth(
        &self,
        portal_id: PortalId,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let change = Retirement {
            state: PortalState::NeedsReauth,
            reason: Some(reason),
            action: "needs_reauth",
            actor: "spoke",
        };
        retire(self, portal_id, change, now_ms).await
    }

    async fn record_uninstall(
        &self,
        portal_id: PortalId,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let change = Retirement {
            state: PortalState::Uninstalled,
            reason: None,
            action: "uninstalled",
            actor,
        };
        retire(self, portal_id, change, now_ms).await
    }
}
