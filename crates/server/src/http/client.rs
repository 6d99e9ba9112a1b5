//! What a request says about its client: the address it came from, and its cookies; and
//! the `Set-Cookie` values spoke sends.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;

/// The address a request came from (the peer of its connection: behind a proxy, the
/// proxy's), when the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Self(peer.map(|info| info.0.ip())))
    }
}

/// The key per-address limits count under: an IPv4 address, or an IPv6 address's /64
/// (one host can hold a whole /64).
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// How a cookie spoke sets may travel: `HttpOnly` always, `Secure` when spoke is reached
/// over https.
#[derive(Debug, Clone)]
pub struct CookieRules {
    /// As browsers see it: under the public URL's path prefix.
    pub path: String,
    /// `Strict`, or `Lax` for a cookie that must come back on a top-level cross-site
    /// navigation (HubSpot's redirect to the install callback).
    pub same_site: &'static str,
    pub secure: bool,
}

impl CookieRules {
    /// A `Set-Cookie` value for `name`, lasting `max_age` seconds (0: removed).
    pub fn set(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path={}; HttpOnly; SameSite={}; Max-Age={max_age}{secure}",
            self.path, self.same_site
        )
    }
}
