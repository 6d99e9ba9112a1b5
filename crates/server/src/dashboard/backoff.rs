//! Sign-in backoff per client address: after [`FREE_FAILURES`] wrong operator tokens from
//! one address, each further sign-in from it waits twice as long as the last (from 2 s, at
//! most [`LONGEST`]), whatever it presents, so guessing the token from one address is slow.
//! Kept in memory per instance; a right token ends the address's backoff.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

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
    /// Seconds `from` must still wait before a sign-in, if any.
    pub fn wait(&self, from: IpAddr, now_s: i64) -> Option<i64> {
        let failures = self.failures.lock().expect("backoff lock");
        let until = failures.get(&from)?.until_s;
        (until > now_s).then(|| until - now_s)
    }

    /// `from` presented a wrong token at `now_s`.
    pub fn failed(&self, from: IpAddr, now_s: i64) {
        let mut failures = self.failures.lock().expect("backoff lock");
        if failures.len() >= REMEMBERED {
            failures.retain(|_, f| f.until_s > now_s);
        }
        let entry = failures.entry(from).or_insert(Failures {
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
    }

    /// `from` signed in: its failures are forgotten.
    pub fn succeeded(&self, from: IpAddr) {
        self.failures.lock().expect("backoff lock").remove(&from);
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
            backoff.failed(guesser, 100);
        }
        assert_eq!(backoff.wait(guesser, 100), None, "the free failures");
        backoff.failed(guesser, 100);
        assert_eq!(backoff.wait(guesser, 100), Some(2));
        backoff.failed(guesser, 102);
        assert_eq!(backoff.wait(guesser, 102), Some(4));
        assert_eq!(backoff.wait(guesser, 106), None, "the wait is over");
        assert_eq!(
            backoff.wait(other, 102),
            None,
            "another address is not held up"
        );
        for _ in 0..40 {
            backoff.failed(guesser, 200);
        }
        assert_eq!(backoff.wait(guesser, 200), Some(LONGEST));
        backoff.succeeded(guesser);
        assert_eq!(backoff.wait(guesser, 200), None);
    }
}
