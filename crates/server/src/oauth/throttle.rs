//! A per-address limit on the install endpoints, so that one address cannot make spoke
//! record used states or call HubSpot's token endpoint in a loop: each address (an IPv6 /64
//! as one) gets a burst of [`BURST`] requests to `/oauth/install` and `/oauth/callback`
//! together, then one every [`EVERY`]. Memory is bounded: at most [`ADDRESSES`] addresses
//! are remembered, the least recently seen forgotten first, and an address idle for a
//! whole refill is forgotten anyway (it would start afresh). Behind a proxy every browser
//! has the proxy's address, so the limit then holds for all of them together (per
//! instance).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::sync::Cache;

use crate::http::client::address_key;

/// Requests an address may make at once: a few installs, each two requests.
pub const BURST: u32 = 30;
/// Then one request this often.
pub const EVERY: Duration = Duration::from_secs(1);
/// Addresses remembered at most.
pub const ADDRESSES: u64 = 100_000;

#[derive(Debug)]
pub struct InstallThrottle {
    limiters: Cache<IpAddr, Arc<DefaultDirectRateLimiter>>,
}

impl Default for InstallThrottle {
    fn default() -> Self {
        Self::remembering(ADDRESSES)
    }
}

impl InstallThrottle {
    fn remembering(addresses: u64) -> Self {
        Self {
            limiters: Cache::builder()
                .max_capacity(addresses)
                .time_to_idle(EVERY * BURST)
                .build(),
        }
    }

    /// Whether a request from `from` goes ahead, or how long the address must wait.
    /// A request whose address is unknown goes ahead.
    pub fn admit(&self, from: Option<IpAddr>) -> Result<(), Duration> {
        let Some(from) = from else { return Ok(()) };
        let limiter = self.limiters.get_with(address_key(from), || {
            let quota = Quota::with_period(EVERY)
                .expect("a period above zero")
                .allow_burst(NonZeroU32::new(BURST).expect("a burst above zero"));
            Arc::new(RateLimiter::direct(quota))
        });
        limiter
            .check()
            .map_err(|refused| refused.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_past_its_burst_waits_and_others_do_not() {
        let throttle = InstallThrottle::default();
        let one: IpAddr = "203.0.113.7".parse().unwrap();
        let same_64: IpAddr = "2001:db8::1".parse().unwrap();
        let also_same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
        for _ in 0..BURST {
            assert!(throttle.admit(Some(one)).is_ok());
            assert!(throttle.admit(Some(same_64)).is_ok());
        }
        let wait = throttle.admit(Some(one)).expect_err("past the burst");
        assert!(wait > Duration::ZERO && wait <= EVERY, "{wait:?}");
        assert!(throttle.admit(Some(also_same_64)).is_err(), "one /64");
        assert!(throttle.admit(Some("203.0.113.8".parse().unwrap())).is_ok());
        assert!(throttle.admit(None).is_ok());
    }

    #[test]
    fn the_addresses_remembered_are_bounded() {
        let throttle = InstallThrottle::remembering(50);
        for n in 0..1_000u32 {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(n));
            assert!(throttle.admit(Some(address)).is_ok());
        }
        throttle.limiters.run_pending_tasks();
        assert!(throttle.limiters.entry_count() <= 50);
    }
}
