//! OAuth credentials the simulator has issued: authorization codes (single use, short
//! lived), access tokens (expiring) and refresh tokens (until revoked), each tied to a
//! portal, its granted scopes and the installing user. Tokens are opaque random strings,
//! as HubSpot's are to a client.

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

/// Who a credential belongs to and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub portal: i64,
    pub user_id: i64,
    pub scopes: Vec<String>,
}

impl Grant {
    /// The installing user of a portal, as the simulator names them.
    pub fn for_portal(portal: i64, scopes: Vec<String>) -> Self {
        Self {
            portal,
            user_id: 1_000 + portal % 1_000,
            scopes,
        }
    }

    pub fn user_email(&self) -> String {
        format!(
            "installer{}@portal{}.example.com",
            self.user_id, self.portal
        )
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Debug, Clone)]
struct AccessToken {
    grant: Grant,
    expires_at_ms: i64,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    grant: Grant,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct AuthCode {
    grant: Grant,
    redirect_uri: String,
    expires_at_ms: i64,
}

/// Why a bearer token is refused on the CRM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    /// Expired this many milliseconds ago.
    Expired(i64),
}

/// Why an authorization code was not exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeProblem {
    /// Never issued, already used, or expired.
    Unknown,
    /// Exchanged with another `redirect_uri` than the authorize request had.
    RedirectMismatch,
}

#[derive(Debug, Default)]
pub struct Tokens {
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    codes: HashMap<String, AuthCode>,
}

fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Tokens {
    /// Issues a new pair for `grant`, the access token valid for `ttl_s` from `now_ms`.
    pub fn issue(&mut self, grant: Grant, ttl_s: u64, now_ms: i64) -> TokenPair {
        let refresh_token = random_token("na1-r");
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                grant: grant.clone(),
                revoked: false,
            },
        );
        self.access_for(grant, refresh_token, ttl_s, now_ms)
    }

    /// A new access token for an existing, unrevoked refresh token (it is not rotated).
    pub fn refresh(&mut self, refresh_token: &str, ttl_s: u64, now_ms: i64) -> Option<TokenPair> {
        let grant = self
            .refresh
            .get(refresh_token)
            .filter(|r| !r.revoked)?
            .grant
            .clone();
        Some(self.access_for(grant, refresh_token.to_owned(), ttl_s, now_ms))
    }

    fn access_for(
        &mut self,
        grant: Grant,
        refresh_token: String,
        ttl_s: u64,
        now_ms: i64,
    ) -> TokenPair {
        let access_token = random_token("CIrT");
        let expires_at_ms = now_ms + (ttl_s as i64) * 1000;
        let pair = TokenPair {
            token_type: "bearer",
            access_token: access_token.clone(),
            refresh_token,
            expires_in: ttl_s,
            hub_id: grant.portal,
            user_id: grant.user_id,
            scopes: grant.scopes.clone(),
            token_use: "access_token",
        };
        self.access.insert(
            access_token,
            AccessToken {
                grant,
                expires_at_ms,
            },
        );
        pair
    }

    /// An authorization code for `grant`, redeemable once before `now_ms + ttl_s`.
    pub fn issue_code(
        &mut self,
        grant: Grant,
        redirect_uri: &str,
        ttl_s: u64,
        now_ms: i64,
    ) -> String {
        let code = random_token("na1-code");
        let expires_at_ms = now_ms + (ttl_s as i64) * 1000;
        self.codes.insert(
            code.clone(),
            AuthCode {
                grant,
                redirect_uri: redirect_uri.to_owned(),
                expires_at_ms,
            },
        );
        code
    }

    /// Exchanges a code for a token pair. A code is gone after any attempt.
    pub fn redeem(
        &mut self,
        code: &str,
        redirect_uri: &str,
        ttl_s: u64,
        now_ms: i64,
    ) -> Result<TokenPair, CodeProblem> {
        let issued = self
            .codes
            .remove(code)
            .filter(|c| now_ms < c.expires_at_ms)
            .ok_or(CodeProblem::Unknown)?;
        if issued.redirect_uri != redirect_uri {
            return Err(CodeProblem::RedirectMismatch);
        }
        Ok(self.issue(issued.grant, ttl_s, now_ms))
    }

    /// The grant of a live access token at `now_ms`.
    pub fn access_grant(
        &self,
        access_token: &str,
        now_ms: i64,
    ) -> Result<(&Grant, i64), TokenProblem> {
        let token = self.access.get(access_token).ok_or(TokenProblem::Unknown)?;
        if now_ms >= token.expires_at_ms {
            return Err(TokenProblem::Expired(now_ms - token.expires_at_ms));
        }
        Ok((&token.grant, token.expires_at_ms))
    }

    /// The grant of an unrevoked refresh token.
    pub fn refresh_grant(&self, refresh_token: &str) -> Option<&Grant> {
        self.refresh
            .get(refresh_token)
            .filter(|r| !r.revoked)
            .map(|r| &r.grant)
    }

    /// Revokes one refresh token; access tokens already issued keep working until they expire
    /// (reference §1.5). Returns whether it was live.
    pub fn revoke_refresh(&mut self, refresh_token: &str) -> bool {
        match self.refresh.get_mut(refresh_token) {
            Some(token) if !token.revoked => {
                token.revoked = true;
                true
            }
            _ => false,
        }
    }

    /// Revokes every refresh token of `portal` and, if `access_too`, its access tokens:
    /// what an uninstall does. Returns how many tokens stopped working.
    pub fn revoke_portal(&mut self, portal: i64, access_too: bool) -> usize {
        let mut revoked = 0;
        for token in self
            .refresh
            .values_mut()
            .filter(|t| t.grant.portal == portal && !t.revoked)
        {
            token.revoked = true;
            revoked += 1;
        }
        if access_too {
            let before = self.access.len();
            self.access.retain(|_, t| t.grant.portal != portal);
            revoked += before - self.access.len();
        }
        revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(portal: i64) -> Grant {
        Grant::for_portal(portal, vec!["oauth".into()])
    }

    #[test]
    fn access_tokens_expire_and_refresh_tokens_renew_them_until_revoked() {
        let mut tokens = Tokens::default();
        let pair = tokens.issue(grant(7), 60, 1_000);
        assert_eq!(
            tokens
                .access_grant(&pair.access_token, 1_000 + 59_999)
                .map(|(g, _)| g.portal),
            Ok(7)
        );
        assert_eq!(
            tokens
                .access_grant(&pair.access_token, 1_000 + 60_500)
                .unwrap_err(),
            TokenProblem::Expired(500)
        );
        assert_eq!(
            tokens.access_grant("forged", 0).unwrap_err(),
            TokenProblem::Unknown
        );

        let renewed = tokens
            .refresh(&pair.refresh_token, 60, 100_000)
            .expect("refreshes");
        assert_eq!(renewed.refresh_token, pair.refresh_token);
        assert!(tokens.access_grant(&renewed.access_token, 100_001).is_ok());

        assert_eq!(tokens.revoke_portal(7, true), 3);
        assert!(tokens.refresh(&pair.refresh_token, 60, 0).is_none());
        assert_eq!(
            tokens
                .access_grant(&renewed.access_token, 100_001)
                .unwrap_err(),
            TokenProblem::Unknown
        );
    }

    #[test]
    fn codes_are_single_use_short_lived_and_bound_to_their_redirect() {
        let mut tokens = Tokens::default();
        let code = tokens.issue_code(grant(3), "https://app/cb", 60, 0);
        assert_eq!(
            tokens
                .redeem(&code, "https://app/other", 60, 1)
                .unwrap_err(),
            CodeProblem::RedirectMismatch
        );
        assert_eq!(
            tokens.redeem(&code, "https://app/cb", 60, 2).unwrap_err(),
            CodeProblem::Unknown,
            "gone after a try"
        );
        let late = tokens.issue_code(grant(3), "https://app/cb", 60, 0);
        assert_eq!(
            tokens
                .redeem(&late, "https://app/cb", 60, 60_000)
                .unwrap_err(),
            CodeProblem::Unknown
        );
        let good = tokens.issue_code(grant(3), "https://app/cb", 60, 0);
        assert_eq!(
            tokens
                .redeem(&good, "https://app/cb", 60, 1)
                .map(|p| p.hub_id),
            Ok(3)
        );
    }

    #[test]
    fn revoking_a_refresh_token_leaves_issued_access_tokens_alone() {
        let mut tokens = Tokens::default();
        let pair = tokens.issue(grant(9), 60, 0);
        assert!(tokens.revoke_refresh(&pair.refresh_token));
        assert!(!tokens.revoke_refresh(&pair.refresh_token));
        assert!(tokens.refresh_grant(&pair.refresh_token).is_none());
        assert!(tokens.access_grant(&pair.access_token, 1).is_ok());
    }
}
