//! Each portal's HubSpot rate limit, kept proactively: spoke never relies on a `429` to
//! find it. One `governor` limiter per portal, so a portal at its limit waits and no other
//! portal slows down.
//!
//! HubSpot counts a rolling window (110 calls per 10 s for OAuth apps, reference §5.1);
//! a token bucket allows its burst plus its refill within any window, so the quota keeps
//! that sum at the configured limit: a burst of one, refilled `limit - 1` times per
//! window. Calls go out evenly spaced, and no window ever holds more than the limit. The `X-HubSpot-RateLimit-*` headers tighten a portal whose
//! limit is lower than assumed, and pause it when HubSpot says none are left; a `429`
//! pauses it for `Retry-After` or a whole window.
//!
//! Live hydration comes first: background work (backfill, reconciliation) takes a call
//! only when it is there now and no live read waits for one (in the round, or put back to
//! come again after a longer wait), so a live read waits at most the one call background
//! work took before it. While background work wants a portal's calls, its live reads are
//! spaced [`LIVE_SPACING`] apart, so a busy portal's events are read together and do not
//! take every call of the limit.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hubspot::crm::RateLimit;
use hubspot::time::{after, Clock};
use store::PortalId;

/// HubSpot's per-portal limit for OAuth apps, which the configured limit keeps headroom
/// under (reference §5.1).
pub const HUBSPOT_LIMIT: u32 = 110;

#[derive(Debug)]
pub struct PortalLimits {
    /// Calls per window spoke allows itself for a portal HubSpot gives the full limit.
    limit: u32,
    window: Duration,
    clock: Clock,
    portals: Mutex<HashMap<PortalId, Portal>>,
}

#[derive(Debug)]
struct Portal {
    limit: u32,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// No calls before this instant (epoch ms).
    paused_until: i64,
    /// Live reads waiting for a call: background work yields to them.
    live_waiting: u32,
    /// Live reads put back for a longer wait come back by this instant: background work
    /// yields until then, so they find the call free. These three are waiting in real
    /// time, as the token bucket's are, whatever the clock says the date is.
    live_due: Option<Instant>,
    /// Background work wants calls until this instant: it asked lately.
    background_until: Option<Instant>,
    /// When a live read last took a call.
    last_live: Option<Instant>,
}

/// While background work wants a portal's calls, its live reads go at most this often:
/// their events gather meanwhile and are read together, and background work gets the rest
/// of the limit. A live change waits at most this long for it.
pub const LIVE_SPACING: Duration = Duration::from_secs(1);

/// A token bucket's burst and refill period such that burst plus refill within `window`
/// never exceeds `limit`. A burst of one spends the least of the limit on bursts, which
/// hydration (steady batch reads) does not need.
pub fn bucket(limit: u32, window: Duration) -> (u32, Duration) {
    let limit = limit.max(2);
    (1, window / (limit - 1))
}

fn limiter(limit: u32, window: Duration) -> Arc<DefaultDirectRateLimiter> {
    let (burst, period) = bucket(limit, window);
    let quota = Quota::with_period(period)
        .expect("a window longer than zero")
        .allow_burst(NonZeroU32::new(burst).expect("at least 1"));
    Arc::new(RateLimiter::direct(quota))
}

impl PortalLimits {
    pub fn new(limit: u32, window: Duration, clock: Clock) -> Self {
        Self {
            limit,
            window,
            clock,
            portals: Mutex::default(),
        }
    }

    fn with<T>(&self, portal: PortalId, f: impl FnOnce(&mut Portal) -> T) -> T {
        let mut portals = self.portals.lock().expect("limits lock");
        let entry = portals.entry(portal).or_insert_with(|| Portal {
            limit: self.limit,
            limiter: limiter(self.limit, self.window),
            paused_until: 0,
            live_waiting: 0,
            live_due: None,
            background_until: None,
            last_live: None,
        });
        f(entry)
    }

    /// Takes one call for `portal`, or says how long to wait for one.
    pub fn acquire(&self, portal: PortalId) -> Result<(), Duration> {
        let now = self.clock.now_ms();
        self.with(portal, |p| {
            if now < p.paused_until {
                return Err(Duration::from_millis((p.paused_until - now) as u64));
            }
            let limiter = &p.limiter;
            limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
        })
    }

    /// Takes one call for a live read, as [`PortalLimits::acquire`] does.
    pub fn acquire_live(&self, portal: PortalId) -> Result<(), Duration> {
        self.acquire(portal)?;
        self.with(portal, |p| p.last_live = Some(Instant::now()));
        Ok(())
    }

    /// How long a live read of `portal` waits before it asks for a call, while background
    /// work wants the portal's calls and a call went less than [`LIVE_SPACING`] ago.
    pub fn live_pace(&self, portal: PortalId) -> Option<Duration> {
        let now = Instant::now();
        self.with(portal, |p| {
            let wanted = p.background_until.is_some_and(|until| now < until);
            let next = p.last_live? + LIVE_SPACING;
            (wanted && now < next).then(|| next - now)
        })
    }

    /// Takes one call for background work, or says how long to wait: while a live read
    /// waits for one, background work waits a call's period.
    pub fn acquire_background(&self, portal: PortalId) -> Result<(), Duration> {
        let now = Instant::now();
        let yielding = self.with(portal, |p| {
            let period = bucket(p.limit, self.window).1;
            p.background_until = Some(now + 2 * period);
            let live = p.live_waiting > 0 || p.live_due.is_some_and(|due| now < due);
            live.then_some(period)
        });
        match yielding {
            Some(period) => Err(period),
            None => self.acquire(portal),
        }
    }

    /// A live read of `portal` waits for a call until the guard is dropped.
    pub fn live_wait(&self, portal: PortalId) -> LiveWait<'_> {
        self.with(portal, |p| p.live_waiting += 1);
        LiveWait {
            limits: self,
            portal,
        }
    }

    /// Live reads of `portal` were put back to come again after `wait`: background work
    /// leaves the portal's calls to them until a little after.
    pub fn live_due_in(&self, portal: PortalId, wait: Duration, slack: Duration) {
        let due = Instant::now() + wait + slack;
        self.with(portal, |p| p.live_due = p.live_due.max(Some(due)));
    }

    /// No calls for `portal` during `wait`.
    pub fn pause(&self, portal: PortalId, wait: Duration) {
        let until = after(self.clock.now_ms(), wait);
        self.with(portal, |p| p.paused_until = p.paused_until.max(until));
    }

    /// What HubSpot's headers said after a call: another limit than assumed resizes the
    /// portal's bucket, keeping the same share of it as headroom (100 of 110 keeps 18 of
    /// 20), never above the configured limit; nothing left pauses it for a window.
    pub fn observe(&self, portal: PortalId, seen: &RateLimit) {
        let share = u64::from(seen.max) * u64::from(self.limit) / u64::from(HUBSPOT_LIMIT);
        let allowed = u32::try_from(share)
            .unwrap_or(u32::MAX)
            .clamp(1, self.limit);
        let window = if seen.interval.is_zero() {
            self.window
        } else {
            seen.interval
        };
        self.with(portal, |p| {
            if allowed != p.limit {
                p.limit = allowed;
                p.limiter = limiter(allowed, window);
            }
        });
        if seen.remaining == 0 {
            self.pause(portal, window);
        }
    }

    /// The calls per window `portal` is allowed now.
    #[cfg(test)]
    fn limit_of(&self, portal: PortalId) -> u32 {
        self.with(portal, |p| p.limit)
    }
}

/// A live read waiting for a call (see [`PortalLimits::live_wait`]).
#[derive(Debug)]
pub struct LiveWait<'a> {
    limits: &'a PortalLimits,
    portal: PortalId,
}

impl Drop for LiveWait<'_> {
    fn drop(&mut self) {
        self.limits.with(self.portal, |p| {
            p.live_waiting = p.live_waiting.saturating_sub(1)
        });
    }
}

#[cfg(test)]
mod tests {
    use hubspot::time::ManualClock;

    use super::*;

    const WINDOW: Duration = Duration::from_secs(10);

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        for limit in [2, 10, 20, 100, 110, 1_000] {
            let (burst, period) = bucket(limit, WINDOW);
            let refilled = (WINDOW.as_nanos() / period.as_nanos()) as u32;
            assert!(burst + refilled <= limit, "{limit}: {burst} + {refilled}");
            assert_eq!(
                refilled,
                limit - 1,
                "{limit}: steady use of all but one call"
            );
        }
    }

    #[test]
    fn a_portal_takes_its_burst_then_waits_and_others_do_not() {
        let limits = PortalLimits::new(100, WINDOW, ManualClock::at(0).clock());
        limits.acquire(PortalId(1)).expect("within the burst");
        let wait = limits.acquire(PortalId(1)).expect_err("burst spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(102),
            "{wait:?}"
        );
        limits
            .acquire(PortalId(2))
            .expect("another portal is not slowed");
    }

    #[test]
    fn background_work_yields_to_a_waiting_live_read() {
        let clock = ManualClock::at(0);
        let limits = PortalLimits::new(100, WINDOW, clock.clock());
        limits
            .acquire_background(PortalId(1))
            .expect("nobody waits: the call is background work's");
        let waiting = limits.live_wait(PortalId(1));
        let period = bucket(100, WINDOW).1;
        assert_eq!(limits.acquire_background(PortalId(1)), Err(period));
        limits
            .acquire_background(PortalId(2))
            .expect("another portal's live reads do not count");
        drop(waiting);
        let wait = limits
            .acquire_background(PortalId(1))
            .expect_err("the bucket is still empty");
        assert!(wait <= period, "{wait:?}");

        // While background work wants calls, a live read waits until a second after the
        // last live one.
        limits
            .acquire_live(PortalId(3))
            .expect("the first live read");
        assert_eq!(
            limits.live_pace(PortalId(3)),
            None,
            "nobody else wants calls"
        );
        let _ = limits.acquire_background(PortalId(3));
        let pace = limits.live_pace(PortalId(3)).expect("paced");
        assert!(pace <= LIVE_SPACING && pace > LIVE_SPACING / 2, "{pace:?}");
        std::thread::sleep(LIVE_SPACING);
        assert_eq!(limits.live_pace(PortalId(3)), None, "a second on");

        // Live reads put back for a while keep background work off until they are due.
        let short = Duration::from_millis(50);
        limits.live_due_in(PortalId(1), short, short);
        assert_eq!(limits.acquire_background(PortalId(1)), Err(period));
        std::thread::sleep(2 * short + period);
        limits
            .acquire_background(PortalId(1))
            .expect("the live reads' time passed");
    }

    #[test]
    fn headers_narrow_a_portal_and_an_empty_window_pauses_it() {
        let clock = ManualClock::at(0);
        let limits = PortalLimits::new(100, WINDOW, clock.clock());
        let seen = |max, remaining| RateLimit {
            max,
            remaining,
            interval: WINDOW,
        };
        limits.observe(PortalId(1), &seen(110, 50));
        assert_eq!(
            limits.limit_of(PortalId(1)),
            100,
            "HubSpot's usual limit keeps ours"
        );
        limits.observe(PortalId(1), &seen(40, 10));
        assert_eq!(
            limits.limit_of(PortalId(1)),
            36,
            "a lower limit keeps the same share as headroom"
        );
        limits.observe(PortalId(1), &seen(1_000, 10));
        assert_eq!(
            limits.limit_of(PortalId(1)),
            100,
            "never above the configured limit"
        );

        limits.observe(PortalId(2), &seen(110, 0));
        let wait = limits.acquire(PortalId(2)).expect_err("paused");
        assert_eq!(wait, WINDOW);
        clock.advance(WINDOW);
        limits.acquire(PortalId(2)).expect("the window passed");
    }
}
