//! A per-address limit on the install endpoints, so that nobody can make spoke record
//! used states or call HubSpot's token endpoint in a loop: each address (an IPv6 /64 as
//! one) gets a burst of [`BURST`] requests to `/oauth/install` and `/oauth/callback`
//! together, then one every [`EVERY`]. Behind a proxy every browser has the proxy's
//! address, so the limit then holds for all of them together (per instance, in memory).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::http::client::address_key;

/// Requests an address may make at once: a few installs, each two requests.
pub const BURST: u32 = 30;
/// Then one request this often.
pub const EVERY: Duration = Duration::from_secs(1);
/// Addresses remembered before the idle ones are forgotten.
const ADDRESSES: usize = 100_000;

#[derive(Debug)]
pub struct InstallThrottle {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for InstallThrottle {
    fn default() -> Self {
        let quota = Quota::with_period(EVERY)
            .expect("a period above zero")
            .allow_burst(NonZeroU32::new(BURST).expect("a burst above zero"));
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        }
    }
}

impl InstallThrottle {
    /// Whether a request from `from` goes ahead, or how long the address must wait.
    /// A request whose address is unknown goes ahead.
    pub fn admit(&self, from: Option<IpAddr>) -> Result<(), Duration> {
        let Some(from) = from else { return Ok(()) };
        if self.limiter.len() > ADDRESSES {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&address_key(from))
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
}
