//! Operator sessions without server state: a session cookie is its expiry and a nonce,
//! signed with a key derived from `SPOKE_OPERATOR_TOKEN`, so every instance sharing the
//! token accepts it, and changing the token ends every session; signing out ends one (its
//! nonce is recorded as revoked in the store, `store::RevokedSessions`). Each session's CSRF token
//! is the same key's signature of its nonce; the login form's, of a nonce in a short-lived
//! cookie of its own.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::backoff::SignInBackoff;
use crate::config::{OperatorToken, PublicUrl};
use crate::http::client::CookieRules;

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name, and the login form's nonce cookie.
pub const SESSION_COOKIE: &str = "spoke_session";
pub const LOGIN_COOKIE: &str = "spoke_login";
/// How long a session lasts.
pub const SESSION_SECONDS: i64 = 12 * 3_600;
/// How long a login form may sit before it is submitted.
pub const LOGIN_SECONDS: i64 = 3_600;

/// Signs and checks sessions and CSRF tokens.
#[derive(Clone)]
pub struct Sessions {
    key: [u8; 32],
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

/// A session that checked out: its nonce names its CSRF token and, once signed out, its
/// revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub nonce: String,
    /// When the cookie stops being valid on its own, epoch seconds.
    pub expires_s: i64,
}

impl Sessions {
    pub fn new(token: &OperatorToken) -> Self {
        let mut mac = HmacSha256::new_from_slice(token.reveal().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"spoke dashboard sessions v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn sign(&self, purpose: &str, text: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"|");
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new session's cookie value, valid until `now_s + SESSION_SECONDS`.
    pub fn open(&self, now_s: i64) -> String {
        let body = format!("{}.{}", now_s + SESSION_SECONDS, nonce());
        let mac = self.sign("session", &body);
        format!("{body}.{mac}")
    }

    /// The session a cookie value carries, if it is ours and unexpired.
    pub fn check(&self, cookie: &str, now_s: i64) -> Option<Session> {
        let (body, mac) = cookie.rsplit_once('.')?;
        let (expires, nonce) = body.split_once('.')?;
        let genuine: bool = self
            .sign("session", body)
            .as_bytes()
            .ct_eq(mac.as_bytes())
            .into();
        let expires_s = expires.parse::<i64>().ok()?;
        (genuine && expires_s > now_s).then(|| Session {
            nonce: nonce.to_owned(),
            expires_s,
        })
    }

    /// The CSRF token every form of `session` carries.
    pub fn csrf(&self, session: &Session) -> String {
        self.sign("csrf", &session.nonce)
    }

    /// Whether `presented` is `session`'s CSRF token.
    pub fn csrf_ok(&self, session: &Session, presented: &str) -> bool {
        self.csrf(session)
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }

    /// A login form's nonce cookie value (valid until `now_s + LOGIN_SECONDS`) and the
    /// CSRF token its form carries.
    pub fn login_form(&self, now_s: i64) -> (String, String) {
        let cookie = format!("{}.{}", now_s + LOGIN_SECONDS, nonce());
        let csrf = self.sign("login", &cookie);
        (cookie, csrf)
    }

    /// Whether a login's CSRF token belongs to its unexpired nonce cookie.
    pub fn login_ok(&self, cookie: &str, presented: &str, now_s: i64) -> bool {
        let unexpired = cookie
            .split_once('.')
            .and_then(|(expires, _)| expires.parse::<i64>().ok())
            .is_some_and(|expires| expires > now_s);
        let genuine: bool = self
            .sign("login", cookie)
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into();
        unexpired && genuine
    }
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The dashboard's settings, shared by its handlers.
#[derive(Debug)]
pub struct Dashboard {
    pub(super) sessions: Sessions,
    pub(super) backoff: SignInBackoff,
    /// Under `/dashboard`, `SameSite=Strict`, `Secure` when spoke is reached over https.
    cookies: CookieRules,
}

impl Dashboard {
    pub fn new(token: &OperatorToken, public_url: &PublicUrl) -> Self {
        Self {
            sessions: Sessions::new(token),
            backoff: SignInBackoff::default(),
            cookies: CookieRules {
                path: format!("{}/dashboard", public_url.path_prefix()),
                same_site: "Strict",
                secure: public_url.is_https(),
            },
        }
    }

    /// A `Set-Cookie` value for `name` under `/dashboard`, lasting `max_age` seconds
    /// (0: removed).
    pub(super) fn cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        self.cookies.set(name, value, max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(token: &str) -> Sessions {
        Sessions::new(&OperatorToken::new(token).unwrap())
    }

    #[test]
    fn a_session_holds_until_it_expires_and_only_under_its_token() {
        let ours = sessions("operator-token-one-0123");
        let cookie = ours.open(1_000);
        let session = ours.check(&cookie, 1_000).expect("fresh");
        assert!(
            ours.check(&cookie, 1_000 + SESSION_SECONDS).is_none(),
            "expired"
        );
        assert!(sessions("operator-token-two-0123")
            .check(&cookie, 1_000)
            .is_none());
        let forged = cookie.replacen(&cookie[..4], "9999", 1);
        assert!(
            ours.check(&forged, 1_000).is_none(),
            "a later expiry is not signed"
        );
        assert!(ours.check("garbage", 1_000).is_none());

        let csrf = ours.csrf(&session);
        assert!(ours.csrf_ok(&session, &csrf));
        let other = ours.check(&ours.open(1_000), 1_000).unwrap();
        assert!(
            !ours.csrf_ok(&other, &csrf),
            "one session's token is not another's"
        );
        assert!(!ours.csrf_ok(&session, ""));
    }

    #[test]
    fn a_login_form_token_belongs_to_its_own_cookie() {
        let ours = sessions("operator-token-one-0123");
        let (cookie, csrf) = ours.login_form(1_000);
        assert!(ours.login_ok(&cookie, &csrf, 1_000));
        assert!(!ours.login_ok(&cookie, &csrf, 1_000 + LOGIN_SECONDS));
        let (other, _) = ours.login_form(1_000);
        assert!(!ours.login_ok(&other, &csrf, 1_000));
    }
}
