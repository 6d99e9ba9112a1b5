//! HubSpot's API limits per app and installing account (reference §5): a rolling window
//! (110 requests per 10 s for OAuth apps) and, for tiers that have one, a daily count.
//! Refused requests do not count, so a client that backs off recovers when the window frees.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One portal's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Requests allowed per window.
    pub max: u32,
    pub window_ms: u64,
    /// Requests allowed per day; `None` for OAuth apps, which HubSpot gives no daily limit.
    pub daily: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max: 110,
            window_ms: 10_000,
            daily: None,
        }
    }
}

/// The `X-HubSpot-RateLimit-*` values for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub limits: Limits,
    pub remaining: u32,
    pub daily_remaining: Option<u32>,
}

/// Which limit refused a request (`policyName` of the 429 body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    TenSecondlyRolling,
    Daily,
    /// The search API's own limit.
    Secondly,
}

impl Exceeded {
    pub fn policy_name(self) -> &'static str {
        match self {
            Self::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Self::Daily => "DAILY",
            Self::Secondly => "SECONDLY",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::TenSecondlyRolling => "You have reached your ten_secondly_rolling limit.",
            Self::Daily => "You have reached your daily limit.",
            Self::Secondly => "You have reached your secondly limit.",
        }
    }
}

#[derive(Debug, Default)]
struct PortalUsage {
    recent: VecDeque<Instant>,
    day: u64,
    today: u32,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    usage: HashMap<i64, PortalUsage>,
}

impl RateLimiter {
    /// Counts a request of `portal` at `now` if the limits allow it. `day` is the current
    /// day number (the daily limit resets when it changes).
    pub fn admit(
        &mut self,
        portal: i64,
        limits: Limits,
        now: Instant,
        day: u64,
    ) -> Result<Usage, (Exceeded, Usage)> {
        let usage = self.usage.entry(portal).or_default();
        let window = Duration::from_millis(limits.window_ms);
        while usage
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            usage.recent.pop_front();
        }
        if usage.day != day {
            usage.day = day;
            usage.today = 0;
        }
        let used = usage.recent.len() as u32;
        let report = |used: u32, today: u32| Usage {
            limits,
            remaining: limits.max.saturating_sub(used),
            daily_remaining: limits.daily.map(|d| d.saturating_sub(today)),
        };
        if limits.daily.is_some_and(|d| usage.today >= d) {
            return Err((Exceeded::Daily, report(used, usage.today)));
        }
        if used >= limits.max {
            return Err((Exceeded::TenSecondlyRolling, report(used, usage.today)));
        }
        usage.recent.push_back(now);
        usage.today += 1;
        Ok(report(used + 1, usage.today))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_refuses_past_the_limit_and_frees_as_it_rolls() {
        let mut limiter = RateLimiter::default();
        let limits = Limits {
            max: 3,
            window_ms: 1_000,
            daily: None,
        };
        let t0 = Instant::now();
        for remaining in [2, 1, 0] {
            assert_eq!(
                limiter.admit(1, limits, t0, 0).map(|u| u.remaining),
                Ok(remaining)
            );
        }
        let (exceeded, usage) = limiter
            .admit(1, limits, t0 + Duration::from_millis(999), 0)
            .unwrap_err();
        assert_eq!(
            (exceeded, usage.remaining),
            (Exceeded::TenSecondlyRolling, 0)
        );
        assert!(
            limiter.admit(2, limits, t0, 0).is_ok(),
            "another portal is not affected"
        );
        let freed = limiter.admit(1, limits, t0 + Duration::from_millis(1_000), 0);
        assert_eq!(
            freed.map(|u| u.remaining),
            Ok(2),
            "all three left the window"
        );
    }

    #[test]
    fn a_daily_limit_holds_until_the_day_changes() {
        let mut limiter = RateLimiter::default();
        let limits = Limits {
            max: 100,
            window_ms: 10,
            daily: Some(2),
        };
        let t = Instant::now();
        assert_eq!(
            limiter.admit(1, limits, t, 5).map(|u| u.daily_remaining),
            Ok(Some(1))
        );
        assert!(limiter.admit(1, limits, t, 5).is_ok());
        assert_eq!(
            limiter.admit(1, limits, t, 5).unwrap_err().0,
            Exceeded::Daily
        );
        assert!(limiter.admit(1, limits, t, 6).is_ok());
    }
}
