//! Sign-in backoff per client address: after [`FREE_FAILURES`] wrong operator tokens from
//! one address, each further sign-in from it waits twice as long as the last (from 2 s, at
//! most [`LONGEST`]), whatever it presents, so guessing the token from one address is slow.
//! Kept in memory per instance; a right token ends the address's backoff.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::http::client::address_key;

/// Wrong tokens an address may present before it waits.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait, in seconds.
pub const LONGEST: i64 = 900;
/// Addresses remembered at most; past it, those whose wait is over are forgotten.
const REMEMBERED: usize = 10_000;

#[derive(Debug, Default)]
pub struct SignInBackoff {
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// Epoch seconds before which the address may not try again.
    until_s: i64,
}

impl SignInBackoff {
    /// Starts a sign-in from `from` at `now_s`: refused with the seconds left while the
    /// address waits; otherwise counted as a failure until [`Self::succeeded`] says it was
    /// not, so guesses sent in parallel count as much as guesses sent one by one.
    pub fn attempt(&self, from: IpAddr, now_s: i64) -> Result<(), i64> {
        let mut failures = self.failures.lock().expect("backoff lock");
        let key = address_key(from);
        if let Some(until) = failures.get(&key).map(|f| f.until_s).filter(|u| *u > now_s) {
            return Err(until - now_s);
        }
        if failures.len() >= REMEMBERED {
            failures.retain(|_, f| f.until_s > now_s);
        }
        let entry = failures.entry(key).or_insert(Failures {
            count: 0,
            until_s: now_s,
        });
        entry.count = entry.count.saturating_add(1);
        if let Some(over) = entry.count.checked_sub(FREE_FAILURES).filter(|n| *n > 0) {
            let wait = 1_i64
                .checked_shl(over.min(20))
                .unwrap_or(LONGEST)
                .min(LONGEST);
            entry.until_s = now_s + wait;
        }
        Ok(())
    }

    /// `from` signed in: its failures are forgotten.
    pub fn succeeded(&self, from: IpAddr) {
        self.failures
            .lock()
            .expect("backoff lock")
            .remove(&address_key(from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_longer_after_each_failure_past_the_free_ones() {
        let backoff = SignInBackoff::default();
        let (guesser, other): (IpAddr, IpAddr) = (
            "203.0.113.7".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        );
        for _ in 0..FREE_FAILURES {
            assert_eq!(backoff.attempt(guesser, 100), Ok(()), "the free failures");
        }
        assert_eq!(
            backoff.attempt(guesser, 100),
            Ok(()),
            "counted, then it waits"
        );
        assert_eq!(backoff.attempt(guesser, 100), Err(2));
        assert_eq!(backoff.attempt(guesser, 102), Ok(()));
        assert_eq!(backoff.attempt(guesser, 102), Err(4));
        assert_eq!(
            backoff.attempt(other, 102),
            Ok(()),
            "another address is not held up"
        );
        let last = 200 + 2_000 * 39;
        for now in (200..=last).step_by(2_000) {
            assert_eq!(backoff.attempt(guesser, now), Ok(()), "each wait was over");
        }
        assert_eq!(backoff.attempt(guesser, last), Err(LONGEST));
        backoff.succeeded(guesser);
        assert_eq!(backoff.attempt(guesser, last), Ok(()));
    }

    #[test]
    fn an_ipv6_host_cannot_step_round_the_wait_within_its_64() {
        let backoff = SignInBackoff::default();
        let host = |n: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, n]);
        for n in 0..=FREE_FAILURES as u16 {
            assert_eq!(backoff.attempt(host(n), 100), Ok(()));
        }
        assert_eq!(backoff.attempt(host(999), 100), Err(2));
    }
}
