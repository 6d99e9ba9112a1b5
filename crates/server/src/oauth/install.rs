//! Installing the app into a portal (reference §1): the authorize URL with a signed
//! state, and the callback that checks the state (once), exchanges the code, learns the
//! portal from introspection and stores sealed tokens. Nothing is stored unless every step
//! succeeded.

use std::sync::Arc;

use hubspot::failure::HubSpotError;
use hubspot::oauth::authorize_url;
use serde::Deserialize;
use store::{Install, PortalId, Store, StoreError};
use subtle::ConstantTimeEq;
use tracing::info;

use super::state::{StateError, StateSigner};
use super::throttle::InstallThrottle;
use super::tokens::TokenService;
use crate::config::{InstallConfig, PublicUrl};
use crate::http::client::CookieRules;

/// Where HubSpot sends the browser back, under the public URL.
pub const CALLBACK_PATH: &str = "/oauth/callback";
/// The cookie that ties a callback to the browser that started its install: the state's
/// nonce, under `/oauth`, `SameSite=Lax` (it must come back on HubSpot's top-level
/// redirect), for as long as the state lasts.
pub const INSTALL_COOKIE: &str = "spoke_install";

#[derive(Debug)]
pub struct InstallFlow {
    pub tokens: Arc<TokenService>,
    states: StateSigner,
    redirect_uri: String,
    scopes: Vec<String>,
    optional_scopes: Vec<String>,
    pub success_url: Option<String>,
    /// How the [`INSTALL_COOKIE`] is set.
    pub cookie: CookieRules,
    /// Requests per address to the install endpoints.
    pub throttle: InstallThrottle,
}

/// The callback's query as HubSpot sends it: a code, or an error, and the state.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why an install did not complete. Each text is fit for the person installing and says
/// nothing of the cause, which goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// What the callback said of why is anyone's words: logged escaped, never shown.
    #[error("The installation was cancelled in HubSpot.")]
    Denied,
    #[error("This install link is not valid or has expired; start the install again.")]
    BadState(#[from] StateError),
    #[error("This install link was already used; start the install again.")]
    Replayed,
    /// The callback came without the cookie of the browser that started the install (or
    /// with another's): someone else's link, or a replay.
    #[error(
        "This install was started in another browser, or too long ago; start the install again."
    )]
    OtherBrowser,
    #[error("HubSpot sent no authorization code.")]
    MissingCode,
    #[error("HubSpot did not accept the install; start the install again.")]
    HubSpot(#[from] HubSpotError),
    #[error("HubSpot did not say which account installed the app.")]
    UnknownPortal,
    #[error("The installation could not be saved; please try again.")]
    Store(#[from] StoreError),
}

/// A finished install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    pub portal_id: PortalId,
    pub reinstall: bool,
}

impl InstallFlow {
    pub fn new(config: &InstallConfig, public_url: &PublicUrl, tokens: Arc<TokenService>) -> Self {
        Self {
            states: StateSigner::new(&config.oauth.client_secret),
            redirect_uri: public_url.join(CALLBACK_PATH),
            scopes: config.scopes.clone(),
            optional_scopes: config.optional_scopes.clone(),
            success_url: config.success_url.clone(),
            cookie: CookieRules {
                path: format!("{}/oauth", public_url.path_prefix()),
                same_site: "Lax",
                secure: public_url.is_https(),
            },
            throttle: InstallThrottle::default(),
            tokens,
        }
    }

    /// HubSpot's authorize URL for a new install, with a fresh state; and the state's
    /// nonce, for the [`INSTALL_COOKIE`] of the browser that asked.
    pub fn start(&self) -> (String, String) {
        let (state, nonce) = self.states.issue(self.now_ms());
        let url = authorize_url(
            self.tokens.oauth().config(),
            &self.redirect_uri,
            &self.scopes,
            &self.optional_scopes,
            &state,
        );
        (url, nonce)
    }

    /// Completes an install from HubSpot's callback, which `cookie` (the browser's
    /// [`INSTALL_COOKIE`]) must name: the state and the cookie are checked before any
    /// database work or call.
    pub async fn complete(
        &self,
        store: &dyn Store,
        callback: &Callback,
        cookie: Option<&str>,
    ) -> Result<Installed, InstallError> {
        if let Some(error) = &callback.error {
            info!(error = ?error, description = ?callback.error_description, "install cancelled");
            return Err(InstallError::Denied);
        }
        let verified = self
            .states
            .verify(callback.state.as_deref().unwrap_or_default(), self.now_ms())?;
        let same_browser: bool =
            cookie.is_some_and(|nonce| nonce.as_bytes().ct_eq(verified.nonce.as_bytes()).into());
        if !same_browser {
            return Err(InstallError::OtherBrowser);
        }
        if !store
            .use_install_state(&verified.nonce, verified.expires_at_ms, self.now_ms())
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
            .map(PortalId)
            .ok_or(InstallError::UnknownPortal)?;
        let issued_at = self.now_ms();
        let expires_at = issued.expires_at(issued_at);
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
        let reinstall = store
            .record_install(&install, &actor, self.now_ms())
            .await?;
        info!(
            portal_id = portal_id.0,
            reinstall,
            scopes = install.scopes.join(" "),
            "app installed"
        );
        Ok(Installed {
            portal_id,
            reinstall,
        })
    }

    fn now_ms(&self) -> i64 {
        self.tokens.clock().now_ms()
    }
}
