//! The operator's way out: uninstall (HubSpot's app-uninstall API, refresh token revoked,
//! tokens erased) and erase (everything spoke holds for the portal). Both are audited.

use store::{PortalId, Store, StoreError};
use tracing::{info, warn};

use super::tokens::TokenService;

/// Why an uninstall or erase stopped.
#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error("portal {0} is not known to spoke")]
    UnknownPortal(PortalId),
    #[error("the database could not be updated")]
    Store(#[from] StoreError),
}

/// Uninstalls the app from the portal at HubSpot (app-uninstall API, refresh token revoked)
/// and erases its tokens here. HubSpot refusing (the app is already gone there) does not
/// stop the local uninstall; each step's outcome is logged and the uninstall audited.
pub async fn uninstall(
    store: &dyn Store,
    tokens: &TokenService,
    portal: PortalId,
    actor: &str,
) -> Result<(), RemovalError> {
    store
        .portal(portal)
        .await?
        .ok_or(RemovalError::UnknownPortal(portal))?;
    match tokens.token_for(portal).await {
        Ok(access) => {
            if let Err(error) = tokens.oauth().uninstall(&access).await {
                warn!(portal_id = portal.0, error = %error, "HubSpot's app-uninstall API refused");
            }
            if let Some(sealed) = store.tokens(portal).await? {
                match tokens.keys().open_pair(portal, &sealed) {
                    Ok(open) => {
                        if let Err(error) = tokens.oauth().revoke(&open.refresh).await {
                            warn!(portal_id = portal.0, error = %error, "refresh token not revoked");
                        }
                    }
                    Err(error) => {
                        warn!(portal_id = portal.0, error = %error, "tokens could not be opened to revoke")
                    }
                }
            }
        }
        Err(error) => {
            warn!(portal_id = portal.0, error = %error, "no token to uninstall at HubSpot with")
        }
    }
    store
        .record_uninstall(portal, actor, tokens.clock().now_ms())
        .await?;
    info!(portal_id = portal.0, actor, "app uninstalled");
    Ok(())
}

/// Removes everything spoke holds for the portal; the audit entry remains.
pub async fn erase(
    store: &dyn Store,
    portal: PortalId,
    actor: &str,
    now_ms: i64,
) -> Result<(), RemovalError> {
    match store.erase(portal, actor, now_ms).await {
        Err(StoreError::NotFound) => Err(RemovalError::UnknownPortal(portal)),
        other => {
            other?;
            info!(portal_id = portal.0, actor, "portal erased");
            Ok(())
        }
    }
}
