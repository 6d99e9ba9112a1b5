//! OAuth tokens the simulator has issued: which portal each belongs to, when access tokens
//! expire, and which refresh tokens were revoked. Tokens are opaque random strings, as
//! HubSpot's are to a client.

use std::collections::HashMap;

use serde::Serialize;

/// A token pair as HubSpot's token endpoint returns it (reference §1.2).
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub token_type: &'static str,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds.
    pub expires_in: u64,
    pub hub_id: i64,
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub token_use: &'static str,
}

#[derive(Debug, Clone)]
struct AccessToken {
    portal: i64,
    expires_at_ms: i64,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    portal: i64,
    revoked: bool,
}

/// Why a bearer token is refused on the CRM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    /// Expired this many milliseconds ago.
    Expired(i64),
}

#[derive(Debug, Default)]
pub struct Tokens {
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
}

fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Tokens {
    /// Issues a new pair for `portal`, valid for `ttl_s` seconds from `now_ms`.
    pub fn issue(
        &mut self,
        portal: i64,
        scopes: Vec<String>,
        ttl_s: u64,
        now_ms: i64,
    ) -> TokenPair {
        let refresh_token = random_token("na1-r");
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                portal,
                revoked: false,
            },
        );
        self.pair_for(portal, refresh_token, scopes, ttl_s, now_ms)
    }

    /// A new access token for an existing, unrevoked refresh token (it is not rotated).
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        scopes: Vec<String>,
        ttl_s: u64,
        now_ms: i64,
    ) -> Option<TokenPair> {
        let portal = self
            .refresh
            .get(refresh_token)
            .filter(|r| !r.revoked)?
            .portal;
        Some(self.pair_for(portal, refresh_token.to_owned(), scopes, ttl_s, now_ms))
    }

    fn pair_for(
        &mut self,
        portal: i64,
        refresh_token: String,
        scopes: Vec<String>,
        ttl_s: u64,
        now_ms: i64,
    ) -> TokenPair {
        let access_token = random_token("CIrT");
        let expires_at_ms = now_ms + (ttl_s as i64) * 1000;
        self.access.insert(
            access_token.clone(),
            AccessToken {
                portal,
                expires_at_ms,
            },
        );
        TokenPair {
            token_type: "bearer",
            access_token,
            refresh_token,
            expires_in: ttl_s,
            hub_id: portal,
            user_id: 1_000 + portal % 1_000,
            scopes,
            token_use: "access_token",
        }
    }

    /// The portal an access token is valid for at `now_ms`.
    pub fn portal_of(&self, access_token: &str, now_ms: i64) -> Result<i64, TokenProblem> {
        let token = self.access.get(access_token).ok_or(TokenProblem::Unknown)?;
        if now_ms >= token.expires_at_ms {
            return Err(TokenProblem::Expired(now_ms - token.expires_at_ms));
        }
        Ok(token.portal)
    }

    /// Revokes every refresh token of `portal` and, if `access_too`, its access tokens:
    /// what an uninstall does. Returns how many tokens stopped working.
    pub fn revoke_portal(&mut self, portal: i64, access_too: bool) -> usize {
        let mut revoked = 0;
        for token in self
            .refresh
            .values_mut()
            .filter(|t| t.portal == portal && !t.revoked)
        {
            token.revoked = true;
            revoked += 1;
        }
        if access_too {
            let before = self.access.len();
            self.access.retain(|_, t| t.portal != portal);
            revoked += before - self.access.len();
        }
        revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_expire_and_refresh_tokens_renew_them_until_revoked() {
        let mut tokens = Tokens::default();
        let pair = tokens.issue(7, vec!["oauth".into()], 60, 1_000);
        assert_eq!(tokens.portal_of(&pair.access_token, 1_000 + 59_999), Ok(7));
        assert_eq!(
            tokens.portal_of(&pair.access_token, 1_000 + 60_500),
            Err(TokenProblem::Expired(500))
        );
        assert_eq!(tokens.portal_of("forged", 0), Err(TokenProblem::Unknown));

        let renewed = tokens
            .refresh(&pair.refresh_token, vec![], 60, 100_000)
            .expect("refreshes");
        assert_eq!(renewed.refresh_token, pair.refresh_token);
        assert_eq!(tokens.portal_of(&renewed.access_token, 100_001), Ok(7));

        assert_eq!(tokens.revoke_portal(7, true), 3);
        assert!(tokens.refresh(&pair.refresh_token, vec![], 60, 0).is_none());
        assert_eq!(
            tokens.portal_of(&renewed.access_token, 100_001),
            Err(TokenProblem::Unknown)
        );
    }
}
