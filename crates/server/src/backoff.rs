//! Exponential backoff with jitter, for every retry spoke schedules (token refreshes,
//! hydration): the wait doubles per failure up to a cap, and each wait is spread ±20% so
//! that many portals failing together do not retry together.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub start: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The wait after `failures` earlier failures, without jitter.
    pub fn delay(self, failures: u32) -> Duration {
        self.start
            .saturating_mul(1 << failures.min(16))
            .min(self.cap)
    }

    /// [`Backoff::delay`], spread ±20%.
    pub fn jittered(self, failures: u32) -> Duration {
        self.delay(failures)
            .mul_f64(rand::rng().random_range(0.8..=1.2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFRESH: Backoff = Backoff {
        start: Duration::from_secs(2),
        cap: Duration::from_secs(600),
    };

    #[test]
    fn backoff_doubles_from_two_seconds_up_to_ten_minutes() {
        let waits: Vec<u64> = (0..12).map(|n| REFRESH.delay(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, 600]);
        assert_eq!(REFRESH.delay(u32::MAX), REFRESH.cap);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for failures in 0..5 {
            let wait = REFRESH.jittered(failures);
            let base = REFRESH.delay(failures);
            assert!(
                wait >= base.mul_f64(0.8) && wait <= base.mul_f64(1.2),
                "{wait:?}"
            );
        }
    }
}
