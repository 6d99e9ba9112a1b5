//! `spoke healthcheck`: one request to a running spoke's `/healthz`, so a container's
//! health check needs no curl in the image.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};

/// `Ok` when the spoke listening on `listen` answers `/healthz` with 200 within 3 s.
pub async fn check(listen: &str) -> anyhow::Result<()> {
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("SPOKE_LISTEN: `{listen}` is not an address and port"))?;
    let url = format!("http://{}/healthz", local(addr));
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    if !answer.status().is_success() {
        bail!("{url} answered {}", answer.status());
    }
    println!("ok");
    Ok(())
}

/// Where to reach a server bound to `addr` from this host.
fn local(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_asked_on_this_host() {
        let at = |s: &str| local(s.parse().unwrap()).to_string();
        assert_eq!(at("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(at("[::]:9000"), "[::1]:9000");
        assert_eq!(at("10.0.0.5:8080"), "10.0.0.5:8080");
    }
}
