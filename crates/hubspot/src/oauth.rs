//! HubSpot's OAuth endpoints for public apps (reference §1), as a small typed client: the
//! authorize URL, code exchange, refresh, introspection, revocation and the app-uninstall
//! API, on the version an operator configures (`v3`, `2026-03`, …; v1 sunsets 2027-02-16).
//!
//! Failures are [`HubSpotError`]s, classified once in [`crate::failure`] for the CRM client
//! too: [`HubSpotError::is_revoked`] (the refresh token or code is dead: the portal must
//! install again) against [`HubSpotError::is_transient`] (5xx, 429, network: try again
//! later). Error texts never contain a token or the client secret.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::failure::HubSpotError;
use crate::ClientSecret;

/// HubSpot's OAuth version segments that serve token, introspect and revoke alike.
pub fn is_supported_version(version: &str) -> bool {
    version == "v3"
        || (version.len() == 7
            && version.as_bytes()[4] == b'-'
            && version.replace('-', "").bytes().all(|b| b.is_ascii_digit()))
}

/// The app's OAuth identity and where HubSpot's endpoints are.
#[derive(Clone)]
pub struct OAuthConfig {
    /// `https://api.hubapi.com`, or the simulator's URL.
    pub api_base: String,
    /// `https://app.hubspot.com`, where the authorize page lives.
    pub auth_base: String,
    /// `2026-03` (recommended), `2026-09` or `v3`.
    pub version: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("api_base", &self.api_base)
            .field("auth_base", &self.auth_base)
            .field("version", &self.version)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The authorize URL a user's browser is sent to (reference §1.1). Scopes are joined with
/// spaces and every value percent-encoded, as HubSpot's SDK does.
pub fn authorize_url(
    config: &OAuthConfig,
    redirect_uri: &str,
    scopes: &[String],
    optional_scopes: &[String],
    state: &str,
) -> String {
    let mut url = url::Url::parse(&format!(
        "{}/oauth/authorize",
        config.auth_base.trim_end_matches('/')
    ))
    .unwrap_or_else(|_| {
        url::Url::parse("https://app.hubspot.com/oauth/authorize").expect("a valid URL")
    });
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("client_id", &config.client_id);
        query.append_pair("redirect_uri", redirect_uri);
        query.append_pair("scope", &scopes.join(" "));
        if !optional_scopes.is_empty() {
            query.append_pair("optional_scope", &optional_scopes.join(" "));
        }
        query.append_pair("state", state);
    }
    url.to_string().replace('+', "%20")
}

/// A token pair from the token endpoint.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// Seconds.
    pub expires_in: u64,
    pub hub_id: Option<i64>,
    pub user_id: Option<i64>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl TokenResponse {
    /// When the access token expires, epoch milliseconds, for tokens issued at
    /// `issued_at_ms`. An absurd `expires_in` is taken as a year: HubSpot's tokens last 30
    /// minutes, and a time past what a database can store would fail the install.
    pub fn expires_at(&self, issued_at_ms: i64) -> i64 {
        const YEAR_S: u64 = 365 * 86_400;
        let seconds = i64::try_from(self.expires_in.min(YEAR_S)).unwrap_or(0);
        issued_at_ms.saturating_add(seconds * 1_000)
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("hub_id", &self.hub_id)
            .finish_non_exhaustive()
    }
}

/// What introspection says about an access token (reference §1.6).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    pub active: bool,
    pub hub_id: Option<i64>,
    pub app_id: Option<i64>,
    pub user_id: Option<i64>,
    /// The installing user's email.
    pub user: Option<String>,
    pub hub_domain: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Calls HubSpot's OAuth endpoints with one app's credentials.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    config: OAuthConfig,
    http: reqwest::Client,
}

/// Longest wait for one OAuth call; the refresher retries on its own schedule.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

impl OAuthClient {
    pub fn new(config: OAuthConfig) -> Self {
        let http = crate::outbound::client(CALL_TIMEOUT);
        Self { config, http }
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/oauth/{}/{path}",
            self.config.api_base.trim_end_matches('/'),
            self.config.version
        )
    }

    async fn post_form<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<T, HubSpotError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.config.client_id),
            ("client_secret", self.config.client_secret.expose()),
        ];
        form.extend_from_slice(fields);
        let response = self
            .http
            .post(self.endpoint(path))
            .form(&form)
            .send()
            .await
            .map_err(HubSpotError::unreachable)?;
        parse(response).await
    }

    /// Exchanges an authorization code (single use) for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, HubSpotError> {
        self.post_form(
            "token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
        )
        .await
    }

    /// A new access token; persist the returned refresh token too (rotation is UNVERIFIED).
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, HubSpotError> {
        self.post_form(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
            ],
        )
        .await
    }

    /// Which portal, user and scopes an access token belongs to.
    pub async fn introspect(&self, access_token: &SecretString) -> Result<TokenInfo, HubSpotError> {
        self.post_form(
            "token/introspect",
            &[
                ("token", access_token.expose_secret()),
                ("token_type_hint", "access_token"),
            ],
        )
        .await
    }

    /// Revokes a refresh token (access tokens run out on their own).
    pub async fn revoke(&self, refresh_token: &SecretString) -> Result<(), HubSpotError> {
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
            ("token", refresh_token.expose_secret()),
            ("token_type_hint", "refresh_token"),
        ];
        let response = self
            .http
            .post(self.endpoint("token/revoke"))
            .form(&form)
            .send()
            .await
            .map_err(HubSpotError::unreachable)?;
        check(response).await
    }

    /// Removes the app from the portal the access token belongs to (reference §1.8).
    pub async fn uninstall(&self, access_token: &SecretString) -> Result<(), HubSpotError> {
        let url = format!(
            "{}/appinstalls/{}/external-install",
            self.config.api_base.trim_end_matches('/'),
            self.config.version
        );
        let response = self
            .http
            .delete(url)
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(HubSpotError::unreachable)?;
        check(response).await
    }
}

async fn check(response: reqwest::Response) -> Result<(), HubSpotError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(HubSpotError::from_answer(response).await)
    }
}

async fn parse<T: for<'de> Deserialize<'de>>(
    response: reqwest::Response,
) -> Result<T, HubSpotError> {
    if !response.status().is_success() {
        return Err(HubSpotError::from_answer(response).await);
    }
    response.json().await.map_err(HubSpotError::unexpected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ErrorBody;

    fn config() -> OAuthConfig {
        OAuthConfig {
            api_base: "https://api.hubapi.com".into(),
            auth_base: "https://app.hubspot.com/".into(),
            version: "2026-03".into(),
            client_id: "cid".into(),
            client_secret: ClientSecret::new("shh"),
        }
    }

    #[test]
    fn the_authorize_url_encodes_scopes_with_spaces() {
        let url = authorize_url(
            &config(),
            "https://spoke.test/oauth/callback",
            &["oauth".into(), "crm.objects.contacts.read".into()],
            &["tickets".into()],
            "s t",
        );
        assert_eq!(
            url,
            "https://app.hubspot.com/oauth/authorize?client_id=cid&redirect_uri=https%3A%2F%2Fspoke.test%2Foauth%2Fcallback\
             &scope=oauth%20crm.objects.contacts.read&optional_scope=tickets&state=s%20t"
        );
    }

    #[test]
    fn revoked_credentials_are_told_from_other_refusals() {
        let refused = |status: Option<&str>, error: Option<&str>| {
            crate::failure::answered(
                400,
                ErrorBody {
                    status: status.map(str::to_owned),
                    error: error.map(str::to_owned),
                    ..ErrorBody::default()
                },
            )
        };
        assert!(refused(Some("BAD_REFRESH_TOKEN"), None).is_revoked());
        assert!(refused(None, Some("invalid_grant")).is_revoked());
        assert!(refused(Some("BAD_AUTH_CODE"), Some("invalid_request")).is_revoked());
        assert!(!refused(Some("BAD_CLIENT_SECRET"), Some("invalid_client")).is_revoked());
        let unavailable = crate::failure::answered(503, ErrorBody::default());
        assert!(!unavailable.is_revoked());
        assert!(crate::failure::answered(429, ErrorBody::default()).is_transient());
        assert!(!refused(Some("BAD_REFRESH_TOKEN"), None).is_transient());
    }

    #[test]
    fn versions_are_v3_or_dated() {
        for ok in ["v3", "2026-03", "2026-09"] {
            assert!(is_supported_version(ok), "{ok}");
        }
        for bad in ["v1", "v2", "2026-3", "latest", "20260-3"] {
            assert!(!is_supported_version(bad), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        assert!(!format!("{:?}", config()).contains("shh"));
    }

    #[test]
    fn an_absurd_expires_in_is_taken_as_a_year() {
        let issued = |expires_in: &str| -> TokenResponse {
            serde_json::from_str(&format!(
                r#"{{"access_token":"a","refresh_token":"r","expires_in":{expires_in}}}"#
            ))
            .unwrap()
        };
        assert_eq!(issued("1800").expires_at(1_000), 1_801_000);
        let year = 365 * 86_400 * 1_000;
        assert_eq!(issued("100000000000000000").expires_at(1_000), 1_000 + year);
        assert_eq!(
            issued("18446744073709551615").expires_at(1_000),
            1_000 + year
        );
    }
}
