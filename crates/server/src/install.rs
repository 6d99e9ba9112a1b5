//! Installing the app into a portal (reference §1): the authorize URL with a signed
//! state, and the callback that checks the state (once), exchanges the code, learns the
//! portal from introspection and stores sealed tokens. Also the operator's way out:
//! uninstall (HubSpot's app-uninstall API, refresh token revoked, tokens erased) and erase
//! (everything spoke holds for the portal). Nothing is stored unless every step succeeded.

use std::sync::Arc;

use hubspot::oauth::{authorize_url, OAuthError};
use serde::Deserialize;
use store::{Install, Store, StoreError};
use tracing::{info, warn};

use crate::config::InstallConfig;
use crate::install_state::{StateError, StateSigner};
use crate::tokens::{now_ms, TokenService};

/// Where HubSpot sends the browser back, under the public URL.
pub const CALLBACK_PATH: &str = "/oauth/callback";

#[derive(Debug)]
pub struct InstallFlow {
    pub tokens: Arc<TokenService>,
    states: StateSigner,
    redirect_uri: String,
    scopes: Vec<String>,
    optional_scopes: Vec<String>,
    pub success_url: Option<String>,
}

/// The callback's query as HubSpot sends it: a code, or an error, and the state.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why an install did not complete; each text is fit for the person installing.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("The installation was cancelled in HubSpot ({0}).")]
    Denied(String),
    #[error("This install link is not valid: {0}")]
    BadState(#[from] StateError),
    #[error("This install link was already used; start the install again.")]
    Replayed,
    #[error("HubSpot sent no authorization code.")]
    MissingCode,
    #[error("HubSpot did not accept the install: {0}")]
    HubSpot(#[from] OAuthError),
    #[error("HubSpot did not say which account installed the app.")]
    UnknownPortal,
    #[error("The installation could not be saved; please try again.")]
    Store(#[from] StoreError),
}

/// A finished install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    pub portal_id: i64,
    pub reinstall: bool,
}

impl InstallFlow {
    pub fn new(config: &InstallConfig, public_url: &str, tokens: Arc<TokenService>) -> Self {
        Self {
            states: StateSigner::new(&config.oauth.client_secret),
            redirect_uri: format!("{public_url}{CALLBACK_PATH}"),
            scopes: config.scopes.clone(),
            optional_scopes: config.optional_scopes.clone(),
            success_url: config.success_url.clone(),
            tokens,
        }
    }

    /// HubSpot's authorize URL for a new install, with a fresh state.
    pub fn start(&self, now_ms: i64) -> String {
        let state = self.states.issue(now_ms);
        authorize_url(
            self.tokens.oauth().config(),
            &self.redirect_uri,
            &self.scopes,
            &self.optional_scopes,
            &state,
        )
    }

    /// Completes an install from HubSpot's callback.
    pub async fn complete(
        &self,
        store: &dyn Store,
        callback: &Callback,
    ) -> Result<Installed, InstallError> {
        if let Some(error) = &callback.error {
            return Err(InstallError::Denied(
                callback
                    .error_description
                    .clone()
                    .unwrap_or_else(|| error.clone()),
            ));
        }
        let verified = self
            .states
            .verify(callback.state.as_deref().unwrap_or_default(), now_ms())?;
        if !store
            .use_install_state(&verified.nonce, verified.expires_at_ms, now_ms())
            .await?
        {
            return Err(InstallError::Replayed);
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(InstallError::MissingCode)?;
        let oauth = self.tokens.oauth();
        let issued = oauth.exchange_code(code, &self.redirect_uri).await?;
        let info = oauth.introspect(&issued.access_token).await?;
        let portal_id = info
            .hub_id
            .or(issued.hub_id)
            .ok_or(InstallError::UnknownPortal)?;
        let issued_at = now_ms();
        let expires_at = issued_at + i64::try_from(issued.expires_in).unwrap_or(0) * 1000;
        let install = Install {
            portal_id,
            hub_domain: info.hub_domain,
            app_id: info.app_id,
            scopes: if info.scopes.is_empty() {
                issued.scopes
            } else {
                info.scopes
            },
            installer_id: info.user_id.or(issued.user_id),
            installer_email: info.user,
            tokens: self.tokens.keys().seal_pair(
                portal_id,
                &issued.access_token,
                &issued.refresh_token,
                issued_at,
                expires_at,
            ),
        };
        let actor = install.installer_id.map_or_else(
            || "hubspot-user".to_owned(),
            |id| format!("hubspot-user:{id}"),
        );
        let reinstall = store.record_install(&install, &actor, now_ms()).await?;
        info!(
            portal_id,
            reinstall,
            scopes = install.scopes.join(" "),
            "app installed"
        );
        Ok(Installed {
            portal_id,
            reinstall,
        })
    }
}

/// Why an uninstall or erase stopped.
#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error("portal {0} is not known to spoke")]
    UnknownPortal(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Uninstalls the app from the portal at HubSpot (app-uninstall API, refresh token revoked)
/// and erases its tokens here. HubSpot refusing (the app is already gone there) does not
/// stop the local uninstall; each step's outcome is logged and the uninstall audited.
pub async fn uninstall(
    store: &dyn Store,
    tokens: &TokenService,
    portal: i64,
    actor: &str,
) -> Result<(), RemovalError> {
    store
        .portal(portal)
        .await?
        .ok_or(RemovalError::UnknownPortal(portal))?;
    match tokens.token_for(portal).await {
        Ok(access) => {
            if let Err(error) = tokens.oauth().uninstall(&access).await {
                warn!(portal_id = portal, error = %error, "HubSpot's app-uninstall API refused");
            }
            if let Some(sealed) = store.tokens(portal).await? {
                match tokens.keys().open_pair(portal, &sealed) {
                    Ok(open) => {
                        if let Err(error) = tokens.oauth().revoke(&open.refresh).await {
                            warn!(portal_id = portal, error = %error, "refresh token not revoked");
                        }
                    }
                    Err(error) => {
                        warn!(portal_id = portal, error = %error, "tokens could not be opened to revoke")
                    }
                }
            }
        }
        Err(error) => {
            warn!(portal_id = portal, error = %error, "no token to uninstall at HubSpot with")
        }
    }
    store.record_uninstall(portal, actor, now_ms()).await?;
    info!(portal_id = portal, actor, "app uninstalled");
    Ok(())
}

/// Removes everything spoke holds for the portal; the audit entry remains.
pub async fn erase(store: &dyn Store, portal: i64, actor: &str) -> Result<(), RemovalError> {
    match store.erase(portal, actor, now_ms()).await {
        Err(StoreError::NotFound) => Err(RemovalError::UnknownPortal(portal)),
        other => {
            other?;
            info!(portal_id = portal, actor, "portal erased");
            Ok(())
        }
    }
}
