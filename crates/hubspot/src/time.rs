//! HubSpot's unit of time: milliseconds since the Unix epoch (request timestamps,
//! `occurredAt`, token expiry in spoke's records), and the clock that tells it.
//!
//! Everything that compares against "now" takes a [`Clock`] rather than reading the system
//! time itself: production passes [`Clock::system`], tests a [`ManualClock`] they advance,
//! so a test of a 30-minute token lifetime takes no 30 minutes and no sleep.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where "now" comes from; cheap to clone and share.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in epoch milliseconds (0 if the system clock is before 1970).
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(now) => now.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// A clock that moves only when told to: hand [`ManualClock::clock`] to the code under
/// test, then [`advance`](ManualClock::advance) it.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn at(start_ms: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(start_ms)),
        }
    }

    /// A clock standing at the system's current time.
    pub fn starting_now() -> Self {
        Self::at(Clock::system().now_ms())
    }

    /// The [`Clock`] that reads this one.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(self.now.clone()),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(duration_ms(by), Ordering::SeqCst);
    }

    pub fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// A duration in whole milliseconds, saturating.
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The instant `wait` after `now_ms`, epoch milliseconds; the end of time rather than an
/// overflow, whatever a header said.
pub fn after(now_ms: i64, wait: Duration) -> i64 {
    now_ms.saturating_add(duration_ms(wait))
}

/// The longest wait spoke takes from HubSpot's word (`Retry-After`, a rate-limit
/// interval): a day, the most the reference documents (`477`, §4.4).
pub const LONGEST_WAIT: Duration = Duration::from_secs(86_400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let manual = ManualClock::at(1_000);
        let clock = manual.clock();
        assert_eq!(clock.now_ms(), 1_000);
        manual.advance(Duration::from_secs(30));
        assert_eq!(clock.now_ms(), 31_000);
        assert_eq!(clock.clone().now_ms(), manual.now_ms());
    }

    #[test]
    fn the_system_clock_is_after_2025() {
        assert!(Clock::system().now_ms() > 1_735_689_600_000);
    }

    #[test]
    fn a_wait_from_a_header_never_overflows_the_clock() {
        assert_eq!(after(1_000, Duration::from_secs(2)), 3_000);
        assert_eq!(after(i64::MAX - 5, Duration::from_secs(10)), i64::MAX);
        assert_eq!(after(0, Duration::MAX), i64::MAX);
    }
}
